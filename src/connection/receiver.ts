/**
 * The receiving side of a connection above the inbox: frames one at a time
 * (`recv`), whole messages reassembled within a size limit (`recvAll`), and
 * the fast iterator over whole messages.
 *
 * @module
 */

import { utf8Length } from "../codec/utf8.ts";
import { ConnectionClosedError, MessageTooBigError, type WebSocketError } from "../errors.ts";
import { Message } from "../message.ts";
import { Inbox } from "./inbox.ts";

/** What the receiver asks of its connection. */
export interface ReceiverHost {
  /** A frame was taken from the inbox: reading may resume. */
  taken(): void;
  /** Fails the connection (a message over the size limit: 1009). */
  fail(err: WebSocketError): void;
  /** Whether the peer's close frame arrived (then the end of messages is not an error). */
  peerClosed(): boolean;
}

function payloadSize(msg: Message): number {
  const data = msg.data;
  return typeof data === "string" ? utf8Length(data) : data.length;
}

/** Frames and messages out of one connection's inbox. */
export class Receiver {
  /** The received frames; the connection delivers into it. */
  readonly inbox: Inbox = new Inbox();
  readonly #host: ReceiverHost;
  readonly #maxMessageSize: number;
  /** A `for await` loop is reading: a second one would starve one of them. */
  #iterating = false;

  /**
   * @param maxMessageSize The connection's default limit for `recvAll` and iteration.
   * @param host The connection.
   */
  constructor(maxMessageSize: number, host: ReceiverHost) {
    this.#maxMessageSize = maxMessageSize;
    this.#host = host;
  }

  /** The next frame. */
  recv(): Promise<Message> {
    const msg = this.inbox.take();
    if (msg === undefined) return this.inbox.wait();
    this.#host.taken();
    return Promise.resolve(msg);
  }

  /** The next whole message, or a control frame that came before any fragment. */
  async recvAll(maxMessageSize: number = this.#maxMessageSize, taken?: Message): Promise<Message> {
    const inbox = this.inbox;
    const size = taken === undefined && !inbox.hasSetAside && inbox.length > 0 ? inbox.peekSize() : -1;
    const first = taken ?? await this.recv();
    const type = first.type;
    if (type !== "text" && type !== "binary") return first;
    let total = size >= 0 ? size : payloadSize(first);
    this.#checkMessageSize(total, maxMessageSize);
    if (!first.partial) return first;

    // Gather without one object per fragment, so a flood of tiny fragments
    // costs memory in proportion to its bytes, bounded by maxMessageSize:
    // text in batches of joined strings, bytes in a buffer that doubles.
    const text: string[] = [];
    let batch: string[] = [];
    let bytes = new Uint8Array(0);
    let filled = 0;
    const add = (data: string | Uint8Array) => {
      if (typeof data === "string") {
        batch.push(data);
        if (batch.length === 1024) {
          text.push(batch.join(""));
          batch = [];
        }
        return;
      }
      if (filled + data.length > bytes.length) {
        const grown = new Uint8Array(Math.min(maxMessageSize, Math.max(2 * bytes.length, filled + data.length, 4096)));
        grown.set(bytes.subarray(0, filled));
        bytes = grown;
      }
      bytes.set(data, filled);
      filled += data.length;
    };
    add(first.data);
    const aside: Message[] = [];
    try {
      for (;;) {
        const msg = await this.recv();
        if (msg.type !== "text" && msg.type !== "binary") {
          aside.push(msg);
          if (msg.type === "close") throw inbox.error;
          continue;
        }
        total += payloadSize(msg);
        this.#checkMessageSize(total, maxMessageSize);
        add(msg.data);
        if (!msg.partial) break;
      }
    } finally {
      if (aside.length > 0) inbox.setAside(aside);
    }
    if (type === "text") return new Message(text.join("") + batch.join(""), "text");
    return new Message(filled === bytes.length ? bytes : bytes.slice(0, filled), "binary");
  }

