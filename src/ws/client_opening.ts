/**
 * The client side of `streamsock/ws`'s opening handshake: what ws's
 * `initAsClient` does over `connect` — the checks it throws for, the
 * `headers` option, redirects, and the objects its `'upgrade'`,
 * `'redirect'` and `'unexpected-response'` listeners get.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { EventEmitter } from "node:events";
import type { IncomingHttpHeaders } from "node:http";
import { Readable } from "node:stream";
import { connect } from "../client/connect.ts";
import type { ConnectOptions, UpgradeResponse } from "../client/options.ts";
import type { WebSocketConnection } from "../connection/connection.ts";
import { HandshakeError } from "../errors.ts";
import { EMPTY } from "./data.ts";
import { handshakeErrorOf } from "./errors.ts";
import { emitSafely } from "./events.ts";
import type { ClientOptions } from "./options.ts";
import {
  compressionOf,
  DEFAULT_CLOSE_TIMEOUT,
  DEFAULT_MAX_FRAGMENTS,
  DEFAULT_MAX_PAYLOAD,
  type ReceiveLimits,
} from "./settings.ts";

const SUBPROTOCOL = /^[!#$%&'*+\-.0-9A-Z^_`|a-z~]+$/;
/** The handshake's own request fields: ws lets them win over the `headers` option. */
const HANDSHAKE_FIELDS = new Set([
  "connection",
  "upgrade",
  "sec-websocket-key",
  "sec-websocket-version",
  "sec-websocket-protocol",
  "sec-websocket-extensions",
]);

/**
 * Whether node:http, which ws's client is built on, takes a 101 for an
 * upgrade: it needs an `Upgrade` field and `upgrade` among `Connection`'s
 * tokens; otherwise ws sees a plain response, an unexpected one.
 */
function isNodeUpgrade(headers: Headers): boolean {
  const connection = headers.get("connection");
  return headers.has("upgrade") && connection !== null &&
    connection.split(",").some((token) => token.trim().toLowerCase() === "upgrade");
}

/** Thrown from `onUpgrade` for a 101 that is not an upgrade to node:http. */
class PlainResponse extends Error {
  readonly response: UpgradeResponse;

  constructor(response: UpgradeResponse) {
    super(`Unexpected server response: ${response.status}`);
    this.response = response;
  }
}

/** A header object as node:http's `IncomingMessage.headers` holds it. */
function headerObject(headers: Headers): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  headers.forEach((value, name) => {
    if (name !== "set-cookie") out[name] = value;
  });
  const cookies = headers.getSetCookie();
  if (cookies.length > 0) out["set-cookie"] = cookies;
  return out;
}

/**
 * The server's answer as ws's `'upgrade'` and `'unexpected-response'`
 * listeners get it: a readable of the body with the fields of node:http's
 * `IncomingMessage` that describe a response.
 *
 * @example
 * ```ts
 * import type { ResponseMessage } from "@streamsock/streamsock/ws";
 *
 * const cookies = (res: ResponseMessage) => res.headers["set-cookie"] ?? [];
 * ```
 */
export interface ResponseMessage extends Readable {
  /** The status code. */
  statusCode: number;
  /** The reason phrase. */
  statusMessage: string;
  /** The header fields, names lower-cased; `set-cookie` as an array. */
  headers: IncomingHttpHeaders;
  /** Names and values, alternating. */
  rawHeaders: string[];
  /** `"1.1"`. */
  httpVersion: string;
  /** 1. */
  httpVersionMajor: number;
  /** 1. */
  httpVersionMinor: number;
}

function incomingOf(status: number, statusText: string, headers: Headers, body: Uint8Array): ResponseMessage {
  const res = new Readable({ read() {} });
  const rawHeaders: string[] = [];
  headers.forEach((value, name) => {
    if (name !== "set-cookie") rawHeaders.push(name, value);
  });
  for (const cookie of headers.getSetCookie()) rawHeaders.push("set-cookie", cookie);
  Object.assign(res, {
    statusCode: status,
    statusMessage: statusText,
    headers: headerObject(headers),
    rawHeaders,
    httpVersion: "1.1",
    httpVersionMajor: 1,
    httpVersionMinor: 1,
  });
  if (body.length > 0) res.push(Buffer.from(body));
  res.push(null);
  return res as ResponseMessage;
}

