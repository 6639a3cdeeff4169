// Tests of the npm package as users get it: build it with scripts/build_npm.ts,
// `npm pack` it, install the tarball into a fresh project (offline: the package
// has no dependencies), then load it with `import` and `require` on every Node
// we have and on Bun, and compile TypeScript consumers against its declarations.
//
// Run by `npm test` (`npm run test:package`) under Node only: it drives the
// other runtimes itself. Not named *.test.ts, so the per-runtime suites that
// `deno test`, `bun test` and `node --test tests/*.test.ts` run leave it alone.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { nodeBinary } from "../_node_versions.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const fixtures = fileURLToPath(new URL("./fixtures/", import.meta.url));
const bin = (name: string) => join(root, "node_modules", ".bin", name);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion (at most `timeout` ms) without a shell. */
function run(command: string, args: string[], cwd: string, timeout = 60_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd, timeout, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === "number" ? err.code : null;
      resolve({ code, stdout, stderr: err !== null && code === null ? `${stderr}\n${err.message}` : stderr });
    });
  });
}

function assertRan(result: Run, what: string): void {
  assert.equal(result.code, 0, `${what} failed (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
}

async function sourceModules(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile() && entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) {
      found.push(relative(root, join(entry.parentPath, entry.name)).split("\\").join("/"));
    }
  }
  return found;
}

let work = "";
let project = "";
let tarballFiles: string[] = [];
let installed = "";

before(async () => {
  work = await mkdtemp(join(tmpdir(), "streamsock-package-"));
  assertRan(
    await run(bin("deno"), ["run", "-A", "scripts/build_npm.ts"], root, 180_000),
    "deno run scripts/build_npm.ts",
  );

  const pack = await run("npm", ["pack", "--json", "--pack-destination", work], join(root, "npm"));
  assertRan(pack, "npm pack");
  const [packed] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
  tarballFiles = packed.files.map((file) => file.path).sort();

  project = join(work, "consumer");
  await mkdir(project);
  await writeFile(
    join(project, "package.json"),
    JSON.stringify({ name: "streamsock-consumer", private: true, type: "module" }, null, 2),
  );
  const install = await run(
    "npm",
    [
      "install",
      join(work, packed.filename),
      "--offline",
      "--no-audit",
      "--no-fund",
      "--no-package-lock",
      "--ignore-scripts",
    ],
    project,
  );
  assertRan(install, "npm install <tarball> --offline");
  installed = join(project, "node_modules", "streamsock");
  await cp(fixtures, project, { recursive: true });
  // The TypeScript consumers need Node's types, as a real Node project has them.
  await mkdir(join(project, "node_modules", "@types"), { recursive: true });
  await symlink(join(root, "node_modules", "@types", "node"), join(project, "node_modules", "@types", "node"), "dir");
});

after(async () => {
  if (work !== "") await rm(work, { recursive: true, force: true });
});

describe("the npm tarball", () => {
  test("holds package.json, README, LICENSE and the built modules of every source module, and nothing else", async () => {
    for (const file of ["package.json", "README.md", "LICENSE", "esm/mod.js", "esm/mod.d.ts", "esm/mod.js.map"]) {
      assert.ok(tarballFiles.includes(file), `${file} is in the tarball`);
    }
    for (const source of ["mod.ts", ...(await sourceModules(join(root, "src")))]) {
      const js = "esm/" + source.replace(/\.ts$/, ".js");
      assert.ok(tarballFiles.includes(js), `${js} (from ${source}) is in the tarball`);
    }
    for (const file of tarballFiles) {
      assert.ok(
        file === "package.json" || file === "README.md" || file === "LICENSE" || file.startsWith("esm/"),
        `${file} does not belong in the tarball`,
      );
      assert.ok(/\.(js|d\.ts|js\.map)$/.test(file) || !file.startsWith("esm/"), `${file} is a built module`);
      // Lockfiles by name: a module whose name holds "lock" (clock.ts) is not one.
      assert.doesNotMatch(
        file,
        /(^|\/)(tests?|scripts)\/|\.test\.|(^|\/)(package-lock\.json|deno\.lock|bun\.lockb?|yarn\.lock)$|tsconfig|deno\.json/,
        `${file} is a dev file`,
      );
    }
  });

  test("package.json describes an ES module package for Node >= 20.19 with types", async () => {
    const pkg = JSON.parse(await readFile(join(installed, "package.json"), "utf8"));
    const deno = JSON.parse(await readFile(join(root, "deno.json"), "utf8"));
    assert.equal(pkg.name, "streamsock");
    assert.equal(pkg.version, deno.version);
    assert.equal(pkg.license, "MIT");
    assert.equal(pkg.type, "module");
    assert.equal(pkg.sideEffects, false);
    assert.equal(pkg.engines.node, ">=20.19");
    assert.deepEqual(Object.keys(pkg.exports["."]), ["types", "import", "default"], "types come first");
    assert.equal(pkg.exports["."].types, "./esm/mod.d.ts");
    assert.equal(pkg.dependencies, undefined, "no runtime dependencies");
    // streamsock/redis: its own entry point, on an optional peer dependency.
    assert.deepEqual(Object.keys(pkg.exports["./redis"]), ["types", "import", "default"]);
    assert.equal(pkg.exports["./redis"].import, "./esm/src/pubsub/redis.js");
    assert.ok(pkg.peerDependencies.redis, "redis is a peer dependency");
    assert.deepEqual(pkg.peerDependenciesMeta.redis, { optional: true });
    assert.ok(typeof pkg.description === "string" && pkg.description.length > 0);
    assert.ok(Array.isArray(pkg.keywords) && pkg.keywords.includes("websocket"));
    assert.ok(pkg.repository?.url);
  });

  test("`npx streamsock --help` runs the command line from the installed tarball", async () => {
    const pkg = JSON.parse(await readFile(join(installed, "package.json"), "utf8"));
    assert.deepEqual(pkg.bin, { streamsock: "./esm/src/cli/main.js" });
    const result = await run("npx", ["--offline", "streamsock", "--help"], project);
    assertRan(result, "npx streamsock --help");
    assert.match(result.stdout, /streamsock connect <url>/);
    assert.match(result.stdout, /streamsock serve/);
  });

  test("source maps carry their TypeScript sources", async () => {
    const map = JSON.parse(await readFile(join(installed, "esm", "mod.js.map"), "utf8"));
    assert.match(map.sources[0], /mod\.ts$/);
    assert.match(map.sourcesContent[0], /export \{/);
  });
});

/** The runtimes the package is loaded on: every Node we have, and Bun. */
function runtimes(): { name: string; path: string | null; node: boolean }[] {
  const bun = bin("bun");
  if (!existsSync(bun)) console.warn(`SKIPPING: Bun is not installed at ${bun}; run \`npm install\`.`);
  return [
    { name: `Node ${process.version} (this machine's)`, path: process.execPath, node: true },
    { name: "Node 22", path: nodeBinary(22), node: true },
    { name: "Node 24", path: nodeBinary(24), node: true },
    { name: "Bun", path: existsSync(bun) ? bun : null, node: false },
  ];
}

