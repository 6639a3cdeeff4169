/**
 * `connect`: open a WebSocket client connection (Gerbil's
 * `websocket-connect`) on Deno, Bun or Node, over `ws://` or `wss://`.
 *
 * @module
 */

import { WebSocketConnection, type WebSocketConnectionOptions } from "./connection.ts";
import { connectErrorOf, HandshakeError, TimeoutError } from "./errors.ts";
import {
  basicAuthorization,
  buildRequestHead,
  headerFields,
  isRedirect,
  parseProtocols,
  redirectTarget,
  refusalReason,
  ResponseBodyReader,
  statusOf,
  validateResponse,
} from "./handshake/client.ts";
import { type HeaderFields, type HttpHead, HttpHeadError, HttpHeadParser } from "./handshake/http.ts";
import { computeAccept, generateKey } from "./handshake/key.ts";
import { checkDeflateResponse, deflateOffer, PERMESSAGE_DEFLATE } from "./handshake/permessage_deflate.ts";
import {
  type CompressionOptions,
  type NegotiatedDeflate,
  negotiationOf,
  resolveCompression,
  withNegotiatedDeflate,
} from "./handshake/deflate_options.ts";
import { type TracedFrame, traceTransport } from "./trace.ts";
import { dial } from "./transport/mod.ts";
import { resolveProxy } from "./client/proxy.ts";
import { readEnvironment } from "./transport/environment.ts";
import { dialHttp2 } from "./transport/http2.ts";
import type { Transport, TransportSink } from "./transport/types.ts";
import { attemptHttp2, type Http2Pool } from "./client_http2.ts";

/** How long the whole opening may take unless `timeout` says otherwise. */
const DEFAULT_OPEN_TIMEOUT = 30_000;

/** How many redirects `redirect: true` follows. */
const DEFAULT_MAX_REDIRECTS = 5;

/**
 * How long a refusal's body may take to arrive after its head, when no
 * `timeout` bounds it sooner: the body only decorates the error.
 */
export const ERROR_BODY_WAIT = 2000;

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
   * proxy rejects with a `ProxyError`.
   */
  proxy?: string | URL | ProxyOptions | null;
  /**
   * Milliseconds for the whole opening: DNS, TCP, TLS, the handshake and any
   * redirects. Past it, `connect` rejects with a {@link TimeoutError}.
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
 * RFC 7692 §7.1: a permessage-deflate answer the client cannot accept fails
 * the handshake. Returns what was agreed (null when the server declined).
 */
export function checkDeflateAnswer(
  headers: Headers,
  status: number,
  extensions: string,
  offer: Required<CompressionOptions>,
): NegotiatedDeflate | null {
  try {
    const params = checkDeflateResponse(extensions, negotiationOf(offer));
    return params === null ? null : { role: "client", ...params };
  } catch (err) {
    throw new HandshakeError(`Server's permessage-deflate answer is invalid: ${(err as Error).message}`, {
      code: "ERR_HANDSHAKE_EXTENSION",
      status,
      headers,
      cause: err,
    });
  }
}

/** A redirect to follow, as one handshake attempt reports it. */
export interface Redirect {
  location: string;
  status: number;
  headers: Headers;
}

/** What one attempt sends beyond the URL. */
export interface AttemptRequest {
  url: URL;
  protocols: string[];
  fields: [string, string][];
  followRedirects: boolean;
}

function webSocketUrl(input: string | URL): URL {
  const url = new URL(input instanceof URL ? input.href : input);
  // As the WHATWG WebSocket constructor does: http(s) URLs name the same endpoint.
  if (url.protocol === "http:") url.protocol = "ws:";
  else if (url.protocol === "https:") url.protocol = "wss:";
  if (url.protocol !== "ws:" && url.protocol !== "wss:") {
    throw new TypeError(`connect needs a ws: or wss: URL, not ${url.protocol}`);
  }
  url.hash = "";
  return url;
}

function appendParams(url: URL, params: ConnectOptions["params"]): void {
  if (params === undefined) return;
  const extra = new URLSearchParams(params as Record<string, string>).toString();
  if (extra === "") return;
  // Appending to the serialized query keeps the existing one byte for byte;
  // url.searchParams.append would re-encode it.
  const query = url.search.slice(1);
  url.search = query === "" ? extra : query.endsWith("&") ? query + extra : `${query}&${extra}`;
}

