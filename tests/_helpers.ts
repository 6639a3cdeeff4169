// Test-only plumbing: in-memory and TCP connection pairs, and a raw peer that
// speaks bytes so tests can send crafted frames and read exactly what the
// connection under test answered. Each takes the test context and releases
// what it opened when the test ends, passed or failed (tests/_test.ts).
import { createServer, type Server, type Socket, connect as netConnect } from "node:net";
import { WebSocketConnection } from "../src/connection/connection.ts";
import type { WebSocketConnectionOptions } from "../src/connection/options.ts";
import type { Frame } from "../src/codec/frame.ts";
import { streamTransport } from "../src/transport/streams.ts";
import { nodeSocketTransport } from "../src/transport/node.ts";
import type { Transport, TransportSink } from "../src/transport/types.ts";
import { readWireFrame, wireFrameSize } from "./_frames.ts";
import { type Owner, withTimeout } from "./_test.ts";

type PairOptions = Partial<Omit<WebSocketConnectionOptions, "role">>;

export interface Pair {
  client: WebSocketConnection;
  server: WebSocketConnection;
  /** Drops both connections (no closing handshake) and whatever the pair holds beyond them; runs when the test ends. */
  dispose(): Promise<void>;
}

/** A client and a server connected by in-memory byte streams, dropped when the test ends. */
export function memoryPair(t: Owner, options: PairOptions = {}): Pair {
  const up = new TransformStream<Uint8Array, Uint8Array>();
  const down = new TransformStream<Uint8Array, Uint8Array>();
  const client = new WebSocketConnection(
    streamTransport({ readable: down.readable, writable: up.writable }),
    { ...options, role: "client" },
  );
  const server = new WebSocketConnection(
    streamTransport({ readable: up.readable, writable: down.writable }),
    { ...options, role: "server" },
  );
  const pair = { client, server, dispose: () => terminateBoth(client, server) };
  t.after(pair.dispose);
  return pair;
}

async function terminateBoth(client: WebSocketConnection, server: WebSocketConnection): Promise<void> {
  await Promise.all([client.terminate(), server.terminate()]);
}

/**
 * Two connected sockets on 127.0.0.1 and the listening server (already
 * closed for new connections); both sockets are destroyed when the test ends.
 */
export async function socketPair(t: Owner): Promise<{ clientSocket: Socket; serverSocket: Socket; listener: Server }> {
  const listener = createServer();
  await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
  const port = (listener.address() as { port: number }).port;
  const accepted = new Promise<Socket>((resolve) => listener.once("connection", resolve));
  const clientSocket = netConnect(port, "127.0.0.1");
  t.after(() => {
    clientSocket.destroy();
    listener.close();
  });
  await new Promise<void>((resolve, reject) => {
    clientSocket.once("connect", resolve);
    clientSocket.once("error", reject);
  });
  const serverSocket = await accepted;
  t.after(() => serverSocket.destroy());
  listener.close();
  return { clientSocket, serverSocket, listener };
}

/** A client and a server connected over real TCP on 127.0.0.1, dropped when the test ends. */
export async function tcpPair(t: Owner, options: PairOptions = {}): Promise<Pair> {
  const { clientSocket, serverSocket } = await socketPair(t);
  const client = new WebSocketConnection(nodeSocketTransport(clientSocket), { ...options, role: "client" });
  const server = new WebSocketConnection(nodeSocketTransport(serverSocket), { ...options, role: "server" });
  const pair = {
    client,
    server,
    dispose: async () => {
      await terminateBoth(client, server);
      clientSocket.destroy();
      serverSocket.destroy();
    },
  };
  t.after(pair.dispose);
  return pair;
}

/**
 * The connection under test (`ws`, with the given role) and a raw peer that
 * writes bytes to it and decodes what it sends back; `ws` is dropped when the
 * test ends.
 */
export class RawPeer {
  readonly ws: WebSocketConnection;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #masked: boolean;
  /** Received bytes: a joined prefix, and chunks not yet joined (joined once a whole frame is in). */
  #buffered: Uint8Array = new Uint8Array(0);
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #ended = false;

  constructor(t: Owner, role: "client" | "server", options: PairOptions = {}) {
    const toWs = new TransformStream<Uint8Array, Uint8Array>();
    const fromWs = new TransformStream<Uint8Array, Uint8Array>();
    this.ws = new WebSocketConnection(
      streamTransport({ readable: toWs.readable, writable: fromWs.writable }),
      // No keepalive pings unless a test asks: they would interleave with the
      // frames under test, and an unclosed connection's timer would keep the
      // test process alive.
      { closeTimeout: 500, pingInterval: 0, ...options, role },
    );
    t.after(() => this.ws.terminate());
    this.#writer = toWs.writable.getWriter();
    this.#reader = fromWs.readable.getReader();
    // Frames from a client are masked, from a server not.
    this.#masked = role === "client";
  }

  /** Sends raw bytes to the connection under test. */
  async write(...chunks: (Uint8Array | number[])[]): Promise<void> {
    for (const chunk of chunks) await this.#writer.write(chunk instanceof Uint8Array ? chunk : new Uint8Array(chunk));
  }

