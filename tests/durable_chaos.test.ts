// Durable topics under faults, with real processes and a real Redis (see
// tests/_chaos.ts): three `streamsock serve --broadcast --redis` processes,
// one per runtime, whichever runtime runs this file, and at least 100
// resuming subscribers. Bounded for CI; scripts/durable_soak.ts runs longer.
import assert from "node:assert/strict";
import { describeReport, runChaos } from "./_chaos.ts";
import { redisServerBinary } from "./_redis.ts";
import { describe, test } from "./_test.ts";
import { currentRuntime } from "../src/transport/runtime.ts";

const binary = redisServerBinary();
if (binary === null) {
  console.warn("!!! durable_chaos.test.ts: SKIPPED: redis-server is not installed; durable topics are NOT tested under faults");
}

describe("durable topics under faults", { skip: binary === null ? "redis-server is not installed" : false }, () => {
  test(
    "servers SIGKILLed and restarted, connections reset, Redis restarted: every message exactly once, in order",
    { timeout: 180_000 },
    async (t) => {
      const report = await runChaos(t, {
        redisBinary: binary!,
        runtimes: ["node", "deno", "bun"],
        subscribers: 120,
        topics: 4,
        topicsPerSubscriber: 2,
        publishers: 3,
        messages: 100,
        interval: 100,
        maxLen: 100_000,
        scenario: "faults",
      });
      console.log(describeReport(report, currentRuntime()));
      assert.equal(report.unacknowledged, 0, "every publish was acknowledged");
      assert.ok(report.serverKills >= 3 && report.redisRestarts === 1 && report.connectionResets >= 30, "the faults happened");
      assert.deepEqual(
        { lost: report.lost, duplicated: report.duplicated, reordered: report.reordered, gaps: report.gaps },
        { lost: 0, duplicated: 0, reordered: 0, gaps: 0 },
      );
      assert.equal(report.delivered, report.expected);
      assert.ok(report.expected >= 120 * 2 * 300, `every subscriber expected its topics' messages (${report.expected})`);
    },
  );

  test(
    "an outage longer than the log's window ends in gap notices, never in silent loss",
    { timeout: 180_000 },
    async (t) => {
      const report = await runChaos(t, {
        redisBinary: binary!,
        runtimes: ["node", "deno", "bun"],
        subscribers: 60,
        topics: 2,
        topicsPerSubscriber: 1,
        publishers: 2,
        messages: 300,
        interval: 15,
        maxLen: 50,
        scenario: "outage",
      });
      console.log(describeReport(report, currentRuntime()));
      assert.equal(report.unacknowledged, 0, "every publish was acknowledged");
      assert.ok(report.gaps >= 20, `the subscribers of the server that was down got gap notices (${report.gaps})`);
      assert.equal(report.silentlyLost, 0, "every message was delivered or announced by a gap");
      assert.equal(report.lost, report.gapMessages, "what was not delivered is exactly what the gaps announced");
      assert.deepEqual({ duplicated: report.duplicated, reordered: report.reordered }, { duplicated: 0, reordered: 0 });
    },
  );
});
