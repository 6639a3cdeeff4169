/**
 * Durable topics of a hub: which topics are durable, their logs' live
 * feeds, delivery in offset order to plain subscribers and to resuming
 * ones, and the server side of the `streamsock.resume.v1` subprotocol
 * (docs/resume-protocol.md). The Hub owns one {@link DurableTopics}; this
 * module knows the hub only through the callbacks it is given.
 *
 * @module
 */

import { encodeTextFrame } from "../codec/encoder.ts";
import { Opcode } from "../codec/frame.ts";
import { CloseCode } from "../codec/close.ts";
import type { WebSocketConnection } from "../connection/connection.ts";
import { SHARED_CLOSED, SHARED_DROPPED, type SharedMessage, writeShared } from "../connection/topics.ts";
import { Message } from "../message.ts";
import type { Appended, DurableLog, DurableTopicOptions, LogEntry, LogFeed } from "./durable_log.ts";
import {
  type GapReason,
  fromWire,
  parseClientFrame,
  type ResumeProtocolError,
  type ServerFrame,
  toWire,
} from "./resume_protocol.ts";

/** A durable topic's resolved window. */
interface Window {
  maxLen: number;
  maxAge: number;
}

/** Options of the durable topics as a whole. */
export interface DurableSettings {
  /** How long an idempotent publish is retried while the log is unreachable, in ms. */
  appendTimeout: number;
  /** How long a producer's last sequence number is remembered, in ms. */
  producerTtl: number;
}

/**
 * Options of `Hub.resume`: who may do what, and a look at what is published.
 *
 * @example
 * ```ts
 * import type { ResumeSessionOptions } from "@streamsock/streamsock";
 *
 * const readOnly: ResumeSessionOptions = { authorize: (action) => action === "subscribe" };
 * ```
 */
export interface ResumeSessionOptions {
  /**
   * Decides whether the client may subscribe to or publish on a topic
   * (`false`: a `nack` with reason `"forbidden"`). Allows everything by default.
   */
  authorize?: (action: "subscribe" | "publish", topic: string) => boolean | Promise<boolean>;
  /** Sees each of the client's publishes once it is stored (or, for a topic that is not durable, sent). */
  onPublish?: (topic: string, data: string | Uint8Array) => void;
}

/** What the hub lends its durable topics. */
export interface DurableHost {
  /** Writes a log entry to the hub's plain subscribers of `topic` (except `except`). */
  deliver(topic: string, data: string | Uint8Array, except: WebSocketConnection | undefined): void;
}

/** A resuming subscriber of one topic. */
interface Sub {
  readonly ws: WebSocketConnection;
  readonly state: TopicState;
  /** The epoch of `delivered`. */
  epoch: string;
  /** The last offset sent to the client. */
  delivered: number;
  /** True once caught up: the feed writes to it directly. */
  live: boolean;
  catching: boolean;
  gone: boolean;
}

interface TopicState {
  readonly topic: string;
  readonly window: Window;
  epoch: string;
  /** The last offset the feed delivered in this process. */
  head: number;
  ready: Promise<void>;
  /** Plain subscribers (the hub's). */
  plain: number;
  readonly subs: Set<Sub>;
  /** Woken on every feed event. */
  waiters: (() => void)[];
}

/** Entries read per page while a subscriber catches up. */
const PAGE = 256;
const DEFAULT_WINDOW: Window = { maxLen: 1000, maxAge: 0 };

function windowOf(options: DurableTopicOptions): Window {
  const maxLen = options.maxLen ?? DEFAULT_WINDOW.maxLen;
  const maxAge = options.maxAge ?? DEFAULT_WINDOW.maxAge;
  if (!Number.isSafeInteger(maxLen) || maxLen < 1) throw new RangeError("maxLen must be an integer >= 1");
  if (!(maxAge >= 0) || !Number.isFinite(maxAge)) throw new RangeError("maxAge must be a number of ms >= 0");
  return { maxLen, maxAge };
}