/**
 * The request a ws client's `'redirect'` and `'unexpected-response'`
 * listeners get: node:http's `ClientRequest` as far as a handshake needs
 * it. Header fields set on it in a `'redirect'` listener go with the next
 * request; `abort()` and `destroy()` give up the handshake.
 *
 * @example
 * ```ts
 * import { WebSocket } from "@streamsock/streamsock/ws";
 *
 * const ws = new WebSocket("ws://127.0.0.1:8080", { followRedirects: true });
 * ws.on("redirect", (url, request) => request.setHeader("x-redirected-from", url));
 * ws.on("unexpected-response", (request, response) => {
 *   console.log(response.statusCode);
 *   request.destroy();
 * });
 * ws.on("error", () => {});
 * ```
 */
export class HandshakeRequest extends EventEmitter {
  /** Always `"GET"`. */
  readonly method = "GET";
  /** The request target: path and query. */
  readonly path: string;
  /** The host, without the port. */
  readonly host: string;
  /** `"http:"` or `"https:"`. */
  readonly protocol: string;
  readonly #fields: Map<string, string | string[]>;
  readonly #abort: () => void;
  #aborted = false;

  /** @internal */
  constructor(url: URL, fields: Map<string, string | string[]>, abort: () => void) {
    super();
    this.path = url.pathname + url.search;
    this.host = url.hostname;
    this.protocol = url.protocol === "wss:" ? "https:" : "http:";
    this.#fields = fields;
    this.#abort = abort;
  }

  /** Whether `abort()` or `destroy()` was called. */
  get aborted(): boolean {
    return this.#aborted;
  }

  /**
   * A request header field.
   *
   * @param name The field's name.
   * @returns Its value.
   */
  getHeader(name: string): string | string[] | undefined {
    return this.#fields.get(name.toLowerCase());
  }

  /**
   * Sets a request header field (for the request after a redirect).
   *
   * @param name The field's name.
   * @param value Its value.
   * @returns This request.
   */
  setHeader(name: string, value: string | number | readonly string[]): this {
    this.#fields.set(name.toLowerCase(), Array.isArray(value) ? [...value] : String(value));
    return this;
  }

  /**
   * Removes a request header field.
   *
   * @param name The field's name.
   */
  removeHeader(name: string): void {
    this.#fields.delete(name.toLowerCase());
  }

  /** Gives up the handshake. */
  abort(): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#abort();
  }

  /**
   * Gives up the handshake.
   *
   * @returns This request.
   */
  destroy(): this {
    this.abort();
    return this;
  }
}

/** The request header fields of ws's `headers` option, lower-cased as node:http sends them. */
function fieldMap(headers: ClientOptions["headers"]): Map<string, string | string[]> {
  const fields = new Map<string, string | string[]>();
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined) continue;
    fields.set(name.toLowerCase(), Array.isArray(value) ? value.map(String) : String(value));
  }
  return fields;
}

function fieldPairs(fields: Map<string, string | string[]>): [string, string][] {
  const pairs: [string, string][] = [];
  for (const [name, value] of fields) {
    // The handshake's own fields are the handshake's, as in ws; Host is always the URL's.
    if (HANDSHAKE_FIELDS.has(name) || name === "host" || name === "origin") continue;
    for (const one of Array.isArray(value) ? value : [value]) pairs.push([name, one]);
  }
  return pairs;
}

/**
 * What {@link openClient} needs of the `WebSocket` it opens; the socket's
 * state stays its own.
 */
