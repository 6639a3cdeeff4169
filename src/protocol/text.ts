/**
 * Received text (RFC 6455 §8.1): UTF-8 decoded strictly, failing with 1007
 * as soon as invalid bytes arrive, whether a sequence is split across
 * fragments or the bytes are the first part of one large frame.
 *
 * @module
 */

import type { FrameDecoder } from "../codec/decoder.ts";
import { decodeUtf8, Utf8StreamDecoder } from "../codec/utf8.ts";

/** The UTF-8 state of one connection's incoming text messages. */
export class IncomingText {
  #decoder: Utf8StreamDecoder | null = null;
  /** Text already decoded from the frame still arriving, and how many of its payload bytes that covered. */
  #early: string[] | null = null;
  #earlyBytes = 0;

  /**
   * The text of a whole frame's payload. A fragment holds whole characters;
   * an incomplete trailing sequence waits for the next fragment.
   *
   * @throws {ProtocolError} With 1007 on invalid UTF-8.
   */
  decode(payload: Uint8Array, fin: boolean, continuation: boolean): string {
    const early = this.#early;
    if (early !== null) {
      const rest = this.#decoder!.decode(payload.subarray(this.#earlyBytes), fin);
      this.#early = null;
      this.#earlyBytes = 0;
      early.push(rest);
      return early.join("");
    }
    if (fin && !continuation) return decodeUtf8(payload);
    this.#decoder ??= new Utf8StreamDecoder();
    return this.#decoder.decode(payload, fin);
  }

  /**
   * Decodes the part of the decoder's partial (text) frame received since
   * the last call, so invalid bytes fail in the read that brings them; the
   * text is kept for `decode` to complete once the frame is whole.
   *
   * @throws {ProtocolError} With 1007 on invalid UTF-8.
   */
  checkPartial(frames: FrameDecoder, continuation: boolean): void {
    const partial = frames.partialFrame!;
    if (partial.received <= this.#earlyBytes) return;
    if (this.#early === null) {
      // A new message starts a new decoder; a continuation carries on the message's.
      if (!continuation || this.#decoder === null) this.#decoder = new Utf8StreamDecoder();
      this.#early = [];
    }
    const bytes = frames.partialPayload(this.#earlyBytes);
    this.#earlyBytes += bytes.length;
    this.#early.push(this.#decoder!.decode(bytes, false));
  }
}