function shared(frame: ServerFrame): SharedMessage {
  const text = JSON.stringify(frame);
  let bytes: Uint8Array | null = null;
  let message: Message | null = null;
  return {
    data: text,
    frame: () => bytes ??= encodeTextFrame(text, Opcode.Text, true, 0, null).bytes,
    message: () => message ??= new Message(text, "text"),
  };
}

function msgFrame(topic: string, epoch: string, entry: LogEntry): ServerFrame {
  return { op: "msg", topic, epoch, offset: entry.offset, ...toWire(entry.data) };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The durable topics of one hub (see `Hub.durable`). Internal: reached
 * through the Hub.
 */
export class DurableTopics {
  readonly #exact = new Map<string, Window>();
  readonly #prefixes: [string, Window][] = [];
  readonly #topics = new Map<string, TopicState>();
  readonly #host: DurableHost;
  readonly #openLog: () => DurableLog;
  readonly #settings: DurableSettings;
  #log: DurableLog | null = null;
  /** Local publishes waiting for their entry, to leave their sender out (only for topics fed here). */
  readonly #senders = new Map<string, { ws: WebSocketConnection; topic: string }>();
  readonly #instance = Math.random().toString(36).slice(2, 10);
  #nextToken = 0;
  #unlogged = 0;
  #closed = false;

  constructor(host: DurableHost, openLog: () => DurableLog, settings: DurableSettings) {
    this.#host = host;
    this.#openLog = openLog;
    this.#settings = settings;
  }

  get #theLog(): DurableLog {
    return this.#log ??= this.#openLog();
  }

  /** Fire-and-forget publishes to a durable topic that the log refused (it was unreachable). */
  get unlogged(): number {
    return this.#unlogged;
  }

  /** Declares `topic` durable with that window. */
  declare(topic: string, options: DurableTopicOptions): void {
    this.#exact.set(topic, windowOf(options));
  }

  /** Declares every topic that starts with `prefix` durable. */
  declarePrefix(prefix: string, options: DurableTopicOptions): void {
    this.#prefixes.push([prefix, windowOf(options)]);
  }

  /** The window of a durable topic, or undefined for a plain one. */
  windowOf(topic: string): Window | undefined {
    const exact = this.#exact.get(topic);
    if (exact !== undefined) return exact;
    for (const [prefix, window] of this.#prefixes) if (topic.startsWith(prefix)) return window;
    return undefined;
  }

  #state(topic: string): TopicState {
    let state = this.#topics.get(topic);
    if (state !== undefined) return state;
    const window = this.windowOf(topic)!;
    state = { topic, window, epoch: "", head: 0, ready: Promise.resolve(), plain: 0, subs: new Set(), waiters: [] };
    const started = state;
    this.#topics.set(topic, state);
    const feed: LogFeed = {
      entry: (entry) => this.#onEntry(started, entry),
      gap: (from, to) => this.#onGap(started, from, to),
      epoch: (epoch) => this.#onEpoch(started, epoch),
    };
    state.ready = (async () => {
      for (let delay = 50; !this.#closed && this.#topics.get(topic) === started; delay = Math.min(delay * 2, 1000)) {
        try {
          const position = await this.#theLog.watch(topic, feed);
          started.epoch = position.epoch;
          started.head = position.offset;
          return;
        } catch {
          await sleep(delay);
        }
      }
      throw new Error("The topic is no longer watched");
    })();
    state.ready.catch(() => {});
    return state;
  }

  #release(state: TopicState): void {
    if (state.plain > 0 || state.subs.size > 0 || this.#topics.get(state.topic) !== state) return;
    this.#topics.delete(state.topic);
    this.#log?.unwatch(state.topic);
    // Entries that will not come here any more cannot claim their senders.
    for (const [token, sender] of this.#senders) if (sender.topic === state.topic) this.#senders.delete(token);
    this.#wake(state);
  }

  /** A plain subscriber joined a durable topic (the hub's `subscribe`). */
  watch(topic: string): void {
    this.#state(topic).plain++;
  }

  /** A plain subscriber left. */
  unwatch(topic: string): void {
    const state = this.#topics.get(topic);
    if (state === undefined) return;
    state.plain--;
    this.#release(state);
  }

  /** `hub.publish` on a durable topic: appended without waiting, delivered from the log. */
  publish(topic: string, data: string | Uint8Array, except: WebSocketConnection | undefined): void {
    const window = this.windowOf(topic)!;
    let token: string | undefined;
    // Without a feed here there is no local delivery to leave the sender out of.
    if (except !== undefined && this.#topics.has(topic)) {
      token = `${this.#instance}:${this.#nextToken++}`;
      this.#senders.set(token, { ws: except, topic });
    }
    this.#theLog.append(topic, data, { ...window, producerTtl: this.#settings.producerTtl, token }).catch(() => {
      this.#unlogged++;
      if (token !== undefined) this.#senders.delete(token);
    });
  }

  /**
   * An acknowledged append; with an idempotency key it is retried while the
   * log is unreachable, up to `appendTimeout`.
   */
  async append(topic: string, data: string | Uint8Array, producer?: string, seq?: number): Promise<Appended> {
    const window = this.windowOf(topic);
    if (window === undefined) throw new TypeError(`The topic ${JSON.stringify(topic)} is not durable`);
    const deadline = Date.now() + this.#settings.appendTimeout;
    for (let delay = 50;; delay = Math.min(delay * 2, 1000)) {
      try {
        return await this.#theLog.append(topic, data, {
          ...window,
          producer,
          seq,
          producerTtl: this.#settings.producerTtl,
        });
      } catch (error) {
        // Without a key a retry could store the message twice: at most once.
        if (seq === undefined || this.#closed || Date.now() + delay > deadline) throw error;
        await sleep(delay);
      }
    }
  }

  #wake(state: TopicState): void {
    for (const wake of state.waiters.splice(0)) wake();
  }

  /** Hot path: one entry of the live feed, to every plain and live resuming subscriber of this process. */
  #onEntry(state: TopicState, entry: LogEntry): void {
    state.head = entry.offset;
    let except: WebSocketConnection | undefined;
    if (entry.token !== undefined) {
      except = this.#senders.get(entry.token)?.ws;
      if (except !== undefined) this.#senders.delete(entry.token);
    }
    if (state.plain > 0) this.#host.deliver(state.topic, entry.data, except);
    if (state.subs.size > 0) {
      let message: SharedMessage | null = null;
      for (const sub of state.subs) {
        if (!sub.live || sub.epoch !== state.epoch || entry.offset <= sub.delivered) continue;
        if (entry.offset !== sub.delivered + 1) {
          // Cannot happen with a gapless feed; reading the log again is always safe.
          sub.live = false;
          void this.#catchUp(sub);
          continue;
        }
        const queued = writeShared(sub.ws, message ??= shared(msgFrame(state.topic, state.epoch, entry)));
        if (queued >= 0) sub.delivered = entry.offset;
        else if (queued === SHARED_DROPPED) {
          // The "drop" policy would lose it silently: the client resumes instead.
          sub.live = false;
          void sub.ws.close(CloseCode.TryAgainLater, "Too slow for a durable topic: resume").catch(() => {});
        } else if (queued === SHARED_CLOSED) sub.live = false;
      }
    }
    this.#wake(state);
  }

  #onGap(state: TopicState, from: number, to: number): void {
    state.head = to;
    for (const sub of state.subs) {
      if (!sub.live || sub.epoch !== state.epoch || to <= sub.delivered) continue;
      const start = Math.max(from, sub.delivered + 1);
      sub.delivered = to;
      this.#notify(sub, { op: "gap", topic: state.topic, epoch: state.epoch, from: start, to, reason: "trimmed" });
    }
    this.#wake(state);
  }

  #onEpoch(state: TopicState, epoch: string): void {
    const old = state.epoch;
    state.epoch = epoch;
    state.head = 0;
    for (const sub of state.subs) {
      if (!sub.live || sub.epoch !== old) continue;
      this.#notify(sub, epochGap(state.topic, sub, epoch));
      sub.epoch = epoch;
      sub.delivered = 0;
    }
    this.#wake(state);
  }

  #notify(sub: Sub, frame: ServerFrame): void {
    if (writeShared(sub.ws, shared(frame)) < 0) {
      sub.live = false;
      void sub.ws.close(CloseCode.TryAgainLater, "Too slow for a durable topic: resume").catch(() => {});
    }
  }

  /** Sends what `sub` missed from the log, page by page, then hands it to the live feed. */
  async #catchUp(sub: Sub): Promise<void> {
    if (sub.catching) return;
    sub.catching = true;
    const state = sub.state;
    const { topic, window } = state;
    try {
      for (let delay = 50; !sub.gone;) {
        // Caught up: from here on the feed writes to it (no await in between).
        if (sub.epoch === state.epoch && sub.delivered >= state.head) {
          sub.live = true;
          return;
        }
        let page;
        try {
          page = await this.#theLog.read(topic, sub.delivered, PAGE);
          delay = 50;
        } catch {
          await sleep(delay);
          delay = Math.min(delay * 2, 1000);
          continue;
        }
        if (sub.gone) return;
        if (page.epoch !== sub.epoch) {
          await sub.ws.send(JSON.stringify(epochGap(topic, sub, page.epoch)));
          sub.epoch = page.epoch;
          sub.delivered = 0;
          continue;
        }
        const cutoff = window.maxAge > 0 ? page.now - window.maxAge : -Infinity;
        let expiredFrom = 0;
        const gap = async (from: number, to: number, reason: GapReason) => {
          await sub.ws.send(JSON.stringify({ op: "gap", topic, epoch: sub.epoch, from, to, reason } satisfies ServerFrame));
          sub.delivered = to;
        };
        for (const entry of page.entries) {
          if (entry.offset <= sub.delivered) continue;
          if (entry.time < cutoff) {
            if (expiredFrom === 0) expiredFrom = sub.delivered + 1;
            continue;
          }
          if (expiredFrom !== 0) {
            await gap(expiredFrom, entry.offset - 1, "trimmed");
            expiredFrom = 0;
          } else if (entry.offset > sub.delivered + 1) await gap(sub.delivered + 1, entry.offset - 1, "trimmed");
          await sub.ws.send(JSON.stringify(msgFrame(topic, sub.epoch, entry)));
          sub.delivered = entry.offset;
        }
        if (expiredFrom !== 0) await gap(expiredFrom, page.entries[page.entries.length - 1].offset, "trimmed");
        if (page.entries.length === 0) {
          if (page.last > sub.delivered) await gap(sub.delivered + 1, page.last, "trimmed");
          else if (!(sub.epoch === state.epoch && sub.delivered >= state.head)) {
            // The log has nothing more, the feed has not caught up with it yet.
            await new Promise<void>((resolve) => state.waiters.push(resolve));
          }
        }
      }
    } catch {
      // The connection closed under a send: the session ends.
    } finally {
      sub.catching = false;
    }
  }

  /**
   * Runs the resume subprotocol on `ws` until it closes.
   *
   * @param ws A connection that negotiated `streamsock.resume.v1`.
   * @param publishPlain How a publish to a topic that is not durable goes out.
   */
  async session(
    ws: WebSocketConnection,
    publishPlain: (topic: string, data: string | Uint8Array) => void,
    options: ResumeSessionOptions = {},
  ): Promise<void> {
    const { authorize, onPublish } = options;
    const subs = new Map<string, Sub>();
    const drop = (sub: Sub) => {
      sub.gone = true;
      sub.live = false;
      sub.state.subs.delete(sub);
      this.#release(sub.state);
      this.#wake(sub.state);
    };
    const reply = (frame: ServerFrame) => ws.send(JSON.stringify(frame));
    try {
      for await (const msg of ws) {
        if (msg.type !== "text") {
          await ws.close(CloseCode.UnsupportedData, "streamsock.resume.v1 frames are JSON text");
          break;
        }
        let frame;
        try {
          frame = parseClientFrame(msg.data as string);
        } catch (error) {
          const reason = (error as ResumeProtocolError).message;
          await reply({ op: "error", reason }).catch(() => {});
          await ws.close(CloseCode.PolicyViolation, reason.slice(0, 120));
          break;
        }
        const { topic } = frame;
        if (frame.op === "unsub") {
          const sub = subs.get(topic);
          if (sub !== undefined) {
            subs.delete(topic);
            drop(sub);
          }
          continue;
        }
        if (frame.op === "sub") {
          const previous = subs.get(topic);
          if (previous !== undefined) {
            subs.delete(topic);
            drop(previous);
          }
          if (this.windowOf(topic) === undefined) {
            await reply({ op: "nack", topic, reason: "not-durable" });
            continue;
          }
          if (authorize !== undefined && !(await authorize("subscribe", topic))) {
            await reply({ op: "nack", topic, reason: "forbidden" });
            continue;
          }
          const state = this.#state(topic);
          const sub: Sub = { ws, state, epoch: "", delivered: 0, live: false, catching: false, gone: false };
          subs.set(topic, sub);
          state.subs.add(sub);
          await state.ready;
          if (sub.gone) continue;
          sub.epoch = state.epoch;
          sub.delivered = state.head;
          if (frame.offset !== undefined) {
            if (frame.epoch !== undefined && frame.epoch !== state.epoch) {
              await reply(epochGap(topic, { epoch: frame.epoch, delivered: frame.offset }, state.epoch));
              sub.delivered = 0;
            } else sub.delivered = frame.offset;
          }
          await reply({ op: "subscribed", topic, durable: true, epoch: sub.epoch, offset: sub.delivered });
          void this.#catchUp(sub);
          continue;
        }
        // A publish: one at a time per connection, so a failed one is never
        // overtaken by a later one of the same producer (see the spec).
        const data = fromWire(frame);
        const echo = { topic, producer: frame.producer, seq: frame.seq, ref: frame.ref };
        if (authorize !== undefined && !(await authorize("publish", topic))) {
          await reply({ op: "nack", ...echo, reason: "forbidden" });
          continue;
        }
        if (this.windowOf(topic) === undefined) {
          publishPlain(topic, data);
          onPublish?.(topic, data);
          await reply({ op: "ack", ...echo, duplicate: false });
          continue;
        }
        let appended: Appended;
        try {
          appended = await this.append(topic, data, frame.producer, frame.seq);
        } catch {
          if (frame.seq === undefined) {
            await reply({ op: "nack", ...echo, reason: "unavailable" });
            continue;
          }
          // Nothing after it may be stored first: the client retries them all, in order.
          await ws.close(CloseCode.InternalError, "The log is unavailable: retry");
          break;
        }
        if (!appended.duplicate) onPublish?.(topic, data);
        const position = appended.offset > 0 ? { epoch: appended.epoch, offset: appended.offset } : {};
        await reply({ op: "ack", ...echo, ...position, duplicate: appended.duplicate });
      }
    } catch {
      // The connection failed: `closed` tells how.
    } finally {
      for (const sub of subs.values()) drop(sub);
    }
  }

  /** Stops every feed. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const state of this.#topics.values()) this.#wake(state);
    this.#topics.clear();
    await this.#log?.close();
  }
}

function epochGap(topic: string, from: { epoch: string; delivered: number }, next: string): ServerFrame {
  return { op: "gap", topic, epoch: from.epoch, from: from.delivered + 1, to: null, reason: "epoch", next };
}
