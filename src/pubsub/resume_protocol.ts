/**
 * The `streamsock.resume.v1` subprotocol (docs/resume-protocol.md): JSON
 * text frames between a resuming client and a server with durable topics.
 * Pure: the messages, their encoding and their validation, shared by the
 * server session (`durable.ts`), the client (`src/client/resuming.ts`) and
 * the CLI's browser module, which carries its own copy in plain JavaScript.
 *
 * @module
 */

/**
 * The subprotocol name, offered by resuming clients in
 * `Sec-WebSocket-Protocol` and chosen by servers that speak it.
 *
 * @example
 * ```ts
 * import { RESUME_PROTOCOL } from "@streamsock/streamsock";
 *
 * const selectProtocol = (offered: string[]) => offered.includes(RESUME_PROTOCOL) ? RESUME_PROTOCOL : undefined;
 * console.log(selectProtocol(["chat", RESUME_PROTOCOL])); // streamsock.resume.v1
 * ```
 */
export const RESUME_PROTOCOL = "streamsock.resume.v1";

/**
 * Where a durable topic's log stands: the epoch names one life of the log
 * (it changes when the log was lost), the offset counts its messages from 1.
 *
 * @example
 * ```ts
 * import type { Position } from "@streamsock/streamsock";
 *
 * const start: Position = { epoch: "k3j9x", offset: 0 }; // before the first message of that epoch
 * ```
 */
export interface Position {
  /** Opaque; equal strings mean the same log. */
  epoch: string;
  /** The last message received (0: none yet). */
  offset: number;
}

/**
 * Why a range of a durable topic will not be delivered: `"trimmed"`, the log
 * no longer keeps it (`maxLen` or `maxAge`); `"epoch"`, the log was lost and
 * a new one began.
 *
 * @example
 * ```ts
 * import type { GapReason } from "@streamsock/streamsock";
 *
 * const explain = (reason: GapReason) => reason === "epoch" ? "the log was lost" : "no longer kept";
 * console.log(explain("trimmed")); // no longer kept
 * ```
 */
export type GapReason = "trimmed" | "epoch";

/**
 * A message's payload on the wire: exactly one of the two.
 *
 * @example
 * ```ts
 * import type { WirePayload } from "@streamsock/streamsock";
 *
 * const bytes: WirePayload = { base64: "AP8=" }; // [0x00, 0xff]
 * ```
 */
export type WirePayload = { text: string; base64?: undefined } | { base64: string; text?: undefined };

/**
 * A frame from client to server (docs/resume-protocol.md §3).
 *
 * @example
 * ```ts
 * import type { ClientFrame } from "@streamsock/streamsock";
 *
 * const resume: ClientFrame = { op: "sub", topic: "/lobby", epoch: "k3j9x0a1b2c3", offset: 41 };
 * ```
 */
export type ClientFrame =
  | { op: "sub"; topic: string; epoch?: string; offset?: number }
  | { op: "unsub"; topic: string }
  | ({ op: "pub"; topic: string; producer?: string; seq?: number; ref?: string | number } & WirePayload);

/**
 * A frame from server to client (docs/resume-protocol.md §3 and §4).
 *
 * @example
 * ```ts
 * import type { ServerFrame } from "@streamsock/streamsock";
 *
 * const gap: ServerFrame = { op: "gap", topic: "/lobby", epoch: "k3j9x0a1b2c3", from: 3, to: 15, reason: "trimmed" };
 * ```
 */
export type ServerFrame =
  | { op: "subscribed"; topic: string; durable: boolean; epoch?: string; offset?: number }
  | ({ op: "msg"; topic: string; epoch?: string; offset?: number } & WirePayload)
  | { op: "gap"; topic: string; epoch: string; from: number; to: number | null; reason: GapReason; next?: string }
  | {
    op: "ack";
    topic: string;
    producer?: string;
    seq?: number;
    ref?: string | number;
    epoch?: string;
    offset?: number;
    duplicate: boolean;
  }
  | { op: "nack"; topic: string; producer?: string; seq?: number; ref?: string | number; reason: string }
  | { op: "error"; reason: string };

/** The longest topic name, producer id or epoch accepted, in UTF-16 code units. */
export const MAX_NAME_LENGTH = 1024;

/**
 * Thrown by the parsers for a frame that breaks the protocol; a server
 * answers it with an `error` frame and closes with 1008.
 *
 * @example
 * ```ts
 * import { ResumeProtocolError } from "@streamsock/streamsock";
 *
 * const error = new ResumeProtocolError("Unknown op \"dance\"");
 * console.log(error.name, error.message); // ResumeProtocolError Unknown op "dance"
 * ```
 */
export class ResumeProtocolError extends Error {
  /** Always `"ResumeProtocolError"`. */
  override name = "ResumeProtocolError";
}

const isName = (value: unknown): value is string =>
  typeof value === "string" && value.length > 0 && value.length <= MAX_NAME_LENGTH;
const isOffset = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;
const isRef = (value: unknown) => value === undefined || typeof value === "string" || Number.isFinite(value);

function object(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ResumeProtocolError("A frame is not JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ResumeProtocolError("A frame is not a JSON object");
  }
  return value as Record<string, unknown>;
}

function payloadOf(frame: Record<string, unknown>): WirePayload {
  const { text, base64 } = frame;
  if (typeof text === "string" && base64 === undefined) return { text };
  if (typeof base64 === "string" && text === undefined && /^[A-Za-z0-9+/]*={0,2}$/.test(base64) && base64.length % 4 === 0) {
    return { base64 };
  }
  throw new ResumeProtocolError(`A ${frame.op} frame needs either "text" (a string) or "base64"`);
}

