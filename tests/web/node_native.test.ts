// Node 22 and 24 have a global WebSocket (undici's); the machine's Node 20
// does not. This runs the standard suites of this folder on the Node 22 and
// 24 binaries of tests/node-versions against their own WebSocket only
// (STREAMSOCK_WEB_IMPLS=native): every check passes, or fails where
// DEVIATIONS in _web.ts (and the README's table) lists that Node, and a
// listed check that passes fails the run, so the table cannot go stale.
//
// It runs from the Node run of the suite only: what it tests is Node's own
// WebSocket in a child process, the same whichever runtime starts it, and
// once is enough on a shared machine.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { nodeBinary } from "../_node_versions.ts";
import { describe, test } from "../_test.ts";
import { RUNTIME } from "./_web.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const SUITES = ["constructor", "protocols", "send", "close", "events", "binary_type", "buffered_amount"].map((name) =>
  `tests/web/${name}.test.ts`
);

for (const major of [22, 24] as const) {
  const node = nodeBinary(major);
  const skip = !RUNTIME.startsWith("node")
    ? "Node's own WebSocket is tested once, from the Node run of the suite"
    : node === null
    ? `Node ${major} is not installed`
    : false;
  describe(`the standard suites against Node ${major}'s own WebSocket`, { skip }, () => {
    test(`every check passes, or fails where DEVIATIONS lists Node ${major}`, { timeout: 300_000 }, async (t) => {
      // Not NODE_TEST_CONTEXT: a child that inherits it reports to its parent's runner in binary, not as TAP.
      const { NODE_TEST_CONTEXT: _, ...env } = process.env;
      const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
        const child = execFile(
          node!,
          ["--import", "tsx", "--test", "--test-reporter=tap", ...SUITES],
          { cwd: root, env: { ...env, STREAMSOCK_WEB_IMPLS: "native" }, timeout: 280_000, maxBuffer: 64 * 1024 * 1024 },
          (err, stdout, stderr) =>
            resolve({ code: err === null ? 0 : (typeof err.code === "number" ? err.code : null), output: `${stdout}\n${stderr}` }),
        );
        // Stopped by its PID if the test ends first (a timeout).
        t.after(() => {
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
        });
      });
      const count = (what: string) => Number(new RegExp(`^# ${what} (\\d+)$`, "m").exec(output)?.[1] ?? NaN);
      const failures = output.split("\n").filter((line) => /^\s*not ok /.test(line)).join("\n");
      assert.equal(code, 0, `Node ${major}'s native run failed:\n${failures}\n${output.slice(-6000)}`);
      assert.deepEqual([count("fail"), count("cancelled")], [0, 0], `failed or cancelled tests:\n${failures}`);
      // The suites ran against Node's own WebSocket (not nothing: without a global one, no test would).
      assert.ok(count("pass") > 0, `no test passed:\n${output.slice(-3000)}`);
      for (const suite of ["WebSocket constructor", "close() on the wire", "subprotocols", "event order and timing", "bufferedAmount"]) {
        assert.ok(output.includes(`${suite} (node${major} native`), `the "${suite}" suites ran against node${major} native`);
      }
    });
  });
}
