/**
 * `WebSocketError`, the DOMException a `WebSocketStream` rejects and errors
 * its streams with when the connection did not close cleanly, and which an
 * application passes to `readable.cancel()` or `writable.abort()` to close
 * with a code and reason.
 *
 * @module
 */

import { enforceUnsignedShort, toUSVString, validateCloseCodeAndReason } from "./idl.ts";

/**
 * A close code and reason: what `WebSocketStream.closed` resolves with and
 * what `WebSocketStream.close()` and `new WebSocketError()` take
 * (`WebSocketCloseInfo` of the standard).
 *
 * @example
 * ```ts
 * import type { WebSocketCloseInfo } from "@streamsock/streamsock/web";
 *
 * const bye: WebSocketCloseInfo = { closeCode: 4000, reason: "done" };
 * ```
 */
export interface WebSocketCloseInfo {
  /** The close code: 1000 or 3000-4999 when sent; the server's code when received. */
  closeCode?: number;
  /** The close reason, at most 123 bytes of UTF-8. Defaults to "". */
  reason?: string;
}

/** What the closed handling reports; set without the validation a script's values go through. */
let setCloseInfo: ((error: WebSocketError, closeCode: number | null, reason: string) => void) | null = null;

/**
 * The error of a `WebSocketStream` whose connection did not close cleanly
 * (WebSockets Standard `WebSocketError`, a `DOMException` named
 * "WebSocketError"): `closeCode` and `reason` say how it closed (1006 and ""
 * when no close frame arrived). Passed to `readable.cancel()` or
 * `writable.abort()`, it closes the connection with its code and reason.
 *
 * Not to be confused with streamsock's own `WebSocketError` (the base class
 * of the main entry point's errors, an `Error`): this one is the standard's.
 *
 * @example Closing through the writable with a code
 * ```ts ignore
 * import { WebSocketError, WebSocketStream } from "@streamsock/streamsock/web";
 *
 * const wss = new WebSocketStream("ws://127.0.0.1:8080/");
 * const { writable } = await wss.opened;
 * await writable.abort(new WebSocketError("", { closeCode: 4000, reason: "bye" }));
 * ```
 */
export class WebSocketError extends DOMException {
  #closeCode: number | null = null;
  #reason = "";

  static {
    setCloseInfo = (error, closeCode, reason) => {
      error.#closeCode = closeCode;
      error.#reason = reason;
    };
  }

  /**
   * Creates a WebSocketError with a code and reason a script may send.
   *
   * @param message The DOMException's message. Defaults to "".
   * @param init `closeCode` (1000 or 3000-4999) and `reason` (at most 123
   * bytes of UTF-8). A non-empty reason without a code means 1000.
   * @throws {DOMException} `InvalidAccessError` for another code, `SyntaxError` for a longer reason.
   * @throws {TypeError} For a code that is not an unsigned short.
   */
  constructor(message: string = "", init: WebSocketCloseInfo = {}) {
    super(String(message), "WebSocketError");
    if (init === null || init === undefined) init = {};
    if (typeof init !== "object") throw new TypeError("The WebSocketError's init must be an object.");
    const code = init.closeCode === undefined ? null : enforceUnsignedShort(init.closeCode, "closeCode");
    const reason = init.reason === undefined ? "" : toUSVString(init.reason);
    validateCloseCodeAndReason(code, reason);
    this.#closeCode = code === null && reason !== "" ? 1000 : code;
    this.#reason = reason;
  }

  /** The close code, or null when there is none. */
  get closeCode(): number | null {
    return this.#closeCode;
  }

  /** The close reason ("" when there is none). */
  get reason(): string {
    return this.#reason;
  }
}

/**
 * A WebSocketError reporting how a connection closed: any code the server
 * sent (1001, 1011 ...) or 1006, which a script could not pass itself.
 */
export function closedWebSocketError(message: string, closeCode: number, reason: string, cause?: unknown): WebSocketError {
  const error = new WebSocketError(message);
  setCloseInfo!(error, closeCode, reason);
  if (cause !== undefined) Object.defineProperty(error, "cause", { value: cause, configurable: true, writable: true });
  return error;
}
