/**
 * WebSockets over HTTP/2 (RFC 8441): a {@link Transport} over one
 * `node:http2` stream, a listener that answers HTTP/1.1 upgrades and HTTP/2
 * extended CONNECT streams on one port, and the client's session. Works on
 * Node, and on Deno and Bun through their `node:http2`.
 *
 * @module
 */

import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  connect as http2Connect,
  createServer as createHttp2Server,
  type Http2Stream,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from "node:http2";
import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import { createServer as createTlsServer, type TLSSocket } from "node:tls";
import { currentRuntime } from "./runtime.ts";
import { connectSocket, nodeSocketTransport } from "./node.ts";
import type { AcceptHandler, DialOptions, Listener, ListenOptions, Transport, TransportSink } from "./types.ts";
import { HIGH_WATER_MARK, SocketLifecycle } from "./write_queue.ts";

/** RFC 9113 §7: the stream was cancelled; what a failed or dropped WebSocket resets its stream with. */
export const HTTP2_CANCEL = 0x8;

/** RFC 9113 §3.4: the first bytes of an h2c connection with prior knowledge. */
const PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/** How long a cleartext connection may stay silent before its first bytes tell HTTP/1.1 from h2c. */
const SNIFF_TIMEOUT = 10_000;

/** The settings every streamsock HTTP/2 endpoint sends: RFC 8441 §3 enables extended CONNECT. */
export const HTTP2_SETTINGS = { enableConnectProtocol: true } as const;

/**
 * A {@link Transport} over an HTTP/2 stream, with the response head of the
 * extended CONNECT on the server's side.
 */
export interface Http2StreamTransport extends Transport {
  /**
   * Sends the response head (`:status` and `fields`). With a `body`, sends it
   * too and ends the stream: a refusal.
   */
  respond(status: number, fields: [string, string][], body?: string): void;
}

/**
 * Wraps an HTTP/2 stream that carries a WebSocket. The stream's own buffer is
 * the write queue, under the shared high-water mark; HTTP/2 flow control is
 * the backpressure in both directions (a paused stream stops sending window
 * updates). `end` sends END_STREAM after the queued frames; the stream is
 * released exactly once ({@link SocketLifecycle}): when both sides ended, or
 * with RST_STREAM CANCEL on an error or `destroy`, leaving the session and
 * its other streams alone.
 *
 * @param stream A server stream (after its CONNECT arrived) or a client stream (after its 200).
 * @returns The transport, not yet started.
 */
export function http2StreamTransport(stream: Http2Stream): Http2StreamTransport {
  let sink: TransportSink | null = null;
  let done = false;
  let early: Uint8Array[] | null = [];
  let earlyEnd = false;
  let readEnded = false;
  let writeEnded = false;
  const lifecycle = new SocketLifecycle(() => {
    // Both END_STREAMs went by: HTTP/2 closes the stream itself, and a
    // RST_STREAM now would tell the peer (Chromium) the close was unclean.
    if (readEnded && writeEnded) return;
    if (!stream.closed && !stream.destroyed) stream.close(HTTP2_CANCEL);
  });
  const finish = (err?: unknown) => {
    if (done) return;
    done = true;
    if (sink === null) return;
    if (err === undefined) sink.end();
    else sink.error(err);
  };
  // Listening from the start: Deno's client reports DATA before the response
  // head, and a reset before start must not be an unhandled "error".
  stream.on("data", (chunk: Uint8Array) => {
    const bytes = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (early !== null) early.push(bytes);
    else if (!done) sink!.data(bytes);
  });
  stream.on("end", () => {
    readEnded = true;
    lifecycle.readEnded();
    if (early !== null) earlyEnd = true;
    else finish();
  });
  stream.on("finish", () => {
    writeEnded = true;
    lifecycle.writeEnded();
  });
  stream.on("error", (err) => {
    lifecycle.release();
    finish(err);
  });
  stream.on("close", () => {
    lifecycle.gone();
    finish();
  });
  stream.on("drain", () => sink?.drain());
  stream.pause();
  return {
    mutableChunks: true,
    get bufferedAmount() {
      return stream.writableLength;
    },
    remoteAddress: stream.session?.socket?.remoteAddress,
    remotePort: stream.session?.socket?.remotePort,
    start(next) {
      sink = next;
      if (early === null) return;
      const pending = early;
      early = null;
      for (const chunk of pending) if (!done) next.data(chunk);
      if (earlyEnd || done) {
        done = false;
        finish();
      }
      stream.resume();
    },
    write(chunk) {
      if (stream.destroyed || !stream.writable) return true;
      return stream.write(chunk) || stream.writableLength <= HIGH_WATER_MARK;
    },
    pause() {
      stream.pause();
    },
    resume() {
      stream.resume();
    },
    end() {
      if (!stream.destroyed && stream.writable) stream.end();
    },
    destroy() {
      lifecycle.release();
    },
    respond(status, fields, body) {
      const server = stream as ServerHttp2Stream;
      if (server.headersSent || server.destroyed) return;
      const head: Record<string, string | number | string[]> = { ":status": status };
      for (const [field, value] of fields) {
        // A repeated field (Set-Cookie from onHeaders) is sent once per value.
        const name = field.toLowerCase();
        const before = head[name];
        head[name] = before === undefined ? value : [...(Array.isArray(before) ? before : [String(before)]), value];
      }
      if (body === undefined) {
        server.respond(head);
        return;
      }
      head["content-type"] = "text/plain; charset=utf-8";
      server.respond(head);
      server.end(body);
    },
  };
}

