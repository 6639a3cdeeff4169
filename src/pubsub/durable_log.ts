/**
 * Durable topics' logs: the {@link DurableLog} interface a hub's durable
 * topics are kept in, and {@link MemoryLog}, the bounded in-memory log used
 * when the hub has no backplane (the Redis Streams log is in `./redis`).
 *
 * @module
 */

import type { Position } from "./resume_protocol.ts";

/**
 * How much of a durable topic's log is kept.
 *
 * @example
 * ```ts
 * import type { DurableTopicOptions } from "@streamsock/streamsock";
 *
 * const lastHour: DurableTopicOptions = { maxLen: 10_000, maxAge: 3_600_000 };
 * ```
 */
export interface DurableTopicOptions {
  /**
   * Messages kept, at least (Redis trims with `MAXLEN ~`, so a few more may
   * stay). Defaults to 1000.
   */
  maxLen?: number;
  /** Milliseconds a message stays replayable; 0 (the default) keeps it until `maxLen` pushes it out. */
  maxAge?: number;
}

/**
 * One message of a log.
 *
 * @example
 * ```ts
 * import type { LogEntry } from "@streamsock/streamsock";
 *
 * const entry: LogEntry = { offset: 1, data: "hello", time: Date.now() };
 * ```
 */
export interface LogEntry {
  /** Its offset in the current epoch, from 1, contiguous. */
  offset: number;
  /** The payload. */
  data: string | Uint8Array;
  /** When the log stored it, in ms since the Unix epoch (the log's clock). */
  time: number;
  /** The publishing process's mark, for leaving its sender out locally. */
  token?: string;
}

/**
 * What a log tells the one watcher of a topic, strictly in order: entries
 * with offsets head+1, head+2, ...; a `gap` when entries were trimmed
 * before the watcher read them; `epoch` when the log was lost and a new one
 * began (the entries of the new epoch follow from offset 1).
 *
 * @example
 * ```ts
 * import { type LogFeed, MemoryLog } from "@streamsock/streamsock";
 *
 * const feed: LogFeed = {
 *   entry: (e) => console.log(`#${e.offset}`, e.data),
 *   gap: (from, to) => console.warn(`trimmed ${from}-${to}`),
 *   epoch: (epoch) => console.warn(`new log ${epoch}`),
 * };
 * const log = new MemoryLog();
 * await log.watch("news", feed);
 * await log.append("news", "hello", { maxLen: 10, maxAge: 0, producerTtl: 1000 }); // #1 hello
 * ```
 */
export interface LogFeed {
  /** The next entry. */
  entry(entry: LogEntry): void;
  /** Entries `from`..`to` (inclusive) were trimmed before they could be read. */
  gap(from: number, to: number): void;
  /** The log was lost: a new epoch began, its entries follow. */
  epoch(epoch: string): void;
}

/**
 * What an append asks for beyond the payload.
 *
 * @example
 * ```ts
 * import type { AppendOptions } from "@streamsock/streamsock";
 *
 * const options: AppendOptions = { maxLen: 1000, maxAge: 0, producer: "p1", seq: 7, producerTtl: 86_400_000 };
 * ```
 */
export interface AppendOptions {
  /** The topic's window. */
  maxLen: number;
  /** The topic's window in ms (0: none). */
  maxAge: number;
  /** With `seq`: the idempotency key. A `seq` at or below the producer's last is a duplicate. */
  producer?: string;
  /** The producer's sequence number for this topic, from 1, increasing. */
  seq?: number;
  /** How long a producer's last sequence number is remembered, in ms. */
  producerTtl: number;
  /** Marks the entry for local delivery (see {@link LogEntry.token}). */
  token?: string;
}

/**
 * The outcome of an append.
 *
 * @example
 * ```ts
 * import type { Appended } from "@streamsock/streamsock";
 *
 * const retried: Appended = { epoch: "k3j9x0a1b2c3", offset: 42, duplicate: true };
 * ```
 */
export interface Appended {
  /** The log's epoch. */
  epoch: string;
  /** The entry's offset; for a duplicate, the original's, or 0 when it is no longer known. */
  offset: number;
  /** True when the producer's sequence number was already stored: nothing was appended. */
  duplicate: boolean;
}

/**
 * A page of a log.
 *
 * @example
 * ```ts
 * import { MemoryLog } from "@streamsock/streamsock";
 *
 * const page = await new MemoryLog().read("news", 0, 100);
 * console.log(page.last, page.entries.length); // 0 0
 * ```
 */
export interface LogRead {
  /** The epoch the entries belong to. */
  epoch: string;
  /** The offset of the last entry ever appended in this epoch (0: none). */
  last: number;
  /** Entries after the asked offset, in order, at most the asked count; trimmed ones are missing. */
  entries: LogEntry[];
  /** The log's clock, to judge `maxAge` against `time`. */
  now: number;
}

/**
 * Where a hub keeps its durable topics. Each topic's log has an epoch and
 * contiguous offsets from 1; the epoch changes when the log was lost, so
 * that positions of the old log are never taken for positions of the new.
 * {@link MemoryLog} is the one without a backplane; a {@link Backplane} that
 * keeps logs (Redis: Streams) offers its own through `openLog()`.
 *
 * @example A log that forwards to the in-memory one (a base for instrumenting)
 * ```ts
 * import { type DurableLog, MemoryLog } from "@streamsock/streamsock";
 *
 * const memory = new MemoryLog();
 * const log: DurableLog = {
 *   append: (topic, data, options) => memory.append(topic, data, options),
 *   read: (topic, after, limit) => memory.read(topic, after, limit),
 *   watch: (topic, feed) => memory.watch(topic, feed),
 *   unwatch: (topic) => memory.unwatch(topic),
 *   close: () => memory.close(),
 * };
 * console.log(typeof log.append); // function
 * ```
 */
