/**
 * The receiving side of a connection above the inbox: frames one at a time
 * (`recv`), whole messages reassembled within a size limit (`recvAll`), and
 * the fast iterator over whole messages.
 *
 * @module
 */

import { utf8Length } from "../codec/utf8.ts";
import { ConnectionClosedError, MessageTooBigError, WebSocketError } from "../errors.ts";
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
   * Iteration (and `readable`) ends normally however the connection ends,
   * abnormal closes and failures included: set on the connections
   * `reconnecting` hands out, whose loop exists to go on after exactly that.
   */
  endsOnAnyClose = false;

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
  async recvAll(maxMessageSize: number = this.#maxMessageSize): Promise<Message> {
    const inbox = this.inbox;
    const size = !inbox.hasSetAside && inbox.length > 0 ? inbox.peekSize() : -1;
    const first = await this.recv();
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

  /** The next whole text or binary message, or null after a clean close. */
  async nextDataMessage(): Promise<Message | null> {
    for (;;) {
      let msg: Message;
      try {
        msg = await this.recvAll();
      } catch (err) {
        if (err instanceof ConnectionClosedError && this.#host.peerClosed()) return null;
        // The connection ended (every WebSocketError here fails or closes it); how is in `closed`.
        if (this.endsOnAnyClose && err instanceof WebSocketError) return null;
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
    return new MessageIterator(this);
  }

  /** The iterator ended. */
  iterationEnded(): void {
    this.#iterating = false;
  }

  /** The next inbox entry if it is a whole text or binary message within maxMessageSize, else null. */
  takeWholeMessage(): Message | null {
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

const END: IteratorResult<Message> = { value: undefined, done: true };

/**
 * `for await` over a connection. Hot path: a whole message already received
 * is handed out with one promise; an idle connection waits with one promise
 * on the inbox (`Inbox.whenReady`); everything else (fragments, control
 * frames, the end) takes the slow path through `nextDataMessage`. A next()
 * made while another is pending waits for it, so messages stay in order.
 * A class, not closures: one object per loop (see docs/performance.md).
 */
class MessageIterator implements AsyncIterator<Message> {
  readonly #receiver: Receiver;
  #done = false;
  /** The last next() that did not settle at once; later ones wait for it. */
  #pending: Promise<IteratorResult<Message>> | null = null;
  /** The next() waiting on the inbox, and how to settle it (see `ready`). */
  #waiting: Promise<IteratorResult<Message>> | null = null;
  #settle: ((result: Promise<IteratorResult<Message>>) => void) | null = null;

  constructor(receiver: Receiver) {
    this.#receiver = receiver;
  }

  next(): Promise<IteratorResult<Message>> {
    const before = this.#pending;
    if (before === null) return this.#step();
    const after: Promise<IteratorResult<Message>> = before.then(() => this.#stepAfter(after), () => this.#stepAfter(after));
    this.#pending = after;
    return after;
  }

  return(): Promise<IteratorResult<Message>> {
    this.#finish();
    return Promise.resolve(END);
  }

  #stepAfter(self: Promise<IteratorResult<Message>>): Promise<IteratorResult<Message>> {
    const result = this.#step();
    if (this.#pending === self) this.#pending = null;
    return result;
  }

  #step(): Promise<IteratorResult<Message>> {
    if (this.#done) return Promise.resolve(END);
    const receiver = this.#receiver;
    const msg = receiver.takeWholeMessage();
    if (msg !== null) return Promise.resolve({ value: msg, done: false });
    const inbox = receiver.inbox;
    let result: Promise<IteratorResult<Message>>;
    if (inbox.length === 0 && !inbox.hasSetAside && inbox.error === null) {
      result = new Promise((resolve) => (this.#settle = resolve));
      this.#waiting = result;
      inbox.whenReady(this);
    } else {
      result = receiver.nextDataMessage().then(
        (msg): IteratorResult<Message> => {
          if (this.#pending === result) this.#pending = null;
          if (msg !== null) return { value: msg, done: false };
          this.#finish();
          return END;
        },
        (err) => {
          if (this.#pending === result) this.#pending = null;
          this.#finish();
          throw err;
        },
      );
    }
    this.#pending = result;
    return result;
  }

  /**
   * The inbox has a frame or ended: the waiting next() goes on, in a
   * microtask (this is called from inside the core's receiving loop).
   */
  ready(): void {
    const settle = this.#settle!;
    const waiting = this.#waiting!;
    this.#settle = null;
    this.#waiting = null;
    settle(Promise.resolve().then(() => this.#stepAfter(waiting)));
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    this.#receiver.iterationEnded();
  }
}
