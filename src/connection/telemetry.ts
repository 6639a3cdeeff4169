/**
 * A server's telemetry: the counters behind `server.stats()` / `hub.stats()`
 * and the `node:diagnostics_channel` channels (injected from
 * `src/transport/diagnostics.ts`). One per hub; the connections that
 * join it through a server point to it (`Shell.telemetry`).
 *
 * Cheap by construction: a connection counts its own messages and bytes in
 * plain number fields on paths it runs anyway, and the server adds them up
 * only when asked (`snapshot`) and once when the connection closes. A channel
 * is read (`hasSubscribers`) where it could publish; its message is built
 * only when someone subscribed.
 *
 * @module
 */

import type { UpgradeRequest } from "../handshake/server.ts";
import type { CloseInfo } from "../protocol/types.ts";
import type { DiagnosticsChannels } from "../transport/diagnostics.ts";

/**
 * A connection's public face (its `WebSocketConnection`), which the
 * channels hand to subscribers; named by structure, since the connection's
 * module stands above this one.
 */
interface Face {
  readonly protocol: string | null;
  readonly extensions: string;
}

/** What the telemetry reads of a connection: its counters and its public face. */
export interface Counted {
  readonly ws: object;
  bytesIn: number;
  bytesOut: number;
  messagesIn: number;
  messagesOut: number;
  openedAt: number;
  telemetry: Telemetry | null;
  /** Where the connection's peer counts against `maxConnectionsPerIp`, once it is open. */
  peer: string | undefined;
  readonly bufferedAmount: number;
}

/**
 * Why a server dropped something: a published message a slow subscriber
 * missed (`backpressure`, its policy `"drop"`), a connection whose keepalive
 * ping went unanswered (`keepalive`), one that did not finish the closing
 * handshake (`closeTimeout`), a handshake that did not finish in time
 * (`handshakeTimeout`), a connection closed by its rate limit (`rateLimit`),
 * one terminated when a drain ran out of time (`drainTimeout`).
 *
 * @example
 * ```ts
 * import type { DropCause, ServerStats } from "@streamsock/streamsock";
 *
 * const worst = (stats: ServerStats): DropCause =>
 *   (Object.entries(stats.drops) as [DropCause, number][]).sort((a, b) => b[1] - a[1])[0][0];
 * ```
 */
export type DropCause = "backpressure" | "keepalive" | "closeTimeout" | "handshakeTimeout" | "rateLimit" | "drainTimeout";

/**
 * The limits a server enforces, as counted in {@link ServerStats.limits} and
 * named by the `streamsock:limit.hit` channel; `draining` counts upgrades
 * refused during a drain.
 *
 * @example
 * ```ts
 * import type { LimitName, ServerStats } from "@streamsock/streamsock";
 *
 * const refusedByLimits = (stats: ServerStats, limits: LimitName[]) => limits.reduce((n, l) => n + stats.limits[l], 0);
 * ```
 */
export type LimitName = "maxConnections" | "maxConnectionsPerIp" | "maxMessagesPerSecond" | "maxBytesPerSecond" | "draining";

/**
 * What `server.stats()` and `hub.stats()` return: a snapshot, a new plain
 * object each time (serialisable with `JSON.stringify`). Totals count from
 * the server's (hub's) creation; codes and statuses are object keys.
 *
 * @example
 * ```ts
 * import { serve, type ServerStats } from "@streamsock/streamsock";
 *
 * const server = serve({ port: 0, hostname: "127.0.0.1" }, (ws) => ws.send("hi"));
 * await server.ready;
 * const stats: ServerStats = server.stats();
 * console.log(stats.connections, stats.closeCodes["1000"] ?? 0, stats.refusedByStatus["429"] ?? 0);
 * await server.close();
 * ```
 */