for (const runtime of runtimes()) {
  describe(`the installed package on ${runtime.name}`, () => {
    const skip = runtime.path === null ? `${runtime.name} is not installed` : false;

    test("a client and a server exchange messages through `import`", { skip }, async () => {
      const result = await run(runtime.path!, ["esm.mjs"], project);
      assertRan(result, `${runtime.name} esm.mjs`);
      assert.match(result.stdout, /streamsock exchange ok \(import\)/);
    });

    test("a client and a server exchange messages through `require()`", { skip }, async () => {
      const result = await run(runtime.path!, ["cjs.cjs"], project);
      assertRan(result, `${runtime.name} cjs.cjs`);
      assert.match(result.stdout, /streamsock exchange ok \(require\)/);
    });

    test("the streamsock command (the package's bin) prints its help", { skip }, async () => {
      const result = await run(runtime.path!, [join("node_modules", ".bin", "streamsock"), "connect", "--help"], project);
      assertRan(result, `${runtime.name} node_modules/.bin/streamsock connect --help`);
      assert.match(result.stdout, /Usage: streamsock connect <url>/);
    });

    if (runtime.node) {
      test("neither the Deno nor the Bun socket shim is ever loaded", { skip }, async () => {
        const result = await run(runtime.path!, ["shims.mjs"], project);
        assertRan(result, `${runtime.name} shims.mjs`);
        assert.match(result.stdout, /no Deno or Bun shim/);
      });
    }
  });
}

describe("TypeScript consumers of the installed package", () => {
  // skipLibCheck off: the package's declarations are checked too, and must be
  // precise (consumer.ts has @ts-expect-error lines that fail if types decay to any).
  const base = { target: "ES2022", types: ["node"], strict: true, noEmit: true, skipLibCheck: false };
  const withDom = { ...base, lib: ["ES2022", "DOM", "DOM.Iterable", "DOM.AsyncIterable"] };
  const configs: [string, Record<string, unknown>, string][] = [
    ["an ES module, module node16", { ...withDom, module: "node16", moduleResolution: "node16" }, "consumer.ts"],
    ["an ES module, module nodenext", { ...withDom, module: "nodenext", moduleResolution: "nodenext" }, "consumer.ts"],
    [
      "an ES module, moduleResolution bundler",
      { ...withDom, module: "preserve", moduleResolution: "bundler" },
      "consumer.ts",
    ],
    [
      "a CommonJS module using require, module nodenext",
      { ...withDom, module: "nodenext", moduleResolution: "nodenext" },
      "consumer.cts",
    ],
    [
      "a CommonJS module using require, module node20",
      { ...withDom, module: "node20", moduleResolution: "node16" },
      "consumer.cts",
    ],
  ];
  for (const [what, compilerOptions, file] of configs) {
    test(`${what} type-checks with tsc --noEmit`, () => typeCheck(compilerOptions, file));
  }

  // A Node project's usual typings: @types/node and no DOM lib. The public
  // declarations must not name DOM-only types such as HeadersInit.
  test(
    "a Node-only project (no DOM lib), module nodenext, type-checks with tsc --noEmit",
    () => typeCheck({ ...base, lib: ["ES2022"], module: "nodenext", moduleResolution: "nodenext" }, "consumer.ts"),
  );
});

let configCount = 0;

async function typeCheck(compilerOptions: Record<string, unknown>, file: string): Promise<void> {
  const name = `tsconfig.consumer${++configCount}.json`;
  const config = { compilerOptions, files: [file], include: ["node_modules/streamsock/**/*.d.ts"] };
  await writeFile(join(project, name), JSON.stringify(config, null, 2));
  assertRan(
    await run(bin("tsc"), ["-p", name], project, 120_000),
    `tsc -p ${name} (${JSON.stringify(compilerOptions)})`,
  );
}
