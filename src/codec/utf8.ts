/**
 * Strict UTF-8 for text messages (RFC 6455 §8.1): invalid input fails the
 * connection with 1007 as soon as the offending byte arrives, also when a
 * sequence is split across frames.
 *
 * The platform TextDecoder does the work: with `fatal` it rejects overlongs,
 * surrogates and code points above U+10FFFF, and in `stream` mode it checks
 * every byte against the allowed ranges as it goes, so an impossible prefix
 * fails at once rather than at the end of the message. `ignoreBOM` keeps a
 * leading U+FEFF, which is message content, not a byte order mark.
 *
 * @module
 */

import { ProtocolError } from "../errors.ts";

function invalidUtf8(cause: unknown): ProtocolError {
  return new ProtocolError("Text data is not valid UTF-8", {
    code: "ERR_INVALID_UTF8",
    closeCode: 1007,
    cause,
  });
}

const wholeDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Decodes a complete UTF-8 byte sequence.
 *
 * @throws {ProtocolError} With close code 1007 when `bytes` is not UTF-8.
 */
export function decodeUtf8(bytes: Uint8Array): string {
  try {
    return wholeDecoder.decode(bytes);
  } catch (err) {
    throw invalidUtf8(err);
  }
}

/**
 * Decodes a text message that arrives in pieces. Each call returns the
 * complete characters so far; an incomplete trailing sequence is held until
 * the next piece. Pass `final: true` with the last piece.
 */
export class Utf8StreamDecoder {
  #decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

  /**
   * @param bytes The next piece of the message.
   * @param final True for the last piece: then a truncated sequence is an error.
   * @throws {ProtocolError} With close code 1007 on invalid UTF-8.
   */
  decode(bytes: Uint8Array, final: boolean): string {
    try {
      return this.#decoder.decode(bytes, { stream: !final });
    } catch (err) {
      // A failed fatal decode leaves the decoder reset; start afresh anyway.
      this.#decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
      throw invalidUtf8(err);
    }
  }
}

/** The UTF-8 length of `text` in bytes, without encoding it. */
export function utf8Length(text: string): number {
  let length = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) length += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      // A surrogate pair: 2 UTF-16 units, 4 bytes.
      length += 2;
      i++;
    } else length += 2;
  }
  return length;
}