export interface ServerStats {
  /** Open connections now. */
  connections: number;
  /** Connections opened (handshake completed) in total. */
  opened: number;
  /** Connections closed in total. */
  closed: number;
  /** Closed connections by the close code they ended with (1006 for a lost transport). */
  closeCodes: Record<string, number>;
  /** Whole text and binary messages received, by connections open and closed. */
  messagesReceived: number;
  /** Whole text and binary messages sent (published ones included). */
  messagesSent: number;
  /** Bytes read from the connections' transports after their handshakes: frames, headers included. */
  bytesReceived: number;
  /** Bytes written to the connections' transports after their handshakes: frames, headers included. */
  bytesSent: number;
  /** Opening handshakes answered with an error status, in total. */
  refused: number;
  /** Those refusals by HTTP status. */
  refusedByStatus: Record<string, number>;
  /** Drops by cause; see {@link DropCause}. */
  drops: Record<DropCause, number>;
  /** How often each limit was hit. */
  limits: Record<LimitName, number>;
  /** Topics with at least one local subscriber. */
  topics: number;
  /** Subscriptions: (connection, topic) pairs. */
  subscriptions: number;
  /** Bytes queued for sending on the open connections, not yet taken by the operating system. */
  bufferedBytes: number;
}

function emptyDrops(): Record<DropCause, number> {
  return { backpressure: 0, keepalive: 0, closeTimeout: 0, handshakeTimeout: 0, rateLimit: 0, drainTimeout: 0 };
}

function emptyLimits(): Record<LimitName, number> {
  return { maxConnections: 0, maxConnectionsPerIp: 0, maxMessagesPerSecond: 0, maxBytesPerSecond: 0, draining: 0 };
}

function record(map: Map<number, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, value] of [...map].sort((a, b) => a[0] - b[0])) out[key] = value;
  return out;
}

/** Counters and channels of one hub's connections. */
export class Telemetry {
  readonly channels: DiagnosticsChannels;
  /** The hub these counters belong to (a `Hub`): named in the channels' messages, to tell servers apart. */
  readonly hub: object;
  readonly #open = new Set<Counted>();
  /** Open connections (and admitted handshakes) by peer address, for maxConnectionsPerIp. */
  readonly #perPeer = new Map<string, number>();
  #opened = 0;
  #closed = 0;
  readonly #closeCodes = new Map<number, number>();
  readonly #refusedByStatus = new Map<number, number>();
  #refused = 0;
  // What closed connections counted, so stats() sums only the open ones.
  #messagesIn = 0;
  #messagesOut = 0;
  #bytesIn = 0;
  #bytesOut = 0;
  readonly drops: Record<DropCause, number> = emptyDrops();
  readonly limits: Record<LimitName, number> = emptyLimits();

  constructor(channels: DiagnosticsChannels, hub: object) {
    this.channels = channels;
    this.hub = hub;
  }

  /** Open connections now. */
  get open(): number {
    return this.#open.size;
  }

  /** Open connections and handshakes admitted past the connection limits, for maxConnections. */
  get taken(): number {
    return this.#open.size + this.#admitted;
  }

  /** Set while the server drains: upgrades are refused with 503. */
  draining = false;
  #admitted = 0;

  /** How many open connections (and admitted handshakes) come from `peer`. */
  fromPeer(peer: string): number {
    return this.#perPeer.get(peer) ?? 0;
  }

  /** A handshake passed the connection limits: it holds a place until it opens (`opened`) or fails (`unadmit`). */
  admit(peer: string | undefined): void {
    this.#admitted++;
    if (peer !== undefined) this.#perPeer.set(peer, (this.#perPeer.get(peer) ?? 0) + 1);
  }

  /** An admitted handshake failed: its place is given back. */
  unadmit(peer: string | undefined): void {
    this.#admitted--;
    if (peer !== undefined) this.#release(peer);
  }

  #release(peer: string): void {
    const left = (this.#perPeer.get(peer) ?? 1) - 1;
    if (left <= 0) this.#perPeer.delete(peer);
    else this.#perPeer.set(peer, left);
  }

