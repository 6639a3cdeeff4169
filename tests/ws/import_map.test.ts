// README's recipe for Deno: an import map that sends "ws" to streamsock/ws
// puts streamsock under an application written for ws. The application
// (fixtures/import_map_app.ts, with graphql-ws) runs in a project of its own
// whose deno.json maps "ws" to this checkout's src/ws/mod.ts, standing for
// "jsr:@streamsock/streamsock/ws" (JSR is not reachable from the test); the
// same project without the mapping must fail, which proves the check.
// An import map is Deno's: on Bun and Node the test is skipped.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFile, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { describe, type Owner, test } from "../_test.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const skip = "Deno" in globalThis ? false : "an import map is Deno's";

/**
 * Runs the application with `imports` as its deno.json import map, in a
 * project directory removed (and the application killed, if still running)
 * when `t` ends.
 */
async function runApp(t: Owner, imports: Record<string, string>): Promise<{ code: number; output: string }> {
  const dir = await mkdtemp(join(tmpdir(), "streamsock-import-map-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await symlink(join(root, "node_modules"), join(dir, "node_modules"), "dir");
  await writeFile(join(dir, "deno.json"), JSON.stringify({ imports }, null, 2));
  const pkg = JSON.parse(await readFile(join(root, "package.json"), "utf8"));
  const dependencies = { graphql: pkg.devDependencies.graphql, "graphql-ws": pkg.devDependencies["graphql-ws"] };
  await writeFile(join(dir, "package.json"), JSON.stringify({ private: true, type: "module", dependencies }, null, 2));
  await copyFile(join(root, "tests", "ws", "fixtures", "import_map_app.ts"), join(dir, "app.ts"));
  return await new Promise((resolve) => {
    const child = execFile(process.execPath, ["run", "-A", "app.ts"], { cwd: dir, timeout: 50_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === "number" ? err.code : -1, output: `${stdout}\n${stderr}` });
    });
    t.after(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    });
  });
}

describe("aliasing ws with a Deno import map", () => {
  test("an application's own `import … from \"ws\"` gets streamsock/ws, and graphql-ws runs on it", { skip }, async (t) => {
    const { code, output } = await runApp(t, { ws: pathToFileURL(join(root, "src", "ws", "mod.ts")).href });
    assert.equal(code, 0, `the application failed:\n${output}`);
    assert.match(output, /import map: ws is streamsock\/ws, graphql-ws ok/);
  });

  test("without the mapping the same application finds the ws package, and says so", { skip }, async (t) => {
    const { code, output } = await runApp(t, {});
    assert.notEqual(code, 0, `the application should have failed:\n${output}`);
    assert.match(output, /"ws" is not streamsock\/ws in this application/);
  });
});
