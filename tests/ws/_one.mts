// Prints what named scenarios of the side-by-side runner observed with each
// library, to read a difference: node --import tsx tests/ws/_one.mts "name part" ...
import { Releases } from "../_test.ts";
import { LIBS, runWith } from "./_runner.ts";
import { scenarios } from "./_scenarios.ts";
const names = process.argv.slice(2);
console.error("scenarios", scenarios.length, names, scenarios.filter((s) => names.some((n) => s.name.includes(n))).length);
for (const s of scenarios.filter((s) => names.some((n) => s.name.includes(n)))) {
  for (const lib of LIBS) {
    const started = Date.now();
    const releases = new Releases();
    const logs = await runWith(releases, lib, s).finally(() => releases.release());
    console.error(`== ${s.name} [${lib.name}] ${Date.now() - started} ms`);
    for (const [k, v] of Object.entries(logs)) console.error("  ", k, JSON.stringify(v));
  }
}
