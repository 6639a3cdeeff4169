// The one raw TCP peer of the test suite: one end of a real connection that
// writes exact bytes (whole, or one byte per TCP write) and reads back exactly
// what the implementation under test sent: HTTP heads, and frames parsed by
// the suite's independent parser (tests/_frames.ts), never by our decoder.
// The server tests' RawClient, the robustness suite and the conformance
// suite's Peer all read through it.
import assert from "node:assert/strict";
import { connect as netConnect, type Socket } from "node:net";
import { readWireFrame, type WireFrame, wireFrameSize } from "./_frames.ts";
import { type Owner, socketsPolled } from "./_test.ts";

export type { WireFrame } from "./_frames.ts";

/** A short hex dump for failure messages. */
export function describeBytes(bytes: Uint8Array): string {
  const hex = Array.from(bytes.subarray(0, 24), (b) => b.toString(16).padStart(2, "0")).join(" ");
  return `${bytes.length} bytes [${hex}${bytes.length > 24 ? " ..." : ""}]`;
}

/** One end of a TCP connection (or anything socket-shaped) that speaks bytes. */
export class Wire {
  readonly socket: Socket;
  /** Whether the frames this end receives must be masked: sent by a client (RFC 6455 §5.1). */
  readonly masked: boolean;
  /** Resolves when the socket closed. */
  readonly closed: Promise<void>;
  #chunks: Uint8Array[] = [];
  #offset = 0;
  #buffered = 0;
  #ended = false;
  #wake: (() => void) | null = null;

