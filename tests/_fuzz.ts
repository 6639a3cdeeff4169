// Fuzzing the receive path: valid client streams are generated, mutated and
// chunked at random; our connection's verdict is compared with ws's Receiver,
// an independent implementation, on the same bytes.
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { WebSocketConnection } from "../src/connection/connection.ts";
import { FrameDecoder } from "../src/codec/decoder.ts";
import { encodeFrame } from "../src/codec/encoder.ts";
import { type Frame, Opcode } from "../src/codec/frame.ts";
import { MessageTooBigError, ProtocolError } from "../src/errors.ts";
import type { Transport, TransportSink } from "../src/transport/types.ts";
import { seededRandom } from "./_helpers.ts";

export type Verdict = { valid: true } | { valid: false; closeCode: number };

/** A connection (server role) fed `chunks` synchronously; its verdict and anything unexpected it threw. */
export async function ourVerdict(chunks: Uint8Array[]): Promise<Verdict> {
  let sink!: TransportSink;
  const transport: Transport = {
    mutableChunks: true,
    bufferedAmount: 0,
    start: (s) => void (sink = s),
    write: () => true,
    pause() {},
    resume() {},
    end() {},
    destroy() {},
  };
  const ws = new WebSocketConnection(transport, {
    role: "server",
    maxFrameSize: Number.MAX_SAFE_INTEGER,
    maxMessageSize: Number.MAX_SAFE_INTEGER,
    pingInterval: 0,
  });
  // Anything thrown here is a bug: failures must become close codes.
  for (const chunk of chunks) sink.data(chunk.slice());
  sink.end();
  const info = await ws.closed;
  const error = info.error;
  if (error instanceof ProtocolError || error instanceof MessageTooBigError) {
    return { valid: false, closeCode: error.closeCode! };
  }
  if (error !== undefined && error.closeCode !== 1006) throw new Error(`unexpected failure: ${error}`);
  return { valid: true };
}

interface WsReceiver {
  write(chunk: Uint8Array): void;
  on(event: string, listener: (...args: never[]) => void): void;
  destroyed: boolean;
}
const require = createRequire(import.meta.url);
// By path: Bun replaces the "ws" package with a shim that has no Receiver.
const Receiver: new (options: object) => WsReceiver = require(
  fileURLToPath(new URL("../node_modules/ws/lib/receiver.js", import.meta.url)),
);

function statusCodeOf(err: object): number {
  const symbol = Object.getOwnPropertySymbols(err).find((s) => s.description === "status-code");
  return symbol ? (err as Record<symbol, number>)[symbol] : -1;
}

/** ws's verdict on the same chunks (as a server: client frames must be masked). */
export async function wsVerdict(chunks: Uint8Array[]): Promise<Verdict> {
  const receiver = new Receiver({ isServer: true, maxPayload: 0 });
  let error: object | null = null;
  let concluded = false;
  receiver.on("error", (err: object) => (error ??= err));
  receiver.on("conclude", () => (concluded = true));
  receiver.on("message", () => {});
  receiver.on("ping", () => {});
  receiver.on("pong", () => {});
  for (const chunk of chunks) {
    if (concluded || error !== null || receiver.destroyed) break;
    receiver.write(chunk.slice());
  }
  await new Promise((resolve) => setTimeout(resolve, 0));
  return error === null ? { valid: true } : { valid: false, closeCode: statusCodeOf(error) };
}

const SAMPLE_TEXT = ["a", "é", "€", "𝄞", "κόσμε", " ", "\u{10FFFF}", "\uFEFF", "z"];

function randomText(random: () => number, maxChars: number): string {
  let s = "";
  const n = Math.floor(random() * maxChars);
  for (let i = 0; i < n; i++) s += SAMPLE_TEXT[Math.floor(random() * SAMPLE_TEXT.length)];
  return s;
}

function randomPayload(random: () => number, max: number): Uint8Array {
  const out = new Uint8Array(Math.floor(random() * max));
  for (let i = 0; i < out.length; i++) out[i] = Math.floor(random() * 256);
  return out;
}

