/**
 * The one place streamsock imports `node:diagnostics_channel` (present on
 * Deno, Bun and Node): the named channels a server's telemetry publishes to,
 * injected into it (`src/connection/telemetry.ts`). A channel costs a
 * property read (`hasSubscribers`) where it could publish; nothing is built
 * for it unless someone subscribed.
 *
 * @module
 */

import { channel } from "node:diagnostics_channel";

/** What the telemetry needs of a channel: whether anyone listens, and publishing to them. */
export interface DiagnosticsChannel {
  readonly hasSubscribers: boolean;
  publish(message: unknown): void;
}

/** The channels, by their role; the names are `streamsock:` and the key with a dot (see the README). */
export interface DiagnosticsChannels {
  connectionOpen: DiagnosticsChannel;
  connectionClose: DiagnosticsChannel;
  handshakeRefused: DiagnosticsChannel;
  messageReceived: DiagnosticsChannel;
  messageSent: DiagnosticsChannel;
  backpressureStart: DiagnosticsChannel;
  backpressureEnd: DiagnosticsChannel;
  keepaliveTimeout: DiagnosticsChannel;
  limitHit: DiagnosticsChannel;
  topicPublish: DiagnosticsChannel;
}

/** The channel names, as subscribers spell them. */
export const CHANNEL_NAMES: { readonly [K in keyof DiagnosticsChannels]: string } = {
  connectionOpen: "streamsock:connection.open",
  connectionClose: "streamsock:connection.close",
  handshakeRefused: "streamsock:handshake.refused",
  messageReceived: "streamsock:message.received",
  messageSent: "streamsock:message.sent",
  backpressureStart: "streamsock:backpressure.start",
  backpressureEnd: "streamsock:backpressure.end",
  keepaliveTimeout: "streamsock:keepalive.timeout",
  limitHit: "streamsock:limit.hit",
  topicPublish: "streamsock:topic.publish",
};

/** node:diagnostics_channel's channels (the same objects every `channel(name)` call returns). */
export const nodeChannels: DiagnosticsChannels = Object.fromEntries(
  Object.entries(CHANNEL_NAMES).map(([key, name]) => [key, channel(name)]),
) as unknown as DiagnosticsChannels;
