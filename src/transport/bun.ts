/**
 * Bun's native sockets: `Bun.connect` and `Bun.listen`. Loaded only on Bun (see `./runtime.ts`).
 * Bun is typed here structurally, with only what this file uses, so the
 * project needs no Bun type package.
 *
 * @module
 */

import type { AcceptHandler, DialOptions, Listener, ListenOptions, Transport, TransportSink } from "./types.ts";
import { SocketLifecycle, WriteQueue } from "./write_queue.ts";

/** The part of Bun's `Socket` this shim uses. */
export interface BunSocket {
  /** The peer's IP address. */
  readonly remoteAddress?: string;
  /** The peer's port (Bun 1.1.30 and later). */
  readonly remotePort?: number;
  /** Writes what the kernel takes now; returns the byte count (less than asked under pressure, -1 when closed). */
  write(data: Uint8Array): number;
  /** Sends what Bun buffered, then FIN. */
  end(): void;
  /** Closes at once. */
  terminate(): void;
  /** Stops `data` callbacks until `resume`. */
  pause(): void;
  /** Resumes `data` callbacks. */
  resume(): void;
  /** Turns Nagle's algorithm off (true) or on. */
  setNoDelay(noDelay?: boolean): boolean;
}

/** The per-socket callbacks `Bun.connect` takes. */
export interface BunSocketHandler {
  open?(socket: BunSocket): void;
  data?(socket: BunSocket, data: Uint8Array): void;
  drain?(socket: BunSocket): void;
  end?(socket: BunSocket): void;
  close?(socket: BunSocket, error?: Error): void;
  error?(socket: BunSocket, error: Error): void;
}

interface BunConnectOptions {
  hostname: string;
  port: number;
  socket: BunSocketHandler;
}

/** A socket accepted by `Bun.listen`, carrying its transport in `data`. */
interface BunServerSocket extends BunSocket {
  data: BunSocketTransport | undefined;
  readonly remoteAddress: string;
}

interface BunListenOptions {
  hostname: string;
  port: number;
  socket: {
    open(socket: BunServerSocket): void;
    data(socket: BunServerSocket, data: Uint8Array): void;
    drain(socket: BunServerSocket): void;
    end(socket: BunServerSocket): void;
    close(socket: BunServerSocket, error?: Error): void;
    error(socket: BunServerSocket, error: Error): void;
  };
  tls?: { cert: string; key: string };
  reusePort?: boolean;
}

interface BunTcpListener {
  readonly hostname: string;
  readonly port: number;
  stop(closeActiveConnections?: boolean): void;
}

interface BunGlobal {
  connect(options: BunConnectOptions): Promise<BunSocket>;
  listen(options: BunListenOptions): BunTcpListener;
}

/**
 * A {@link Transport} whose events come from Bun's socket callbacks: create
 * it first, pass `handler` to `Bun.connect`, then `attach` the socket.
 */
export interface BunTransport extends Transport {
  /** The callbacks to give `Bun.connect`. */
  readonly handler: BunSocketHandler;
  /** Binds the connected socket. */
  attach(socket: BunSocket): void;
}

/**
 * Creates a transport for a Bun socket.
 *
 * `socket.write` takes only what the kernel accepts at once and returns the
 * count; the rest is queued here and written from the `drain` callback, so
 * no byte is lost and `bufferedAmount` tells how much waits.
 *
 * @returns The transport, to be attached to a socket.
 *
 * @example
 * ```ts ignore
 * import { bunSocketTransport } from "./bun.ts";
 *
 * const transport = bunSocketTransport();
 * // deno-lint-ignore no-explicit-any
 * const socket = await (globalThis as any).Bun.connect({ hostname: "127.0.0.1", port: 8080, socket: transport.handler });
 * transport.attach(socket);
 * ```
 */
export function bunSocketTransport(): BunTransport {
  return new BunSocketTransport();
}

/**
 * A class rather than an object of closures, with its write queue made only
 * when the socket first takes less than it was given: an idle connection
 * holds less (see docs/performance.md).
 */