/**
 * Parses and checks a frame a client sent.
 *
 * @param text The text frame's payload.
 * @returns The frame.
 * @throws {ResumeProtocolError} When it is not a valid client frame.
 */
export function parseClientFrame(text: string): ClientFrame {
  const frame = object(text);
  if (!isName(frame.topic)) throw new ResumeProtocolError(`A frame needs a "topic" of 1 to ${MAX_NAME_LENGTH} characters`);
  const topic = frame.topic;
  switch (frame.op) {
    case "sub": {
      const { epoch, offset } = frame;
      if (epoch !== undefined && !isName(epoch)) throw new ResumeProtocolError(`"epoch" must be a non-empty string`);
      if (offset !== undefined && !isOffset(offset)) throw new ResumeProtocolError(`"offset" must be an integer >= 0`);
      if (epoch !== undefined && offset === undefined) throw new ResumeProtocolError(`"epoch" goes with an "offset"`);
      return { op: "sub", topic, epoch, offset };
    }
    case "unsub":
      return { op: "unsub", topic };
    case "pub": {
      const { producer, seq, ref } = frame;
      if ((producer === undefined) !== (seq === undefined)) {
        throw new ResumeProtocolError(`"producer" and "seq" go together`);
      }
      if (producer !== undefined && !isName(producer)) throw new ResumeProtocolError(`"producer" must be a non-empty string`);
      if (seq !== undefined && !(isOffset(seq) && seq > 0)) throw new ResumeProtocolError(`"seq" must be an integer >= 1`);
      if (!isRef(ref)) throw new ResumeProtocolError(`"ref" must be a string or a number`);
      return {
        op: "pub",
        topic,
        producer: producer as string | undefined,
        seq: seq as number | undefined,
        ref: ref as string | number | undefined,
        ...payloadOf(frame),
      };
    }
    default:
      throw new ResumeProtocolError(`Unknown op ${JSON.stringify(frame.op)}`);
  }
}

/**
 * Parses a frame the server sent (the client side's check).
 *
 * @param text The text frame's payload.
 * @returns The frame.
 * @throws {ResumeProtocolError} When it is not a valid server frame.
 */
export function parseServerFrame(text: string): ServerFrame {
  const frame = object(text);
  const op = frame.op;
  if (op === "error") return { op, reason: String(frame.reason ?? "") };
  if (!isName(frame.topic)) throw new ResumeProtocolError(`A ${String(op)} frame needs a "topic"`);
  const positioned = op !== "gap" && (frame.epoch !== undefined || frame.offset !== undefined);
  if (positioned && !(isName(frame.epoch) && isOffset(frame.offset))) {
    throw new ResumeProtocolError(`A ${String(op)} frame has a malformed position`);
  }
  switch (op) {
    case "msg":
    case "subscribed":
    case "ack":
    case "nack":
      if (op === "msg") payloadOf(frame);
      return frame as ServerFrame;
    case "gap":
      if (!isName(frame.epoch) || !isOffset(frame.from) || !(frame.to === null || isOffset(frame.to))) {
        throw new ResumeProtocolError("A gap frame has a malformed range");
      }
      return frame as ServerFrame;
    default:
      throw new ResumeProtocolError(`Unknown op ${JSON.stringify(op)}`);
  }
}

/**
 * A payload as the wire carries it.
 *
 * @param data Text or bytes.
 * @returns `{ text }` or `{ base64 }`.
 */
export function toWire(data: string | Uint8Array): WirePayload {
  return typeof data === "string" ? { text: data } : { base64: encodeBase64(data) };
}

/**
 * The payload a wire frame carries.
 *
 * @param frame A frame with `text` or `base64`.
 * @returns The text, or the bytes.
 */
export function fromWire(frame: WirePayload): string | Uint8Array {
  return frame.text !== undefined ? frame.text : decodeBase64(frame.base64);
}

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const LOOKUP = new Uint8Array(128);
for (let i = 0; i < ALPHABET.length; i++) LOOKUP[ALPHABET.charCodeAt(i)] = i;

/** RFC 4648 base64 with padding; no runtime's Buffer needed. */
export function encodeBase64(bytes: Uint8Array): string {
  let out = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63] + ALPHABET[(n >> 6) & 63] + ALPHABET[n & 63];
  }
  if (i < bytes.length) {
    const n = (bytes[i] << 16) | ((bytes[i + 1] ?? 0) << 8);
    out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63] + (i + 1 < bytes.length ? ALPHABET[(n >> 6) & 63] : "=") + "=";
  }
  return out;
}

/** The bytes of RFC 4648 base64 (already checked by the parser). */
export function decodeBase64(text: string): Uint8Array {
  const padding = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  const out = new Uint8Array((text.length / 4) * 3 - padding);
  let o = 0;
  for (let i = 0; i < text.length; i += 4) {
    const n = (LOOKUP[text.charCodeAt(i)] << 18) | (LOOKUP[text.charCodeAt(i + 1)] << 12) |
      (LOOKUP[text.charCodeAt(i + 2)] << 6) | LOOKUP[text.charCodeAt(i + 3)];
    out[o++] = n >> 16;
    if (o < out.length) out[o++] = (n >> 8) & 255;
    if (o < out.length) out[o++] = n & 255;
  }
  return out;
}
