// Test-only plumbing for the conformance suite: the raw peer (tests/_wire.ts's
// Wire, reading with the independent parser) wrapped to play one side of RFC
// 6455 against OUR server or OUR client, and the harnesses that put them
// opposite each other over TCP and over HTTP/2.
import { after, assertBytesEqual, before, describe, Releases, test, withTimeout } from "../_test.ts";
import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { connect } from "../../src/client/connect.ts";
import type { ConnectOptions } from "../../src/client/options.ts";
import type { WebSocketConnection } from "../../src/connection/connection.ts";
import { requestHandler } from "../../src/server/request_handler.ts";
import type { RequestHandlerOptions } from "../../src/server/options.ts";
import { serve, type Server } from "../../src/server/serve.ts";
import {
  type ClientHttp2Session,
  connect as http2Connect,
  createServer as createHttp2Server,
  type Http2Server,
  type Http2Stream,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from "node:http2";
import { type RawServer, rawServer, type RecordedRequest, switchingProtocols } from "../_raw_http.ts";
import { type Running, SAMPLE_ACCEPT, start, upgradeRequest } from "../_server.ts";
import { rawFrame } from "../_helpers.ts";
import type { WireFrame } from "../_frames.ts";
import { describeBytes, Wire } from "../_wire.ts";
import { ManualClock } from "../_clock.ts";
import { inflateRawSync } from "node:zlib";

export { parseFrames, type WireFrame } from "../_frames.ts";
export { Wire } from "../_wire.ts";

export const KiB = 1024;
export const MiB = 1024 * 1024;

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
    return this.wire.send(...chunks);
  }

  /** Sends frames one byte per TCP write. */
  sendBytewise(...chunks: Uint8Array[]): Promise<void> {
    return this.wire.sendBytewise(...chunks);
  }

  /** The next frame from the side under test, unmasked. */
  read(ms = 5000): Promise<WireFrame> {
    return this.wire.expectFrame(ms);
  }

  /** Asserts the next frame is exactly `first` with `payload` (masking aside). */
  async expect(first: number, payload: Uint8Array | number[] | string, what: string, ms = 5000): Promise<void> {
    const frame = await this.read(ms);
    assertBytesEqual(frame.unmasked, rawFrame(first, payload, null), what);
  }

  /**
   * Asserts that the side under test failed the connection with `code`: a
   * close frame with that code and a UTF-8 reason of at most 123 bytes, then
   * the end of TCP. Our server closes TCP at once; our client leaves that to
   * the server (RFC 6455 §7.1.1), so against it this peer plays the server:
   * it checks the client keeps TCP open, answers the close and closes first.
   */
  async expectClose(code: number, ms = 5000): Promise<void> {
    await this.#closeAndEnd(await this.read(ms), code, ms);
  }

  /**
   * Like {@link expectClose}, for a violation that arrived in the same read
   * as valid messages: the side under test may have echoed some of them
   * before failing (any in-order prefix of `echoes`, compressed or not, as
   * text or binary), but after its close frame nothing may follow
   * (RFC 6455 §5.5.1) — not an echo, not a pong.
   */
  async expectCloseAfterEchoes(code: number, echoes: string[], ms = 5000): Promise<void> {
    for (let i = 0;; i++) {
      const frame = await this.read(ms);
      if (frame.opcode === 8) return this.#closeAndEnd(frame, code, ms);
      assert.ok(
        (frame.opcode === 1 || frame.opcode === 2) && i < echoes.length,
        `expected ${i < echoes.length ? `the echo of ${JSON.stringify(echoes[i])} or ` : ""}a close frame with ${code}, got ${
          describeFrame(frame)
        }`,
      );
      const payload = (frame.rsv & 4) !== 0 ? inflateMessage(frame.payload) : frame.payload;
      assert.equal(new TextDecoder().decode(payload), echoes[i], `echo ${i + 1} before the close`);
    }
  }

  async #closeAndEnd(frame: WireFrame, code: number, ms: number): Promise<void> {
    assert.equal(frame.opcode, 8, `expected a close frame with ${code}, got ${describeFrame(frame)}`);
    assert.ok(frame.fin, "a close frame has FIN set");
    assert.ok(frame.payload.length >= 2, `expected close code ${code}, got an empty close payload`);
    assert.equal((frame.payload[0] << 8) | frame.payload[1], code, `close code (reason: ${reasonOf(frame)})`);
    if (this.side === "client") {
      await this.wire.expectSilence("the client must leave closing TCP to the server (RFC 6455 §7.1.1)");
      await this.send(this.frame(0x88, [code >> 8, code & 0xff]));
      this.wire.end();
    }
    await this.wire.expectEnd(ms);
  }

  expectEnd(ms = 5000): Promise<void> {
    return this.wire.expectEnd(ms);
  }

  expectSilence(what: string): Promise<void> {
    return this.wire.expectSilence(what);
  }
}

