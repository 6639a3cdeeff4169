// Test-only plumbing for the robustness suite: a serve() server on 127.0.0.1
// that records how each connection ended, hostile raw peers on both sides of
// real TCP, an RSS meter, and a writer that pushes bytes until the kernel
// stops taking them. What opens something takes the test context (an Owner)
// and is released when the test ends, passed or failed.
import assert from "node:assert/strict";
import process from "node:process";
import v8 from "node:v8";
import { runInNewContext } from "node:vm";
import { connect as netConnect, createServer as createNetServer, type Socket } from "node:net";
import type { CloseInfo } from "../../src/protocol/types.ts";
import type { WebSocketConnection } from "../../src/connection/connection.ts";
import type { OnSocket, RequestHandlerOptions, ServeOptions } from "../../src/server/options.ts";
import { requestHandler } from "../../src/server/request_handler.ts";
import { serve, type Server } from "../../src/server/serve.ts";
import { computeAccept } from "../../src/handshake/key.ts";
import { upgradeRequest } from "../_server.ts";
import { closeCodeOf, Wire } from "../_wire.ts";

export { closeCodeOf, Wire };
import { socketPair } from "../_helpers.ts";
import { type Owner, Releases, withTimeout } from "../_test.ts";

export const MiB = 1024 * 1024;

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// ------------------------------------------------------------------ memory

/**
 * A full garbage collection, where the runtime allows one from inside the
 * process: Bun.gc, or V8's gc() exposed at run time (Node and Deno).
 */
export const collectGarbage: () => void = (() => {
  const bun = (globalThis as { Bun?: { gc(force: boolean): void } }).Bun;
  if (bun !== undefined) return () => bun.gc(true);
  try {
    v8.setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    if (typeof gc === "function") return gc;
  } catch {
    // No way to collect on demand: the bounds then also cover the garbage.
  }
  return () => {};
})();

/** How much more memory a scenario took than before it began. */
export interface Growth {
  /** Peak resident set size over the baseline. */
  rss: number;
  /**
   * Peak of what survived a full collection (JS heap plus ArrayBuffers) over
   * the baseline: what the process really held on to, free of how lazily the
   * collector runs and how much the runtime keeps mapped after collecting.
   */
  retained: number;
}

function liveBytes(): number {
  const usage = process.memoryUsage();
  return usage.heapUsed + (usage.arrayBuffers ?? 0);
}

/**
 * Samples the process's resident set size every 5 ms from construction to
 * `stop`, and what survives a full collection every 100 ms, and reports the
 * peak growth of both. The peak, not the final value, is what a flood that is
 * buffered and then released shows.
 */
export class RssMeter {
  readonly #rssBaseline: number;
  readonly #liveBaseline: number;
  #rssPeak: number;
  #livePeak: number;
  #timer: ReturnType<typeof setInterval> | undefined;
  #ticks = 0;

  constructor() {
    collectGarbage();
    this.#rssBaseline = this.#rssPeak = process.memoryUsage().rss;
    this.#liveBaseline = this.#livePeak = liveBytes();
    this.#timer = setInterval(() => this.#sample(), 5);
  }

