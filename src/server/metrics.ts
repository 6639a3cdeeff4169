/**
 * A server's counters in the Prometheus text exposition format (version
 * 0.0.4): what `serve({ metrics: true })` and `streamsock serve --metrics`
 * answer at `GET /metrics`.
 *
 * @module
 */

import type { ServerStats } from "../connection/telemetry.ts";

/**
 * The media type of the Prometheus text exposition format, for the
 * `Content-Type` of a `/metrics` answer.
 *
 * @example
 * ```ts
 * import { PROMETHEUS_CONTENT_TYPE } from "@streamsock/streamsock";
 *
 * const headers = { "Content-Type": PROMETHEUS_CONTENT_TYPE }; // text/plain; version=0.0.4; charset=utf-8
 * ```
 */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

type Sample = [labels: Record<string, string> | null, value: number];

function family(out: string[], name: string, type: "counter" | "gauge", help: string, samples: Sample[]): void {
  out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  for (const [labels, value] of samples) {
    const pairs = labels === null
      ? ""
      : `{${Object.entries(labels).map(([key, v]) => `${key}="${v.replace(/[\\"\n]/g, (c) => c === "\n" ? "\\n" : `\\${c}`)}"`).join(",")}}`;
    out.push(`${name}${pairs} ${value}`);
  }
}

function byLabel(label: string, counts: Record<string, number>): Sample[] {
  return Object.entries(counts).map(([key, value]) => [{ [label]: key }, value]);
}

/**
 * Formats a server's counters ({@link ServerStats}, from `server.stats()`
 * or `hub.stats()`) in the Prometheus text exposition format, with `# HELP`
 * and `# TYPE` lines: for a `/metrics` route of your own, say on the
 * node:http server a `requestHandler` runs on.
 *
 * @param stats The counters.
 * @param prefix Starts every metric's name. Defaults to `"streamsock_"`.
 * @returns The exposition text; serve it as {@link PROMETHEUS_CONTENT_TYPE}.
 *
 * @example A /metrics route next to the upgrades of a node:http server
 * ```ts
 * import { createServer } from "node:http";
 * import { Hub, PROMETHEUS_CONTENT_TYPE, prometheusMetrics, requestHandler } from "@streamsock/streamsock";
 *
 * const hub = new Hub();
 * const server = createServer((req, res) => {
 *   if (req.url !== "/metrics") return void res.writeHead(404).end();
 *   res.writeHead(200, { "Content-Type": PROMETHEUS_CONTENT_TYPE }).end(prometheusMetrics(hub.stats()));
 * });
 * server.on("upgrade", requestHandler((ws) => ws.send("hi"), undefined, { hub }));
 * ```
 */
export function prometheusMetrics(stats: ServerStats, prefix = "streamsock_"): string {
  const out: string[] = [];
  const p = prefix;
  family(out, `${p}connections`, "gauge", "Open WebSocket connections.", [[null, stats.connections]]);
  family(out, `${p}connections_opened_total`, "counter", "WebSocket connections opened (handshake completed).", [[
    null,
    stats.opened,
  ]]);
  family(
    out,
    `${p}connections_closed_total`,
    "counter",
    "WebSocket connections closed, by close code (1006: the transport was lost).",
    byLabel("code", stats.closeCodes),
  );
  family(out, `${p}messages_received_total`, "counter", "Whole text and binary messages received.", [[
    null,
    stats.messagesReceived,
  ]]);
  family(out, `${p}messages_sent_total`, "counter", "Whole text and binary messages sent, published ones included.", [[
    null,
    stats.messagesSent,
  ]]);
  family(out, `${p}received_bytes_total`, "counter", "Bytes read from WebSocket connections after the handshake.", [[
    null,
    stats.bytesReceived,
  ]]);
  family(out, `${p}sent_bytes_total`, "counter", "Bytes written to WebSocket connections after the handshake.", [[
    null,
    stats.bytesSent,
  ]]);
  family(
    out,
    `${p}handshakes_refused_total`,
    "counter",
    "Opening handshakes answered with an error status, by status.",
    byLabel("status", stats.refusedByStatus),
  );
  family(out, `${p}drops_total`, "counter", "Messages and connections dropped, by cause.", byLabel("cause", stats.drops));
  family(out, `${p}limits_hit_total`, "counter", "Clients and reads turned away by a limit, by limit.", byLabel("limit", stats.limits));
  family(out, `${p}topics`, "gauge", "Topics with at least one local subscriber.", [[null, stats.topics]]);
  family(out, `${p}subscriptions`, "gauge", "Topic subscriptions of open connections.", [[null, stats.subscriptions]]);
  family(out, `${p}buffered_bytes`, "gauge", "Bytes queued for sending, not yet taken by the operating system.", [[
    null,
    stats.bufferedBytes,
  ]]);
  return out.join("\n") + "\n";
}
