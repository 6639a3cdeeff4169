/**
 * Close frames (RFC 6455 §5.5.1, §7.4): status codes and payloads.
 *
 * @module
 */

import { ProtocolError } from "../errors.ts";
import { decodeUtf8 } from "./utf8.ts";

/**
 * Close status codes (RFC 6455 §7.4.1 and the IANA registry).
 *
 * @example
 * ```ts
 * import { CloseCode } from "@streamsock/streamsock";
 *
 * console.log(CloseCode.Normal, CloseCode.MessageTooBig); // 1000 1009
 * ```
 */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  UnsupportedData: 1003,
  /** Reported locally when a close frame had no status code; never sent. */
  NoStatus: 1005,
  /** Reported locally when the transport closed without a close frame; never sent. */
  Abnormal: 1006,
  InvalidPayload: 1007,
  PolicyViolation: 1008,
  MessageTooBig: 1009,
  MandatoryExtension: 1010,
  InternalError: 1011,
  ServiceRestart: 1012,
  TryAgainLater: 1013,
  BadGateway: 1014,
} as const;

/**
 * Whether `code` may appear in a close frame on the wire: 1000-1003,
 * 1007-1014 (defined by RFC 6455 and registered with IANA) and 3000-4999
 * (libraries, frameworks and applications). 1004-1006 and 1015 are reserved
 * for local use and never sent.
 *
 * @param code A close status code.
 * @returns Whether it is valid in a close frame.
 *
 * @example
 * ```ts
 * import { isValidCloseCode } from "@streamsock/streamsock";
 *
 * console.log(isValidCloseCode(1000), isValidCloseCode(1005), isValidCloseCode(4000)); // true false true
 * ```
 */
export function isValidCloseCode(code: number): boolean {
  return Number.isInteger(code) &&
    ((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
      (code >= 3000 && code <= 4999));
}

/** The longest close reason: 125 payload bytes less the 2-byte code. */
export const MAX_CLOSE_REASON_BYTES = 123;

const encoder = new TextEncoder();

/**
 * Builds a close frame payload. With no code the payload is empty (and then
 * `reason` must be empty too, RFC 6455 §5.5.1).
 *
 * @throws {RangeError} For a code that may not be sent, or a reason over 123 bytes.
 */
export function encodeClosePayload(code?: number, reason = ""): Uint8Array {
  if (code === undefined) {
    if (reason !== "") throw new RangeError("A close reason needs a close code");
    return new Uint8Array(0);
  }
  if (!isValidCloseCode(code)) throw new RangeError(`Close code ${code} may not be sent`);
  const reasonBytes = encoder.encode(reason);
  if (reasonBytes.length > MAX_CLOSE_REASON_BYTES) {
    throw new RangeError(
      `Close reason is ${reasonBytes.length} bytes; at most ${MAX_CLOSE_REASON_BYTES} fit in a close frame`,
    );
  }
  const payload = new Uint8Array(2 + reasonBytes.length);
  payload[0] = code >>> 8;
  payload[1] = code & 0xff;
  payload.set(reasonBytes, 2);
  return payload;
}

/**
 * Parses a received close payload. An empty payload means "no status"
 * (1005). A 1-byte payload or a code that may not be sent fails with 1002, a
 * reason that is not UTF-8 with 1007.
 *
 * @throws {ProtocolError} When the payload is malformed.
 */
export function decodeClosePayload(payload: Uint8Array): { code: number; reason: string } {
  if (payload.length === 0) return { code: CloseCode.NoStatus, reason: "" };
  if (payload.length === 1) {
    throw new ProtocolError("Close frame payload of 1 byte has no room for a status code", {
      code: "ERR_INVALID_CLOSE_PAYLOAD",
      closeCode: CloseCode.ProtocolError,
    });
  }
  const code = (payload[0] << 8) | payload[1];
  if (!isValidCloseCode(code)) {
    throw new ProtocolError(`Close frame carries invalid status code ${code}`, {
      code: "ERR_INVALID_CLOSE_CODE",
      closeCode: CloseCode.ProtocolError,
    });
  }
  return { code, reason: decodeUtf8(payload.subarray(2)) };
}