class BunSocketTransport implements BunTransport {
  #socket: BunSocket | null = null;
  #sink: TransportSink | null = null;
  // Events that arrive before `start` (Bun reads as soon as it connects).
  #early: Uint8Array[] | null = null;
  #earlyEnd: { err?: unknown } | null = null;
  #finished = false;
  #destroyed = false;
  #paused = false;
  #endRequested = false;
  // `socket.write` takes what the kernel accepts now; the rest waits for `drain`.
  #onSocketDrain: (() => void) | null = null;
  readonly #lifecycle = new SocketLifecycle(() => this.#socket?.terminate());
  #queue: WriteQueue | null = null;
  #handler: BunSocketHandler | null = null;

  get mutableChunks(): boolean {
    return true;
  }

  /** The callbacks to give `Bun.connect` (`listenBun` calls the methods below directly). */
  get handler(): BunSocketHandler {
    return this.#handler ??= {
      data: (_socket, data) => this.onData(data),
      drain: () => this.onDrain(),
      end: () => this.onEnd(),
      close: (_socket, error) => this.onClose(error),
      error: (_socket, error) => this.onError(error),
    };
  }

  get bufferedAmount(): number {
    return this.#queue === null ? 0 : this.#queue.bufferedAmount;
  }

  get remoteAddress(): string | undefined {
    return this.#socket?.remoteAddress;
  }

  get remotePort(): number | undefined {
    return this.#socket?.remotePort;
  }

  #finish(err?: unknown): void {
    if (this.#finished) return;
    const sink = this.#sink;
    if (sink === null) {
      this.#earlyEnd ??= { err };
      return;
    }
    this.#finished = true;
    if (err === undefined || this.#destroyed) sink.end();
    else sink.error(err);
  }

  #failed(err: unknown): void {
    this.#lifecycle.release();
    this.#finish(err);
  }

  onData(data: Uint8Array): void {
    if (this.#finished) return;
    // Plain Uint8Arrays on every runtime, never Buffers. Bun allocates a
    // fresh buffer per callback, so it is ours to keep and unmask.
    const chunk = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (this.#sink === null) (this.#early ??= []).push(chunk);
    else this.#sink.data(chunk);
  }

  onDrain(): void {
    const wake = this.#onSocketDrain;
    this.#onSocketDrain = null;
    wake?.();
  }

  onEnd(): void {
    this.#lifecycle.readEnded();
    this.#finish();
  }

  onClose(error?: Error): void {
    this.#lifecycle.gone();
    this.#finish(error);
  }

  onError(error: Error): void {
    this.#failed(error);
  }

  attach(socket: BunSocket): void {
    this.#socket = socket;
    socket.setNoDelay(true);
  }

  start(next: TransportSink): void {
    const first = this.#sink === null;
    this.#sink = next;
    if (!first) return;
    const chunks = this.#early;
    this.#early = null;
    if (chunks !== null) for (const chunk of chunks) if (!this.#finished) next.data(chunk);
    if (this.#earlyEnd !== null) this.#finish(this.#earlyEnd.err);
  }

  write(chunk: Uint8Array): boolean {
    if (this.#destroyed || this.#endRequested || this.#finished) return true;
    const queue = this.#queue;
    if (queue !== null && !queue.empty) return queue.push(chunk);
    // Nothing queued: straight to the socket, as the queue would do.
    if (chunk.length === 0) return true;
    let n: number;
    try {
      n = this.#socket!.write(chunk);
    } catch (err) {
      this.#failed(err);
      return true;
    }
    if (n === chunk.length) return true;
    if (n < 0) {
      this.#failed(new Error("The socket is closed"));
      return true;
    }
    return (this.#queue ??= this.#makeQueue()).push(chunk.subarray(n));
  }

  #makeQueue(): WriteQueue {
    return new WriteQueue(
      (chunk) => {
        const n = this.#socket!.write(chunk);
        if (n === chunk.length || n < 0) return n;
        return new Promise<number>((resolve) => (this.#onSocketDrain = () => resolve(n)));
      },
      () => this.#sink?.drain(),
      (err) => this.#failed(err),
    );
  }

  pause(): void {
    if (this.#paused || this.#destroyed) return;
    this.#paused = true;
    this.#socket!.pause();
  }

  resume(): void {
    if (!this.#paused || this.#destroyed) return;
    this.#paused = false;
    this.#socket!.resume();
  }

  end(): void {
    if (this.#destroyed || this.#endRequested) return;
    this.#endRequested = true;
    const sendEnd = () => {
      if (this.#lifecycle.closed) return;
      this.#socket!.end();
      this.#lifecycle.writeEnded();
    };
    if (this.#queue === null) sendEnd();
    else this.#queue.whenEmpty(sendEnd);
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#queue?.close();
    this.#lifecycle.release();
  }
}

/**
 * Opens a TCP connection with `Bun.connect`, Nagle's algorithm off.
 *
 * `dial` (in `./runtime.ts`) uses it for `ws://`; `wss://` goes through Bun's
 * `node:tls` (see `dial` for why and the figures).
 *
 * @param options Host, port and an abort signal.
 * @returns The connected transport.
 *
 * @example
 * ```ts ignore
 * import { dialBun } from "./bun.ts";
 *
 * const transport = await dialBun({ hostname: "127.0.0.1", port: 8080 });
 * transport.destroy();
 * ```
 */
export async function dialBun(options: DialOptions): Promise<Transport> {
  const { hostname, port, tls, signal } = options;
  if (tls !== undefined) throw new TypeError("dialBun opens TCP only; wss:// goes through node:tls");
  signal?.throwIfAborted();
  const bun = (globalThis as unknown as { Bun: BunGlobal }).Bun;
  const transport = bunSocketTransport();
  let socket: BunSocket | null = null;
  // `open` hands over the socket at TCP connect, so an abort can close it
  // before Bun.connect resolves.
  transport.handler.open = (s) => {
    socket = s;
    if (signal?.aborted) s.terminate();
  };
  let onAbort = () => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => {
      socket?.terminate();
      reject(signal!.reason);
    };
  });
  aborted.catch(() => {});
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const connecting = bun.connect({ hostname, port, socket: transport.handler });
    // A connect that completes after an abort is closed at once.
    connecting.then((s) => {
      if (signal?.aborted) s.terminate();
    }, () => {});
    socket = await Promise.race([connecting, aborted]);
    transport.attach(socket);
    if (signal?.aborted) throw signal.reason;
    return transport;
  } catch (err) {
    socket?.terminate();
    throw signal?.aborted ? signal.reason : err;
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

/**
 * Listens with `Bun.listen` (TLS when `options.tls` is set) and hands every
 * accepted connection to `onAccept`. Bun calls one set of callbacks for all
 * sockets, so each socket carries its transport in `socket.data`.
 *
 * @param options Address, port and TLS certificate.
 * @param onAccept Receives each connection.
 * @returns The listener, bound.
 *
 * @example
 * ```ts ignore
 * import { listenBun } from "./bun.ts";
 *
 * const listener = await listenBun({ hostname: "127.0.0.1", port: 0 }, (transport) => transport.destroy());
 * console.log(listener.addr.port);
 * listener.close();
 * ```
 */
export function listenBun(options: ListenOptions, onAccept: AcceptHandler): Promise<Listener> {
  const bun = (globalThis as unknown as { Bun: BunGlobal }).Bun;
  let listener: BunTcpListener;
  try {
    listener = bun.listen({
      hostname: options.hostname,
      port: options.port,
      tls: options.tls,
      ...(options.reusePort ? { reusePort: true } : {}),
      socket: {
        open(socket) {
          const transport = new BunSocketTransport();
          transport.attach(socket);
          socket.data = transport;
          onAccept(transport, socket.remoteAddress);
        },
        data: (socket, data) => socket.data?.onData(data),
        drain: (socket) => socket.data?.onDrain(),
        end: (socket) => socket.data?.onEnd(),
        close: (socket, error) => socket.data?.onClose(error),
        error: (socket, error) => socket.data?.onError(error),
      },
    });
  } catch (err) {
    return Promise.reject(err);
  }
  let closed = false;
  return Promise.resolve({
    addr: { hostname: listener.hostname, port: listener.port },
    close() {
      if (closed) return;
      closed = true;
      listener.stop(false);
    },
  });
}
