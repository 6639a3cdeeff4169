// streamsock/ws side by side with ws: every scenario of _scenarios.ts runs
// with both packages, and what each endpoint observed must be equal, or the
// scenario's difference is one listed in _deviations.ts (and the README).
import assert from "node:assert/strict";
import { isDeepStrictEqual } from "node:util";
import { after, describe, test } from "../_test.ts";
import { LIBS, runWith } from "./_runner.ts";
import { scenarios } from "./_scenarios.ts";
import { deviationOf } from "./_deviations.ts";

describe("streamsock/ws beside ws", () => {
  const counts = { equal: 0, deviation: 0 };
  after(() => {
    console.log(
      `streamsock/ws beside ws: ${scenarios.length} scenarios; ${counts.equal} observed exactly as with ws, ` +
        `${counts.deviation} equal beyond a listed deviation`,
    );
  });
  for (const scenario of scenarios) {
    test(scenario.name, async (t) => {
      const expected = await runWith(t, LIBS[0], scenario);
      const actual = await runWith(t, LIBS[1], scenario);
      const deviation = deviationOf(scenario.name);
      if (isDeepStrictEqual(actual, expected)) {
        counts.equal++;
        return;
      }
      if (deviation === undefined) {
        assert.deepEqual(actual, expected, `streamsock/ws observed something else than ws in "${scenario.name}"`);
        return;
      }
      assert.deepEqual(deviation.normalize(actual), deviation.normalize(expected), `beyond the listed deviation "${deviation.reason}"`);
      counts.deviation++;
    });
  }
});
