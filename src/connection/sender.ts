/**
 * The sending side of a connection above the protocol core: one frame
 * (`send`), a message fragmented at maxFrameSize (`sendAll`), messages kept
 * from interleaving, and sends refused once the close began.
 *
 * @module
 */

import { CloseCode } from "../codec/close.ts";
import { utf8Length } from "../codec/utf8.ts";
import { ConnectionClosedError } from "../errors.ts";
import type { PerMessageDeflate } from "../extensions/permessage_deflate.ts";
import { type Message, type MessageType, toMessage } from "../message.ts";
import type { Protocol } from "../protocol/protocol.ts";
import type { Sendable } from "./options.ts";
import type { Writer } from "./writer.ts";

/**
 * Per-send choices: see `WebSocketConnection.send`.
 *
 * @example Skip compressing already-compressed bytes, and give up after 5 s
 * ```ts
 * import type { SendOptions, WebSocketConnection } from "@streamsock/streamsock";
 *
 * async function sendJpeg(ws: WebSocketConnection, jpeg: Uint8Array): Promise<void> {
 *   const options: SendOptions = { compress: false, signal: AbortSignal.timeout(5000) };
 *   await ws.sendAll(jpeg, options);
 * }
 * ```
 */
export interface SendOptions {
  /**
   * On a connection with permessage-deflate: `false` sends this message
   * uncompressed, `true` compresses it whatever its size; by default the
   * `threshold` decides. Ignored without compression.
   */
  compress?: boolean;
  /**
   * Gives up waiting: when it aborts before the send resolved (a peer that
   * does not read), the send rejects with its reason and the connection is
   * dropped (nothing half-sent can be followed by more frames). Already
   * aborted: the send rejects and nothing is sent.
   */
  signal?: AbortSignal;
}

/** What the sender asks of its connection. */
export interface SenderHost {
  /** The close the application asked for, once it did (the frame may still wait behind a sendAll). */
  closeRequested(): { code: number; reason: string } | null;
  /** Whether the connection is gone. */
  terminated(): boolean;
  /** A close message was sent: start the closing handshake. */
  close(message: Message): Promise<void>;
  /**
   * The last frame of a data message of ours was written (what waited for it
   * may follow): its type, and its payload or payload size, for the counts.
   */
  messageEnded(type: MessageType, data: string | Uint8Array | number): void;
}

/** Sends frames and messages through the core, the deflate stage and the writer. */
export class Sender {
  readonly #core: Protocol;
  readonly #writer: Writer;
  readonly #deflate: PerMessageDeflate | null;
  readonly #maxFrameSize: number;
  readonly #host: SenderHost;
  /** Settles when the `sendAll` fragmenting a message is done; other sends wait for it. */
  busy: Promise<void> | null = null;

  /**
   * @param core The protocol core.
   * @param writer Where the bytes are queued.
   * @param deflate permessage-deflate, when negotiated.
   * @param maxFrameSize The connection's frame size limit.
   * @param host The connection.
   */
  constructor(
    core: Protocol,
    writer: Writer,
    deflate: PerMessageDeflate | null,
    maxFrameSize: number,
    host: SenderHost,
  ) {
    this.#core = core;
    this.#writer = writer;
    this.#deflate = deflate;
    this.#maxFrameSize = maxFrameSize;
    this.#host = host;
  }

  /** One frame; see `WebSocketConnection.send`. */
  send(msg: Sendable, compress?: boolean): Promise<void> {
    if (msg instanceof Blob) return this.#sendBlob(msg, false, compress);
    // Hot path: a whole text or binary message with nothing in the way is
    // written without an async function's promise and ticks.
    const host = this.#host;
    if (this.busy === null && this.#deflate === null && host.closeRequested() === null && !host.terminated()) {
      try {
        const message = toMessage(msg);
        const type = message.type;
        if ((type === "text" || type === "binary") && !message.partial) {
          const data = message.data;
          this.#core.sendData(data, type, true);
          host.messageEnded(type, data);
          return this.#writer.ready();
        }
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return this.#sendMessage(msg, compress);
  }

  async #sendMessage(msg: Sendable, compress?: boolean): Promise<void> {
    const message = toMessage(msg);
    const type = message.type;
    if (type === "close") return this.#host.close(message);
    this.#checkAccepting();
    if (type === "ping" || type === "pong") {
      const payload = message.data as Uint8Array;
      if (type === "ping") this.#core.sendPing(payload);
      else this.#core.sendPong(payload);
      return this.#writer.ready();
    }
    while (this.busy !== null) {
      await this.busy;
      this.#checkOpen();
    }
    const queued = this.#writeData(message.data, type, !message.partial, compress);
    return queued === undefined ? this.#writer.ready() : queued;
  }

  /** A message of any size; see `WebSocketConnection.sendAll`. */
  async sendAll(msg: Sendable, compress?: boolean): Promise<void> {
    if (msg instanceof Blob) return this.#sendBlob(msg, true, compress);
    const message = toMessage(msg);
    const type = message.type;
    if (type !== "text" && type !== "binary") return this.send(message);
    this.#checkAccepting();
    while (this.busy !== null) {
      await this.busy;
      this.#checkOpen();
    }
    const data = message.data;
    const max = this.#maxFrameSize;
    // A message that fits one frame is encoded once, into the frame: a
    // string's size is bounded (3 bytes per UTF-16 unit) or counted, not
    // encoded, to decide.
    const fits = typeof data === "string" ? data.length * 3 <= max || utf8Length(data) <= max : data.length <= max;
    if (fits) {
      const queued = this.#writeData(data, type, !message.partial, compress);
      return queued === undefined ? this.#writer.ready() : queued;
    }
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    // No await since the loop above: the turn is still ours.
    await this.#exclusively(async () => {
      for (let start = 0; start < bytes.length;) {
        let end = Math.min(start + max, bytes.length);
        // Keep multi-byte characters whole within a text frame.
        if (type === "text") while (end < bytes.length && end > start && (bytes[end] & 0xc0) === 0x80) end--;
        const last = end === bytes.length;
        const queued = this.#writeFrame(type, bytes.subarray(start, end), last && !message.partial, compress, bytes.length);
        start = end;
        await (queued ?? this.#writer.ready());
        if (!last) this.#checkOpen();
      }
    });
  }

