// streamsock/ws side by side with ws: every scenario of _scenarios.ts runs
// with both packages, and what each endpoint observed must be equal, or the
// scenario's difference is one listed in _deviations.ts (and the README).
import assert from "node:assert/strict";
import { describe, test } from "../_test.ts";
import { LIBS, runWith } from "./_runner.ts";
import { scenarios } from "./_scenarios.ts";
import { deviationOf } from "./_deviations.ts";

describe("streamsock/ws beside ws", () => {
  for (const scenario of scenarios) {
    test(scenario.name, async () => {
      const expected = await runWith(LIBS[0], scenario);
      const actual = await runWith(LIBS[1], scenario);
      const deviation = deviationOf(scenario.name);
      if (deviation === undefined) {
        assert.deepEqual(actual, expected, `streamsock/ws observed something else than ws in "${scenario.name}"`);
        return;
      }
      assert.deepEqual(deviation.normalize(actual), deviation.normalize(expected), `beyond the listed deviation "${deviation.reason}"`);
    });
  }
});
