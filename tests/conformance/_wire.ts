// Test-only plumbing for the conformance suite: the raw side of a real TCP
// connection, which writes crafted bytes (whole, or one byte per TCP write)
// and reads back exactly what the implementation under test sent, and the two
// harnesses that put OUR server and OUR client opposite such a raw peer.
import { after, before, describe, test } from "../_test.ts";
import assert from "node:assert/strict";
import { connect as netConnect, type Socket } from "node:net";
import { connect, type ConnectOptions } from "../../src/client.ts";
import type { WebSocketConnection } from "../../src/connection.ts";
import { requestHandler, type RequestHandlerOptions, serve, type Server } from "../../src/server.ts";
import {
  type ClientHttp2Session,
  connect as http2Connect,
  createServer as createHttp2Server,
  type Http2Server,
  type Http2Stream,
  type ServerHttp2Stream,
} from "node:http2";
import { type RawServer, rawServer, type RecordedRequest, switchingProtocols } from "../_raw_http.ts";
import { type Running, SAMPLE_ACCEPT, start, upgradeRequest } from "../_server.ts";
import { rawFrame } from "../_helpers.ts";
import type { WireFrame } from "../_frames.ts";

export { parseFrames, type WireFrame } from "../_frames.ts";

export const KiB = 1024;
export const MiB = 1024 * 1024;

/** Whether two byte arrays are equal; fast on 16 MiB on every runtime. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function describeBytes(bytes: Uint8Array): string {
  const hex = Array.from(bytes.subarray(0, 24), (b) => b.toString(16).padStart(2, "0")).join(" ");
  return `${bytes.length} bytes [${hex}${bytes.length > 24 ? " ..." : ""}]`;
}

/** Asserts equal bytes without handing 16 MiB to assert's diff machinery. */
export function assertBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  if (bytesEqual(actual, expected)) return;
  let at = 0;
  while (at < actual.length && at < expected.length && actual[at] === expected[at]) at++;
  assert.fail(`${what}: got ${describeBytes(actual)}, expected ${describeBytes(expected)}; first difference at byte ${at}`);
}

/** One end of a TCP connection that speaks bytes. */
export class Wire {
  readonly socket: Socket;
  #chunks: Uint8Array[] = [];
  #offset = 0;
  #buffered = 0;
  #ended = false;
  #wake: (() => void) | null = null;

  constructor(socket: Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on("data", (chunk: Uint8Array) => {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
      this.#notify();
    });
    const onEnd = () => {
      this.#ended = true;
      this.#notify();
    };
    socket.on("end", onEnd);
    socket.on("close", onEnd);
    socket.on("error", () => {});
  }

  /** Opens a TCP connection to 127.0.0.1:`port`. */
  static async dial(port: number): Promise<Wire> {
    const socket = netConnect(port, "127.0.0.1");
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    return new Wire(socket);
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  /** True once the peer closed its sending side. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Writes each chunk with one TCP write and resolves when the kernel took the last. */
  async write(...chunks: (Uint8Array | string)[]): Promise<void> {
    for (const chunk of chunks) {
      const bytes = typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk;
      await new Promise<void>((resolve, reject) => this.socket.write(bytes, (err) => (err ? reject(err) : resolve())));
    }
  }

  /** Writes every byte with its own TCP write, each awaited, so the peer may see them one by one. */
  async writeBytewise(...chunks: Uint8Array[]): Promise<void> {
    for (const chunk of chunks) {
      for (let i = 0; i < chunk.length; i++) await this.write(chunk.subarray(i, i + 1));
    }
  }

  async #waitFor(n: number, ms: number, what: string): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.#buffered < n) {
      if (this.#ended) {
        throw new Error(`Peer closed the connection while we waited for ${what} (${this.#buffered} of ${n} bytes)`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`No ${what} within ${ms} ms (${this.#buffered} of ${n} bytes)`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
  }

  /** Copies the first `n` buffered bytes without consuming them. */
  #peek(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let filled = 0;
    let offset = this.#offset;
    for (let i = 0; filled < n; i++, offset = 0) {
      const chunk = this.#chunks[i];
      const count = Math.min(chunk.length - offset, n - filled);
      out.set(chunk.subarray(offset, offset + count), filled);
      filled += count;
    }
    return out;
  }

  #take(n: number): Uint8Array {
    const out = this.#peek(n);
    let left = n;
    while (left > 0) {
      const available = this.#chunks[0].length - this.#offset;
      if (available > left) {
        this.#offset += left;
        break;
      }
      left -= available;
      this.#chunks.shift();
      this.#offset = 0;
    }
    this.#buffered -= n;
    return out;
  }