export interface OpeningHost {
  /** The socket, which emits `upgrade`, `redirect` and `unexpected-response`. */
  readonly emitter: EventEmitter;
  /** Whether the socket is still CONNECTING (not closed or terminated meanwhile). */
  connecting(): boolean;
  /** The URL the socket reports, which a redirect changes. */
  setUrl(href: string): void;
  /** The attempt in progress, to abandon it on `close()` or `terminate()`. */
  setOpening(controller: AbortController | null): void;
  /** The handshake succeeded: open the socket and start reading. */
  opened(conn: WebSocketConnection): void;
  /** ws's error and close events for a failed opening. */
  failed(err: unknown): void;
  /** ws's abortHandshake: CLOSING now, the error and close events in the next turn. */
  abort(message: string): void;
}

/**
 * Opens a ws client as ws's `initAsClient` does: checks the URL, the
 * subprotocols and the version at once (throwing as ws throws), then
 * connects, following redirects and emitting ws's handshake events.
 *
 * @param address The URL as given.
 * @param protocols The subprotocols to offer.
 * @param options ws's client options.
 * @param host The socket being opened.
 * @returns The message limits the socket applies once open.
 * @throws {SyntaxError} For an invalid URL or subprotocol.
 * @throws {RangeError} For a `protocolVersion` other than 13.
 */