  /** A connection completed its handshake and joins the counts (its peer's place, if held, moves with it). */
  opened(connection: Counted, request: UpgradeRequest, admitted: boolean, peer: string | undefined, now: number): void {
    if (admitted) this.#admitted--;
    connection.telemetry = this;
    connection.openedAt = now;
    connection.peer = peer;
    this.#open.add(connection);
    this.#opened++;
    const channel = this.channels.connectionOpen;
    if (channel.hasSubscribers) {
      const ws = connection.ws as Face;
      channel.publish({
        hub: this.hub,
        ws,
        request,
        protocol: ws.protocol,
        extensions: ws.extensions,
        httpVersion: request.httpVersion ?? "1.1",
        remoteAddress: request.remoteAddress,
      });
    }
  }

  /** A connection closed: its counters go into the totals. */
  closed(connection: Counted, info: CloseInfo, now: number): void {
    if (!this.#open.delete(connection)) return;
    connection.telemetry = null;
    if (connection.peer !== undefined) this.#release(connection.peer);
    this.#closed++;
    this.#closeCodes.set(info.code, (this.#closeCodes.get(info.code) ?? 0) + 1);
    this.#messagesIn += connection.messagesIn;
    this.#messagesOut += connection.messagesOut;
    this.#bytesIn += connection.bytesIn;
    this.#bytesOut += connection.bytesOut;
    const channel = this.channels.connectionClose;
    if (channel.hasSubscribers) {
      channel.publish({
        hub: this.hub,
        ws: connection.ws,
        code: info.code,
        reason: info.reason,
        wasClean: info.wasClean,
        duration: now - connection.openedAt,
        messagesReceived: connection.messagesIn,
        messagesSent: connection.messagesOut,
        bytesReceived: connection.bytesIn,
        bytesSent: connection.bytesOut,
      });
    }
  }

  /** An opening handshake was answered with an error status. */
  refused(status: number, reason: string, request: UpgradeRequest | undefined, remoteAddress: string | undefined): void {
    this.#refused++;
    this.#refusedByStatus.set(status, (this.#refusedByStatus.get(status) ?? 0) + 1);
    const channel = this.channels.handshakeRefused;
    if (channel.hasSubscribers) channel.publish({ hub: this.hub, status, reason, request, remoteAddress });
  }

  /** Something was dropped; see {@link DropCause}. */
  drop(cause: DropCause): void {
    this.drops[cause]++;
  }

  /** A limit was hit: counted, and published with what hit it. */
  limit(limit: LimitName, detail: { remoteAddress?: string; ws?: object; action?: string }): void {
    this.limits[limit]++;
    const channel = this.channels.limitHit;
    if (channel.hasSubscribers) channel.publish({ hub: this.hub, limit, ...detail });
  }

  /** The counters now; `topics` and `subscriptions` come from the hub. */
  snapshot(topics: number, subscriptions: number): ServerStats {
    let messagesIn = this.#messagesIn;
    let messagesOut = this.#messagesOut;
    let bytesIn = this.#bytesIn;
    let bytesOut = this.#bytesOut;
    let buffered = 0;
    for (const connection of this.#open) {
      messagesIn += connection.messagesIn;
      messagesOut += connection.messagesOut;
      bytesIn += connection.bytesIn;
      bytesOut += connection.bytesOut;
      buffered += connection.bufferedAmount;
    }
    return {
      connections: this.#open.size,
      opened: this.#opened,
      closed: this.#closed,
      closeCodes: record(this.#closeCodes),
      messagesReceived: messagesIn,
      messagesSent: messagesOut,
      bytesReceived: bytesIn,
      bytesSent: bytesOut,
      refused: this.#refused,
      refusedByStatus: record(this.#refusedByStatus),
      drops: { ...this.drops },
      limits: { ...this.limits },
      topics,
      subscriptions,
      bufferedBytes: buffered,
    };
  }
}
