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
let tarball = "";
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
  tarball = join(work, packed.filename);

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
  // The TypeScript consumers need Node's types, as a real Node project has
  // them, and ws_user.ts is ws code written with @types/ws.
  await mkdir(join(project, "node_modules", "@types"), { recursive: true });
  for (const types of ["node", "ws"]) {
    await symlink(join(root, "node_modules", "@types", types), join(project, "node_modules", "@types", types), "dir");
  }
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
    // streamsock/ws: ws's API, an entry point that needs nothing installed.
    assert.deepEqual(pkg.exports["./ws"], {
      types: "./esm/src/ws/mod.d.ts",
      import: "./esm/src/ws/mod.js",
      default: "./esm/src/ws/mod.js",
    });
    assert.equal(pkg.peerDependencies.ws, undefined, "streamsock/ws does not need ws");
    assert.deepEqual(pkg.peerDependenciesMeta.redis, { optional: true });
    // streamsock/web: the WHATWG WebSocket, on no dependency at all.
    assert.deepEqual(Object.keys(pkg.exports["./web"]), ["types", "import", "default"]);
    assert.equal(pkg.exports["./web"].import, "./esm/src/web/mod.js");
    assert.equal(pkg.exports["./web"].types, "./esm/src/web/mod.d.ts");
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

    test("streamsock/web: the standard WebSocket and WebSocketStream echo through `import`", { skip }, async () => {
      const result = await run(runtime.path!, ["web.mjs"], project);
      assertRan(result, `${runtime.name} web.mjs`);
      assert.match(result.stdout, /streamsock web ok/);
    });

    test("streamsock/ws: ws's server and client exchange messages through `import`", { skip }, async () => {
      const result = await run(runtime.path!, ["ws_esm.mjs"], project);
      assertRan(result, `${runtime.name} ws_esm.mjs`);
      assert.match(result.stdout, /streamsock\/ws exchange ok \(import\)/);
    });

    test("streamsock/ws: ws's server and client exchange messages through `require()`", { skip }, async () => {
      const result = await run(runtime.path!, ["ws_cjs.cjs"], project);
      assertRan(result, `${runtime.name} ws_cjs.cjs`);
      assert.match(result.stdout, /streamsock\/ws exchange ok \(require\)/);
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

// README's "Aliasing ws itself": an application on socket.io and
// socket.io-client (both of which load ws themselves) gets streamsock under
// both without a line of theirs changed: a local package named ws that
// re-exports streamsock/ws, and npm's overrides pointing ws at it (copied, not
// linked: .npmrc's install-links, which Deno needs). On Bun, whose `ws` is
// built in, bunfig.toml preloads the file that puts streamsock/ws on it. The
// application itself checks that the sockets are streamsock's.
describe("aliasing ws to streamsock/ws with npm overrides (README's recipe)", () => {
  let app = "";
  before(async () => {
    app = join(work, "alias-app");
    await cp(fileURLToPath(new URL("./alias/", import.meta.url)), app, { recursive: true });
    const manifest = JSON.parse(await readFile(join(root, "package.json"), "utf8"));
    await writeFile(
      join(app, "package.json"),
      JSON.stringify(
        {
          name: "alias-app",
          private: true,
          type: "module",
          dependencies: {
            "socket.io": manifest.devDependencies["socket.io"],
            "socket.io-client": manifest.devDependencies["socket.io-client"],
            streamsock: `file:${tarball}`,
          },
          overrides: { ws: "file:./ws-streamsock" },
        },
        null,
        2,
      ),
    );
    // The npm cache first; the registry only for what it lacks.
    assertRan(
      await run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts"], app, 180_000),
      "npm install (socket.io, socket.io-client, streamsock, ws overridden)",
    );
    const ls = await run("npm", ["ls", "ws", "--all", "--parseable", "--long"], app);
    assertRan(ls, "npm ls ws");
    const copies = ls.stdout.split("\n").filter((line) => /node_modules\/ws:/.test(line));
    assert.ok(copies.length > 0, `ws is installed somewhere:\n${ls.stdout}`);
    for (const line of copies) assert.match(line, /:ws@8\.99\.0/, `every ws is the alias:\n${ls.stdout}`);
  });

  const denoBin = bin("deno");
  const aliasRuntimes: [string, string | null, string[]][] = [
    ...runtimes().filter((runtime) => runtime.node).map((runtime): [string, string | null, string[]] => [
      runtime.name,
      runtime.path,
      ["app.mjs"],
    ]),
    ["Bun (ws built in: bunfig.toml's preload)", existsSync(bin("bun")) ? bin("bun") : null, ["app.mjs"]],
    ["Deno (reading node_modules)", existsSync(denoBin) ? denoBin : null, ["run", "-A", "app.mjs"]],
  ];
  for (const [name, path, args] of aliasRuntimes) {
    test(`socket.io and socket.io-client run on streamsock/ws, untouched, on ${name}`, {
      skip: path === null ? `${name} is not installed` : false,
    }, async () => {
      const result = await run(path!, args, app);
      assertRan(result, `${name} app.mjs`);
      assert.match(result.stdout, /ws aliased to streamsock\/ws: socket\.io and socket\.io-client ok/);
    });
  }

  test("without the alias the same application finds the ws package, and says so", async () => {
    const control = join(work, "alias-control");
    await cp(app, control, { recursive: true });
    await rm(join(control, "node_modules", "ws"), { recursive: true, force: true });
    await cp(join(root, "node_modules", "ws"), join(control, "node_modules", "ws"), { recursive: true });
    const result = await run(process.execPath, ["app.mjs"], control);
    assert.notEqual(result.code, 0, `the application should have failed with the real ws:\n${result.stdout}`);
    assert.match(result.stderr, /socket\.io's server runs on streamsock\/ws/);
  });
});

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
  for (const [what, compilerOptions] of configs.filter(([, , file]) => file === "consumer.ts")) {
    test(`streamsock/web: ${what} type-checks with tsc --noEmit`, () => typeCheck(compilerOptions, "web_consumer.ts"));
  }

  // ws_user.ts is an application written against ws with @types/ws: it
  // compiles with "ws" as @types/ws declares it (it is ws code), then with
  // "ws" mapped to streamsock/ws's declarations, unchanged.
  for (const [resolution, options] of [
    ["nodenext", { module: "nodenext", moduleResolution: "nodenext" }],
    ["bundler", { module: "preserve", moduleResolution: "bundler" }],
  ] as const) {
    test(`code written with @types/ws type-checks against @types/ws (module ${resolution})`, () =>
      typeCheck({ ...base, lib: ["ES2022"], types: ["node", "ws"], ...options }, "ws_user.ts"));
    test(`the same code type-checks against streamsock/ws, "ws" mapped to it (module ${resolution})`, () =>
      typeCheck({
        ...base,
        lib: ["ES2022"],
        types: ["node"],
        paths: { ws: ["./node_modules/streamsock/esm/src/ws/mod.d.ts"] },
        ...options,
      }, "ws_user.ts"));
  }

  const nodenext = { module: "nodenext", moduleResolution: "nodenext" };
  test("CommonJS code written with @types/ws (import … = require(\"ws\")) type-checks against @types/ws", () =>
    typeCheck({ ...base, lib: ["ES2022"], types: ["node", "ws"], ...nodenext }, "ws_user.cts"));
  test("the same CommonJS code type-checks against streamsock/ws, \"ws\" mapped to it", () =>
    typeCheck({
      ...base,
      lib: ["ES2022"],
      types: ["node"],
      paths: { ws: ["./node_modules/streamsock/esm/src/ws/mod.d.ts"] },
      ...nodenext,
    }, "ws_user.cts"));

  // A Node project's usual typings: @types/node and no DOM lib. The public
  // declarations must not name DOM-only types such as HeadersInit.
  test(
    "a Node-only project (no DOM lib), module nodenext, type-checks with tsc --noEmit",
    () => typeCheck({ ...base, lib: ["ES2022"], module: "nodenext", moduleResolution: "nodenext" }, "consumer.ts"),
  );
  test(
    "streamsock/web: a Node-only project (no DOM lib), module nodenext, type-checks with tsc --noEmit",
    () => typeCheck({ ...base, lib: ["ES2022"], module: "nodenext", moduleResolution: "nodenext" }, "web_consumer.ts"),
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
