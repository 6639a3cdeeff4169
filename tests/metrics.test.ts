// Prometheus metrics (issue #28): `streamsock serve --metrics` scraped at
// /metrics on the WebSocket port while clients load it, and serve's
// `metrics` option, read by a real parser of the text exposition format
// (parse-prometheus-text-format, a dev dependency), not by string matching.
import { describe, test, withTimeout } from "./_test.ts";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { request as httpRequest } from "node:http";
import { connect } from "../mod.ts";
import { Hub } from "../src/pubsub/hub.ts";
import { prometheusMetrics, serve } from "../mod.ts";
import { start } from "./_spawn.ts";
import { RawClient } from "./_server.ts";

interface Family {
  name: string;
  help: string;
  type: string;
  metrics: { value: string; labels?: Record<string, string> }[];
}

const parsePrometheus = createRequire(import.meta.url)("parse-prometheus-text-format") as (text: string) => Family[];

/** A GET over plain HTTP/1.1: the status, the content type and the body. */
function get(port: number, path: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, path, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode!, type: String(res.headers["content-type"]), body }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

/** Scrapes and parses; every family must have its HELP and TYPE. */
async function scrape(port: number, path = "/metrics"): Promise<Map<string, Family>> {
  const { status, type, body } = await get(port, path);
  assert.equal(status, 200, `GET ${path}: ${body}`);
  assert.match(type, /^text\/plain; version=0\.0\.4/);
  const families = new Map(parsePrometheus(body).map((family) => [family.name, family]));
  for (const family of families.values()) {
    assert.ok(family.help.length > 0, `${family.name} has a HELP line`);
    assert.ok(family.type === "COUNTER" || family.type === "GAUGE", `${family.name} has a TYPE line (${family.type})`);
  }
  return families;
}

function value(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const family = families.get(name);
  assert.ok(family !== undefined, `no metric ${name} in ${[...families.keys()].join(", ")}`);
  const sample = family.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  return sample === undefined ? 0 : Number(sample.value);
}

async function waitFor(port: number, check: (families: Map<string, Family>) => boolean, what: string) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const families = await scrape(port);
    if (check(families)) return families;
    if (Date.now() > deadline) throw new Error(`${what}: not seen in the metrics within 10 s`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("Prometheus metrics", () => {
  test("streamsock serve --metrics: scraped during a load, parsed, consistent with what the clients did", async (t) => {
    const server = start(t, "src/cli/main.ts", ["serve", "--port", "0", "--echo", "--metrics"]);
    const [, portText] = await server.waitFor(/listening on ws:\/\/127\.0\.0\.1:(\d+)\//);
    const port = Number(portText);
    await server.waitFor(/metrics at http:\/\/127\.0\.0\.1:\d+\/metrics/);
    const before = await scrape(port);
    assert.equal(value(before, "streamsock_connections"), 0);
    assert.equal(value(before, "streamsock_messages_received_total"), 0);

    const CLIENTS = 6;
    const MESSAGES = 200;
    const clients = await Promise.all(Array.from({ length: CLIENTS }, async () => {
      const ws = await connect(`ws://127.0.0.1:${port}/load`);
      t.after(() => ws.terminate());
      return ws;
    }));
    // Each client sends and reads its echoes while the scrapes run.
    let scrapes = 0;
    let last = before;
    const load = Promise.all(clients.map(async (ws) => {
      for (let i = 0; i < MESSAGES; i++) {
        await ws.send(`message ${i}`);
        await ws.recv();
      }
    }));
    let loading = true;
    void load.finally(() => (loading = false));
    while (loading) {
      const families = await scrape(port);
      scrapes++;
      assert.equal(value(families, "streamsock_connections"), CLIENTS, "every client open during the load");
      for (const name of ["streamsock_messages_received_total", "streamsock_sent_bytes_total", "streamsock_received_bytes_total"]) {
        assert.ok(value(families, name) >= value(last, name), `${name} never goes down`);
      }
      last = families;
    }
    await withTimeout(load, 60_000, "the load");
    assert.ok(scrapes >= 1, "scraped while the load ran");
    await Promise.all(clients.map((ws) => ws.close(1000)));
    const refused = await RawClient.connect(t, port);
    refused.write("GET /not-metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.match((await refused.readResponse()).startLine, /^HTTP\/1.1 426/);

    const after = await waitFor(port, (f) => value(f, "streamsock_connections_closed_total", { code: "1000" }) === CLIENTS, "six closes with 1000");
    const total = CLIENTS * MESSAGES;
    assert.equal(value(after, "streamsock_connections"), 0);
    assert.equal(value(after, "streamsock_connections_opened_total"), CLIENTS);
    assert.equal(value(after, "streamsock_messages_received_total"), total);
    assert.equal(value(after, "streamsock_messages_sent_total"), total);
    // Each "message i" frame: its text, 2 header bytes and a 4-byte mask in, 2 header bytes out; plus the closes.
    let text = 0;
    for (let i = 0; i < MESSAGES; i++) text += `message ${i}`.length;
    assert.equal(value(after, "streamsock_received_bytes_total"), CLIENTS * (text + 6 * MESSAGES + 8));
    assert.equal(value(after, "streamsock_sent_bytes_total"), CLIENTS * (text + 2 * MESSAGES + 4));
    assert.equal(value(after, "streamsock_handshakes_refused_total", { status: "426" }), 1);
    assert.equal(value(after, "streamsock_handshakes_refused_total"), 1, "the scrapes are no refusals");
  });

  test("serve({ metrics: path }) answers that path; prometheusMetrics formats a hub's stats", async (t) => {
    const hub = new Hub();
    const server = serve({
      port: 0,
      hostname: "127.0.0.1",
      hub,
      metrics: "/internal/metrics",
      onRequest: () => ({ status: 200, body: "the application's" }),
    }, (ws) => {
      ws.subscribe("room");
      return new Promise<void>((resolve) => void ws.closed.then(() => resolve()));
    });
    t.after(() => server.close());
    await server.ready;
    const ws = await connect(`ws://127.0.0.1:${server.port}/`);
    t.after(() => ws.terminate());
    const other = await get(server.port, "/metrics");
    assert.equal(other.body.trim(), "the application's", "/metrics is not the path asked for: onRequest answers it");
    const scraped = await scrape(server.port, "/internal/metrics?x=1");
    assert.equal(value(scraped, "streamsock_connections"), 1);
    assert.equal(value(scraped, "streamsock_topics"), 1);
    assert.equal(value(scraped, "streamsock_subscriptions"), 1);
    const own = new Map(parsePrometheus(prometheusMetrics(hub.stats(), "app_ws_")).map((f) => [f.name, f]));
    assert.equal(value(own, "app_ws_connections"), 1);
    assert.equal(value(own, "app_ws_drops_total", { cause: "backpressure" }), 0);
  });
});
