/**
 * The byte pipe a runtime provides to a {@link WebSocketConnection}.
 *
 * Push-style on purpose: the runtime calls `sink.data` for every chunk it
 * reads, so the connection parses frames synchronously as bytes arrive, with
 * no promise per read on the hot path. A pair of Web Streams is adapted to
 * this shape by `streamTransport`.
 *
 * @module
 */

import type { ProxyAddress } from "../handshake/tunnel.ts";

/**
 * What a {@link Transport} reports to its reader. Each method may be called from any task.
 *
 * @example A sink that logs what a transport reports
 * ```ts
 * import type { TransportSink } from "@streamsock/streamsock";
 *
 * const logger: TransportSink = {
 *   data: (chunk) => console.log(`${chunk.length} bytes`),
 *   end: () => console.log("end of stream"),
 *   error: (err) => console.error(err),
 *   drain: () => console.log("writable again"),
 * };
 * ```
 */
export interface TransportSink {
  /** Bytes arrived. The chunk belongs to the sink from now on. */
  data(chunk: Uint8Array): void;
  /** The peer closed its side (EOF): no more data will arrive. */
  end(): void;
  /** The transport failed: no more data will arrive. */
  error(err: unknown): void;
  /** Writes are welcome again after `write` returned false. */
  drain(): void;
}

/**
 * A bidirectional byte pipe (a TCP or TLS socket, or an in-memory pair).
 *
 * @example A transport over a node:net socket
 * ```ts
 * import type { Transport, TransportSink } from "@streamsock/streamsock";
 * import type { Socket } from "node:net";
 *
 * function socketTransport(socket: Socket): Transport {
 *   return {
 *     mutableChunks: true,
 *     get bufferedAmount() { return socket.writableLength; },
 *     start(sink: TransportSink) {
 *       socket.on("data", (chunk: Uint8Array) => sink.data(new Uint8Array(chunk)));
 *       socket.on("end", () => sink.end());
 *       socket.on("error", (err) => sink.error(err));
 *       socket.on("drain", () => sink.drain());
 *     },
 *     write: (chunk) => socket.write(chunk),
 *     pause: () => void socket.pause(),
 *     resume: () => void socket.resume(),
 *     end: () => void socket.end(),
 *     destroy: () => void socket.destroy(),
 *   };
 * }
 * ```
 */
export interface Transport {
  /**
   * Whether received chunks may be modified in place (unmasked) by the
   * connection. False when they may be shared with someone else.
   */
  readonly mutableChunks: boolean;
  /** Bytes accepted by `write` but not yet handed to the operating system. */
  readonly bufferedAmount: number;
  /** The peer's IP address, where the runtime knows it (a socket: yes; an in-memory pipe: no). */
  readonly remoteAddress?: string;
  /** The peer's port, where the runtime knows it. */
  readonly remotePort?: number;
  /**
   * Starts reading. Calling it again hands the transport over to a new sink
   * (the opening handshake reads the HTTP head, then hands over to the
   * connection): every event after the call goes to the new sink.
   */
  start(sink: TransportSink): void;
  /**
   * Queues bytes for sending; the chunk must not be modified afterwards.
   * Returns false when the caller should wait for `sink.drain` before
   * writing more.
   */
  write(chunk: Uint8Array): boolean;
  /**
   * Writes several chunks in order, as one vectored write where the runtime
   * has one (a large frame's header and payload, without concatenating
   * them). Optional: without it each chunk goes through `write`.
   *
   * @returns False when the caller should wait for `drain`, as `write`.
   */
  writev?(chunks: Uint8Array[]): boolean;
  /** Stops delivering data until `resume` (inbound backpressure). */
  pause(): void;
  /** Resumes delivering data. */
  resume(): void;
  /** Sends what is queued, then closes the sending side. */
  end(): void;
  /** Closes at once, dropping whatever is queued. */
  destroy(): void;
}

/**
 * A pair of byte streams, such as `Deno.Conn` or one end of a
 * `WebSocketStream`-like pipe. `close`, when present, releases the
 * underlying resource.
 *
 * @example One end of an in-memory pipe
 * ```ts
 * import { type ByteStreamPair, streamTransport } from "@streamsock/streamsock";
 *
 * const pipe = new TransformStream<Uint8Array, Uint8Array>();
 * const loopback: ByteStreamPair = { readable: pipe.readable, writable: pipe.writable };
 * const transport = streamTransport(loopback);
 * ```
 */
export interface ByteStreamPair {
  /** Bytes from the peer. */
  readable: ReadableStream<Uint8Array>;
  /** Bytes to the peer. */
  writable: WritableStream<Uint8Array>;
  /** Releases the underlying resource. */
  close?(): void;
}

/** TLS settings for an outgoing connection (`wss://`). */
export interface DialTlsOptions {
  /** PEM certificates to trust instead of the runtime's default roots. */
  ca?: string | string[];
  /** PEM client certificate (mutual TLS); needs `key`. */
  cert?: string;
  /** PEM private key of `cert`. */
  key?: string;
  /** The name to send as SNI and to verify the certificate against. Defaults to the host. */
  serverName?: string;
  /** Set to false to accept any certificate. Defaults to true. */
  rejectUnauthorized?: boolean;
}

/** Where and how a runtime shim opens an outgoing connection. */
export interface DialOptions {
  /** Host name or IP address; an IPv6 address without brackets. */
  hostname: string;
  /** TCP port. */
  port: number;
  /** TLS settings: present means TLS. */
  tls?: DialTlsOptions;
  /**
   * Aborts the attempt. A dial that is aborted rejects with the signal's
   * reason and leaves no socket behind; once it resolved, the caller owns the
   * transport.
   */
  signal?: AbortSignal;
}

/**
 * The proxy one connection goes through, as `src/client/proxy.ts` chose it
 * and `src/transport/proxy.ts` dials it.
 */
export interface ProxyRoute {
  /** The proxy's URL, parsed. */
  address: ProxyAddress;
  /** Extra header fields for an HTTP(S) proxy's CONNECT request. */
  headers: [string, string][];
  /** TLS settings for the connection to an `https://` proxy. */
  tls: DialTlsOptions;
}

/** Where and how a runtime shim listens for incoming connections. */
export interface ListenOptions {
  /** The address to bind: an IP address or a host name. */
  hostname: string;
  /** TCP port; 0 lets the system pick a free one. */
  port: number;
  /** PEM certificate chain and private key: present means TLS. */
  tls?: { cert: string; key: string };
  /** SO_REUSEPORT: other processes may listen on the same port (issue 16). Shims that cannot must reject. */
  reusePort?: boolean;
}

/** A listening socket, as a runtime shim's `listen` returns it. */
export interface Listener {
  /** The bound address; `port` is the one the system picked when 0 was asked. */
  readonly addr: { hostname: string; port: number };
  /** Stops accepting connections; those already accepted are left alone. */
  close(): void;
}

/** Receives each accepted connection, with the peer's IP address when known. */
export type AcceptHandler = (transport: Transport, remoteAddress: string | undefined) => void;