function cookieField(cookies: ConnectOptions["cookies"]): string | null {
  if (cookies === undefined) return null;
  const pairs = Array.isArray(cookies) ? cookies : Object.entries(cookies);
  if (pairs.length === 0) return null;
  return pairs.map(([name, value]: readonly [string, string]) => {
    // RFC 6265 §4.1.1: a cookie name is a token; a value has no ; , or controls.
    if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)) throw new TypeError(`Invalid cookie name ${JSON.stringify(name)}`);
    // deno-lint-ignore no-control-regex
    if (/[\x00-\x1f\x7f;,]/.test(value)) throw new TypeError(`Invalid value for cookie ${name}`);
    return `${name}=${value}`;
  }).join("; ");
}

function authorizationField(auth: NonNullable<ConnectOptions["auth"]>): string {
  if (typeof auth === "string") return auth;
  if ("basic" in auth) return basicAuthorization(auth.basic[0], auth.basic[1]);
  if ("bearer" in auth) return `Bearer ${auth.bearer}`;
  throw new TypeError("auth must be { basic: [user, password] }, { bearer: token } or a string");
}

function credentialsOf(url: URL): string | null {
  if (url.username === "" && url.password === "") return null;
  return basicAuthorization(decodeURIComponent(url.username), decodeURIComponent(url.password));
}

/**
 * Opens a WebSocket connection: connects over TCP (TLS for `wss://`) with
 * the runtime's own sockets, performs the opening handshake of RFC 6455
 * §4.1 and returns the open connection. Gerbil's `websocket-connect`.
 *
 * The URL's path and query are sent, its fragment never; IPv6 literals
 * (`ws://[::1]:8080/`) work. The server's answer must prove it speaks
 * WebSocket: status 101, `Upgrade: websocket`, `Connection: upgrade`, the
 * right `Sec-WebSocket-Accept`, an offered subprotocol (or none) and no
 * extension that was not offered. Anything else closes the socket and
 * rejects with a {@link HandshakeError} that carries the status, header
 * fields and first 64 KiB of the body.
 *
 * Redirects (with `redirect`) never carry `Authorization` or cookies to an
 * origin other than the first URL's.
 *
 * @param url A `ws:` or `wss:` URL (`http:` and `https:` are mapped).
 * @param options Subprotocols, redirects, headers, cookies, query
 * parameters, auth, origin, TLS, timeout, abort signal and connection limits.
 * @returns The open connection.
 * @throws {TypeError} For a URL or option that cannot be sent.
 * @throws {HandshakeError} When the server refused or broke the handshake.
 * @throws {ProxyError} When the proxy could not be reached or refused the tunnel (not a HandshakeError).
 * @throws {TimeoutError} When `timeout` passed first.
 *
 * @example Echo one message
 * ```ts ignore
 * import { connect } from "@streamsock/streamsock";
 *
 * const ws = await connect("ws://127.0.0.1:8080/chat", { protocol: "chat.v1", timeout: 5000 });
 * await ws.send("hello");
 * console.log((await ws.recvAll()).data);
 * await ws.close();
 * ```
 *
 * @example wss:// with a private CA, auth and cookies
 * ```ts ignore
 * import { connect } from "@streamsock/streamsock";
 *
 * const ws = await connect("wss://example.test/feed?since=10", {
 *   tls: { ca: await Deno.readTextFile("ca.pem") },
 *   auth: { bearer: "token" },
 *   cookies: { session: "abc" },
 *   params: { compact: "1" },
 *   redirect: true,
 * });
 * ```
 */
