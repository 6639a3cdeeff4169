/**
 * The {@link DurableLog} of `RedisBackplane`: each durable topic is a Redis
 * Stream whose entry ids are the offsets (`<offset>-0`), a hash with the
 * epoch and the last offset, and a key per producer with its last sequence
 * number. Appends are one Lua script (atomic: dedupe, `XADD ... MAXLEN ~`,
 * age trim, and a `PUBLISH` that wakes every process's feed); each process
 * feeds its subscribers from those notifications, reading the stream to
 * fill any hole, so its feed has no gap that it does not report.
 *
 * Keys, for a topic T and the backplane's prefix P (`streamsock:`):
 * `P durable:{T}:log` (the stream), `P durable:{T}:meta` (hash: epoch, last),
 * `P durable:{T}:p:<producer>` (string: "seq offset", expiring), and the
 * channel `P durable:{T}:feed`.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { type createClient, RESP_TYPES } from "redis";
import {
  type Appended,
  type AppendOptions,
  type DurableLog,
  type LogEntry,
  type LogFeed,
  type LogRead,
  newEpoch,
} from "./durable_log.ts";
import type { Position } from "./resume_protocol.ts";

type Client = ReturnType<typeof createClient>;

// Entry fields, in this order: k (0 text, 1 binary), t (ms), o (token), d (payload).
const APPEND = `
local meta, log, pkey = KEYS[1], KEYS[2], KEYS[3]
local epoch = redis.call('HGET', meta, 'epoch')
if not epoch then
  epoch = ARGV[1]
  redis.call('HSET', meta, 'epoch', epoch, 'last', 0)
end
local seq = tonumber(ARGV[9])
if seq then
  local prev = redis.call('GET', pkey)
  if prev then
    local pseq, poff = string.match(prev, '^(%d+) (%d+)$')
    pseq = tonumber(pseq)
    if seq <= pseq then
      if seq == pseq then return {epoch, tonumber(poff), 1} end
      return {epoch, 0, 1}
    end
  end
end
local offset = redis.call('HINCRBY', meta, 'last', 1)
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('XADD', log, 'MAXLEN', '~', ARGV[2], offset .. '-0', 'k', ARGV[5], 't', now, 'o', ARGV[8], 'd', ARGV[6])
local maxAge = tonumber(ARGV[3])
if maxAge > 0 then
  local cutoff = now - maxAge
  local first = redis.call('XRANGE', log, '-', '+', 'COUNT', 1)
  if #first > 0 and tonumber(first[1][2][4]) < cutoff then
    local batch = redis.call('XRANGE', log, '-', '+', 'COUNT', 256)
    local keep = nil
    for _, entry in ipairs(batch) do
      if tonumber(entry[2][4]) >= cutoff then keep = entry[1] break end
    end
    if not keep then keep = (tonumber(string.match(batch[#batch][1], '^(%d+)')) + 1) .. '-0' end
    redis.call('XTRIM', log, 'MINID', keep)
  end
end
if seq then redis.call('SET', pkey, ARGV[9] .. ' ' .. offset, 'PX', ARGV[4]) end
redis.call('PUBLISH', ARGV[7], ARGV[5] .. '\\n' .. epoch .. '\\n' .. offset .. '\\n' .. now .. '\\n' .. ARGV[8] .. '\\n' .. ARGV[6])
return {epoch, offset, 0}
`;

const READ = `
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[1]
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'last', 0)
end
local last = tonumber(redis.call('HGET', KEYS[1], 'last'))
local entries = {}
if tonumber(ARGV[3]) > 0 then
  entries = redis.call('XRANGE', KEYS[2], '(' .. ARGV[2] .. '-0', '+', 'COUNT', ARGV[3])
end
local time = redis.call('TIME')
return {epoch, last, tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000), entries}
`;

class Script {
  readonly source: string;
  readonly sha: string;
  constructor(source: string) {
    this.source = source;
    this.sha = createHash("sha1").update(source).digest("hex");
  }
}
const APPEND_SCRIPT = new Script(APPEND);
const READ_SCRIPT = new Script(READ);

/** Replies with bulk strings as Buffers: payloads stay exact bytes. */
const AS_BUFFERS = { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } };

const TEXT = "0";
const BINARY = "1";
const decoder = new TextDecoder();

interface Watched {
  readonly topic: string;
  readonly feed: LogFeed;
  readonly channel: string;
  epoch: string;
  head: number;
  ready: boolean;
  reading: boolean;
  dirty: boolean;
  subscribed: boolean;
  active: boolean;
  listener: (message: Uint8Array) => void;
}

/** Entries read per round trip while a feed fills a hole. */
const PAGE = 512;
/** How often every watched topic's last offset is checked (a lost notification costs at most this). */
const SWEEP_INTERVAL = 1000;

function text(value: unknown): string {
  return value instanceof Uint8Array ? decoder.decode(value) : String(value);
}