export function openClient(
  address: string | URL,
  protocols: string[],
  options: ClientOptions,
  host: OpeningHost,
): ReceiveLimits {
  const version = options.protocolVersion ?? 13;
  if (version !== 13) {
    throw new RangeError(`Unsupported protocol version: ${version} (supported versions: 13)`);
  }
  let url: URL;
  if (address instanceof URL) url = new URL(address.href);
  else {
    try {
      url = new URL(address);
    } catch {
      throw new SyntaxError(`Invalid URL: ${address}`);
    }
  }
  if (url.protocol === "http:" || url.protocol === "https:") url.protocol = url.protocol === "http:" ? "ws:" : "wss:";
  host.setUrl(url.href);
  if (url.protocol !== "ws:" && url.protocol !== "wss:") {
    throw new SyntaxError(
      url.protocol === "ws+unix:"
        ? "ws+unix: URLs are not supported by streamsock/ws"
        : 'The URL\'s protocol must be one of "ws:", "wss:", "http:", "https:", or "ws+unix:"',
    );
  }
  if (url.hash) throw new SyntaxError("The URL contains a fragment identifier");
  const seen = new Set<string>();
  for (const protocol of protocols) {
    if (typeof protocol !== "string" || !SUBPROTOCOL.test(protocol) || seen.has(protocol)) {
      throw new SyntaxError("An invalid or duplicated subprotocol was specified");
    }
    seen.add(protocol);
  }
  const maxPayload = options.maxPayload === undefined
    ? DEFAULT_MAX_PAYLOAD
    : options.maxPayload || Number.MAX_SAFE_INTEGER;
  const limits = {
    maxPayload,
    maxFragments: (options.maxFragments ?? DEFAULT_MAX_FRAGMENTS) || Number.MAX_SAFE_INTEGER,
  };
  const fields = fieldMap(options.headers);
  const auth = options.auth;
  const connectOptions: ConnectOptions = {
    protocol: protocols,
    origin: options.origin,
    compression: compressionOf(options.perMessageDeflate, true, "client"),
    maxFrameSize: maxPayload,
    maxMessageSize: maxPayload,
    timeout: options.handshakeTimeout ?? Infinity,
    tls: {
      ca: options.ca as string | string[] | undefined,
      cert: options.cert as string | undefined,
      key: options.key as string | undefined,
      rejectUnauthorized: options.rejectUnauthorized,
      serverName: options.servername,
    },
    auth: typeof auth === "string" && auth.includes(":")
      ? { basic: [auth.slice(0, auth.indexOf(":")), auth.slice(auth.indexOf(":") + 1)] }
      : undefined,
    proxy: options.proxy ?? null,
    redirect: false,
    pingInterval: 0,
    closeTimeout: options.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT,
    autoPong: options.autoPong ?? true,
    echoCloseReason: true,
    maxBackpressure: Infinity,
    onUpgrade: (response: UpgradeResponse) => {
      if (!isNodeUpgrade(response.headers)) throw new PlainResponse(response);
      emitSafely(host.emitter, "upgrade", incomingOf(response.status, response.statusText, response.headers, EMPTY));
    },
  };
  const first = url;
  const closedEarly = () => host.abort("WebSocket was closed before the connection was established");

  /** ws's `'unexpected-response'`, or its error when nobody listens. */
  const unexpectedResponse = (
    target: URL,
    status: number,
    statusText: string,
    headers: Headers,
    body: Uint8Array,
  ) => {
    const request = new HandshakeRequest(target, fields, closedEarly);
    if (!host.emitter.emit("unexpected-response", request, incomingOf(status, statusText, headers, body))) {
      host.abort(`Unexpected server response: ${status}`);
    }
  };

  const failed = (err: unknown, target: URL, redirects: number): void => {
    if (err instanceof PlainResponse) {
      const { status, statusText, headers } = err.response;
      return unexpectedResponse(target, status, statusText, headers, EMPTY);
    }
    if (!(err instanceof HandshakeError) || err.code !== "ERR_HANDSHAKE_STATUS") {
      return host.failed(
        handshakeErrorOf(err, {
          protocols,
          offeredExtensions: connectOptions.compression !== false,
        }),
      );
    }
    const { status, headers } = err;
    const location = headers.get("location");
    if (location !== null && options.followRedirects && status >= 300 && status < 400) {
      if (redirects + 1 > (options.maxRedirects ?? 10)) return host.abort("Maximum redirects exceeded");
      let next: URL;
      try {
        next = new URL(location, target);
      } catch {
        return host.failed(new SyntaxError(`Invalid URL: ${location}`));
      }
      if (next.protocol === "http:" || next.protocol === "https:") {
        next.protocol = next.protocol === "http:" ? "ws:" : "wss:";
      }
      host.setUrl(next.href);
      if (next.protocol !== "ws:" && next.protocol !== "wss:") {
        return host.failed(
          new SyntaxError('The URL\'s protocol must be one of "ws:", "wss:", "http:", "https:", or "ws+unix:"'),
        );
      }
      const sameHost = next.host === first.host;
      if (
        host.emitter.listenerCount("redirect") === 0 &&
        (!sameHost || (first.protocol === "wss:" && next.protocol !== "wss:"))
      ) {
        // As ws (and curl): credentials do not follow a redirect to another host or to plain text.
        fields.delete("authorization");
        fields.delete("cookie");
      }
      const request = new HandshakeRequest(next, fields, closedEarly);
      host.emitter.emit("redirect", next.href, request);
      if (!host.connecting() || request.aborted) return;
      return attempt(next, redirects + 1);
    }
    // The reason phrase, as HandshakeError's message quotes the status line.
    const statusText = /^Server refused the WebSocket upgrade: \d{3} ?(.*?)(?: \(.*\))?$/s.exec(err.message)?.[1] ?? "";
    unexpectedResponse(target, status, statusText, headers, err.body);
  };

  const attempt = (target: URL, redirects: number) => {
    const controller = new AbortController();
    host.setOpening(controller);
    const headers = fieldPairs(fields);
    const origin = connectOptions.origin ?? fields.get("origin");
    connect(target, {
      ...connectOptions,
      origin: origin === undefined ? undefined : String(origin),
      headers,
      signal: controller.signal,
    }).then(
      (conn) => {
        if (!host.connecting()) {
          void conn.terminate();
          return;
        }
        host.setOpening(null);
        // As ws: a client that offered subprotocols wants one chosen.
        if (protocols.length > 0 && conn.protocol === null) {
          void conn.terminate();
          return host.failed(new Error("Server sent no subprotocol"));
        }
        host.opened(conn);
      },
      (err) => {
        if (!host.connecting()) return;
        host.setOpening(null);
        failed(err, target, redirects);
      },
    );
  };
  attempt(url, 0);
  return limits;
}