/** One permessage-deflate message's payload, inflated independently of our code (RFC 7692 §7.2.2). */
function inflateMessage(payload: Uint8Array): Uint8Array {
  const input = new Uint8Array(payload.length + 4);
  input.set(payload);
  input.set([0x00, 0x00, 0xff, 0xff], payload.length);
  return new Uint8Array(inflateRawSync(input));
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

/**
 * How the application under test echoes: each is an idiom users write, and
 * each reaches the wire by another path (one frame, fragments, the writable
 * stream, a streamed message, a hub's shared frame).
 */
export type EchoApp = "sendAll" | "send" | "writable" | "recvStream" | "publish";

const ECHOES: Record<EchoApp, (ws: WebSocketConnection) => Promise<void>> = {
  async sendAll(ws) {
    for await (const msg of ws) await ws.sendAll(msg);
  },
  // The README's shortest loop: one frame per message.
  async send(ws) {
    for await (const msg of ws) await ws.send(msg);
  },
  writable: (ws) => ws.readable.pipeTo(ws.writable),
  async recvStream(ws) {
    for (;;) {
      const { type, readable } = await ws.recvStream();
      if (type === "binary") {
        await ws.sendAll(readable);
        continue;
      }
      let text = "";
      const decoder = new TextDecoder();
      for await (const chunk of readable) text += decoder.decode(chunk, { stream: true });
      await ws.sendAll(text + decoder.decode());
    }
  },
  // Server only: the hub's frame, encoded once, published back to the sender.
  async publish(ws) {
    ws.subscribe("echo");
    for await (const msg of ws) ws.publish("echo", msg.data, { includeSelf: true });
  },
};

/** A harness other than the plain one: another echo idiom, permessage-deflate. Named in test titles. */
export interface Variant {
  label: string;
  echo?: EchoApp;
  /** Negotiate permessage-deflate, our side compressing every message it sends. */
  deflate?: boolean;
}

/** Our side's compression option under a deflate variant: every message we send is compressed. */
function compressionOf(variant: Variant | undefined): { compression?: { threshold: number } } {
  return variant?.deflate ? { compression: { threshold: 0 } } : {};
}

/** The echo application both sides run: every whole message goes back as it came. */
function echoWith(app: EchoApp): (ws: WebSocketConnection) => Promise<void> {
  return async (ws) => {
    try {
      await ECHOES[app](ws);
    } catch {
      // The connection failed; the close code on the wire is what the cases check.
    }
  };
}

/** What a case gets: its raw peer and, against our client, the connection under test. */
export interface Opened {
  peer: Peer;
  ws?: WebSocketConnection;
  /** The clock the connection under test runs on, when the case asked for one it moves by hand. */
  clock?: ManualClock;
}

/** Runs one implementation of ours, echoing, and opens a raw peer to it per case. */
export interface Harness {
  readonly side: SideName;
  /** The name in test titles when not the side's: those stay out of the TCP conformance report. */
  readonly label?: string;
  /** The WebSocket is an HTTP/2 stream (RFC 8441): cases with `http2Skip` do not run. */
  readonly http2?: boolean;
  start(): Promise<void>;
  /** Opens a raw peer; `clock`, for a client under test, is the clock its connection runs on. */
  open(clock?: ManualClock): Promise<Opened>;
  /** Drops the raw peers of the case that just ran. */
  release(): void | Promise<void>;
  stop(): Promise<void>;
}

/** Our server (serve on this runtime's own listener) opposite a raw client. */
export class ServerUnderTest implements Harness {
  readonly side = "server";
  readonly label?: string;
  #running: Running | null = null;
  readonly #options: RequestHandlerOptions;
  readonly #variant: Variant | undefined;
  /** The server, for the whole suite. */
  readonly #server = new Releases();
  /** The raw peers of one case. */
  readonly #case = new Releases();

  constructor(options: SideOptions = {}, variant?: Variant) {
    this.#options = { pingInterval: 0, closeTimeout: 2000, ...options, ...compressionOf(variant) };
    this.#variant = variant;
    this.label = variant === undefined ? undefined : `server, ${variant.label}`;
  }

  async start(): Promise<void> {
    this.#running = await start(this.#server, "serve", echoWith(this.#variant?.echo ?? "sendAll"), this.#options);
  }

  async open(): Promise<Opened> {
    const wire = await Wire.dial(this.#case, this.#running!.port, false);
    await wire.send(upgradeRequest(this.#variant?.deflate ? { "Sec-WebSocket-Extensions": "permessage-deflate" } : {}));
    const head = (await wire.readHead()).text;
    assert.match(head, /^HTTP\/1\.1 101 /);
    assert.ok(head.toLowerCase().includes(`\r\nsec-websocket-accept: ${SAMPLE_ACCEPT.toLowerCase()}\r\n`), head);
    return { peer: new Peer(wire, "server") };
  }

  release(): Promise<void> {
    return this.#case.release();
  }

  async stop(): Promise<void> {
    await this.release();
    await this.#server.release();
  }
}

/** Our client (connect) opposite a raw server that answers the handshake by hand. */
export class ClientUnderTest implements Harness {
  readonly side = "client";
  readonly label?: string;
  #server: RawServer | null = null;
  readonly #releases = new Releases();
  #queue: RecordedRequest[] = [];
  #waiting: ((request: RecordedRequest) => void) | null = null;
  readonly #options: ConnectOptions;
  readonly #open = new Set<Opened>();
  readonly #variant: Variant | undefined;

  constructor(options: SideOptions = {}, variant?: Variant) {
    this.#options = { pingInterval: 0, closeTimeout: 2000, timeout: 10_000, ...options, ...compressionOf(variant) };
    this.#variant = variant;
    this.label = variant === undefined ? undefined : `client, ${variant.label}`;
  }

  async start(): Promise<void> {
    this.#server = await rawServer(this.#releases, (request) => {
      const waiting = this.#waiting;
      this.#waiting = null;
      if (waiting) waiting(request);
      else this.#queue.push(request);
    });
  }

  async open(clock?: ManualClock): Promise<Opened> {
    const request = this.#queue.length > 0
      ? Promise.resolve(this.#queue.shift()!)
      : new Promise<RecordedRequest>((resolve) => (this.#waiting = resolve));
    const connecting = connect(this.#server!.base("ws") + "/", clock ? { ...this.#options, clock } : this.#options);
    // Awaited below; a case that fails before then must not leave its rejection unhandled.
    connecting.catch(() => {});
    const accepted = await withTimeout(request, 5000, "The client's upgrade request");
    const wire = new Wire(accepted.socket, true);
    const extensions = this.#variant?.deflate ? ["Sec-WebSocket-Extensions: permessage-deflate"] : [];
    await wire.send(await switchingProtocols(accepted, extensions));
    const ws = await withTimeout(connecting, 5000, "connect() after the 101");
    void echoWith(this.#variant?.echo ?? "sendAll")(ws);
    const opened = { peer: new Peer(wire, "client"), ws, clock };
    this.#open.add(opened);
    return opened;
  }

  release(): void {
    for (const { peer } of this.#open) peer.wire.destroy();
    this.#open.clear();
  }

  async stop(): Promise<void> {
    this.release();
    await this.#releases.release();
  }
}

/** An HTTP/2 stream read and written by a {@link Wire} as if it were a TCP socket. */
function streamWire(stream: Http2Stream, masked: boolean): Wire {
  return new Wire(stream as unknown as Socket, masked);
}

/** Our server (serve with http2: true, h2c) opposite a raw RFC 8441 stream of a bare node:http2 client. */
export class Http2ServerUnderTest implements Harness {
  readonly side = "server";
  readonly label: string;
  readonly http2 = true;
  #server: Server | null = null;
  readonly #options: RequestHandlerOptions;
  readonly #sessions = new Set<ClientHttp2Session>();
  readonly #echo: EchoApp;

  constructor(options: SideOptions = {}, variant?: Variant) {
    this.#options = { pingInterval: 0, closeTimeout: 2000, ...options };
    this.#echo = variant?.echo ?? "sendAll";
    this.label = variant === undefined ? "server over h2" : `server over h2, ${variant.label}`;
  }

  async start(): Promise<void> {
    this.#server = serve(
      { hostname: "127.0.0.1", port: 0, http2: true },
      requestHandler(echoWith(this.#echo), undefined, this.#options),
    );
    await this.#server.ready;
  }

  async open(): Promise<Opened> {
    const session = http2Connect(`http://127.0.0.1:${this.#server!.port}`);
    this.#sessions.add(session);
    session.on("error", () => {});
    await withTimeout(new Promise((resolve) => session.once("remoteSettings", resolve)), 5000, "The server's SETTINGS");
    const stream = session.request({
      ":method": "CONNECT",
      ":protocol": "websocket",
      ":scheme": "http",
      ":path": "/",
      ":authority": "127.0.0.1",
      "sec-websocket-version": "13",
    });
    const wire = streamWire(stream, false);
    const head = await withTimeout(
      new Promise<Record<string, unknown>>((resolve, reject) => {
        stream.once("response", resolve);
        stream.once("error", reject);
      }),
      5000,
      "The response to the extended CONNECT",
    );
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
  readonly label: string;
  readonly http2 = true;
  #server: Http2Server | null = null;
  readonly #sessions = new Set<ServerHttp2Session>();
  #port = 0;
  #queue: ServerHttp2Stream[] = [];
  #waiting: ((stream: ServerHttp2Stream) => void) | null = null;
  readonly #options: ConnectOptions;
  readonly #open = new Set<Opened>();
  readonly #echo: EchoApp;

  constructor(options: SideOptions = {}, variant?: Variant) {
    this.#options = { pingInterval: 0, closeTimeout: 2000, timeout: 10_000, ...options, http2: true };
    this.#echo = variant?.echo ?? "sendAll";
    this.label = variant === undefined ? "client over h2" : `client over h2, ${variant.label}`;
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
    server.on("session", (session: ServerHttp2Session) => {
      this.#sessions.add(session);
      session.once("close", () => this.#sessions.delete(session));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    this.#port = (server.address() as { port: number }).port;
    this.#server = server;
  }

  async open(clock?: ManualClock): Promise<Opened> {
    const accepted = this.#queue.length > 0
      ? Promise.resolve(this.#queue.shift()!)
      : new Promise<ServerHttp2Stream>((resolve) => (this.#waiting = resolve));
    const connecting = connect(`ws://127.0.0.1:${this.#port}/`, clock ? { ...this.#options, clock } : this.#options);
    connecting.catch(() => {});
    const stream = await withTimeout(accepted, 5000, "The client's extended CONNECT");
    const wire = streamWire(stream, true);
    stream.respond({ ":status": 200 });
    const ws = await withTimeout(connecting, 5000, "connect() after the 200");
    void echoWith(this.#echo)(ws);
    const opened = { peer: new Peer(wire, "client"), ws, clock };
    this.#open.add(opened);
    return opened;
  }

  release(): void {
    for (const { peer } of this.#open) peer.wire.destroy();
    this.#open.clear();
    // Each case's client dialed a session of its own. On Node, one whose
    // stream was reset right after a close frame can stay open after the
    // WebSocket closed, and server.close() waits for every session.
    for (const session of this.#sessions) session.destroy();
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
  /** Runs our client on a ManualClock (in `Opened.clock`): for cases about its timeouts. Client-only cases. */
  manualClock?: boolean;
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
  suiteOn(category, cases, harnesses);
}

/**
 * Declares a category's cases against the given harnesses. Those with a
 * `label` (another echo idiom, deflate, HTTP/2) run in `npm test` but stay
 * out of docs/conformance.md's tables, which count the plain TCP ones.
 */
export function suiteOn(category: string, cases: Case[], harnesses: Harness[]): void {
  for (const harness of harnesses) {
    const label = harness.label ?? harness.side;
    describe(`our ${label}: ${category}`, () => {
      before(() => harness.start());
      after(() => harness.stop());
      for (const c of cases) {
        if (c.only !== undefined && c.only !== harness.side) continue;
        const skip = harness.http2 ? c.http2Skip : undefined;
        test(`[${label}] ${c.id} ${c.title}`, { skip }, async (t) => {
          t.after(() => harness.release());
          await c.run(await harness.open(c.manualClock ? new ManualClock() : undefined));
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
