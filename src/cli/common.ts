/**
 * What both `streamsock` commands share: exit codes, usage errors, output,
 * the parsing of option values, and how messages, frames and errors are
 * printed.
 *
 * @module
 */

import { readFile } from "node:fs/promises";
import process from "node:process";
import { HandshakeError, ProxyError } from "../errors.ts";
import type { Message } from "../message.ts";
import { Opcode } from "../codec/frame.ts";
import type { TracedFrame } from "../transport/trace.ts";

/** Exit codes; the module doc lists what each means. */
export const EXIT_OK = 0;
export const EXIT_CLOSED_ABNORMALLY = 1;
export const EXIT_USAGE = 2;
export const EXIT_CONNECT_FAILED = 3;

/** Close codes a script may take for success: normal, going away, none given. */
export const CLEAN_CODES = new Set([1000, 1001, 1005]);

export class UsageError extends Error {}

function write(stream: { write(text: string, done?: () => void): boolean }, text: string): void {
  stream.write(text.endsWith("\n") ? text : text + "\n");
}

export const out = (text: string) => write(process.stdout, text);
export const err = (text: string) => write(process.stderr, text);

/** Waits until what was written to stdout and stderr has been handed to the OS. */
export function flushed(): Promise<void> {
  const drain = (stream: { write(text: string, done?: () => void): boolean }) => new Promise<void>((resolve) => stream.write("", () => resolve()));
  return Promise.all([drain(process.stdout), drain(process.stderr)]).then(() => {});
}

export function parseDuration(text: string, flag: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (match === null) throw new UsageError(`${flag} expects a duration such as 500ms, 2s or 1m, not ${JSON.stringify(text)}`);
  const value = Number(match[1]);
  return Math.round(match[2] === "ms" ? value : match[2] === "m" ? value * 60_000 : value * 1000);
}

export function parseSize(text: string, flag: string): number {
  const match = /^(\d+)([km])?$/i.exec(text.trim());
  if (match === null) throw new UsageError(`${flag} expects a number of bytes such as 65536 or 64k, not ${JSON.stringify(text)}`);
  const unit = match[2]?.toLowerCase();
  const size = Number(match[1]) * (unit === "k" ? 1024 : unit === "m" ? 1024 * 1024 : 1);
  if (size < 1) throw new UsageError(`${flag} must be at least 1`);
  return size;
}

export function parsePort(text: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) throw new UsageError(`--port expects 0-65535, not ${JSON.stringify(text)}`);
  return port;
}

export function list(values: string[] | undefined): string[] {
  return (values ?? []).flatMap((value) => value.split(",")).map((value) => value.trim()).filter((v) => v !== "");
}

export function parseHeaders(values: string[] | undefined): [string, string][] {
  return (values ?? []).map((field) => {
    const colon = field.indexOf(":");
    if (colon <= 0) throw new UsageError(`--header expects "Name: value", not ${JSON.stringify(field)}`);
    return [field.slice(0, colon).trim(), field.slice(colon + 1).trim()];
  });
}

export async function readPem(path: string | undefined, flag: string): Promise<string | undefined> {
  if (path === undefined) return undefined;
  try {
    return await readFile(path, "utf8");
  } catch (cause) {
    throw new UsageError(`${flag}: cannot read ${path}: ${(cause as Error).message}`);
  }
}

function hex(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) text += byte.toString(16).padStart(2, "0");
  return text;
}

/** One line describing a received message, as `connect` and `serve` print it. */
export function describeMessage(msg: Message): string {
  switch (msg.type) {
    case "text":
      return `text: ${msg.data}`;
    case "close":
      return `close ${msg.code ?? 1005}${msg.data === "" ? "" : `: ${msg.data}`}`;
    default: {
      const data = msg.data as Uint8Array;
      return `${msg.type} (${data.length} bytes)${data.length === 0 ? "" : `: ${hex(data)}`}`;
    }
  }
}

const OPCODE_NAMES: Record<number, string> = {
  [Opcode.Continuation]: "continuation",
  [Opcode.Text]: "text",
  [Opcode.Binary]: "binary",
  [Opcode.Close]: "close",
  [Opcode.Ping]: "ping",
  [Opcode.Pong]: "pong",
};

/**
 * One trace line: `> text fin=1 rsv=0 len=5 mask=1a2b3c4d "hello"`, with `>`
 * for frames sent and `<` for frames received.
 */
export function describeFrame(frame: TracedFrame): string {
  const arrow = frame.direction === "send" ? ">" : "<";
  const name = OPCODE_NAMES[frame.opcode] ?? `reserved(${frame.opcode})`;
  const mask = frame.mask === null ? "none" : hex(frame.mask);
  let preview = "";
  const bytes = frame.preview;
  const cut = bytes.length < frame.length ? "…" : "";
  if (frame.opcode === Opcode.Close && bytes.length >= 2) {
    preview = ` code=${(bytes[0] << 8) | bytes[1]} ${JSON.stringify(new TextDecoder().decode(bytes.subarray(2)))}`;
  } else if (frame.opcode === Opcode.Text && frame.rsv === 0) {
    preview = ` ${JSON.stringify(new TextDecoder().decode(bytes))}${cut}`;
  } else if (bytes.length > 0) {
    preview = ` ${hex(bytes.subarray(0, 32))}${bytes.length > 32 ? "…" : cut}`;
  }
  return `${arrow} ${name} fin=${frame.fin ? 1 : 0} rsv=${frame.rsv} len=${frame.length} mask=${mask}${preview}`;
}

/** The lines of a byte stream, as they complete; a last line without a newline counts too. */
export async function* lines(input: AsyncIterable<Uint8Array | string>): AsyncGenerator<Uint8Array> {
  let pending = new Uint8Array(0);
  for await (const chunk of input) {
    const bytes = typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk;
    let data = bytes;
    if (pending.length > 0) {
      data = new Uint8Array(pending.length + bytes.length);
      data.set(pending);
      data.set(bytes, pending.length);
    }
    let start = 0;
    for (let newline = data.indexOf(10); newline !== -1; newline = data.indexOf(10, start)) {
      yield data.slice(start, newline > start && data[newline - 1] === 13 ? newline - 1 : newline);
      start = newline + 1;
    }
    pending = data.slice(start);
  }
  if (pending.length > 0) yield pending;
}

export function connectError(url: string, error: unknown): string {
  // The message carries the server's short reason (the body's first line).
  if (error instanceof HandshakeError) return `streamsock: the handshake with ${url} failed: ${error.message}`;
  if (error instanceof ProxyError) return `streamsock: cannot connect to ${url} through the proxy: ${error.message}`;
  return `streamsock: cannot connect to ${url}: ${describeError(error)}`;
}

/** An error's message with its code when the message does not say it (Bun's "Failed to connect"). */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" && code !== "" && !error.message.includes(code) ? `${error.message} (${code})` : error.message;
}

/** How `connect` prints received messages. */
export interface ReceiveFormat {
  timestamps: boolean;
  json: boolean;
}

export function printReceived(msg: Message, format: ReceiveFormat): void {
  let text = describeMessage(msg);
  if (format.json && msg.type === "text") {
    try {
      text = `text: ${JSON.stringify(JSON.parse(msg.data as string), null, 2)}`;
    } catch {
      // Not JSON: printed as it is.
    }
  }
  out(`${format.timestamps ? `${new Date().toISOString()} ` : ""}< ${text}`);
}