/** Receives each HTTP/2 stream a {@link listenHttp2} listener accepts. */
export type Http2StreamHandler = (
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  remoteAddress: string | undefined,
) => void;

function startsWithPreface(chunk: Uint8Array): boolean {
  const n = Math.min(chunk.length, PREFACE.length);
  for (let i = 0; i < n; i++) if (chunk[i] !== PREFACE[i]) return false;
  return n > 0;
}

/**
 * Listens with `node:tls` (ALPN `h2` and `http/1.1`) or `node:net` on every
 * runtime: an HTTP/2 connection (chosen by ALPN, or h2c with prior
 * knowledge, told by its preface) becomes a session whose streams go to
 * `onStream`; any other connection goes to `onAccept` as a transport, as
 * with `listen`. Closing the listener also closes its sessions gracefully
 * (GOAWAY): streams already open carry on until they end.
 *
 * @param options Address, port and TLS certificate.
 * @param onAccept Receives each HTTP/1.1 connection.
 * @param onStream Receives each HTTP/2 stream.
 * @returns The listener, once it is bound.
 */
export function listenHttp2(
  options: ListenOptions,
  onAccept: AcceptHandler,
  onStream: Http2StreamHandler,
): Promise<Listener> {
  const sessions = new Set<ServerHttp2Session>();
  const engine = createHttp2Server({ settings: HTTP2_SETTINGS });
  engine.on("session", (session: ServerHttp2Session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
    // A session's failure (a peer breaking HTTP/2) ends that session only.
    session.on("error", () => {});
  });
  engine.on("stream", (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    stream.on("error", () => {});
    onStream(stream, headers, stream.session?.socket?.remoteAddress);
  });
  const toHttp2 = (socket: Socket) => engine.emit("connection", socket);
  const toHttp1 = (socket: Socket) => onAccept(nodeSocketTransport(socket), socket.remoteAddress);
  // Node and Deno need the socket paused for unshift to hand the bytes back;
  // on Bun the paused socket never delivers them to the HTTP/2 session.
  const pauseToSniff = currentRuntime() !== "bun";
  const sniff = (socket: Socket) => {
    socket.setTimeout(SNIFF_TIMEOUT, () => socket.destroy());
    socket.on("error", () => {});
    socket.once("data", (chunk: Uint8Array) => {
      socket.setTimeout(0);
      if (pauseToSniff) socket.pause();
      socket.unshift(chunk);
      if (startsWithPreface(chunk)) {
        toHttp2(socket);
      } else {
        toHttp1(socket);
        socket.resume();
      }
    });
  };
  const server: NetServer = options.tls === undefined ? createNetServer(sniff) : createTlsServer(
    { cert: options.tls.cert, key: options.tls.key, ALPNProtocols: ["h2", "http/1.1"] },
    (socket: TLSSocket) => socket.alpnProtocol === "h2" ? toHttp2(socket) : toHttp1(socket),
  );
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.hostname, () => {
      server.off("error", reject);
      server.on("error", () => {});
      const { address, port } = server.address() as { address: string; port: number };
      resolve({
        addr: { hostname: address, port },
        close: () => {
          server.close();
          for (const session of sessions) session.close();
        },
      });
    });
  });
}

/** What a client offers by ALPN for a WebSocket that may be an HTTP/2 stream: h2, else HTTP/1.1. */
export const HTTP2_ALPN = ["h2", "http/1.1"];

/** What {@link dialHttp2} found at the other end. */
export type Http2Dialed =
  /** An HTTP/2 session whose peer sent SETTINGS_ENABLE_CONNECT_PROTOCOL. */
  | { session: ClientHttp2Session }
  /** The server chose HTTP/1.1 by ALPN: the connection, for an HTTP/1.1 upgrade. */
  | { transport: Transport }
  /** HTTP/2 without RFC 8441: the session was closed; dial again for HTTP/1.1. */
  | { noConnectProtocol: true };

