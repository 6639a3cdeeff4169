/**
 * What the two tunnel handshakes share (HTTP CONNECT in `http_connect.ts`,
 * SOCKS5 in `socks5.ts`): the proxy and the target they are given, and the
 * shape of a handshake without I/O. Bytes from the proxy go in, bytes to send
 * and the moment the tunnel opens come out; `src/transport/proxy.ts` moves
 * the bytes, and `src/client/proxy.ts` chooses the proxy.
 *
 * @module
 */

import type { ProxyError } from "../errors.ts";

/** The proxy kinds the client speaks. */
export type ProxyProtocol = "http:" | "https:" | "socks5:" | "socks5h:";

/** A parsed proxy URL (`parseProxyUrl` in `src/client/proxy.ts`). */
export interface ProxyAddress {
  /** `http:` and `https:` tunnel with CONNECT; `socks5h:` lets the proxy resolve names, `socks5:` resolves them here. */
  protocol: ProxyProtocol;
  /** Host name or IP address, IPv6 without brackets. */
  hostname: string;
  port: number;
  /** Decoded user name and password from the URL, if any. */
  username: string;
  password: string;
  /** The URL without credentials, for messages. */
  display: string;
}

/** Where the tunnel leads: the WebSocket server. */
export interface TunnelTarget {
  /** Host name or IP literal (IPv6 without brackets). */
  hostname: string;
  port: number;
}

/** What a tunnel handshake wants after a chunk of the proxy's bytes. */
export interface TunnelStep {
  /** Bytes to send to the proxy now, if any. */
  send: Uint8Array | null;
  /** Set once the tunnel is open: bytes that already came from the target. */
  rest: Uint8Array | null;
}

/**
 * A proxy tunnel's handshake as a state machine: `start` gives the first
 * bytes to send, `push` takes what the proxy sent and says what to send
 * next and whether the tunnel is open. A refusal throws {@link ProxyError};
 * so do `closed` and `stalled`, which say what the proxy's silence means.
 */
export interface TunnelHandshake {
  /**
   * The first bytes to send.
   *
   * @throws {TypeError} For a target or header field that cannot be sent.
   */
  start(): Uint8Array;
  /**
   * Feeds the proxy's bytes.
   *
   * @throws {ProxyError} When the proxy refused the tunnel or answered in another protocol.
   */
  push(chunk: Uint8Array): TunnelStep;
  /** The error for a proxy that closed the connection before the tunnel opened. */
  closed(): ProxyError;
  /**
   * The error for a proxy that did not answer in time.
   *
   * @param within How long it had, for the message ("within 5000 ms").
   * @param cause The timeout.
   */
  stalled(within: string, cause: unknown): ProxyError;
}

/** `host:port` for a request line and messages; an IPv6 literal in brackets. */
export function authority(target: TunnelTarget): string {
  return target.hostname.includes(":") ? `[${target.hostname}]:${target.port}` : `${target.hostname}:${target.port}`;
}
