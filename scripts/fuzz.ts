// A longer fuzzing run than the test suite's: `deno run -A scripts/fuzz.ts [iterations] [seed]`
// (or `npx tsx scripts/fuzz.ts ...`). Prints disagreements with ws's receiver, if any.
import process from "node:process";
import { fuzz } from "../tests/_fuzz.ts";

const iterations = Number(process.argv[2] ?? 100_000);
const seed = Number(process.argv[3] ?? Date.now() % 1_000_000_000);
const started = performance.now();
const batch = 10_000;
let invalid = 0;
let problems = 0;
for (let done = 0; done < iterations; done += batch) {
  const n = Math.min(batch, iterations - done);
  const result = await fuzz(seed + done, n);
  invalid += result.invalid;
  for (const d of result.disagreements) {
    problems++;
    console.log(`seed ${d.seed}: ours ${JSON.stringify(d.ours)} ws ${JSON.stringify(d.theirs)} bytes ${Array.from(d.input).join(",")}`);
  }
  console.log(`${done + n} cases from seed ${seed}: ${invalid} invalid, ${problems} disagreements, ${((performance.now() - started) / 1000).toFixed(1)} s`);
}
process.exitCode = problems === 0 ? 0 : 1;