  /** Reads exactly `n` bytes. */
  async read(n: number, ms = 5000, what = `${n} bytes`): Promise<Uint8Array> {
    await this.#waitFor(n, ms, what);
    return this.#take(n);
  }

  /** Reads an HTTP response head (up to and including the blank line) as text. */
  async readHead(ms = 5000): Promise<string> {
    const deadline = Date.now() + ms;
    for (let want = 4;; want++) {
      await this.#waitFor(want, deadline - Date.now(), "an HTTP response head");
      const head = this.#peek(want);
      if (head[want - 4] === 13 && head[want - 3] === 10 && head[want - 2] === 13 && head[want - 1] === 10) {
        return new TextDecoder().decode(this.#take(want));
      }
    }
  }

  /** Reads one whole frame; `masked` says which masking the RFC requires of the sender. */
  async readFrame(masked: boolean, ms = 5000): Promise<WireFrame> {
    const start = await this.read(2, ms, "a frame header");
    const lengthCode = start[1] & 0x7f;
    const isMasked = (start[1] & 0x80) !== 0;
    assert.equal(isMasked, masked, `frame ${describeBytes(start)} must ${masked ? "" : "not "}be masked (RFC 6455 §5.1)`);
    let length = lengthCode;
    let extended: Uint8Array = new Uint8Array(0);
    if (lengthCode === 126) {
      extended = await this.read(2, ms, "an extended length");
      length = (extended[0] << 8) | extended[1];
    } else if (lengthCode === 127) {
      extended = await this.read(8, ms, "an extended length");
      assert.equal(extended[0] & 0x80, 0, "the 64-bit length's most significant bit must be 0");
      length = 0;
      for (const byte of extended) length = length * 256 + byte;
    }
    const key = isMasked ? await this.read(4, ms, "a mask key") : null;
    const payload = await this.read(length, ms + length / 10_000, `a payload of ${length} bytes`);
    if (key !== null) for (let i = 0; i < payload.length; i++) payload[i] ^= key[i & 3];
    const unmasked = new Uint8Array(2 + extended.length + length);
    unmasked[0] = start[0];
    unmasked[1] = lengthCode;
    unmasked.set(extended, 2);
    unmasked.set(payload, 2 + extended.length);
    return {
      fin: (start[0] & 0x80) !== 0,
      rsv: (start[0] >> 4) & 7,
      opcode: start[0] & 0x0f,
      masked: isMasked,
      payload,
      unmasked,
    };
  }

  /** Resolves once the peer closed its sending side; fails if more bytes come first. */
  async expectEnd(ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.#ended) {
      if (this.#buffered > 0) assert.fail(`expected the peer to close TCP, got ${describeBytes(this.#peek(this.#buffered))}`);
      const left = deadline - Date.now();
      if (left <= 0) assert.fail(`peer did not close TCP within ${ms} ms`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
    if (this.#buffered > 0) assert.fail(`expected the peer to close TCP, got ${describeBytes(this.#peek(this.#buffered))}`);
  }

  /** Asserts that nothing arrives (and TCP stays open) for `ms`. */
  async expectSilence(ms: number, what: string): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    if (this.#buffered > 0) assert.fail(`${what}: got ${describeBytes(this.#peek(this.#buffered))}`);
    assert.equal(this.#ended, false, `${what}: the peer closed TCP`);
  }

  /** Closes our sending side (FIN). */
  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Which implementation of ours a case runs against. */
export type SideName = "server" | "client";

// A mask key with four different bytes, none zero, so a peer that ignores the
// mask or applies it at the wrong offset cannot pass.
const MASK = [0x9c, 0x21, 0x5e, 0xa7];

function describeFrame(frame: WireFrame): string {
  return `opcode ${frame.opcode}, fin ${frame.fin}, ${describeBytes(frame.unmasked)}`;
}

/**
 * The raw end of one case: it sends frames the way the RFC requires of the
 * side it plays (masked towards our server, unmasked towards our client) and
 * checks what ours sent back byte for byte.
 */
export class Peer {
  readonly wire: Wire;
  /** The side under test. */
  readonly side: SideName;

  constructor(wire: Wire, side: SideName) {
    this.wire = wire;
    this.side = side;
  }

  /** One frame's bytes as this peer must send it; see `rawFrame`. */
  frame(first: number, payload: Uint8Array | number[] | string, lengthOverride?: number): Uint8Array {
    return rawFrame(first, payload, this.side === "server" ? MASK : null, lengthOverride);
  }

  /** Sends frames (or any bytes) with one TCP write each. */
  send(...chunks: Uint8Array[]): Promise<void> {
    return this.wire.write(...chunks);
  }

  /** Sends frames one byte per TCP write. */
  sendBytewise(...chunks: Uint8Array[]): Promise<void> {
    return this.wire.writeBytewise(...chunks);
  }

  /** The next frame from the side under test, unmasked. */
  read(ms = 5000): Promise<WireFrame> {
    return this.wire.readFrame(this.side === "client", ms);
  }

  /** Asserts the next frame is exactly `first` with `payload` (masking aside). */
  async expect(first: number, payload: Uint8Array | number[] | string, what: string, ms = 5000): Promise<void> {
    const frame = await this.read(ms);
    assertBytes(frame.unmasked, rawFrame(first, payload, null), what);
  }

  /**
   * Asserts that the side under test failed the connection with `code`: a
   * close frame with that code and a UTF-8 reason of at most 123 bytes, then
   * the end of TCP. Our server closes TCP at once; our client leaves that to
   * the server (RFC 6455 §7.1.1), so against it this peer plays the server:
   * it checks the client keeps TCP open, answers the close and closes first.
   */
  async expectClose(code: number, ms = 5000): Promise<void> {
    const frame = await this.read(ms);
    assert.equal(frame.opcode, 8, `expected a close frame with ${code}, got ${describeFrame(frame)}`);
    assert.ok(frame.fin, "a close frame has FIN set");
    assert.ok(frame.payload.length >= 2, `expected close code ${code}, got an empty close payload`);
    assert.equal((frame.payload[0] << 8) | frame.payload[1], code, `close code (reason: ${reasonOf(frame)})`);
    if (this.side === "client") {
      await this.wire.expectSilence(50, "the client must leave closing TCP to the server (RFC 6455 §7.1.1)");
      await this.send(this.frame(0x88, [code >> 8, code & 0xff]));
      this.wire.end();
    }
    await this.wire.expectEnd(ms);
  }

  expectEnd(ms = 5000): Promise<void> {
    return this.wire.expectEnd(ms);
  }

  expectSilence(ms: number, what: string): Promise<void> {
    return this.wire.expectSilence(ms, what);
  }
}

function reasonOf(frame: WireFrame): string {
  return new TextDecoder("utf-8", { fatal: true }).decode(frame.payload.subarray(2));
}

/** Limits and policies a case table runs with, on whichever side is under test. */
export interface SideOptions {
  maxFrameSize?: number;
  maxMessageSize?: number;
  closeTimeout?: number;
}

/** The echo application both sides run: every whole message goes back as it came. */
async function echo(ws: WebSocketConnection): Promise<void> {
  try {
    for await (const msg of ws) await ws.sendAll(msg);
  } catch {
    // The connection failed; the close code on the wire is what the cases check.
  }
}

/** What a case gets: its raw peer and, against our client, the connection under test. */
export interface Opened {
  peer: Peer;
  ws?: WebSocketConnection;
}

/** Runs one implementation of ours, echoing, and opens a raw peer to it per case. */
export interface Harness {
  readonly side: SideName;
  /** The name in test titles when not the side's: those stay out of the TCP conformance report. */
  readonly label?: string;
  start(): Promise<void>;
  open(): Promise<Opened>;
  /** Drops the raw peers of the case that just ran. */
  release(): void;
  stop(): Promise<void>;
}

/** Our server (serve on this runtime's own listener) opposite a raw client. */
export class ServerUnderTest implements Harness {
  readonly side = "server";
  #running: Running | null = null;
  readonly #options: RequestHandlerOptions;
  readonly #wires = new Set<Wire>();

  constructor(options: SideOptions = {}) {
    this.#options = { pingInterval: 0, closeTimeout: 2000, ...options };
  }

  async start(): Promise<void> {
    this.#running = await start("serve", echo, this.#options);
  }

  async open(): Promise<Opened> {
    const wire = await Wire.dial(this.#running!.port);
    this.#wires.add(wire);
    await wire.write(upgradeRequest());
    const head = await wire.readHead();
    assert.match(head, /^HTTP\/1\.1 101 /);
    assert.ok(head.toLowerCase().includes(`\r\nsec-websocket-accept: ${SAMPLE_ACCEPT.toLowerCase()}\r\n`), head);
    return { peer: new Peer(wire, "server") };
  }

  release(): void {
    for (const wire of this.#wires) wire.destroy();
    this.#wires.clear();
  }

  async stop(): Promise<void> {
    this.release();
    await this.#running?.close();
  }
}

/** Our client (connect) opposite a raw server that answers the handshake by hand. */
export class ClientUnderTest implements Harness {
  readonly side = "client";
  #server: RawServer | null = null;
  #queue: RecordedRequest[] = [];
  #waiting: ((request: RecordedRequest) => void) | null = null;
  readonly #options: ConnectOptions;
  readonly #open = new Set<Opened>();

  constructor(options: SideOptions = {}) {
    this.#options = { pingInterval: 0, closeTimeout: 2000, timeout: 10_000, ...options };
  }

  async start(): Promise<void> {
    this.#server = await rawServer((request) => {
      const waiting = this.#waiting;
      this.#waiting = null;
      if (waiting) waiting(request);
      else this.#queue.push(request);
    });
  }

  async open(): Promise<Opened> {
    const request = this.#queue.length > 0
      ? Promise.resolve(this.#queue.shift()!)
      : new Promise<RecordedRequest>((resolve) => (this.#waiting = resolve));
    const connecting = connect(this.#server!.base("ws") + "/", this.#options);
    const accepted = await request;
    const wire = new Wire(accepted.socket);
    await wire.write(await switchingProtocols(accepted));
    const ws = await connecting;
    void echo(ws);
    const opened = { peer: new Peer(wire, "client"), ws };
    this.#open.add(opened);
    return opened;
  }

  release(): void {
    for (const { peer } of this.#open) peer.wire.destroy();
    this.#open.clear();
  }

  async stop(): Promise<void> {
    this.release();
    await this.#server?.close();
  }
}

/** An HTTP/2 stream read and written by a {@link Wire} as if it were a TCP socket. */
function streamWire(stream: Http2Stream): Wire {
  return new Wire(Object.assign(stream, { setNoDelay() {} }) as unknown as Socket);
}

/** Our server (serve with http2: true, h2c) opposite a raw RFC 8441 stream of a bare node:http2 client. */
export class Http2ServerUnderTest implements Harness {
  readonly side = "server";
  readonly label = "server over h2";
  #server: Server | null = null;
  readonly #options: RequestHandlerOptions;
  readonly #sessions = new Set<ClientHttp2Session>();

  constructor(options: SideOptions = {}) {
    this.#options = { pingInterval: 0, closeTimeout: 2000, ...options };
  }

  async start(): Promise<void> {
    this.#server = serve(
      { hostname: "127.0.0.1", port: 0, http2: true },
      requestHandler(echo, undefined, this.#options),
    );
    await this.#server.ready;
  }

  async open(): Promise<Opened> {
    const session = http2Connect(`http://127.0.0.1:${this.#server!.port}`);
    this.#sessions.add(session);
    session.on("error", () => {});
    await new Promise((resolve) => session.once("remoteSettings", resolve));
    const stream = session.request({
      ":method": "CONNECT",
      ":protocol": "websocket",
      ":scheme": "http",
      ":path": "/",
      ":authority": "127.0.0.1",
      "sec-websocket-version": "13",
    });
    const wire = streamWire(stream);
    const head = await new Promise<Record<string, unknown>>((resolve, reject) => {
      stream.once("response", resolve);
      stream.once("error", reject);
    });
    assert.equal(head[":status"], 200);
    return { peer: new Peer(wire, "server") };
  }

  release(): void {
    for (const session of this.#sessions) session.destroy();
    this.#sessions.clear();
  }

  async stop(): Promise<void> {
    this.release();
    await this.#server?.close();
  }
}

/** Our client (connect with http2: true over h2c) opposite a bare node:http2 server that answers by hand. */
export class Http2ClientUnderTest implements Harness {
  readonly side = "client";
  readonly label = "client over h2";
  #server: Http2Server | null = null;
  #port = 0;
  #queue: ServerHttp2Stream[] = [];
  #waiting: ((stream: ServerHttp2Stream) => void) | null = null;
  readonly #options: ConnectOptions;
  readonly #open = new Set<Opened>();

  constructor(options: SideOptions = {}) {
    this.#options = { pingInterval: 0, closeTimeout: 2000, timeout: 10_000, ...options, http2: true };
  }

  async start(): Promise<void> {
    const server = createHttp2Server({ settings: { enableConnectProtocol: true } });
    server.on("stream", (stream: ServerHttp2Stream) => {
      stream.on("error", () => {});
      const waiting = this.#waiting;
      this.#waiting = null;
      if (waiting) waiting(stream);
      else this.#queue.push(stream);
    });
    server.on("sessionError", () => {});
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    this.#port = (server.address() as { port: number }).port;
    this.#server = server;
  }

  async open(): Promise<Opened> {
    const accepted = this.#queue.length > 0
      ? Promise.resolve(this.#queue.shift()!)
      : new Promise<ServerHttp2Stream>((resolve) => (this.#waiting = resolve));
    const connecting = connect(`ws://127.0.0.1:${this.#port}/`, this.#options);
    const stream = await accepted;
    const wire = streamWire(stream);
    stream.respond({ ":status": 200 });
    const ws = await connecting;
    void echo(ws);
    const opened = { peer: new Peer(wire, "client"), ws };
    this.#open.add(opened);
    return opened;
  }

  release(): void {
    for (const { peer } of this.#open) peer.wire.destroy();
    this.#open.clear();
  }

  async stop(): Promise<void> {
    this.release();
    const server = this.#server;
    if (server !== null) await new Promise((resolve) => server.close(resolve));
  }
}

/** One conformance case: an Autobahn-style id, what it checks, and how. */
export interface Case {
  id: string;
  title: string;
  /** Only against this side (for behaviour the RFC gives one role only). */
  only?: SideName;
  /** Why the case does not run over HTTP/2, when it does not. */
  http2Skip?: string;
  run(opened: Opened): Promise<void>;
}

/**
 * Declares a category's cases against our server and against our client.
 * Test names start with `[server]` or `[client]` and the case id, which is
 * what scripts/conformance_report.ts reads from the runners' reports.
 */
export function suite(category: string, cases: Case[], options: SideOptions = {}, overHttp2 = false): void {
  const harnesses: Harness[] = [new ServerUnderTest(options), new ClientUnderTest(options)];
  // RFC 8441: the same cases on a WebSocket that is an HTTP/2 stream (h2c).
  if (overHttp2) harnesses.push(new Http2ServerUnderTest(options), new Http2ClientUnderTest(options));
  for (const harness of harnesses) {
    const label = harness.label ?? harness.side;
    describe(`our ${label}: ${category}`, () => {
      before(() => harness.start());
      after(() => harness.stop());
      for (const c of cases) {
        if (c.only !== undefined && c.only !== harness.side) continue;
        const skip = harness.label !== undefined ? c.http2Skip : undefined;
        test(`[${label}] ${c.id} ${c.title}`, { skip }, async () => {
          try {
            await c.run(await harness.open());
          } finally {
            harness.release();
          }
        });
      }
    });
  }
}

const ALPHABET = ["a", "Z", "0", " ", "é", "ß", "λ", "✓", "€", "語", "𝄞", "😀"];
const ALPHABET_SIZES = ALPHABET.map((ch) => new TextEncoder().encode(ch).length);

/** UTF-8 text of exactly `bytes` bytes mixing 1- to 4-byte characters. */
export function textOfBytes(bytes: number, seed = 1): string {
  let state = seed >>> 0;
  let out = "";
  let length = 0;
  const parts: string[] = [];
  while (length < bytes) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    const pick = (state >>> 16) % ALPHABET.length;
    const fits = length + ALPHABET_SIZES[pick] <= bytes;
    parts.push(fits ? ALPHABET[pick] : "x");
    length += fits ? ALPHABET_SIZES[pick] : 1;
    if (parts.length === 8192) {
      out += parts.join("");
      parts.length = 0;
    }
  }
  return out + parts.join("");
}
