// The durable topics' chaos run, longer than the suite's (tests/_chaos.ts):
// rounds of the "faults" scenario (servers on Node, Deno and Bun SIGKILLed and
// restarted, connections reset, Redis SIGKILLed and restarted) and of the
// "outage" one, until the time is up; every round's counts are printed, and
// the exit code is 1 if any round lost, duplicated or reordered a message.
//
//   node --import tsx scripts/durable_soak.ts [--minutes 10] [--subscribers 200] [--messages 300]
import process from "node:process";
import { describeReport, runChaos } from "../tests/_chaos.ts";
import { redisServerBinary } from "../tests/_redis.ts";
import { Releases } from "../tests/_test.ts";
import { currentRuntime } from "../src/transport/runtime.ts";

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const binary = redisServerBinary();
if (binary === null) {
  console.error("redis-server is not installed (apt-get install redis-server)");
  process.exit(2);
}
const deadline = Date.now() + arg("minutes", 10) * 60_000;
const subscribers = arg("subscribers", 200);
const messages = arg("messages", 300);
let failed = 0;
for (let round = 1; Date.now() < deadline; round++) {
  for (const scenario of ["faults", "outage"] as const) {
    const releases = new Releases();
    try {
      const report = await runChaos(releases, {
        redisBinary: binary,
        runtimes: ["node", "deno", "bun"],
        subscribers: scenario === "faults" ? subscribers : Math.ceil(subscribers / 2),
        topics: 4,
        topicsPerSubscriber: 2,
        publishers: 3,
        messages,
        interval: scenario === "faults" ? 100 : 15,
        maxLen: scenario === "faults" ? 1_000_000 : 50,
        scenario,
        log: (line) => console.log(`  [round ${round}] ${line}`),
      });
      console.log(`round ${round}: ${describeReport(report, currentRuntime())}`);
      const bad = report.duplicated + report.reordered + report.silentlyLost + report.unacknowledged +
        (scenario === "faults" ? report.lost + report.gaps : Math.abs(report.lost - report.gapMessages));
      if (bad > 0) failed++;
    } catch (error) {
      console.log(`round ${round} (${scenario}) failed: ${(error as Error).stack}`);
      failed++;
    } finally {
      await releases.release().catch(() => {});
    }
  }
}
console.log(failed === 0 ? "soak passed: nothing lost, duplicated or reordered" : `soak FAILED in ${failed} runs`);
process.exit(failed === 0 ? 0 : 1);
