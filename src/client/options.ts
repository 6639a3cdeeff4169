/**
 * The client's options: {@link ConnectOptions} for `connect` (and
 * `reconnecting`, which passes them on), and the one list of the
 * connection's own options a client forwards to the connection it opens.
 *
 * @module
 */

import type { WebSocketConnectionOptions } from "../connection/options.ts";
import type { CompressionOptions } from "../handshake/deflate_options.ts";
import type { HeaderFields } from "../handshake/http.ts";
import type { TracedFrame } from "../transport/trace.ts";
import type { Http2Pool } from "./http2_pool.ts";

/**
 * TLS settings for `wss://` (Gerbil's `ssl-context:`).
 *
 * @example Trusting a private CA and presenting a client certificate
 * ```ts ignore
 * import { connect, type ConnectTlsOptions } from "@streamsock/streamsock";
 *
 * const tls: ConnectTlsOptions = {
 *   ca: await Deno.readTextFile("ca.pem"),
 *   cert: await Deno.readTextFile("client.pem"),
 *   key: await Deno.readTextFile("client-key.pem"),
 *   serverName: "api.internal",
 * };
 * const ws = await connect("wss://10.0.0.7:8443/", { tls });
 * ```
 */
export interface ConnectTlsOptions {
  /** PEM certificates to trust instead of the runtime's default roots. */
  ca?: string | string[];
  /** PEM client certificate (mutual TLS); needs `key`. */
  cert?: string;
  /** PEM private key of `cert`. */
  key?: string;
  /** The name to send as SNI and to verify the certificate against. Defaults to the URL's host. */
  serverName?: string;
  /** Set to false to accept any certificate (testing only). Defaults to true. Supported on every runtime. */
  rejectUnauthorized?: boolean;
}

/**
 * The long form of {@link ConnectOptions}' `proxy` option: the proxy's URL
 * plus extra header fields for its CONNECT request and TLS settings for the
 * connection to an `https://` proxy.
 *
 * @example An HTTPS proxy with a private CA and an extra header
 * ```ts ignore
 * import { connect, type ProxyOptions } from "@streamsock/streamsock";
 *
 * const proxy: ProxyOptions = {
 *   url: "https://user:secret@proxy.internal:3129",
 *   headers: { "X-Team": "dashboards" },
 *   tls: { ca: await Deno.readTextFile("proxy-ca.pem") },
 * };
 * const ws = await connect("wss://example.test/feed", { proxy });
 * ```
 */
export interface ProxyOptions {
  /**
   * An `http://`, `https://`, `socks5://` or `socks5h://` URL; a bare
   * `host:port` means `http://`. User name and password in it become
   * `Proxy-Authorization: Basic` or the SOCKS5 user/password (RFC 1929).
   */
  url: string | URL;
  /** Extra header fields for an HTTP(S) proxy's CONNECT request. */
  headers?: HeaderFields;
  /** TLS settings for the connection to an `https://` proxy; `tls` of {@link ConnectOptions} is for the server. */
  tls?: ConnectTlsOptions;
}

/**
 * The server's answer that accepted the WebSocket, as
 * {@link ConnectOptions.onUpgrade} sees it.
 *
 * @example Keeping the cookies a server sets with its 101
 * ```ts ignore
 * import { connect, type UpgradeResponse } from "@streamsock/streamsock";
 *
 * let cookies: string[] = [];
 * const ws = await connect("ws://127.0.0.1:8080/", {
 *   onUpgrade: (response: UpgradeResponse) => (cookies = response.headers.getSetCookie()),
 * });
 * ```
 */
export interface UpgradeResponse {
  /** 101 over HTTP/1.1; the 2xx of an extended CONNECT over HTTP/2. */
  status: number;
  /** The reason phrase of the status line ("" over HTTP/2). */
  statusText: string;
  /** The answer's header fields. */
  headers: Headers;
}

/**
 * Options for {@link connect}.
 *
 * @example
 * ```ts ignore
 * import { connect, type ConnectOptions } from "@streamsock/streamsock";
 *
 * const options: ConnectOptions = { protocol: ["chat.v2", "chat.v1"], timeout: 10_000, redirect: true };
 * const ws = await connect("ws://127.0.0.1:8080/", options);
 * ```
 */
