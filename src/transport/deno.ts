/**
 * Deno's native sockets: `Deno.connect`, `Deno.connectTls`, `Deno.startTls`,
 * `Deno.listen` and `Deno.listenTls`.
 * Loaded only on Deno (see `./mod.ts`), so no other runtime sees the `Deno`
 * namespace.
 *
 * @module
 */

import type { AcceptHandler, DialOptions, Listener, ListenOptions, Transport, TransportSink } from "./types.ts";

/**
 * Read buffer sizes. Each read is copied out, so a connection's buffer is
 * reused; but a pending `conn.read` holds its buffer for as long as the peer
 * is silent, so an idle connection reads into a small one (a fixed 64 KiB
 * buffer made an idle `serve` connection cost 76.6 KB of RSS, vs 21.5 KB for
 * `Deno.serve`). A read that fills the small buffer switches to the large
 * one, and {@link SHRINK_AFTER} reads in a row that would have fitted the
 * small one switch back: 16 MiB echoes still read 64 KiB at a time.
 * Measured with `bench/run.ts`, old and new interleaved: 22.7 KB per idle
 * connection instead of 76.6 KB, and 32 B echoes and 16 MiB echoes at
 * 0.97-0.99x the old rate, within the run's noise.
 */
const SMALL_READ_SIZE = 1024;
const LARGE_READ_SIZE = 64 * 1024;
const SHRINK_AFTER = 4;
/** Writes beyond this many pending bytes ask the connection to wait. */
const HIGH_WATER_MARK = 64 * 1024;

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}

/**
 * Wraps a connected `Deno.Conn` as a {@link Transport}.
 *
 * It reads with `conn.read` into a reused buffer (small while the connection
 * is quiet, see {@link SMALL_READ_SIZE}) and hands the connection a copy of
 * each read, rather than going through `conn.readable`: the copy is
 * the only per-read allocation, and the writes chain on `conn.write`
 * directly, with no stream writer or queue strategy in between.
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
  // Outgoing chunks not yet taken by the OS; `conn.write` may take part of one.
  const queue: Uint8Array[] = [];
  let pending = 0;
  let writing = false;
  let blocked = false;
  let endRequested = false;

  function finish(err?: unknown): void {
    if (finished) return;
    finished = true;
    if (err === undefined || destroyed) sink!.end();
    else sink!.error(err);
  }

  async function pump(): Promise<void> {
    let buffer = new Uint8Array(SMALL_READ_SIZE);
    let smallReads = 0;
    try {
      for (;;) {
        if (paused) await new Promise<void>((resolve) => (wakeReader = resolve));
        if (destroyed) break;
        const n = await conn.read(buffer);
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
      }
    } catch (err) {
      finish(err);
      return;
    }
    finish();
  }

  async function flush(): Promise<void> {
    writing = true;
    try {
      while (queue.length > 0) {
        const chunk = queue[0];
        const n = await conn.write(chunk);
        pending -= n;
        if (n < chunk.length) queue[0] = chunk.subarray(n);
        else queue.shift();
        if (blocked && pending <= HIGH_WATER_MARK) {
          blocked = false;
          sink?.drain();
        }
      }
      if (endRequested) await conn.closeWrite();
    } catch (err) {
      queue.length = 0;
      pending = 0;
      if (!destroyed) {
        closeQuietly(conn);
        finish(err);
      }
    } finally {
      writing = false;
    }
  }

  return {
    mutableChunks: true,
    get bufferedAmount() {
      return pending;
    },
    start(next) {
      const first = sink === null;
      sink = next;
      if (first) pump();
    },
    write(chunk) {
      if (destroyed || endRequested) return true;
      queue.push(chunk);
      pending += chunk.length;
      if (!writing) flush();
      if (pending > HIGH_WATER_MARK) blocked = true;
      return !blocked;
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
      if (!writing) flush();
    },
    destroy() {
      if (destroyed) return;
      destroyed = true;
      queue.length = 0;
      pending = 0;
      closeQuietly(conn);
      const wake = wakeReader;
      wakeReader = null;
      wake?.();
    },
  };
}

/**
 * Opens a TCP connection with `Deno.connect`, Nagle's algorithm off.
 *
 * `dial` (in `./mod.ts`) uses it for `ws://`; `wss://` goes through Deno's
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
  const conn = await Deno.connect({ hostname, port, signal });
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
