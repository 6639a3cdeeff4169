/**
 * A connection as streams: `readable` and `writable` (whole messages, like
 * WHATWG WebSocketStream) and `recvStream` (one message as a stream of its
 * payload). Created only when the application asks for them.
 *
 * @module
 */

import { CloseCode } from "../codec/close.ts";
import type { Message } from "../message.ts";
import type { Sendable } from "./options.ts";
import type { Shell } from "./shell.ts";

/** What `readable` and `writable` call on their connection: its public methods, so a stream ends as the API says. */
export interface StreamedConnection {
  sendAll(msg: Sendable): Promise<void>;
  close(code?: number): Promise<unknown>;
}

/**
 * One message arriving as a stream of its payload, from
 * `WebSocketConnection.recvStream`.
 *
 * @example
 * ```ts
 * import type { IncomingStream, WebSocketConnection } from "@streamsock/streamsock";
 *
 * async function size(ws: WebSocketConnection): Promise<number> {
 *   const incoming: IncomingStream = await ws.recvStream();
 *   let bytes = 0;
 *   for await (const chunk of incoming.readable) bytes += chunk.length;
 *   return bytes;
 * }
 * ```
 */
export interface IncomingStream {
  /** The message's type. */
  type: "text" | "binary";
  /** Its payload, frame by frame; text as UTF-8. */
  readable: ReadableStream<Uint8Array>;
}

const bytesOf = (msg: Message) => typeof msg.data === "string" ? new TextEncoder().encode(msg.data) : msg.data;

/** `WebSocketConnection.recvStream`. */
export async function recvStream(shell: Shell): Promise<IncomingStream> {
  const receiver = shell.receiver;
  let first = await receiver.recv();
  while (first.type === "ping" || first.type === "pong") first = await receiver.recv();
  if (first.type === "close") throw shell.closedError();
  const type = first.type as "text" | "binary";
  let head: Message | null = first;
  let ended = false;
  const readable = new ReadableStream<Uint8Array>({
    pull: async (controller) => {
      let msg = head;
      head = null;
      while (msg === null || msg.type === "ping" || msg.type === "pong") msg = await receiver.recv();
      if (msg.type === "close") {
        controller.error(shell.closedError());
        return;
      }
      controller.enqueue(bytesOf(msg));
      if (!msg.partial) {
        ended = true;
        controller.close();
      }
    },
    cancel: async () => {
      // The rest of the message is read and dropped, so the next receive starts clean.
      while (!ended) {
        const msg = await receiver.recv();
        if (msg.type === "close") return;
        if ((msg.type === "text" || msg.type === "binary") && !msg.partial) ended = true;
      }
    },
  }, { highWaterMark: 0 });
  return { type, readable };
}

/** `WebSocketConnection.readable`: whole messages; cancelling it closes the connection. */
export function readableOf(shell: Shell, ws: StreamedConnection): ReadableStream<Message> {
  return new ReadableStream<Message>({
    pull: async (controller) => {
      const msg = await shell.receiver.nextDataMessage();
      if (msg === null) controller.close();
      else controller.enqueue(msg);
    },
    cancel: async () => {
      await ws.close();
    },
  }, { highWaterMark: 0 });
}

/** `WebSocketConnection.writable`: each chunk sent with `sendAll`; close closes with 1000, abort with 1011. */
export function writableOf(ws: StreamedConnection): WritableStream<Sendable> {
  return new WritableStream<Sendable>({
    write: (chunk) => ws.sendAll(chunk),
    close: async () => {
      await ws.close();
    },
    abort: async () => {
      await ws.close(CloseCode.InternalError);
    },
  });
}
