/**
 * Sends with options, and sends refused by backpressure: the `signal` that
 * gives up on a peer that does not read, `compress` passed on to the sender,
 * and maxBackpressure's policy applied to a send.
 *
 * @module
 */

import { WebSocketError } from "../errors.ts";
import { Message } from "../message.ts";
import { backpressureExceeded, overBackpressure } from "./backpressure.ts";
import type { Sendable } from "./options.ts";
import type { SendOptions } from "./sender.ts";
import type { Shell } from "./shell.ts";
import { RESOLVED } from "./writer.ts";

/** A send with options: the backpressure check, then `start`, bounded by the signal. */
export function sendWith(shell: Shell, options: SendOptions, start: () => Promise<void>): Promise<void> {
  const signal = options.signal;
  if (signal?.aborted) return Promise.reject(signal.reason);
  if (overBackpressure(shell)) return Promise.reject(backpressureExceeded(shell));
  const sending = start();
  if (signal === undefined) return sending;
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      reject(signal.reason);
      // Bytes of this message may already be in the socket: nothing may follow
      // them, not even a close frame, so the transport is dropped.
      if (!shell.dropped) {
        shell.core.abandon(new WebSocketError("A send was aborted by its signal", {
          code: "ERR_SEND_ABORTED",
          cause: signal.reason,
        }));
        shell.drop();
      }
    };
    signal.addEventListener("abort", onAbort, { once: true });
    sending.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/**
 * A send while maxBackpressure bytes wait: refused by the policy, unless it
 * closes; once the connection is closing (the "close" policy started it)
 * refused like every send after our close, with ConnectionClosedError.
 */
export function sendOverLimit(shell: Shell, msg: Sendable): Promise<void> {
  const closing = shell.dropped || shell.core.closeSent || shell.closeRequest !== null;
  if (closing || (msg instanceof Message && msg.type === "close")) return shell.sender.send(msg);
  return Promise.reject(backpressureExceeded(shell));
}

/** A stream or async iterable of chunks (not a Blob or a Message): sendAll streams it. */
export function isByteSource(value: unknown): value is AsyncIterable<Uint8Array> {
  return typeof value === "object" && value !== null && !(value instanceof Blob) &&
    (Symbol.asyncIterator in value || typeof (value as ReadableStream).getReader === "function");
}

const ignore = () => {};

/**
 * A send's promise still rejects for whoever awaits it or attaches a
 * handler, but one nobody observes is not an unhandled rejection: a
 * forgotten `ws.send(...)` after the close must not end the process (Node
 * and Deno exit on unhandled rejections) or print a warning (Bun), as
 * browsers and `ws` drop such a send quietly. The shared resolved promise of
 * the hot path needs nothing.
 */
function observed(sending: Promise<void>): Promise<void> {
  if (sending !== RESOLVED) sending.catch(ignore);
  return sending;
}

/** `WebSocketConnection.send`. */
export function send(shell: Shell, msg: Sendable, options?: SendOptions): Promise<void> {
  const sender = shell.sender;
  if (options !== undefined) return observed(sendWith(shell, options, () => sender.send(msg, options.compress)));
  if (overBackpressure(shell)) return observed(sendOverLimit(shell, msg));
  return observed(sender.send(msg));
}

/** `WebSocketConnection.sendAll`. */
export function sendAll(
  shell: Shell,
  msg: Sendable | AsyncIterable<Uint8Array> | ReadableStream<Uint8Array>,
  options?: SendOptions,
): Promise<void> {
  const sender = shell.sender;
  if (isByteSource(msg)) return observed(sendWith(shell, options ?? {}, () => sender.sendStream(msg, options?.compress)));
  if (options !== undefined) return observed(sendWith(shell, options, () => sender.sendAll(msg, options.compress)));
  if (overBackpressure(shell)) return observed(sendOverLimit(shell, msg));
  return observed(sender.sendAll(msg));
}