  /** Wraps a socket; `masked` says whether the frames it receives are masked (sent by a client). */
  constructor(socket: Socket, masked: boolean) {
    this.socket = socket;
    this.masked = masked;
    socket.setNoDelay?.(true);
    this.closed = new Promise((resolve) => socket.once("close", () => resolve()));
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

  /** Opens a TCP connection to 127.0.0.1:`port`, destroyed when the test ends. */
  static async dial(t: Owner, port: number, masked: boolean): Promise<Wire> {
    const socket = netConnect(port, "127.0.0.1");
    t.after(() => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    return new Wire(socket, masked);
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  /** True once the other end closed its sending side. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Bytes received and not yet read. */
  get buffered(): number {
    return this.#buffered;
  }

  /** Waits until `ready()` holds, a wake-up at a time; false when the stream ended first. */
  async #waitFor(ready: () => boolean, ms: number, what: string): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!ready()) {
      if (this.#ended) return false;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`No ${what} within ${ms} ms (${this.#buffered} bytes buffered)`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
    return true;
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

  /** Writes bytes without waiting (errors surface as the socket closing). */
  write(data: string | Uint8Array): boolean {
    return this.socket.write(typeof data === "string" ? new TextEncoder().encode(data) : data);
  }

  /** Writes each chunk with one TCP write and resolves when the kernel took the last. */
  async send(...chunks: (Uint8Array | string)[]): Promise<void> {
    for (const chunk of chunks) {
      const bytes = typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk;
      await new Promise<void>((resolve, reject) => this.socket.write(bytes, (err) => (err ? reject(err) : resolve())));
    }
  }

  /** Writes every byte with its own TCP write, each awaited, so the other end may see them one by one. */
  async sendBytewise(...chunks: Uint8Array[]): Promise<void> {
    for (const chunk of chunks) {
      for (let i = 0; i < chunk.length; i++) await this.send(chunk.subarray(i, i + 1));
    }
  }

  /** Reads exactly `n` bytes; fails if the stream ends first. */
  async read(n: number, ms = 5000, what = `${n} bytes`): Promise<Uint8Array> {
    if (!(await this.#waitFor(() => this.#buffered >= n, ms, what))) {
      throw new Error(`The other end closed the connection while we waited for ${what} (${this.#buffered} of ${n} bytes)`);
    }
    return this.#take(n);
  }

  /** Reads an HTTP head (up to and including the blank line); the bytes after it stay for readFrame. */
  async readHead(ms = 5000): Promise<{ startLine: string; headers: Headers; text: string }> {
    let end = -1;
    const scan = () => (end = headEnd(this.#peek(Math.min(this.#buffered, 65536)))) >= 0;
    const found = await this.#waitFor(scan, ms, "HTTP head");
    if (!found) throw new Error(`Connection closed while waiting for an HTTP head (${this.#buffered} bytes buffered)`);
    const text = new TextDecoder().decode(this.#take(end + 4));
    const [startLine, ...lines] = text.slice(0, end).split("\r\n");
    const headers = new Headers();
    for (const line of lines) {
      const colon = line.indexOf(":");
      headers.append(line.slice(0, colon), line.slice(colon + 1).trim());
    }
    return { startLine, headers, text };
  }

  /**
   * The next frame received, parsed by the suite's independent parser, or
   * null once the other end finished sending. Fails on a frame masked
   * against RFC 6455 §5.1.
   */
  async readFrame(ms = 5000): Promise<WireFrame | null> {
    let size: number | null = null;
    const header = () => (size = wireFrameSize(this.#peek(Math.min(this.#buffered, 14)))) !== null;
    if (!(await this.#waitFor(header, ms, "frame header"))) {
      if (this.#buffered === 0) return null;
      throw new Error(`The stream ended inside a frame header: ${describeBytes(this.#peek(this.#buffered))}`);
    }
    const whole = size!;
    if (!(await this.#waitFor(() => this.#buffered >= whole, ms + whole / 10_000, `a frame of ${whole} bytes`))) {
      throw new Error(`The stream ended inside a frame of ${whole} bytes (${this.#buffered} received)`);
    }
    const read = readWireFrame(this.#take(whole), this.masked);
    assert.ok(read !== null && read.size === whole, "the independent parser disagrees with the frame's size");
    return read.frame;
  }

  /** The next frame; fails if the stream ends first. */
  async expectFrame(ms = 5000): Promise<WireFrame> {
    const frame = await this.readFrame(ms);
    if (frame === null) throw new Error("The other end closed the connection while we waited for a frame");
    return frame;
  }

  /** Takes the bytes received but not yet read (an HTTP body, say). */
  takeRest(): Uint8Array {
    return this.#take(this.#buffered);
  }

  /** Reads frames until a close frame; returns its code. */
  async readCloseCode(ms = 5000): Promise<number | null> {
    for (;;) {
      const frame = await this.readFrame(ms);
      if (frame === null || frame.opcode === 8) return closeCodeOf(frame);
    }
  }

  /** Resolves once the other end finished sending (FIN or reset), whatever came before. */
  async waitEnded(ms = 5000): Promise<void> {
    await this.#waitFor(() => this.#ended, ms, "end of stream");
  }

  /** Resolves once the other end closed its sending side; fails if more bytes come first. */
  async expectEnd(ms = 5000): Promise<void> {
    const nothingMore = () => {
      if (this.#buffered > 0) assert.fail(`expected the peer to close TCP, got ${describeBytes(this.#peek(this.#buffered))}`);
      return false;
    };
    await this.#waitFor(nothingMore, ms, "close of TCP by the peer");
    nothingMore();
  }

  /**
   * Asserts that nothing arrives (and TCP stays open) by the time the event
   * loop has polled every socket twice more: what the code under test would
   * send in answer to what it last read would be here by then.
   */
  async expectSilence(what: string): Promise<void> {
    await socketsPolled();
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

function headEnd(b: Uint8Array): number {
  for (let i = 0; i + 3 < b.length; i++) {
    if (b[i] === 13 && b[i + 1] === 10 && b[i + 2] === 13 && b[i + 3] === 10) return i;
  }
  return -1;
}

/** The close code in a close frame's payload, or null when it has none. */
export function closeCodeOf(frame: WireFrame | null): number | null {
  assert.ok(frame !== null, "the connection ended without a close frame");
  assert.equal(frame.opcode, 8, `expected a close frame, got opcode ${frame.opcode}`);
  return frame.payload.length >= 2 ? (frame.payload[0] << 8) | frame.payload[1] : null;
}
