/**
 * The option and callback types of `streamsock/ws`, shaped as `@types/ws`
 * declares ws 8's, so that code written against ws type-checks unchanged.
 * Options ws has and streamsock does not use are accepted and ignored
 * (README: "Coming from `ws`" lists them).
 *
 * @module
 */

import type { Buffer } from "node:buffer";
import type { IncomingMessage, OutgoingHttpHeaders } from "node:http";
import type { SecureContextOptions } from "node:tls";
import type { ZlibOptions } from "node:zlib";

/**
 * What a `message` listener gets for binary data, by `binaryType`: a
 * Buffer (`"nodebuffer"`), an ArrayBuffer (`"arraybuffer"`) or Buffers
 * (`"fragments"`).
 *
 * @example
 * ```ts
 * import type { RawData } from "@streamsock/streamsock/ws";
 *
 * const size = (data: RawData): number =>
 *   Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.byteLength;
 * ```
 */
export type RawData = Buffer | ArrayBuffer | Buffer[];

/**
 * A message's data as an `onmessage` handler gets it: text as a string,
 * binary data as `binaryType` says.
 *
 * @example
 * ```ts
 * import type { Data } from "@streamsock/streamsock/ws";
 *
 * const text = (data: Data) => (typeof data === "string" ? data : "");
 * ```
 */
export type Data = string | Buffer | ArrayBuffer | Buffer[];

/**
 * Certificate and key data.
 *
 * @example
 * ```ts
 * import type { CertMeta } from "@streamsock/streamsock/ws";
 *
 * const none: CertMeta = [];
 * ```
 */
export type CertMeta = string | string[] | Buffer | Buffer[];

/**
 * The options of `addEventListener`.
 *
 * @example
 * ```ts
 * import type { EventListenerOptions } from "@streamsock/streamsock/ws";
 *
 * const once: EventListenerOptions = { once: true };
 * ```
 */
export interface EventListenerOptions {
  /** Remove the listener after one call. */
  once?: boolean;
}

/**
 * What `WebSocketServer#address()` returns for a TCP listener.
 *
 * @example
 * ```ts
 * import type { AddressInfo } from "@streamsock/streamsock/ws";
 *
 * const where = (a: AddressInfo) => `${a.address}:${a.port}`;
 * ```
 */
export interface AddressInfo {
  /** The address. */
  address: string;
  /** `"IPv4"` or `"IPv6"`. */
  family: string;
  /** The port. */
  port: number;
}

/**
 * ws's `perMessageDeflate` option (RFC 7692): `zlibDeflateOptions.level`
 * and `memLevel`, the four negotiation parameters and `threshold` are
 * used; the rest is accepted and ignored.
 *
 * @example
 * ```ts
 * import type { PerMessageDeflateOptions } from "@streamsock/streamsock/ws";
 *
 * const deflate: PerMessageDeflateOptions = { threshold: 256, zlibDeflateOptions: { level: 1 } };
 * ```
 */
export interface PerMessageDeflateOptions {
  /** Ask for (client) or impose (server) a fresh window per server message. */
  serverNoContextTakeover?: boolean;
  /** Ask for (client) or impose (server) a fresh window per client message. */
  clientNoContextTakeover?: boolean;
  /** The server's largest LZ77 window, 8 to 15 bits. */
  serverMaxWindowBits?: number;
  /**
   * The client's largest LZ77 window, 8 to 15 bits. ws also takes `true`
   * (offer the parameter, let the server choose), as streamsock does at run
   * time; `@types/ws`, whose types these follow, lists numbers only.
   */
  clientMaxWindowBits?: number;
  /** zlib settings for compressing: `level` and `memLevel` are used. */
  zlibDeflateOptions?: {
    flush?: number;
    finishFlush?: number;
    chunkSize?: number;
    windowBits?: number;
    level?: number;
    memLevel?: number;
    strategy?: number;
    dictionary?: Buffer | Buffer[] | DataView;
    info?: boolean;
  };
  /** zlib settings for decompressing: accepted, not used. */
  zlibInflateOptions?: ZlibOptions;
  /** Messages smaller than this many bytes are not compressed. Defaults to 1024. */
  threshold?: number;
  /** Accepted, not used: streamsock runs zlib in bounded slices instead. */
  concurrencyLimit?: number;
}

/**
 * Options of a client `WebSocket`, as ws 8 has them. Used: `protocols`,
 * `headers`, `origin`, `auth`, `perMessageDeflate`, `maxPayload`,
 * `maxFragments`, `handshakeTimeout`, `followRedirects`, `maxRedirects`,
 * `autoPong`, `closeTimeout`, `protocolVersion` (13 only), and the TLS
 * options `ca`, `cert`, `key` (PEM), `rejectUnauthorized`, `servername`.
 * `proxy` is streamsock's own. The others are accepted and ignored.
 *
 * @example
 * ```ts
 * import type { ClientOptions } from "@streamsock/streamsock/ws";
 *
 * const options: ClientOptions = { headers: { Authorization: "Bearer t" }, handshakeTimeout: 5000, maxPayload: 1 << 20 };
 * ```
 */