export async function connect(url: string | URL, options: ConnectOptions = {}): Promise<WebSocketConnection> {
  const first = webSocketUrl(url);
  appendParams(first, options.params);
  const protocols = parseProtocols(options.protocol);
  const compression = resolveCompression(options.compression, true);
  const userFields = headerFields(options.headers);
  const cookies = cookieField(options.cookies);
  const auth = options.auth === undefined ? null : authorizationField(options.auth);
  const origin = options.origin;
  if (origin !== undefined) new Headers([["origin", origin]]);
  const redirect = options.redirect ?? false;
  const maxRedirects = redirect === true ? DEFAULT_MAX_REDIRECTS : redirect === false ? 0 : redirect;
  if (!Number.isInteger(maxRedirects) || maxRedirects < 0) {
    throw new TypeError("redirect must be a boolean or a non-negative integer");
  }
  const { timeout = DEFAULT_OPEN_TIMEOUT, signal } = options;
  if (!(timeout > 0)) throw new TypeError("timeout must be a positive number of milliseconds");
  signal?.throwIfAborted();

  // One signal for every step: the caller's abort or our timeout.
  const controller = new AbortController();
  const onAbort = () => controller.abort(signal!.reason);
  signal?.addEventListener("abort", onAbort, { once: true });
  const timer = timeout === Infinity ? undefined : setTimeout(() => {
    controller.abort(new TimeoutError(`Opening handshake with ${first.host} did not finish within ${timeout} ms`));
  }, timeout);

  try {
    const visited = new Set([first.href]);
    let current = first;
    for (let hops = 0;; hops++) {
      // Authorization and cookies go to the first URL's origin only (as
      // fetch does on redirects), so a redirect cannot leak them.
      const sameOrigin = current.origin === first.origin;
      const fields: [string, string][] = [];
      if (origin !== undefined) fields.push(["Origin", origin]);
      let authorization = sameOrigin ? auth : null;
      if (auth === null) authorization = credentialsOf(current) ?? (sameOrigin ? credentialsOf(first) : null);
      let cookie = sameOrigin ? cookies : null;
      for (const [name, value] of userFields) {
        const lower = name.toLowerCase();
        if (lower === "cookie") {
          if (sameOrigin) cookie = cookie === null ? value : `${value}; ${cookie}`;
        } else if (lower === "authorization") {
          if (sameOrigin && authorization === null) authorization = value;
        } else if (lower !== "host" || sameOrigin) {
          fields.push([name, value]);
        }
      }
      if (authorization !== null) fields.push(["Authorization", authorization]);
      if (cookie !== null) fields.push(["Cookie", cookie]);
      if (compression !== null) fields.push(["Sec-WebSocket-Extensions", deflateOffer(negotiationOf(compression))]);

      const outcome = await attempt(
        { url: current, protocols, fields, followRedirects: maxRedirects > 0 },
        options,
        controller.signal,
      );
      if (outcome instanceof WebSocketConnection) return outcome;
      const fail = (message: string, code: string, cause?: unknown): never => {
        throw new HandshakeError(message, { code, status: outcome.status, headers: outcome.headers, cause });
      };
      if (hops >= maxRedirects) fail(`Too many redirects (more than ${maxRedirects})`, "ERR_TOO_MANY_REDIRECTS");
      let next: URL;
      try {
        next = redirectTarget(outcome.location, current);
      } catch (err) {
        return fail(`Cannot follow the redirect to ${JSON.stringify(outcome.location)}`, "ERR_HANDSHAKE_REDIRECT", err);
      }
      if (visited.has(next.href)) fail(`Redirect loop: ${next.href} was already visited`, "ERR_REDIRECT_LOOP");
      visited.add(next.href);
      current = next;
    }
  } catch (err) {
    // A step that failed because of the abort reports the abort's reason.
    throw controller.signal.aborted ? controller.signal.reason : err;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  }
}

/** The client's connection over a transport whose handshake succeeded. */
export function openConnection(
  transport: Transport,
  options: ConnectOptions,
  url: URL,
  protocol: string | null,
  extensions: string,
  deflate: NegotiatedDeflate | null,
  head?: Uint8Array,
): WebSocketConnection {
  return new WebSocketConnection(options.trace ? traceTransport(transport, options.trace, head) : transport, withNegotiatedDeflate({
    role: "client",
    url: url.href,
    protocol,
    extensions,
    compression: options.compression,
    maxFrameSize: options.maxFrameSize,
    maxMessageSize: options.maxMessageSize,
    autoPong: options.autoPong,
    closeTimeout: options.closeTimeout,
    pingInterval: options.pingInterval,
    pingTimeout: options.pingTimeout,
    idleTimeout: options.idleTimeout,
    maxBackpressure: options.maxBackpressure,
    backpressurePolicy: options.backpressurePolicy,
    head,
  }, deflate));
}

/**
 * One request and its response: the open connection, a redirect to follow,
 * or a rejection. The socket is closed unless a connection is returned.
 */