  #sample(): void {
    const rss = process.memoryUsage().rss;
    if (rss > this.#rssPeak) this.#rssPeak = rss;
    if (++this.#ticks % 20 === 0) this.#sampleLive();
  }

  #sampleLive(): void {
    collectGarbage();
    const live = liveBytes();
    if (live > this.#livePeak) this.#livePeak = live;
  }

  /** Stops sampling; returns the peak growth. */
  stop(): Growth {
    this.#sample();
    clearInterval(this.#timer);
    this.#timer = undefined;
    return { rss: this.#rssPeak - this.#rssBaseline, retained: this.#livePeak - this.#liveBaseline };
  }
}

/**
 * Asserts both growths are under their bounds, with the figures in the
 * message (and on stdout with ROBUSTNESS_VERBOSE=1, for reports).
 */
export function assertBounded(growth: Growth, bounds: Growth, what: string): void {
  const mib = (n: number) => (n / MiB).toFixed(1);
  const figures = `${what}: peak RSS growth ${mib(growth.rss)} MiB (bound ${mib(bounds.rss)}), ` +
    `retained ${mib(growth.retained)} MiB (bound ${mib(bounds.retained)})`;
  if (process.env.ROBUSTNESS_VERBOSE) console.log(figures);
  assert.ok(growth.rss < bounds.rss && growth.retained < bounds.retained, figures);
}

/**
 * Moves `bytes` through a plain TCP connection in this process and throws
 * them away, so the runtime's heap and socket buffers have grown to what
 * any busy process has before the first measurement; otherwise the first
 * test of a file would also measure the runtime warming up.
 */
export async function warmUp(bytes = 64 * MiB): Promise<void> {
  const releases = new Releases();
  try {
    const { clientSocket, serverSocket } = await socketPair(releases);
    let received = 0;
    const done = new Promise<void>((resolve) => {
      serverSocket.on("data", (chunk: Uint8Array) => {
        received += chunk.length;
        if (received >= bytes) resolve();
      });
    });
    await pump(clientSocket, payloadStream(bytes));
    await withTimeout(done, 10_000, "warming up");
  } finally {
    await releases.release();
  }
}

/** `total` bytes (rounded up to 64 KiB) from one reused chunk. */
export function payloadStream(total: number): () => Uint8Array | null {
  const chunk = new Uint8Array(64 * 1024).fill(0x5a);
  let left = total;
  return () => {
    if (left <= 0) return null;
    left -= chunk.length;
    return chunk;
  };
}

// ------------------------------------------------------------------ writing

export interface PumpResult {
  /** Bytes the socket accepted. */
  written: number;
  /** True when the socket stopped taking bytes for `stallMs` (the peer stopped reading). */
  stalled: boolean;
  /** True when the socket closed or failed before everything was written. */
  broken: boolean;
}

/**
 * Writes the chunks `next` returns (null: done) as fast as the socket takes
 * them, waiting for "drain" when it is full; gives up when no drain comes
 * within `stallMs`, or the socket breaks.
 */
export async function pump(socket: Socket, next: () => Uint8Array | null, stallMs = 1000): Promise<PumpResult> {
  let written = 0;
  for (let chunk = next(); chunk !== null; chunk = next()) {
    if (socket.destroyed || !socket.writable) return { written, stalled: false, broken: true };
    written += chunk.length;
    if (socket.write(chunk)) continue;
    const outcome = await new Promise<"drain" | "stall" | "broken">((resolve) => {
      const done = (result: "drain" | "stall" | "broken") => {
        clearTimeout(timer);
        socket.off("drain", onDrain);
        socket.off("close", onClose);
        resolve(result);
      };
      const onDrain = () => done("drain");
      const onClose = () => done("broken");
      const timer = setTimeout(() => done("stall"), stallMs);
      socket.on("drain", onDrain);
      socket.on("close", onClose);
    });
    if (outcome === "stall") return { written, stalled: true, broken: false };
    if (outcome === "broken") return { written, stalled: false, broken: true };
  }
  return { written, stalled: false, broken: false };
}

/** `count` copies of `frame` back to back, in chunks of about 64 KiB. */
export function repeated(frame: Uint8Array, count: number): () => Uint8Array | null {
  const perChunk = Math.max(1, Math.floor(65536 / frame.length));
  const chunk = new Uint8Array(perChunk * frame.length);
  for (let i = 0; i < perChunk; i++) chunk.set(frame, i * frame.length);
  let left = count;
  return () => {
    if (left <= 0) return null;
    const n = Math.min(left, perChunk);
    left -= n;
    return n === perChunk ? chunk : chunk.subarray(0, n * frame.length);
  };
}

// ------------------------------------------------------------------ a server under attack

export interface Attacked {
  server: Server;
  port: number;
  /** How each connection ended, in the order they closed. */
  closes: CloseInfo[];
  /** What onError heard: server-side faults only. */
  errors: unknown[];
  /** Connections whose onSocket ran. */
  accepted: number;
  close(): Promise<void>;
}

/**
 * serve() on 127.0.0.1 with `onSocket`, recording every connection's close
 * and every onError report, closed when `t` ends. Keepalive is off unless
 * asked for, so a test's frames are not interleaved with pings it did not
 * expect.
 */
export async function attackedServer(
  t: Owner,
  onSocket: OnSocket,
  options: RequestHandlerOptions = {},
  serveOptions: Omit<ServeOptions, "hostname" | "port"> = {},
): Promise<Attacked> {
  const closes: CloseInfo[] = [];
  const errors: unknown[] = [];
  let accepted = 0;
  const handler = requestHandler((ws, request) => {
    accepted++;
    ws.closed.then((info) => closes.push(info));
    return onSocket(ws, request);
  }, undefined, { pingInterval: 0, onError: (err) => errors.push(err), ...options });
  const server = serve({ hostname: "127.0.0.1", port: 0, shutdownTimeout: 1000, ...serveOptions }, handler);
  t.after(() => server.close());
  await server.ready;
  return {
    server,
    port: server.port,
    closes,
    errors,
    get accepted() {
      return accepted;
    },
    close: () => server.close(),
  };
}

/** Reads every message until the connection ends, whichever way it ends. */
export async function drain(ws: WebSocketConnection): Promise<void> {
  try {
    for await (const _ of ws);
  } catch {
    // The failure is in ws.closed; that is what the tests look at.
  }
}



/**
 * A raw TCP connection to `port` on 127.0.0.1, not yet past any handshake,
 * destroyed when `t` ends. With `stubborn`, it keeps its sending side open
 * after the server's FIN.
 */
export async function dialRaw(t: Owner, port: number, stubborn = false): Promise<Wire> {
  const socket = netConnect({ port, host: "127.0.0.1", allowHalfOpen: stubborn });
  t.after(() => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  return new Wire(socket, false);
}

/** A raw TCP client past a correct opening handshake with `port`, destroyed when `t` ends. */
export async function openRaw(t: Owner, port: number, stubborn = false): Promise<Wire> {
  const wire = await dialRaw(t, port, stubborn);
  wire.write(upgradeRequest());
  const head = await wire.readHead();
  assert.equal(head.startLine, "HTTP/1.1 101 Switching Protocols");
  return wire;
}


// ------------------------------------------------------------------ a hostile server for connect()

export interface HostileServer {
  port: number;
  url: string;
  close(): Promise<void>;
}

/**
 * A raw TCP server on 127.0.0.1 that reads each request head, answers it
 * with a correct 101 unless `answer` is false, and hands the connection to
 * `attack`; closed, with its connections, when `t` ends. Its sockets stay
 * open for writing after the client's FIN, so an attack can go on after it
 * was told to stop.
 */
export async function hostileServer(
  t: Owner,
  attack: (wire: Wire) => void | Promise<void>,
  answer = true,
): Promise<HostileServer> {
  const wires = new Set<Wire>();
  const server = createNetServer({ allowHalfOpen: true }, async (socket) => {
    const wire = new Wire(socket, true);
    wires.add(wire);
    wire.closed.then(() => wires.delete(wire));
    try {
      const head = await wire.readHead();
      if (answer) {
        const key = head.headers.get("sec-websocket-key") ?? "";
        wire.write(
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            `Sec-WebSocket-Accept: ${await computeAccept(key)}\r\n\r\n`,
        );
      }
      await attack(wire);
    } catch {
      wire.destroy();
    }
  });
  const close = () => {
    for (const wire of wires) wire.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  };
  t.after(close);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return { port, url: `ws://127.0.0.1:${port}/`, close };
}

// ------------------------------------------------------------------ process hygiene

/**
 * Counts what keeps the event loop alive, by kind, where the runtime says
 * (Node's `process.getActiveResourcesInfo`; Deno and Bun return nothing, and
 * Deno's test sanitizers check leaks per test there instead).
 */
export function activeResources(): Map<string, number> {
  const info = (process as { getActiveResourcesInfo?: () => string[] }).getActiveResourcesInfo?.() ?? [];
  const counts = new Map<string, number>();
  for (const kind of info) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  return counts;
}

/** Collects unhandled rejections while `body` runs. */
export async function watchingRejections<T>(body: () => Promise<T>): Promise<{ result: T; rejections: unknown[] }> {
  const rejections: unknown[] = [];
  const listener = (reason: unknown) => rejections.push(reason);
  process.on("unhandledRejection", listener);
  try {
    const result = await body();
    // Rejections are reported once the microtask queue drains, before the
    // next timer: two turns of the event loop, not a span of time.
    for (let turn = 0; turn < 2; turn++) await new Promise((resolve) => setTimeout(resolve, 0));
    return { result, rejections };
  } finally {
    process.off("unhandledRejection", listener);
  }
}
