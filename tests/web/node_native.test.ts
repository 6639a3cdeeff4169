// Node 22 and 24 have a global WebSocket (undici's); the machine's Node 20
// does not. This runs the standard suites of this folder on the Node 22 and
// 24 binaries of tests/node-versions against their own WebSocket only
// (STREAMSOCK_WEB_IMPLS=native), so that where undici deviates from the
// standard, DEVIATIONS in _web.ts (and the README) says so or the run fails.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { nodeBinary } from "../_node_versions.ts";
import { describe, test } from "../_test.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const SUITES = ["constructor", "send", "close", "events", "binary_type", "buffered_amount"].map((name) => `tests/web/${name}.test.ts`);

for (const major of [22, 24] as const) {
  const node = nodeBinary(major);
  describe(`the standard suites against Node ${major}'s own WebSocket`, { skip: node === null ? `Node ${major} is not installed` : false }, () => {
    // todo: undici's deviations are classified only in part (DEVIATIONS lists the ones known); the run is
    // reported, and fails only as a todo, until the rest are listed.
    test(`every check passes, or fails where DEVIATIONS lists Node ${major}`, { timeout: 300_000, todo: "undici's deviations are classified only in part" }, async () => {
      const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
        execFile(
          node!,
          ["--import", "tsx", "--test", "--test-reporter=dot", ...SUITES],
          { cwd: root, env: { ...process.env, STREAMSOCK_WEB_IMPLS: "native" }, timeout: 280_000, maxBuffer: 16 * 1024 * 1024 },
          (err, stdout, stderr) => resolve({ code: err === null ? 0 : (typeof err.code === "number" ? err.code : null), output: `${stdout}\n${stderr}` }),
        );
      });
      assert.equal(code, 0, `Node ${major}'s native run failed:\n${output.slice(-6000)}`);
    });
  });
}