/** A valid client-to-server stream: data messages (some fragmented), control frames, maybe a close. */
export function validStream(random: () => number): Uint8Array {
  const frames: Frame[] = [];
  const encoder = new TextEncoder();
  const messages = 1 + Math.floor(random() * 6);
  for (let m = 0; m < messages; m++) {
    if (random() < 0.25) {
      frames.push({ fin: true, opcode: random() < 0.5 ? Opcode.Ping : Opcode.Pong, payload: randomPayload(random, 126) });
    }
    const isText = random() < 0.6;
    const whole = isText ? encoder.encode(randomText(random, 60)) : randomPayload(random, random() < 0.1 ? 70000 : 300);
    const pieces = random() < 0.4 ? 1 + Math.floor(random() * 4) : 1;
    for (let p = 0; p < pieces; p++) {
      // Cut anywhere, even inside a UTF-8 sequence: fragments need not be valid alone.
      const start = Math.floor((whole.length * p) / pieces);
      const end = Math.floor((whole.length * (p + 1)) / pieces);
      frames.push({
        fin: p === pieces - 1,
        opcode: p === 0 ? (isText ? Opcode.Text : Opcode.Binary) : Opcode.Continuation,
        payload: whole.subarray(start, end),
      });
      if (p < pieces - 1 && random() < 0.2) frames.push({ fin: true, opcode: Opcode.Ping, payload: new Uint8Array(0) });
    }
  }
  if (random() < 0.3) {
    const codes = [1000, 1001, 1003, 1008, 1011, 3000, 4999];
    const reason = encoder.encode(randomText(random, 10)).subarray(0, 100);
    const payload = new Uint8Array(2 + reason.length);
    const code = codes[Math.floor(random() * codes.length)];
    payload[0] = code >> 8;
    payload[1] = code & 0xff;
    payload.set(reason, 2);
    frames.push({ fin: true, opcode: Opcode.Close, payload });
  }
  const parts = frames.map((f) => {
    const key = new Uint8Array(4);
    for (let i = 0; i < 4; i++) key[i] = Math.floor(random() * 256);
    return encodeFrame(f, key);
  });
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
}

/** Applies 1-3 random mutations: bit flips, byte writes, deletions, duplications, insertions, truncation. */
export function mutate(input: Uint8Array, random: () => number): Uint8Array {
  let bytes = Array.from(input);
  const count = 1 + Math.floor(random() * 3);
  for (let i = 0; i < count && bytes.length > 0; i++) {
    const at = Math.floor(random() * bytes.length);
    const op = Math.floor(random() * 6);
    if (op === 0) bytes[at] ^= 1 << Math.floor(random() * 8);
    else if (op === 1) bytes[at] = Math.floor(random() * 256);
    else if (op === 2) bytes.splice(at, 1 + Math.floor(random() * 8));
    else if (op === 3) bytes.splice(at, 0, ...bytes.slice(at, at + 1 + Math.floor(random() * 16)));
    else if (op === 4) bytes.splice(at, 0, ...Array.from({ length: 1 + Math.floor(random() * 8) }, () => Math.floor(random() * 256)));
    else bytes = bytes.slice(0, at);
  }
  return new Uint8Array(bytes);
}

/** Cuts `input` into chunks of random sizes (1 byte up to a few KiB). */
export function chunk(input: Uint8Array, random: () => number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < input.length;) {
    const n = 1 + Math.floor(random() * (random() < 0.3 ? 4 : 3000));
    out.push(input.slice(i, i + n));
    i += n;
  }
  return out;
}

/**
 * Whether `input` stops (or reaches a close frame) before a complete final
 * frame ends its last data message, or stops inside a text frame: ws has
 * not validated that message yet, while we judge a text frame's bytes as
 * they arrive.
 */
function endsInsideMessage(input: Uint8Array): boolean {
  const decoder = new FrameDecoder({ masked: true, maxFrameSize: Number.MAX_SAFE_INTEGER });
  decoder.push(input);
  let inside = false;
  try {
    for (let frame = decoder.next(); frame !== null; frame = decoder.next()) {
      // Both receivers stop at a close frame: what follows is never read.
      if (frame.opcode === Opcode.Close) return inside;
      if (frame.opcode <= Opcode.Binary) inside = !frame.fin;
    }
  } catch {
    return false;
  }
  const partial = decoder.partialFrame;
  return inside || (partial !== null && partial.opcode <= Opcode.Text);
}

export interface FuzzCase {
  seed: number;
  input: Uint8Array;
  ours: Verdict;
  theirs: Verdict;
}

/**
 * Runs `iterations` cases from `seed`; returns the cases where we and ws
 * disagree on validity. Expected, documented difference: we fail invalid
 * UTF-8 as soon as a fragment arrives (RFC 6455 §8.1, fail fast), ws only at
 * the end of the message, so when the input stops inside a text message ws
 * has not decided yet.
 */
export async function fuzz(seed: number, iterations: number): Promise<{ disagreements: FuzzCase[]; invalid: number }> {
  const disagreements: FuzzCase[] = [];
  let invalid = 0;
  for (let i = 0; i < iterations; i++) {
    const caseSeed = seed + i;
    const random = seededRandom(caseSeed);
    const roll = random();
    const input = roll < 0.1 ? randomPayload(random, 200) : roll < 0.25 ? validStream(random) : mutate(validStream(random), random);
    const chunks = chunk(input, random);
    const ours = await ourVerdict(chunks);
    const theirs = await wsVerdict(chunks);
    if (!ours.valid) invalid++;
    if (ours.valid === theirs.valid) continue;
    if (!ours.valid && ours.closeCode === 1007 && theirs.valid && endsInsideMessage(input)) continue;
    disagreements.push({ seed: caseSeed, input, ours, theirs });
  }
  return { disagreements, invalid };
}
