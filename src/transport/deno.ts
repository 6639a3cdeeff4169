/**
 * Deno's native sockets: `Deno.connect`, `Deno.connectTls`, `Deno.startTls`,
 * `Deno.listen` and `Deno.listenTls`.
 * Loaded only on Deno (see `./runtime.ts`), so no other runtime sees the `Deno`
 * namespace.
 *
 * @module
 */

import type { AcceptHandler, DialOptions, Listener, ListenOptions, Transport, TransportSink } from "./types.ts";
import { SocketLifecycle, WriteQueue } from "./write_queue.ts";

/**
 * Read buffer sizes. Each read is copied out, so a connection's buffer is
 * reused; but a pending `conn.read` holds its buffer for as long as the peer
 * is silent, so an idle connection reads into a small one (see
 * docs/performance.md for what a fixed 64 KiB buffer cost). A read that fills
 * the small buffer switches to the large one, and {@link SHRINK_AFTER} reads
 * in a row that would have fitted the small one switch back.
 */
const SMALL_READ_SIZE = 1024;
const LARGE_READ_SIZE = 64 * 1024;
const SHRINK_AFTER = 4;
/**
 * A read that completes at once resolves without a turn of the event loop, so
 * a peer that keeps the socket full would keep this loop (and everything it
 * feeds) running while timers, accepts and other connections wait. After this
 * many bytes read without a break, the loop yields a macrotask.
 */
const BYTES_PER_TURN = 256 * 1024;

// setImmediate, not setTimeout(0): a chain of zero timeouts is clamped to milliseconds each.
const nextMacrotask = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Wraps a connected `Deno.Conn` as a {@link Transport}.
 *
 * It reads with `conn.read` into a reused buffer (small while the connection
 * is quiet, see {@link SMALL_READ_SIZE}) and hands the connection a copy of
 * each read, rather than going through `conn.readable`: the copy is
 * the only per-read allocation, and writes go through the shared
 * {@link WriteQueue} straight to `conn.write`.
 *
 * The socket is closed exactly once ({@link SocketLifecycle}): after the
 * peer's EOF and our `closeWrite`, on an error, or on `destroy`.
 *
 * @param conn A TCP or TLS connection.
 * @returns The transport; reading starts with `start`.
 *
 * @example
 * ```ts
 * import { denoConnTransport } from "./deno.ts";
 *
 * const conn = await Deno.connect({ hostname: "127.0.0.1", port: 8080 });
 * const transport = denoConnTransport(conn);
 * transport.destroy();
 * ```
 */
export function denoConnTransport(conn: Deno.Conn): Transport {
  let sink: TransportSink | null = null;
  let finished = false;
  let destroyed = false;
  let paused = false;
  let wakeReader: (() => void) | null = null;
  let endRequested = false;
  const lifecycle = new SocketLifecycle(() => conn.close());
  const queue = new WriteQueue(
    (chunk) => conn.write(chunk),
    () => sink?.drain(),
    (err) => {
      lifecycle.release();
      finish(err);
    },
  );

  function finish(err?: unknown): void {
    if (finished) return;
    finished = true;
    if (err === undefined || destroyed) sink!.end();
    else sink!.error(err);
  }

  async function pump(): Promise<void> {
    let buffer = new Uint8Array(SMALL_READ_SIZE);
    let smallReads = 0;
    let sinceYield = 0;
    try {
      for (;;) {
        if (paused) await new Promise<void>((resolve) => (wakeReader = resolve));
        if (destroyed) break;
        const n = await conn.read(buffer);
        if (paused) {
          // A read in flight when the transport was paused: what it brought, or the end, waits for resume.
          await new Promise<void>((resolve) => (wakeReader = resolve));
          if (destroyed) break;
        }
        if (n === null) break;
        if (n > 0) sink!.data(buffer.slice(0, n));
        if (n === buffer.length) {
          smallReads = 0;
          if (n < LARGE_READ_SIZE) buffer = new Uint8Array(LARGE_READ_SIZE);
        } else if (n > SMALL_READ_SIZE) {
          smallReads = 0;
        } else if (buffer.length > SMALL_READ_SIZE && ++smallReads >= SHRINK_AFTER) {
          smallReads = 0;
          buffer = new Uint8Array(SMALL_READ_SIZE);
        }
        sinceYield += n;
        if (sinceYield >= BYTES_PER_TURN) {
          sinceYield = 0;
          await nextMacrotask();
        }
      }
    } catch (err) {
      lifecycle.release();
      finish(err);
      return;
    }
    lifecycle.readEnded();
    finish();
  }

  function sendEnd(): void {
    conn.closeWrite().then(() => lifecycle.writeEnded(), () => lifecycle.release());
  }

  const remote = conn.remoteAddr as Deno.NetAddr;
  return {
    mutableChunks: true,
    get bufferedAmount() {
      return queue.bufferedAmount;
    },
    remoteAddress: remote.hostname,
    remotePort: remote.port,
    start(next) {
      const first = sink === null;
      sink = next;
      if (first) pump();
    },
    write(chunk) {
      if (destroyed || endRequested) return true;
      return queue.push(chunk);
    },
    pause() {
      paused = true;
    },
    resume() {
      paused = false;
      const wake = wakeReader;
      wakeReader = null;
      wake?.();
    },
    end() {
      if (destroyed || endRequested) return;
      endRequested = true;
      queue.whenEmpty(sendEnd);
    },
    destroy() {
      if (destroyed) return;
      destroyed = true;
      queue.close();
      lifecycle.release();
      const wake = wakeReader;
      wakeReader = null;
      wake?.();
    },
  };
}