  #checkMessageSize(total: number, max: number): void {
    if (total <= max) return;
    const err = new MessageTooBigError(`Message of more than ${max} bytes exceeds maxMessageSize`);
    this.#host.fail(err);
    throw err;
  }

  /**
   * The next whole text or binary message, or null after a clean close;
   * `taken` is its first frame when the caller already took it.
   */
  async nextDataMessage(taken?: Message): Promise<Message | null> {
    for (;;) {
      let msg: Message;
      try {
        msg = await this.recvAll(this.#maxMessageSize, taken);
        taken = undefined;
      } catch (err) {
        if (err instanceof ConnectionClosedError && this.#host.peerClosed()) return null;
        throw err;
      }
      if (msg.type === "text" || msg.type === "binary") return msg;
      if (msg.type === "close") return null;
    }
  }

  /** An iterator over whole text and binary messages. */
  iterator(): AsyncIterator<Message> {
    if (this.#iterating) {
      throw new Error(
        "Another for await loop is already reading this connection: each message goes to one reader, so a second loop would starve",
      );
    }
    this.#iterating = true;
    const finish = () => {
      done = true;
      this.#iterating = false;
    };
    // Hot path: a whole message already received is handed out with one
    // promise, instead of the hops through an async generator, recvAll and
    // nextDataMessage; everything else takes that slow path. A next() made
    // while a slow one is pending waits for it, so messages stay in order.
    let done = false;
    let pending: Promise<unknown> | null = null;
    const end: IteratorResult<Message> = { value: undefined, done: true };
    const slow = (taken?: Message): Promise<IteratorResult<Message>> => {
      const result = this.nextDataMessage(taken).then(
        (msg): IteratorResult<Message> => {
          if (result === pending) pending = null;
          if (msg !== null) return { value: msg, done: false };
          finish();
          return end;
        },
        (err) => {
          if (result === pending) pending = null;
          finish();
          throw err;
        },
      );
      pending = result;
      return result;
    };
    const next = (): Promise<IteratorResult<Message>> => {
      if (done) return Promise.resolve(end);
      if (pending !== null) {
        const after = pending.then(next, next);
        pending = after;
        return after;
      }
      const msg = this.#takeWholeMessage();
      if (msg !== null) return Promise.resolve({ value: msg, done: false });
      const inbox = this.inbox;
      if (inbox.length > 0 || inbox.hasSetAside || inbox.error !== null) return slow();
      // Nothing received yet: wait for the next frame itself, and hand it out
      // as it comes when it is a whole message (the loop usually waits so).
      const waiting = inbox.wait().then(
        (first): IteratorResult<Message> | Promise<IteratorResult<Message>> => {
          if (waiting === pending) pending = null;
          if (this.#wholeWithinLimit(first)) return { value: first, done: false };
          return slow(first);
        },
        (): Promise<IteratorResult<Message>> => {
          if (waiting === pending) pending = null;
          // The connection ended: the slow path tells a clean close from an error.
          return slow();
        },
      );
      pending = waiting;
      return waiting;
    };
    return {
      next,
      return: () => {
        finish();
        return Promise.resolve(end);
      },
    };
  }

  /** Whether a frame just taken is a whole text or binary message within maxMessageSize. */
  #wholeWithinLimit(msg: Message): boolean {
    if (msg.partial || (msg.type !== "text" && msg.type !== "binary")) return false;
    const data = msg.data;
    // UTF-8 takes at most 3 bytes per UTF-16 unit: most texts need no count.
    if (typeof data === "string") return data.length * 3 <= this.#maxMessageSize || utf8Length(data) <= this.#maxMessageSize;
    return data.length <= this.#maxMessageSize;
  }

  /** The next inbox entry if it is a whole text or binary message within maxMessageSize, else null. */
  #takeWholeMessage(): Message | null {
    const inbox = this.inbox;
    if (inbox.hasSetAside || inbox.length === 0) return null;
    const msg = inbox.peek();
    if (msg.partial || (msg.type !== "text" && msg.type !== "binary") || inbox.peekSize() > this.#maxMessageSize) {
      return null;
    }
    inbox.shift();
    this.#host.taken();
    return msg;
  }
}