export interface DurableLog {
  /** Appends a message (or recognises a producer's duplicate), atomically. */
  append(topic: string, data: string | Uint8Array, options: AppendOptions): Promise<Appended>;
  /** Up to `limit` entries after offset `after` of the current epoch. */
  read(topic: string, after: number, limit: number): Promise<LogRead>;
  /**
   * Starts feeding a topic's new entries to `feed`, in order and without
   * gaps other than those it reports; resolves with where the feed starts
   * (the last offset at that moment: the first entry fed is the next one).
   */
  watch(topic: string, feed: LogFeed): Promise<Position>;
  /** Stops feeding a topic. */
  unwatch(topic: string): void;
  /** Releases the log (timers, connections it owns). */
  close(): Promise<void>;
}

/** A random epoch: 12 characters of base 36. */
export function newEpoch(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  let text = "";
  for (const byte of bytes) text += byte.toString(36).padStart(2, "0");
  return text.slice(0, 12);
}

interface MemoryTopic {
  epoch: string;
  last: number;
  /** Kept entries, oldest first, from index `start` (shifted in bulk). */
  entries: LogEntry[];
  start: number;
  producers: Map<string, { seq: number; offset: number; at: number }>;
  feed: LogFeed | null;
  appends: number;
}

/**
 * The in-memory {@link DurableLog}: per topic, the last `maxLen` messages
 * (and only those younger than `maxAge`), in this process. A new process
 * starts new epochs, so clients that resume from a position of a process
 * that is gone get a gap notice rather than wrong messages.
 *
 * @example
 * ```ts
 * import { MemoryLog } from "@streamsock/streamsock";
 *
 * const log = new MemoryLog();
 * const first = await log.append("news", "hello", { maxLen: 100, maxAge: 0, producerTtl: 60_000 });
 * console.log(first.offset, (await log.read("news", 0, 10)).entries.length); // 1 1
 * ```
 */
export class MemoryLog implements DurableLog {
  readonly #topics = new Map<string, MemoryTopic>();
  readonly #clock: () => number;

  /**
   * An empty log.
   *
   * @param clock Milliseconds since the Unix epoch; `Date.now` by default.
   */
  constructor(clock: () => number = Date.now) {
    this.#clock = clock;
  }

  #topic(topic: string): MemoryTopic {
    let state = this.#topics.get(topic);
    if (state === undefined) {
      state = { epoch: newEpoch(), last: 0, entries: [], start: 0, producers: new Map(), feed: null, appends: 0 };
      this.#topics.set(topic, state);
    }
    return state;
  }

  /**
   * Appends, trims to the window, and feeds the watcher at once.
   *
   * @param topic The topic.
   * @param data The message.
   * @param options Window, idempotency key, token.
   * @returns Where it was stored.
   */
  append(topic: string, data: string | Uint8Array, options: AppendOptions): Promise<Appended> {
    const state = this.#topic(topic);
    const now = this.#clock();
    const { producer, seq } = options;
    if (producer !== undefined && seq !== undefined) {
      const known = state.producers.get(producer);
      if (known !== undefined && now - known.at <= options.producerTtl && seq <= known.seq) {
        return Promise.resolve({ epoch: state.epoch, offset: seq === known.seq ? known.offset : 0, duplicate: true });
      }
    }
    const entry: LogEntry = { offset: ++state.last, data, time: now, token: options.token };
    state.entries.push(entry);
    if (producer !== undefined && seq !== undefined) state.producers.set(producer, { seq, offset: entry.offset, at: now });
    this.#trim(state, options, now);
    state.feed?.entry(entry);
    return Promise.resolve({ epoch: state.epoch, offset: entry.offset, duplicate: false });
  }

  #trim(state: MemoryTopic, options: AppendOptions, now: number): void {
    let start = state.start;
    const entries = state.entries;
    if (entries.length - start > options.maxLen) start = entries.length - options.maxLen;
    if (options.maxAge > 0) while (start < entries.length && entries[start].time < now - options.maxAge) start++;
    // Shift in bulk, not per message: amortised O(1) per append.
    if (start > 1024 && start * 2 > entries.length) {
      state.entries = entries.slice(start);
      start = 0;
    }
    state.start = start;
    if (++state.appends % 1024 === 0) {
      for (const [id, known] of state.producers) if (now - known.at > options.producerTtl) state.producers.delete(id);
    }
  }

  /**
   * Kept entries after `after`.
   *
   * @param topic The topic.
   * @param after An offset of the current epoch.
   * @param limit At most this many.
   * @returns The page.
   */
  read(topic: string, after: number, limit: number): Promise<LogRead> {
    const state = this.#topic(topic);
    const kept = state.entries;
    const firstKept = kept.length > state.start ? kept[state.start].offset : state.last + 1;
    const from = state.start + Math.max(0, after + 1 - firstKept);
    return Promise.resolve({
      epoch: state.epoch,
      last: state.last,
      entries: kept.slice(from, from + limit),
      now: this.#clock(),
    });
  }

  /**
   * Feeds every later append of `topic` to `feed`.
   *
   * @param topic The topic.
   * @param feed The watcher.
   * @returns The position the feed starts after.
   */
  watch(topic: string, feed: LogFeed): Promise<Position> {
    const state = this.#topic(topic);
    state.feed = feed;
    return Promise.resolve({ epoch: state.epoch, offset: state.last });
  }

  /**
   * Stops feeding `topic`.
   *
   * @param topic The topic.
   */
  unwatch(topic: string): void {
    const state = this.#topics.get(topic);
    if (state !== undefined) state.feed = null;
  }

  /** Nothing to release. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