function payload(kind: string, bytes: Uint8Array): string | Uint8Array {
  // A plain Uint8Array copy: subscribers must not get a Buffer of node-redis's.
  return kind === BINARY ? new Uint8Array(bytes) : decoder.decode(bytes);
}

/**
 * Durable topics in Redis Streams; made by `RedisBackplane.openLog()` on the
 * backplane's two connections.
 */
export class RedisLog implements DurableLog {
  readonly #command: Client;
  readonly #subscriber: Client;
  readonly #prefix: string;
  readonly #watched = new Map<string, Watched>();
  #sweep: ReturnType<typeof setInterval> | null = null;
  readonly #onReconnect = () => {
    for (const watched of this.#watched.values()) void this.#fill(watched);
  };

  /**
   * @param command A connection for commands (with the offline queue off, so that commands fail fast while Redis is down).
   * @param subscriber The pub/sub connection.
   * @param prefix The keys' and channels' prefix.
   */
  constructor(command: Client, subscriber: Client, prefix: string) {
    this.#command = command;
    this.#subscriber = subscriber;
    this.#prefix = prefix;
    subscriber.on("ready", this.#onReconnect);
  }

  #key(topic: string, part: string): string {
    return `${this.#prefix}durable:{${topic}}:${part}`;
  }

  async #eval(script: Script, keys: string[], args: (string | Buffer)[]): Promise<unknown[]> {
    const tail = [String(keys.length), ...keys, ...args];
    try {
      return await this.#command.sendCommand(["EVALSHA", script.sha, ...tail], AS_BUFFERS) as unknown[];
    } catch (error) {
      if (!String((error as Error)?.message).startsWith("NOSCRIPT")) throw error;
      return await this.#command.sendCommand(["EVAL", script.source, ...tail], AS_BUFFERS) as unknown[];
    }
  }

  /**
   * One Lua script: dedupe, append, trim, notify.
   *
   * @param topic The topic.
   * @param data The message.
   * @param options Window and idempotency key.
   * @returns Where it is stored.
   */
  async append(topic: string, data: string | Uint8Array, options: AppendOptions): Promise<Appended> {
    if (options.token !== undefined && options.token.includes("\n")) throw new TypeError("A token cannot hold a newline");
    const hasKey = options.producer !== undefined && options.seq !== undefined;
    const reply = await this.#eval(
      APPEND_SCRIPT,
      [
        this.#key(topic, "meta"),
        this.#key(topic, "log"),
        this.#key(topic, hasKey ? `p:${options.producer}` : "p:"),
      ],
      [
        newEpoch(),
        String(options.maxLen),
        String(options.maxAge),
        String(Math.max(1, Math.round(options.producerTtl))),
        typeof data === "string" ? TEXT : BINARY,
        typeof data === "string" ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength),
        this.#key(topic, "feed"),
        options.token ?? "",
        hasKey ? String(options.seq) : "",
      ],
    );
    return { epoch: text(reply[0]), offset: Number(reply[1]), duplicate: Number(reply[2]) === 1 };
  }

  /**
   * Entries after `after` (and the epoch, creating it when the log is new).
   *
   * @param topic The topic.
   * @param after An offset of the current epoch.
   * @param limit At most this many.
   * @returns The page.
   */
  async read(topic: string, after: number, limit: number): Promise<LogRead> {
    const reply = await this.#eval(
      READ_SCRIPT,
      [this.#key(topic, "meta"), this.#key(topic, "log")],
      [newEpoch(), String(after), String(limit)],
    );
    const entries: LogEntry[] = [];
    for (const [id, fields] of reply[3] as [Uint8Array, Uint8Array[]][]) {
      const values = new Map<string, Uint8Array>();
      for (let i = 0; i + 1 < fields.length; i += 2) values.set(text(fields[i]), fields[i + 1]);
      const token = text(values.get("o") ?? "");
      entries.push({
        offset: Number(text(id).split("-")[0]),
        data: payload(text(values.get("k") ?? TEXT), values.get("d") ?? new Uint8Array(0)),
        time: Number(text(values.get("t") ?? "0")),
        token: token === "" ? undefined : token,
      });
    }
    return { epoch: text(reply[0]), last: Number(reply[1]), now: Number(reply[2]), entries };
  }

  /**
   * Subscribes to the topic's notifications, then reads where the log
   * stands; from then on every entry reaches `feed` in order.
   *
   * @param topic The topic.
   * @param feed The watcher.
   * @returns The position the feed starts after.
   */
  async watch(topic: string, feed: LogFeed): Promise<Position> {
    let watched = this.#watched.get(topic);
    if (watched === undefined || watched.feed !== feed) {
      if (watched !== undefined) this.unwatch(topic);
      const state: Watched = {
        topic,
        feed,
        channel: this.#key(topic, "feed"),
        epoch: "",
        head: 0,
        ready: false,
        reading: false,
        dirty: false,
        subscribed: false,
        active: true,
        listener: (message) => this.#onNotification(state, message),
      };
      watched = state;
      this.#watched.set(topic, watched);
    }
    if (!watched.subscribed) {
      await this.#subscriber.subscribe(watched.channel, watched.listener as (message: Buffer) => void, true);
      watched.subscribed = true;
    }
    const page = await this.read(topic, 0, 0);
    if (!watched.active) throw new Error("The topic is no longer watched");
    watched.epoch = page.epoch;
    watched.head = page.last;
    watched.ready = true;
    this.#sweep ??= setInterval(() => void this.#check(), SWEEP_INTERVAL);
    // A notification that came before the position did is read from the stream.
    if (watched.dirty) void this.#fill(watched);
    return { epoch: page.epoch, offset: page.last };
  }

  /**
   * Stops feeding a topic and unsubscribes from its notifications.
   *
   * @param topic The topic.
   */
  unwatch(topic: string): void {
    const watched = this.#watched.get(topic);
    if (watched === undefined) return;
    watched.active = false;
    this.#watched.delete(topic);
    if (watched.subscribed) {
      this.#subscriber.unsubscribe(watched.channel, watched.listener as (message: Buffer) => void, true).catch(() => {});
    }
    if (this.#watched.size === 0 && this.#sweep !== null) {
      clearInterval(this.#sweep);
      this.#sweep = null;
    }
  }

  /** Hot path: the next entry comes with its notification; anything else is read from the stream. */
  #onNotification(watched: Watched, message: Uint8Array): void {
    if (!watched.active) return;
    if (!watched.ready || watched.reading) {
      watched.dirty = true;
      return;
    }
    const ends: number[] = [];
    for (let at = 0; ends.length < 5; at++) {
      at = message.indexOf(10, at);
      if (at === -1) return; // not ours
      ends.push(at);
    }
    const field = (i: number) => decoder.decode(message.subarray(i === 0 ? 0 : ends[i - 1] + 1, ends[i]));
    const epoch = field(1);
    const offset = Number(field(2));
    if (epoch === watched.epoch && offset <= watched.head) return;
    if (epoch !== watched.epoch || offset !== watched.head + 1) {
      void this.#fill(watched);
      return;
    }
    watched.head = offset;
    const token = field(4);
    watched.feed.entry({
      offset,
      data: payload(field(0), message.subarray(ends[4] + 1)),
      time: Number(field(3)),
      token: token === "" ? undefined : token,
    });
  }

  /** Reads the stream from the feed's head until nothing is left to read, reporting trims and epoch changes. */
  async #fill(watched: Watched): Promise<void> {
    if (!watched.ready) return;
    if (watched.reading) {
      watched.dirty = true;
      return;
    }
    watched.reading = true;
    try {
      do {
        watched.dirty = false;
        const page = await this.read(watched.topic, watched.head, PAGE);
        if (!watched.active) return;
        if (page.epoch !== watched.epoch) {
          // The log was lost (Redis restarted without its data): a new epoch, from its start.
          watched.epoch = page.epoch;
          watched.head = 0;
          watched.feed.epoch(page.epoch);
          watched.dirty = true;
          continue;
        }
        for (const entry of page.entries) {
          if (entry.offset <= watched.head) continue;
          if (entry.offset > watched.head + 1) watched.feed.gap(watched.head + 1, entry.offset - 1);
          watched.head = entry.offset;
          watched.feed.entry(entry);
        }
        if (page.entries.length === 0 && page.last > watched.head) {
          watched.feed.gap(watched.head + 1, page.last);
          watched.head = page.last;
        }
        if (page.entries.length === PAGE) watched.dirty = true;
      } while (watched.dirty && watched.active);
    } catch {
      // Redis is unreachable: the sweep or the reconnection tries again.
      watched.dirty = false;
    } finally {
      watched.reading = false;
    }
  }

  /** The sweep: catches what a lost notification or a Redis restart left unread, and epochs that changed. */
  async #check(): Promise<void> {
    const watched = [...this.#watched.values()].filter((w) => w.ready && !w.reading);
    if (watched.length === 0 || !this.#command.isReady) return;
    try {
      const replies = await Promise.all(
        watched.map((w) => this.#command.sendCommand(["HMGET", this.#key(w.topic, "meta"), "epoch", "last"]) as Promise<unknown[]>),
      );
      replies.forEach((reply, i) => {
        const w = watched[i];
        if (reply[0] === null || text(reply[0]) !== w.epoch || Number(text(reply[1])) > w.head) void this.#fill(w);
      });
    } catch {
      // Down: next time.
    }
  }

  /** Stops the sweep and every feed (the backplane closes the connections). */
  close(): Promise<void> {
    for (const topic of [...this.#watched.keys()]) this.unwatch(topic);
    this.#subscriber.off("ready", this.#onReconnect);
    if (this.#sweep !== null) clearInterval(this.#sweep);
    this.#sweep = null;
    return Promise.resolve();
  }
}
