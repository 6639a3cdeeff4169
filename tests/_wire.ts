// One end of a raw TCP connection for tests that need exact bytes: it keeps
// what arrives, reads HTTP heads, and decodes frames. Shared by the server
// tests' RawClient and the robustness suite.
import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { FrameDecoder } from "../src/codec/decoder.ts";
import type { Frame } from "../src/codec/frame.ts";

/**
 * One end of a raw TCP connection that speaks bytes: it keeps what arrives
 * and decodes it as frames.
 */
export class Wire {
  readonly socket: Socket;
  #buffered = new Uint8Array(0);
  #ended = false;
  #wake: (() => void) | null = null;
  readonly #decoder: FrameDecoder;
  /** Resolves when the socket closed. */
  readonly closed: Promise<void>;

  /** Wraps a socket; `masked` says whether the frames it receives are masked (sent by a client). */
  constructor(socket: Socket, masked: boolean) {
    this.socket = socket;
    this.#decoder = new FrameDecoder({ masked, maxFrameSize: 1 << 30 });
    this.closed = new Promise((resolve) => socket.once("close", () => resolve()));
    socket.on("data", (chunk: Uint8Array) => {
      const merged = new Uint8Array(this.#buffered.length + chunk.length);
      merged.set(this.#buffered);
      merged.set(chunk, this.#buffered.length);
      this.#buffered = merged;
      this.#notify();
    });
    socket.on("end", () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on("error", () => {});
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  async #waitFor(ready: () => boolean, ms: number, what: string): Promise<void> {
    const deadline = Date.now() + ms;
    while (!ready()) {
      if (this.#ended) throw new Error(`Connection closed while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`No ${what} within ${ms} ms`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
  }

  write(data: string | Uint8Array): boolean {
    return this.socket.write(typeof data === "string" ? new TextEncoder().encode(data) : data);
  }

  /** Reads an HTTP head; the bytes after it stay for readFrame. Returns its first line. */
  async readHead(ms = 5000): Promise<{ startLine: string; headers: Headers }> {
    let end = -1;
    await this.#waitFor(() => (end = headEnd(this.#buffered)) >= 0, ms, "HTTP head");
    const [startLine, ...lines] = new TextDecoder().decode(this.#buffered.subarray(0, end)).split("\r\n");
    this.#buffered = this.#buffered.slice(end + 4);
    const headers = new Headers();
    for (const line of lines) {
      const colon = line.indexOf(":");
      headers.append(line.slice(0, colon), line.slice(colon + 1).trim());
    }
    return { startLine, headers };
  }

  /** The next frame received, or null once the other end finished sending. */
  async readFrame(ms = 5000): Promise<Frame | null> {
    for (;;) {
      const frame = this.#decoder.next();
      if (frame !== null) return frame;
      if (this.#buffered.length > 0) {
        this.#decoder.push(this.#buffered);
        this.#buffered = new Uint8Array(0);
        continue;
      }
      if (this.#ended) return null;
      await this.#waitFor(() => this.#buffered.length > 0 || this.#ended, ms, "frame").catch((err) => {
        if (!this.#ended) throw err;
      });
    }
  }

  /** Takes the bytes received but not yet read (an HTTP body, say). */
  takeRest(): Uint8Array {
    const rest = this.#buffered;
    this.#buffered = new Uint8Array(0);
    return rest;
  }

  /** Reads frames until a close frame; returns its code. */
  async readCloseCode(ms = 5000): Promise<number | null> {
    for (;;) {
      const frame = await this.readFrame(ms);
      if (frame === null || frame.opcode === 8) return closeCodeOf(frame);
    }
  }

  /** Resolves once the other end finished sending (FIN or reset). */
  async waitEnded(ms = 5000): Promise<void> {
    await this.#waitFor(() => this.#ended, ms, "end of stream").catch((err) => {
      if (!this.#ended) throw err;
    });
  }

  destroy(): void {
    this.socket.destroy();
  }
}

function headEnd(b: Uint8Array): number {
  for (let i = 0; i + 3 < b.length; i++) {
    if (b[i] === 13 && b[i + 1] === 10 && b[i + 2] === 13 && b[i + 3] === 10) return i;
  }
  return -1;
}

/** The close code in a close frame's payload, or null when it has none. */
export function closeCodeOf(frame: Frame | null): number | null {
  assert.ok(frame !== null, "the connection ended without a close frame");
  assert.equal(frame.opcode, 8, `expected a close frame, got opcode ${frame.opcode}`);
  return frame.payload.length >= 2 ? (frame.payload[0] << 8) | frame.payload[1] : null;
}
