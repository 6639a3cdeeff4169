/**
 * The second argument of `WebSocket` and `WebSocketStream`: the standard's
 * `protocols` (and `signal`), extended with every option of streamsock's
 * `connect`, and the defaults the standard API gets.
 *
 * @module
 */

import type { ConnectOptions } from "../client/options.ts";
import { HandshakeError } from "../errors.ts";

/**
 * The object form of `new WebSocket(url, options)`'s second argument: the
 * standard's subprotocols plus streamsock's `connect` options as
 * extensions (as Deno, Bun and undici take headers in an object there):
 * `headers`, `proxy`, `tls`, `http2`, `compression`, `auth`, `cookies`,
 * `origin`, `timeout`, `signal` (aborts the opening: `error`, then
 * `close` with 1006), keepalive and the limits.
 *
 * Defaults that differ from `connect`'s, to behave as the standard API does:
 * `maxFrameSize` is `maxMessageSize` (64 MiB), since browsers and most
 * servers send each message as one frame; `maxBackpressure` is unlimited
 * (browsers queue what `send` is given; set it to have a socket that falls
 * that far behind "flagged as full" and closed, with `error` and 1006);
 * redirects are refused as the standard says unless `redirect` is given.
 *
 * @example Custom headers, a proxy and permessage-deflate tuning
 * ```ts ignore
 * import { WebSocket, type WebSocketOptions } from "@streamsock/streamsock/web";
 *
 * const options: WebSocketOptions = {
 *   protocols: ["chat.v2"],
 *   headers: { Authorization: "Bearer abc" },
 *   proxy: "http://proxy.corp:3128",
 *   compression: { threshold: 256 },
 * };
 * const ws = new WebSocket("wss://api.example/feed", options);
 * ```
 */
export interface WebSocketOptions extends Omit<ConnectOptions, "protocol"> {
  /** Subprotocols to offer: a string or a list, as the standard's second argument. */
  protocols?: string | readonly string[];
}

/**
 * The options of `new WebSocketStream(url, options)`: the standard's
 * `protocols` (a list) and `signal` (aborts the opening handshake), and
 * streamsock's `connect` options as extensions, with the defaults of
 * {@link WebSocketOptions}.
 *
 * @example
 * ```ts ignore
 * import { WebSocketStream, type WebSocketStreamOptions } from "@streamsock/streamsock/web";
 *
 * const options: WebSocketStreamOptions = { protocols: ["chat"], signal: AbortSignal.timeout(5000), http2: "auto" };
 * const wss = new WebSocketStream("wss://api.example/", options);
 * ```
 */
export interface WebSocketStreamOptions extends Omit<ConnectOptions, "protocol"> {
  /** Subprotocols to offer, as a list. */
  protocols?: readonly string[];
}

/** What the standard API passes to `connect` beyond the caller's options. */
export function connectOptionsOf(
  options: Omit<ConnectOptions, "protocol">,
  protocols: string[],
  signal: AbortSignal,
): ConnectOptions {
  const maxMessageSize = options.maxMessageSize ?? 64 * 1024 * 1024;
  return {
    ...options,
    protocol: protocols,
    signal,
    redirect: options.redirect ?? false,
    maxMessageSize,
    maxFrameSize: options.maxFrameSize ?? maxMessageSize,
    maxBackpressure: options.maxBackpressure ?? Infinity,
  };
}

/** One signal for the caller's `signal` and ours (close() while connecting). */
export function eitherSignal(ours: AbortSignal, theirs: AbortSignal | undefined): AbortSignal {
  return theirs === undefined ? ours : AbortSignal.any([ours, theirs]);
}

/**
 * The standard's handshake check that RFC 6455 leaves out: subprotocols were
 * offered and the server's 101 acknowledged none of them. The connection is
 * then failed, with this error as the cause.
 */
export function noProtocolChosen(offered: readonly string[], chosen: string | null): HandshakeError | null {
  if (offered.length === 0 || chosen !== null) return null;
  return new HandshakeError(
    `Server's 101 chose none of the offered subprotocols (${offered.join(", ")}): no Sec-WebSocket-Protocol`,
    { code: "ERR_HANDSHAKE_PROTOCOL", status: 101 },
  );
}