export interface ConnectOptions
  extends Omit<WebSocketConnectionOptions, "role" | "protocol" | "extensions" | "head" | "maskKey" | "compression"> {
  // The connection's own policies (limits, timeouts, keepalive, autoPong)
  // come from WebSocketConnectionOptions; compression is declared below
  // because the client offers it by default.
  /**
   * Subprotocols to offer, most preferred first: an array, or a string
   * holding one or a comma-separated list. The server's choice is
   * `ws.protocol`.
   */
  protocol?: string | readonly string[];
  /**
   * Follow 301, 302, 303, 307 and 308 redirects: `true` for up to 5, a
   * number for up to that many. Off by default: a redirect then rejects
   * with a {@link HandshakeError}.
   */
  redirect?: boolean | number;
  /** Extra request header fields. The handshake's own fields cannot be set here. */
  headers?: HeaderFields;
  /** Cookies to send, as one `Cookie` field. */
  cookies?: Record<string, string> | readonly (readonly [string, string])[];
  /** Query parameters appended to the URL's query. */
  params?: Record<string, string> | URLSearchParams;
  /**
   * `Authorization`: `{ basic: [user, password] }`, `{ bearer: token }`, or
   * the field's raw value. Credentials in the URL (`ws://user:pw@host/`)
   * mean basic auth when this is not given.
   */
  auth?: { basic: readonly [user: string, password: string] } | { bearer: string } | string;
  /** The `Origin` field, for servers that check it (browsers always send one). */
  origin?: string;
  /** TLS settings for `wss://` URLs. */
  tls?: ConnectTlsOptions;
  /**
   * The proxy to tunnel through: an `http://`, `https://`, `socks5://` or
   * `socks5h://` URL (credentials in it authenticate to the proxy), or
   * {@link ProxyOptions} for extra CONNECT header fields and the proxy's
   * own TLS settings. `null` connects directly. When absent the
   * environment decides (`NO_PROXY`, `WSS_PROXY`/`WS_PROXY`,
   * `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`; see the README). A refusing
   * proxy, or one that does not open the tunnel within `timeout`, rejects
   * with a `ProxyError` naming it. With `http2`, HTTP/2 runs inside the
   * tunnel: a proxy is never bypassed.
   */
  proxy?: string | URL | ProxyOptions | null;
  /**
   * Milliseconds for the whole opening: DNS, TCP, TLS, the handshake and any
   * redirects. Past it, `connect` rejects with a {@link TimeoutError} (a
   * `ProxyError` coded `ERR_PROXY_TIMEOUT` while a proxy is opening the tunnel).
   * Defaults to 30000, so a server that accepts TCP and never answers
   * cannot hold the caller forever; `Infinity` waits without limit.
   */
  timeout?: number;
  /**
   * Aborts the opening at any step; `connect` then rejects with the
   * signal's reason. It has no effect on the connection once open.
   */
  signal?: AbortSignal;
  /**
   * permessage-deflate (RFC 7692): `true` (the default, as in ws) offers it
   * with default settings, an object offers it with those, `false` does not
   * offer it. Whether the server accepted shows in `ws.extensions`.
   */
  compression?: boolean | CompressionOptions;
  /**
   * Called with the server's answer that accepts the WebSocket (a 101, or
   * an HTTP/2 2xx) as soon as it arrives, before its checks and before
   * `connect` resolves: for the cookies or other header fields the server
   * sent with it. A throw fails the attempt with that error.
   *
   * @example Keep the session cookie the server sets with its 101
   * ```ts ignore
   * import { connect } from "@streamsock/streamsock";
   *
   * let session: string | undefined;
   * const ws = await connect("wss://example.com/live", {
   *   onUpgrade: ({ headers }) => (session = headers.getSetCookie().find((c) => c.startsWith("session="))),
   * });
   * ```
   */
  onUpgrade?: (response: UpgradeResponse) => void;
  /**
   * Debugging: called with every frame the connection sends and receives
   * after the handshake, read from the wire (opcode, FIN, RSV, length,
   * masking key, payload preview). `streamsock connect --verbose` prints
   * these. Costs nothing when absent.
   */
  trace?: (frame: TracedFrame) => void;
  /**
   * WebSockets over HTTP/2 (RFC 8441). `"auto"`: on `wss://`, offer `h2` and
   * `http/1.1` by ALPN, and open the WebSocket as an extended CONNECT stream
   * when the server chose `h2` and its SETTINGS enable extended CONNECT;
   * otherwise upgrade over HTTP/1.1 as without the option. `true`: the same
   * on `wss://`, and h2c with prior knowledge on `ws://` (no fallback there).
   * Through a proxy, all of this happens inside its CONNECT tunnel.
   * Defaults to false: HTTP/1.1 only.
   */
  http2?: boolean | "auto";
  /**
   * With `http2`: share HTTP/2 sessions with the other `connect` calls given
   * the same {@link Http2Pool}. Without it, each WebSocket over HTTP/2 has
   * its own session, closed with it.
   */
  http2Pool?: Http2Pool;
}


/**
 * The connection options `connect` passes through to the connection it
 * opens, unchanged: one list, so that a new option cannot be dropped on the
 * way (`reconnecting` and the CLI go through `connect`).
 */
export const FORWARDED_CONNECTION_OPTIONS = [
  "compression",
  "zlibSweeper",
  "maxFrameSize",
  "maxMessageSize",
  "autoPong",
  "echoCloseReason",
  "closeTimeout",
  "pingInterval",
  "pingTimeout",
  "idleTimeout",
  "maxBackpressure",
  "backpressurePolicy",
  "maxMessagesPerSecond",
  "maxBytesPerSecond",
  "rateLimitBurst",
  "rateLimitAction",
  "clock",
] as const satisfies readonly (keyof WebSocketConnectionOptions)[];

/** A connection option the client forwards. */
export type ForwardedConnectionOption = typeof FORWARDED_CONNECTION_OPTIONS[number];

/** The connection options the client sets itself, from the handshake (`maskKey` stays the connection's default). */
type SetByClient = "role" | "protocol" | "extensions" | "head" | "url" | "maskKey";

/**
 * A type error here names a {@link WebSocketConnectionOptions} key that is
 * neither forwarded nor set by the client: add it to
 * {@link FORWARDED_CONNECTION_OPTIONS} (or to `SetByClient`).
 */
const _everyOptionHandled: [Exclude<keyof WebSocketConnectionOptions, ForwardedConnectionOption | SetByClient>] extends
  [never] ? true
  : { unhandled: Exclude<keyof WebSocketConnectionOptions, ForwardedConnectionOption | SetByClient> } = true;

/**
 * The forwarded options, as given.
 *
 * @param options `connect`'s options.
 * @returns Those of {@link FORWARDED_CONNECTION_OPTIONS} that are present.
 */
export function forwardedOptions(options: ConnectOptions): Pick<ConnectOptions, ForwardedConnectionOption> {
  const picked: Record<string, unknown> = {};
  for (const name of FORWARDED_CONNECTION_OPTIONS) {
    if (options[name] !== undefined) picked[name] = options[name];
  }
  return picked as Pick<ConnectOptions, ForwardedConnectionOption>;
}
