/**
 * The backpressure policy that sends (`send_options.ts`) and published
 * messages (`topics.ts`) share: when `maxBackpressure` is crossed, and what
 * `backpressurePolicy` does then.
 *
 * @module
 */

import { CloseCode } from "../codec/close.ts";
import { WebSocketError } from "../errors.ts";
import type { Shell } from "./shell.ts";

/** True when maxBackpressure bytes or more already wait to be sent. */
export function overBackpressure(shell: Shell): boolean {
  // Bytes still waiting for the compressor count too: publishing faster
  // than zlib keeps up must not queue without bound either.
  const deflating = shell.deflate === null ? 0 : shell.deflate.queuedBytes;
  return shell.writer.bufferedAmount + shell.heldBytes + deflating + shell.transport.bufferedAmount >=
    shell.maxBackpressure;
}

/** Applies backpressurePolicy; the error is what a refused send rejects with. */
export function backpressureExceeded(shell: Shell): WebSocketError {
  const close = shell.backpressurePolicy === "close";
  const err = new WebSocketError(
    `More than ${shell.maxBackpressure} bytes wait to be sent (maxBackpressure): the peer does not read fast enough`,
    { code: "ERR_BACKPRESSURE", closeCode: close ? CloseCode.TryAgainLater : undefined },
  );
  if (close && !shell.dropped) {
    // Nothing more is queued: the 1013 goes out behind what already waits,
    // so a peer that keeps reading (a burst of fire-and-forget sends to a
    // healthy client) reads every message queued before it and then learns
    // why the connection ends. One that does not read is dropped after
    // closeTimeout, like any peer that leaves the closing handshake
    // unanswered: the memory held meanwhile stays bounded by maxBackpressure
    // plus the message that crossed it.
    shell.fail(err);
  }
  return err;
}