export interface ClientOptions extends SecureContextOptions {
  /** Subprotocols to offer, when not given as the second argument. */
  protocols?: string | string[];
  /** Follow 3xx redirects. Defaults to false. */
  followRedirects?: boolean;
  /** Most redirects followed. Defaults to 10. */
  maxRedirects?: number;
  /** Milliseconds for the opening handshake. Defaults to no limit, as ws. */
  handshakeTimeout?: number;
  /** permessage-deflate: on by default for clients. */
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
  /** Only 13: any other version throws a RangeError. */
  protocolVersion?: number;
  /** Extra request header fields. */
  headers?: { [key: string]: string | string[] | number | undefined };
  /** The `Origin` field. */
  origin?: string;
  /** `"user:password"` for Basic authentication. */
  auth?: string;
  /** The largest message accepted, in bytes. Defaults to 100 MiB. */
  maxPayload?: number;
  /** Answer pings automatically. Defaults to true. */
  autoPong?: boolean;
  /** Milliseconds to wait for the closing handshake. Defaults to 30000. */
  closeTimeout?: number;
  /** streamsock: an `http://`, `https://` or `socks5://` proxy to tunnel through (the environment is not read). */
  proxy?: string | URL | null;
  /** Set to false to accept any certificate (testing only). */
  rejectUnauthorized?: boolean;
  /** The TLS server name (SNI). */
  servername?: string;
  /** Accepted, ignored: frames are always validated as UTF-8. */
  skipUTF8Validation?: boolean;
  /** Accepted, ignored. */
  allowSynchronousEvents?: boolean;
  /** Accepted, ignored: masks are always random. */
  generateMask?(mask: Buffer): void;
  /** Accepted, ignored: streamsock dials itself. */
  agent?: unknown;
  /** Accepted, ignored. */
  host?: string;
  /** Accepted, ignored. */
  family?: number;
  /** Accepted, ignored. */
  localAddress?: string;
  /** Accepted, ignored. */
  checkServerIdentity?(servername: string, cert: unknown): boolean | Error | undefined;
  /** Accepted, ignored. */
  createConnection?: unknown;
  /** Accepted, ignored. */
  finishRequest?: unknown;
  /** Accepted, ignored. */
  maxPendingAutoPongs?: number;
  /** Accepted, ignored. */
  maxBufferedChunks?: number;
  /** The most frames a message may have; more fail the connection with 1008. Defaults to 16384 (0: no limit). */
  maxFragments?: number;
}

/**
 * What `verifyClient` is given.
 *
 * @example
 * ```ts
 * import type { VerifyClientInfo } from "@streamsock/streamsock/ws";
 *
 * const fromUs = (info: VerifyClientInfo) => info.origin === "https://example.com";
 * ```
 */
export interface VerifyClientInfo {
  /** The `Origin` field. */
  origin: string;
  /** Whether the connection is TLS. */
  secure: boolean;
  /** The upgrade request. */
  req: IncomingMessage;
}

/**
 * `verifyClient` with one argument: true accepts, false refuses with 401.
 *
 * @example
 * ```ts
 * import type { VerifyClientCallbackSync } from "@streamsock/streamsock/ws";
 *
 * const verify: VerifyClientCallbackSync = ({ req }) => req.headers.authorization === "Bearer t";
 * ```
 */
export type VerifyClientCallbackSync = (info: VerifyClientInfo) => boolean;

/**
 * `verifyClient` with a callback: `callback(true)` accepts,
 * `callback(false, code, message, headers)` refuses (401 by default).
 *
 * @example
 * ```ts
 * import type { VerifyClientCallbackAsync } from "@streamsock/streamsock/ws";
 *
 * const verify: VerifyClientCallbackAsync = (info, done) => done(info.secure, 403, "TLS only");
 * ```
 */
export type VerifyClientCallbackAsync = (
  info: VerifyClientInfo,
  callback: (res: boolean, code?: number, message?: string, headers?: OutgoingHttpHeaders) => void,
) => void;

/**
 * What a binary message is delivered as; see {@link WebSocket.binaryType}.
 * `"blob"` is accepted too at run time, as ws 8.18 and later accept it,
 * though `@types/ws` (whose types these follow) does not list it.
 *
 * @example
 * ```ts
 * import { type BinaryType, WebSocket } from "@streamsock/streamsock/ws";
 *
 * const ws = new WebSocket("ws://127.0.0.1:8080");
 * const type: BinaryType = "arraybuffer";
 * ws.binaryType = type; // binary messages now arrive as ArrayBuffer
 * ws.on("error", () => {});
 * ws.terminate();
 * ```
 */
export type BinaryType = "nodebuffer" | "arraybuffer" | "fragments";

/**
 * Options of {@link WebSocket.send}, as ws has them.
 *
 * @example
 * ```ts
 * import { type SendOptions, WebSocket } from "@streamsock/streamsock/ws";
 *
 * const ws = new WebSocket("ws://127.0.0.1:8080");
 * const options: SendOptions = { binary: false, compress: false };
 * ws.on("open", () => ws.send("hello", options, (err) => err && console.error(err)));
 * ws.on("error", () => {});
 * ```
 */
export interface SendOptions {
  /** Send as binary (default: true unless the data is a string). */
  binary?: boolean;
  /** Whether this message may be compressed (default true; the threshold still applies). */
  compress?: boolean;
  /** Whether this is the last fragment of the message (default true). */
  fin?: boolean;
  /** Ignored: a client always masks, a server never does. */
  mask?: boolean;
}
