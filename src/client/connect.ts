/**
 * `connect`: open a WebSocket client connection (Gerbil's
 * `websocket-connect`) on Deno, Bun or Node, over `ws://` or `wss://`.
 * The parts live in `src/client/`: the options, the request's fields, and
 * one attempt (dial and handshake) per URL.
 *
 * @module
 */

import { systemClock } from "../connection/clock.ts";
import { WebSocketConnection } from "../connection/connection.ts";
import { HandshakeError, ProxyError, TimeoutError } from "../errors.ts";
import { headerFields, parseProtocols, redirectTarget } from "../handshake/client.ts";
import { deflateOffer } from "../handshake/permessage_deflate.ts";
import { negotiationOf, resolveCompression } from "../handshake/deflate_options.ts";
import { attempt } from "./attempt.ts";
import type { ConnectOptions } from "./options.ts";
import {
  appendParams,
  authorizationField,
  cookieField,
  type GivenFields,
  requestFields,
  webSocketUrl,
} from "./request.ts";

export type { ConnectOptions, ConnectTlsOptions, ProxyOptions, UpgradeResponse } from "./options.ts";

/** How long the whole opening may take unless `timeout` says otherwise. */
const DEFAULT_OPEN_TIMEOUT = 30_000;

/** How many redirects `redirect: true` follows. */
const DEFAULT_MAX_REDIRECTS = 5;

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
 * @throws {ConnectError} When no connection could be made (`ECONNREFUSED` ...) or its TLS cannot work
 * (`ERR_TLS_CERT_UNTRUSTED`, `ERR_TLS_CERT_NAME`, `ERR_TLS_CERT_EXPIRED`, `ERR_TLS_NOT_TLS`).
 * @throws {ProxyError} When the proxy could not be reached, refused the tunnel or did not open it within `timeout` (not a HandshakeError).
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
  const compression = resolveCompression(options.compression, true, "client");
  const given: GivenFields = {
    origin: options.origin,
    authorization: options.auth === undefined ? null : authorizationField(options.auth),
    cookie: cookieField(options.cookies),
    headers: headerFields(options.headers),
  };
  if (given.origin !== undefined) new Headers([["origin", given.origin]]);
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
  // On the connection's clock, which tests move by hand.
  const clock = options.clock ?? systemClock;
  const timer = timeout === Infinity ? undefined : clock.setTimeout(() => {
    controller.abort(new TimeoutError(`Opening handshake with ${first.host} did not finish within ${timeout} ms`));
  }, timeout);

  try {
    const visited = new Set([first.href]);
    let current = first;
    for (let hops = 0;; hops++) {
      const fields = requestFields(first, current, given);
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
    // A step that failed because of the abort reports the abort's reason,
    // unless it was the timeout in a proxy's leg, which names the proxy.
    const reason = controller.signal.reason;
    if (!controller.signal.aborted || (err instanceof ProxyError && err.cause === reason)) throw err;
    throw reason;
  } finally {
    if (timer !== undefined) clock.clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  }
}