/**
 * Opens a TCP connection with `Deno.connect`, Nagle's algorithm off.
 *
 * `dial` (in `./runtime.ts`) uses it for `ws://`; `wss://` goes through Deno's
 * `node:tls` (see `dial` for why and the figures).
 *
 * @param options Host, port and an abort signal.
 * @returns The connected transport.
 *
 * @example
 * ```ts
 * import { dialDeno } from "./deno.ts";
 *
 * const transport = await dialDeno({ hostname: "127.0.0.1", port: 8080 });
 * transport.destroy();
 * ```
 */
export async function dialDeno(options: DialOptions): Promise<Transport> {
  const { hostname, port, tls, signal } = options;
  if (tls !== undefined) throw new TypeError("dialDeno opens TCP only; wss:// goes through node:tls");
  signal?.throwIfAborted();
  // Deno.connect's own signal can abandon a connection the kernel already
  // made, leaving its descriptor open; so the signal only stops the wait, and
  // a connection that arrives after it is closed here.
  const connecting = Deno.connect({ hostname, port });
  if (signal === undefined) return setUp(await connecting);
  let onAbort = () => {};
  const aborted = new Promise<never>((_, reject) => (onAbort = () => reject(signal.reason)));
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    return setUp(await Promise.race([connecting, aborted]));
  } catch (err) {
    connecting.then((conn) => conn.close(), () => {});
    throw err;
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

function setUp(conn: Deno.TcpConn): Transport {
  conn.setNoDelay(true);
  return denoConnTransport(conn);
}

/**
 * Listens with `Deno.listen` (or `Deno.listenTls` when `options.tls` is set)
 * and hands every accepted connection to `onAccept`; a TLS connection's
 * handshake runs as it is first read.
 *
 * @param options Address, port and TLS certificate.
 * @param onAccept Receives each connection.
 * @returns The listener, bound.
 *
 * @example
 * ```ts
 * import { listenDeno } from "./deno.ts";
 *
 * const listener = await listenDeno({ hostname: "127.0.0.1", port: 0 }, (transport) => transport.destroy());
 * console.log(listener.addr.port);
 * listener.close();
 * ```
 */
export function listenDeno(options: ListenOptions, onAccept: AcceptHandler): Promise<Listener> {
  const { hostname, port, tls } = options;
  // Without --unstable-net, Deno.listen({ reusePort }) ends the process
  // instead of throwing; listenDatagram exists only with that flag.
  if (options.reusePort === true && typeof (Deno as { listenDatagram?: unknown }).listenDatagram !== "function") {
    return Promise.reject(new Error("reusePort on Deno needs the --unstable-net flag"));
  }
  let listener: Deno.Listener;
  try {
    listener = tls === undefined
      ? Deno.listen({ hostname, port, transport: "tcp", ...(options.reusePort ? { reusePort: true } : {}) })
      : Deno.listenTls({ hostname, port, cert: tls.cert, key: tls.key, ...(options.reusePort ? { reusePort: true } : {}) });
  } catch (err) {
    return Promise.reject(err);
  }
  const addr = listener.addr as Deno.NetAddr;
  let closed = false;
  (async () => {
    while (!closed) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch {
        // Closed, or a failed accept (EMFILE...): the next accept may succeed.
        if (closed) return;
        await new Promise((resolve) => setTimeout(resolve, 10));
        continue;
      }
      if ("setNoDelay" in conn && typeof conn.setNoDelay === "function") conn.setNoDelay(true);
      onAccept(denoConnTransport(conn), (conn.remoteAddr as Deno.NetAddr).hostname);
    }
  })();
  return Promise.resolve({
    addr: { hostname: addr.hostname, port: addr.port },
    close() {
      if (closed) return;
      closed = true;
      try {
        listener.close();
      } catch {
        // Already closed.
      }
    },
  });
}