  /** Closes the raw side's sending direction (TCP FIN). */
  async end(): Promise<void> {
    await this.#writer.close();
  }

  /** Drops the raw side abruptly. */
  async abort(): Promise<void> {
    await this.#writer.abort(new Error("peer vanished"));
  }

  /**
   * The next frame the connection under test sent, or null at end of stream,
   * read with the suite's independent parser (tests/_frames.ts). Fails when
   * neither comes within `ms`.
   */
  async readFrame(ms = 5000): Promise<(Frame & { maskKey: Uint8Array | null }) | null> {
    const deadline = Date.now() + ms;
    for (;;) {
      const read = readWireFrame(this.#buffered, this.#masked);
      if (read !== null) {
        this.#buffered = this.#buffered.subarray(read.size);
        const { fin, rsv, opcode, payload, key } = read.frame;
        return {
          fin,
          opcode: opcode as Frame["opcode"],
          payload,
          rsv1: (rsv & 4) !== 0,
          rsv2: (rsv & 2) !== 0,
          rsv3: (rsv & 1) !== 0,
          maskKey: key,
        };
      }
      if (this.#ended) return null;
      const { value, done } = await withTimeout(
        this.#reader.read(),
        Math.max(0, deadline - Date.now()),
        `Waiting for a frame from the connection under test (${this.#buffered.length + this.#pendingBytes} bytes buffered)`,
      );
      if (done) {
        this.#ended = true;
        continue;
      }
      this.#pending.push(value);
      this.#pendingBytes += value.length;
      const need = wireFrameSize(this.#buffered);
      if (need !== null && this.#buffered.length + this.#pendingBytes < need) continue;
      const joined = new Uint8Array(this.#buffered.length + this.#pendingBytes);
      joined.set(this.#buffered);
      let at = this.#buffered.length;
      for (const chunk of this.#pending) {
        joined.set(chunk, at);
        at += chunk.length;
      }
      this.#buffered = joined;
      this.#pending = [];
      this.#pendingBytes = 0;
    }
  }

  /** The next frame the connection under test sent; fails if the stream ends first. */
  async expectFrame(): Promise<Frame> {
    const frame = await this.readFrame();
    if (frame === null) throw new Error("the stream ended while a frame was expected");
    return frame;
  }

  /** Reads frames until a close frame and returns its status code (or null for an empty payload). */
  async readCloseCode(): Promise<number | null> {
    for (;;) {
      const frame = await this.readFrame();
      if (frame === null) throw new Error("stream ended without a close frame");
      if (frame.opcode === 8) return frame.payload.length >= 2 ? (frame.payload[0] << 8) | frame.payload[1] : null;
    }
  }

  /** True once the connection under test closed its sending side. */
  async readEnd(): Promise<boolean> {
    while ((await this.readFrame()) !== null);
    return this.#ended;
  }
}

/** Builds one frame's bytes by hand: masked with `mask` when given. */
export function rawFrame(
  first: number,
  payload: Uint8Array | number[] | string,
  mask: number[] | null = [1, 2, 3, 4],
  lengthOverride?: number,
): Uint8Array {
  const data = typeof payload === "string"
    ? new TextEncoder().encode(payload)
    : payload instanceof Uint8Array
    ? payload
    : new Uint8Array(payload);
  const length = lengthOverride ?? data.length;
  const head: number[] = [first];
  const maskBit = mask ? 0x80 : 0;
  if (length < 126) head.push(maskBit | length);
  else if (length < 0x10000) head.push(maskBit | 126, length >> 8, length & 0xff);
  else {
    const big = BigInt(length);
    head.push(maskBit | 127);
    for (let i = 7; i >= 0; i--) head.push(Number((big >> BigInt(i * 8)) & 0xffn));
  }
  if (mask) head.push(...mask);
  const out = new Uint8Array(head.length + data.length);
  out.set(head);
  for (let i = 0; i < data.length; i++) out[head.length + i] = mask ? data[i] ^ mask[i & 3] : data[i];
  return out;
}

/** Deterministic pseudo-random numbers (mulberry32), so failures replay. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` pseudo-random bytes. */
export function randomBytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  const random = seededRandom(seed);
  for (let i = 0; i < n; i += 4) {
    const v = (random() * 4294967296) >>> 0;
    out[i] = v;
    if (i + 1 < n) out[i + 1] = v >>> 8;
    if (i + 2 < n) out[i + 2] = v >>> 16;
    if (i + 3 < n) out[i + 3] = v >>> 24;
  }
  return out;
}

/** A transport that records what the connection asks of it, for unit tests without sockets:
 * `calls` lists pause, resume, end and destroy in order, `feed` hands it bytes as if read. */
export function recordingTransport() {
  const calls: string[] = [];
  let sink!: TransportSink;
  const transport: Transport = {
    mutableChunks: false,
    bufferedAmount: 0,
    start: (s) => (sink = s),
    write: () => true,
    pause: () => calls.push("pause"),
    resume: () => calls.push("resume"),
    end: () => calls.push("end"),
    destroy: () => calls.push("destroy"),
  };
  return { transport, calls, feed: (bytes: Uint8Array) => sink.data(bytes) };
}