  /**
   * A binary message whose payload comes from a stream of chunks, sent as
   * they arrive: each chunk in frames of at most maxFrameSize, waiting for
   * the transport between them, one chunk held back so the last frame can
   * carry FIN. Other sends wait until it is done, as behind `sendAll`.
   */
  async sendStream(source: AsyncIterable<Uint8Array>, compress?: boolean): Promise<void> {
    this.#checkAccepting();
    const max = this.#maxFrameSize;
    let total = 0;
    const write = async (bytes: Uint8Array, last: boolean) => {
      let start = 0;
      total += bytes.length;
      do {
        const end = Math.min(start + max, bytes.length);
        const fin = last && end === bytes.length;
        await (this.#writeFrame("binary", bytes.subarray(start, end), fin, compress, total) ?? this.#writer.ready());
        if (!fin) this.#checkOpen();
        start = end;
      } while (start < bytes.length);
    };
    await this.#exclusively(async () => {
      let held: Uint8Array | null = null;
      for await (const chunk of source) {
        if (!(chunk instanceof Uint8Array)) throw new TypeError("A stream sent with sendAll must yield Uint8Arrays");
        if (chunk.length === 0) continue;
        if (held !== null) await write(held, false);
        held = chunk;
      }
      await write(held ?? new Uint8Array(0), true);
    });
  }

  /**
   * A Blob's bytes can only be read asynchronously: sends and a close issued
   * meanwhile wait behind it (as behind `sendAll`), so order is kept.
   * `all` fragments as `sendAll` does; otherwise it is one frame.
   */
  async #sendBlob(blob: Blob, all: boolean, compress?: boolean): Promise<void> {
    this.#checkAccepting();
    await this.#exclusively(async () => {
      const bytes = new Uint8Array(await blob.arrayBuffer());
      const step = all ? this.#maxFrameSize : Math.max(bytes.length, 1);
      for (let start = 0; start === 0 || start < bytes.length; start += step) {
        this.#checkOpen();
        const end = Math.min(start + step, bytes.length);
        await (this.#writeFrame("binary", bytes.subarray(start, end), end === bytes.length, compress, bytes.length) ??
          this.#writer.ready());
      }
    });
  }

  /**
   * Waits for the multi-frame send in progress, if any, then runs `run`
   * while every other send waits behind it, so messages never interleave.
   * The check and the claim happen with no await between them.
   */
  async #exclusively(run: () => Promise<void>): Promise<void> {
    while (this.busy !== null) {
      await this.busy;
      this.#checkOpen();
    }
    let release!: () => void;
    this.busy = new Promise((resolve) => (release = resolve));
    try {
      await run();
    } finally {
      this.busy = null;
      release();
    }
  }

  /** For a send being issued: refused once a close was asked for. */
  #checkAccepting(): void {
    this.#checkOpen(this.#host.closeRequested() !== null);
  }

  /** For a send issued earlier that waited its turn: refused once the close frame is out. */
  #checkOpen(closing = false): void {
    if (closing || this.#core.closeSent || this.#host.terminated()) {
      const info = this.#core.closeInfo ?? this.#host.closeRequested();
      throw new ConnectionClosedError(info?.code ?? CloseCode.Normal, info?.reason ?? "");
    }
  }

  /** Writes one data frame: a string is encoded straight into the frame. */
  #writeData(data: string | Uint8Array, type: MessageType, fin: boolean, compress?: boolean): Promise<void> | undefined {
    if (this.#deflate !== null) return this.#writeDeflated(data, type, fin, compress, data);
    this.#core.sendData(data, type, fin);
    if (fin) this.#host.messageEnded(type, data);
    return undefined;
  }

  /** One frame of a message whose payload (or its size) is `whole`, for the counts. */
  #writeFrame(
    type: MessageType,
    payload: Uint8Array,
    fin: boolean,
    compress: boolean | undefined,
    whole: number,
  ): Promise<void> | undefined {
    if (this.#deflate !== null) return this.#writeDeflated(payload, type, fin, compress, whole);
    this.#core.sendFragment(type, payload, fin);
    if (fin) this.#host.messageEnded(type, whole);
    return undefined;
  }

  /**
   * A data frame under permessage-deflate: compressed (a promise that
   * resolves once it is written and the transport can take more), or
   * written at once when small and nothing waits ahead of it (undefined).
   */
  #writeDeflated(
    data: string | Uint8Array,
    type: MessageType,
    fin: boolean,
    compress: boolean | undefined,
    whole: string | Uint8Array | number,
  ): Promise<void> | undefined {
    const payload = typeof data === "string" ? new TextEncoder().encode(data) : data;
    this.#core.checkFrameSize(payload.length);
    const opcode = this.#core.dataOpcode(type, fin);
    const sent = this.#deflate!.send(opcode, payload, fin, compress)?.then(() => this.#writer.ready());
    if (fin) this.#host.messageEnded(type, whole);
    return sent;
  }
}