async function attempt(
  request: AttemptRequest,
  options: ConnectOptions,
  signal: AbortSignal,
): Promise<WebSocketConnection | Redirect> {
  const { url, protocols } = request;
  const key = generateKey();
  // Computed before any byte is read, so the 101 is checked and the
  // connection takes over the transport in the same data callback: bytes that
  // follow the 101 in the same read cannot be missed.
  const accept = await computeAccept(key);
  const secure = url.protocol === "wss:";
  const port = url.port === "" ? (secure ? 443 : 80) : Number(url.port);
  const target = {
    // URL keeps IPv6 literals in brackets; sockets want the bare address.
    hostname: url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname,
    port,
    tls: secure ? (options.tls ?? {}) : undefined,
    signal,
  };
  let transport: Transport | null = null;
  // RFC 8441: a WebSocket as a stream of an HTTP/2 session (never through a proxy).
  if (options.http2 === true || (options.http2 === "auto" && secure)) {
    const pool = options.http2Pool;
    const key = `${url.protocol}//${url.host} ${JSON.stringify(options.tls ?? {})}`;
    const pooled = pool?.get(key);
    if (pooled !== undefined) return attemptHttp2(pooled, request, options, signal, false);
    const dialed = await dialHttp2(target).catch((err) => {
      throw connectErrorOf(err, url.hostname, port);
    });
    if ("session" in dialed) {
      const taken = pool?.add(key, dialed.session) ?? false;
      return attemptHttp2(dialed.session, request, options, signal, !taken);
    }
    if ("transport" in dialed) transport = dialed.transport;
    else if (!secure) {
      throw new HandshakeError(`${url.host} speaks h2c without RFC 8441 extended CONNECT`, {
        code: "ERR_HANDSHAKE_HTTP2",
      });
    }
  }
  if (transport === null) {
    // Chosen per attempt: NO_PROXY may send a redirect's target direct.
    const proxy = resolveProxy(url, options.proxy, readEnvironment);
    // A proxy's own failures are ProxyErrors, named after the proxy.
    transport = proxy === null
      ? await dial(target).catch((err) => {
        throw connectErrorOf(err, url.hostname, port);
      })
      : await (await import("./transport/proxy.ts")).dialThroughProxy(target, proxy);
  }
  return new Promise((resolve, reject) => {
    const parser = new HttpHeadParser();
    let response: HttpHead | null = null;
    let body: ResponseBodyReader | null = null;
    let bodyTimer: ReturnType<typeof setTimeout> | undefined;
    let settled = false;

    const settle = () => {
      settled = true;
      clearTimeout(bodyTimer);
      signal.removeEventListener("abort", onAbort);
    };
    const fail = (err: unknown) => {
      if (settled) return;
      settle();
      transport.destroy();
      reject(err);
    };
    const refuse = () => {
      const { startLine, headers } = response!;
      const status = `${startLine[1]} ${startLine[2]}`.trimEnd();
      const reason = refusalReason(body!.body, headers);
      fail(
        new HandshakeError(`Server refused the WebSocket upgrade: ${status}${reason && ` (${reason})`}`, {
          code: "ERR_HANDSHAKE_STATUS",
          status: Number(startLine[1]),
          headers,
          body: body!.body,
        }),
      );
    };
    const onAbort = () => fail(signal.reason);

    const onHead = (head: HttpHead) => {
      const status = statusOf(head);
      if (status === 101) {
        const offer = resolveCompression(options.compression, true);
        const { protocol, extensions } = validateResponse(head, {
          accept,
          protocols,
          extensions: offer === null ? [] : [PERMESSAGE_DEFLATE],
        });
        const deflate = offer === null ? null : checkDeflateAnswer(head.headers, 101, extensions, offer);
        settle();
        resolve(openConnection(transport, options, url, protocol, extensions, deflate, head.rest));
        return;
      }
      const location = head.headers.get("location");
      if (request.followRedirects && isRedirect(status) && location !== null) {
        settle();
        transport.destroy();
        resolve({ location, status, headers: head.headers });
        return;
      }
      response = head;
      body = new ResponseBodyReader(head.headers);
      if (body.push(head.rest)) return refuse();
      bodyTimer = setTimeout(refuse, ERROR_BODY_WAIT);
    };

    const sink: TransportSink = {
      data(chunk) {
        if (settled) return;
        if (body !== null) {
          if (body.push(chunk)) refuse();
          return;
        }
        try {
          const head = parser.push(chunk);
          if (head !== null) onHead(head);
        } catch (err) {
          fail(
            err instanceof HttpHeadError
              ? new HandshakeError(`Malformed handshake response: ${err.message}`, {
                code: "ERR_HANDSHAKE_MALFORMED",
                cause: err,
              })
              : err,
          );
        }
      },
      end() {
        if (body !== null) refuse();
        else {
          fail(new HandshakeError("Server closed the connection before answering the handshake", {
            code: "ERR_HANDSHAKE_EOF",
          }));
        }
      },
      error(err) {
        if (body !== null) refuse();
        else fail(connectErrorOf(err, url.hostname, port));
      },
      drain() {},
    };

    if (signal.aborted) return fail(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    transport.start(sink);
    transport.write(buildRequestHead({ url, key, protocols, headers: request.fields }));
  });
}