/**
 * Opens a connection for WebSockets over HTTP/2: over TLS it offers `h2` and
 * `http/1.1` by ALPN; in cleartext it speaks h2c with prior knowledge. An
 * HTTP/2 session is returned only once the server's first SETTINGS arrived
 * and enable extended CONNECT (RFC 8441 §3): no runtime checks that before
 * a CONNECT with `:protocol`, and a Deno server closes the whole session.
 *
 * @param options Host, port, TLS settings and an abort signal.
 * @param tunnelled A socket already open to the server through a proxy's
 * tunnel (TLS offering {@link HTTP2_ALPN} for `wss://`), instead of dialling.
 * @returns The session, an HTTP/1.1 transport, or word that the server lacks RFC 8441.
 */
export function dialHttp2(options: DialOptions, tunnelled?: Socket): Promise<Http2Dialed> {
  const { hostname, port, tls, signal } = options;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      tunnelled?.destroy();
      return reject(signal.reason);
    }
    const socket = tunnelled ?? connectSocket(options, HTTP2_ALPN);
    let session: ClientHttp2Session | null = null;
    const settle = () => {
      socket.off("error", onError);
      session?.off("error", onError);
      signal?.removeEventListener("abort", onAbort);
    };
    const onError = (err: unknown) => {
      settle();
      session?.destroy();
      socket.destroy();
      reject(err);
    };
    const onAbort = () => onError(signal!.reason);
    const onReady = () => {
      if (socket.destroyed) return;
      if (tls !== undefined && (socket as TLSSocket).alpnProtocol !== "h2") {
        settle();
        resolve({ transport: nodeSocketTransport(socket) });
        return;
      }
      const authority = `${tls === undefined ? "http" : "https"}://${
        hostname.includes(":") ? `[${hostname}]` : hostname
      }:${port}`;
      const opened = http2Connect(authority, { createConnection: () => socket });
      session = opened;
      opened.on("error", onError);
      opened.once("remoteSettings", (settings) => {
        settle();
        // A later session failure reaches its streams; the session itself must not throw.
        opened.on("error", () => {});
        if (settings.enableConnectProtocol === true) {
          resolve({ session: opened });
        } else {
          opened.close();
          resolve({ noConnectProtocol: true });
        }
      });
    };
    // Deno 2.9 aborts the process (double free) when a session that gets no
    // extended CONNECT is created inside the "secureConnect" handler: one tick later it is fine.
    if (tunnelled !== undefined) setTimeout(onReady, 0);
    else socket.once(tls === undefined ? "connect" : "secureConnect", () => setTimeout(onReady, 0));
    socket.once("error", onError);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** The answer to an extended CONNECT, with the stream as a transport. */
export interface Http2ConnectResponse {
  /** The `:status`. */
  status: number;
  /** The regular header fields of the answer. */
  headers: Headers;
  /** The stream, not yet started: a WebSocket after a 2xx, the refusal's body otherwise. */
  transport: Http2StreamTransport;
}

/**
 * Sends an extended CONNECT on `session` and waits for the answer's head.
 *
 * @param session A session from {@link dialHttp2}.
 * @param fields The request's header fields, pseudo-headers included.
 * @param signal Aborting it resets the stream.
 * @returns The status, header fields and the stream.
 */
export function requestWebSocketStream(
  session: ClientHttp2Session,
  fields: Record<string, string>,
  signal?: AbortSignal,
): Promise<Http2ConnectResponse> {
  return new Promise((resolve, reject) => {
    let stream: ClientHttp2Stream;
    try {
      stream = session.request(fields);
    } catch (err) {
      reject(err);
      return;
    }
    // Wrapped at once: Deno's client may report DATA before the response head.
    const transport = http2StreamTransport(stream);
    const settle = () => {
      stream.off("error", onError);
      stream.off("close", onClose);
      signal?.removeEventListener("abort", onAbort);
    };
    const onError = (err: unknown) => {
      settle();
      transport.destroy();
      reject(err);
    };
    const onClose = () => onError(new Error(`The server reset the stream (code ${stream.rstCode})`));
    const onAbort = () => onError(signal!.reason);
    stream.once("response", (head) => {
      settle();
      const headers = new Headers();
      for (const [name, value] of Object.entries(head)) {
        if (name.startsWith(":") || value === undefined) continue;
        for (const item of Array.isArray(value) ? value : [value]) headers.append(name, String(item));
      }
      resolve({ status: Number(head[":status"]), headers, transport });
    });
    stream.once("error", onError);
    stream.once("close", onClose);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
