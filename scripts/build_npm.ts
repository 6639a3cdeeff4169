// Builds the npm package `streamsock` into npm/ from the Deno source.
//
//   deno task build:npm        (or: npm run build:npm)
//
// This is dnt's job, done with the TypeScript compiler from npm: dnt is
// published only on JSR, which this project's machines cannot reach (see
// docs/architecture.md for how the package is put together).
//
// What it writes:
//   npm/package.json          name, version from deno.json, exports, engines ...
//   npm/README.md, LICENSE    copied
//   npm/esm/**                ES modules + .d.ts + source maps (sources inlined),
//                             every relative `.ts` specifier rewritten to `.js`
//
// Decisions:
// - ESM only, no CommonJS copy: Node >= 20.19 (the `engines` floor) and Bun load
//   ES modules through `require()` as long as no module uses top-level await,
//   and the package tests prove it on every runtime. One copy of each class also
//   means `instanceof` works whichever way the package was loaded.
// - Everything JSR publishes (mod.ts and src/**) is compiled, so the runtime
//   shims that src/transport/runtime.ts loads with dynamic `import()` are emitted
//   as modules of their own. The build fails if the Deno or Bun shim becomes
//   statically reachable from mod.js: Node must never load them.
// - tsc emits with `noCheck`: the source is type-checked where it is the truth,
//   by `deno check` (run first, with Deno's own types for the Deno shim), and the
//   npm-side compiler has no Deno types. The emitted declarations are then pruned
//   to what mod.d.ts reaches, so the package ships no `.d.ts` that names the
//   `Deno` namespace; the package tests compile a consumer against them.

import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../", import.meta.url));
const outDir = join(root, "npm");
const esmDir = join(outDir, "esm");
const tscBin = join(root, "node_modules", ".bin", "tsc");

/**
 * Optional entry points beside mod.js, each on an optional peer dependency:
 * mod.js must never reach them, so the main package needs nothing installed.
 */
const OPTIONAL_ENTRIES = { "./redis": "src/pubsub/redis" };
/**
 * Entry points beside mod.js that need nothing installed: `streamsock/web`
 * (the WHATWG WebSocket and WebSocketStream) and `streamsock/ws` (ws's API,
 * on node:events, node:buffer and node:http). mod.js must not reach them
 * either, so the core package loads none of their modules.
 */
const EXTRA_ENTRIES = { "./web": "src/web/mod", "./ws": "src/ws/mod" };
/** Every entry point beside mod.js. */
const SIDE_ENTRIES = { ...OPTIONAL_ENTRIES, ...EXTRA_ENTRIES };
/** The npm packages the optional entries import, with the versions they are tested with. */
const PEER_DEPENDENCIES = { redis: "^6.3.1" };

/** Shims only their own runtime may load; they must stay behind dynamic `import()`. */
const ON_DEMAND_SHIMS = ["src/transport/deno.js", "src/transport/bun.js"];

const DESCRIPTION = "A WebSocket client and server for Deno, Bun and Node, with the API of Gerbil Scheme's " +
  ":std/net/websocket and a pure RFC 6455 frame codec on Web Streams.";
const KEYWORDS = ["websocket", "websockets", "ws", "rfc6455", "client", "server", "web-streams", "deno", "bun", "node"];
const REPOSITORY = "git+https://github.com/streamsock/streamsock.git";

interface DenoConfig {
  name: string;
  version: string;
  license?: string;
}

function fail(message: string): never {
  throw new Error(`build_npm: ${message}`);
}

async function run(command: string, args: string[]): Promise<void> {
  const { code } = await new Deno.Command(command, { args, cwd: root, stdout: "inherit", stderr: "inherit" }).output();
  if (code !== 0) fail(`${relative(root, command) || command} ${args.join(" ")} exited with ${code}`);
}

async function* walk(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) yield* walk(path);
    else if (entry.isFile) yield path;
  }
}

/** The TypeScript sources that JSR publishes: mod.ts and every module under src/. */
async function sources(): Promise<string[]> {
  const files = [join(root, "mod.ts")];
  for await (const path of walk(join(root, "src"))) {
    if (path.endsWith(".ts") && !path.endsWith(".d.ts")) files.push(path);
  }
  return files.sort();
}

async function compile(files: string[]): Promise<void> {
  const configDir = await Deno.makeTempDir({ prefix: "streamsock-build-" });
  try {
    const config = {
      compilerOptions: {
        target: "ES2022",
        module: "ESNext",
        moduleResolution: "Bundler",
        rewriteRelativeImportExtensions: true,
        isolatedModules: true,
        declaration: true,
        sourceMap: true,
        inlineSources: true,
        noCheck: true,
        strict: true,
        newLine: "lf",
        rootDir: root,
        outDir: esmDir,
        lib: ["ES2022", "DOM", "DOM.Iterable", "DOM.AsyncIterable"],
        types: ["node"],
        typeRoots: [join(root, "node_modules", "@types")],
      },
      files,
    };
    const configPath = join(configDir, "tsconfig.json");
    await Deno.writeTextFile(configPath, JSON.stringify(config, null, 2));
    await run(tscBin, ["-p", configPath]);
  } finally {
    await Deno.remove(configDir, { recursive: true });
  }
}

/** A relative module specifier in emitted code, and whether it is a dynamic `import()`. */
interface Specifier {
  specifier: string;
  dynamic: boolean;
}

const COMMENT_LINE = /^\s*(\/\/|\/\*|\*)/;
const SPECIFIER = /(\bfrom\s*|\bimport\s*\(\s*|^import\s+)(["'])(\.{1,2}\/[^"']*)\2/g;

/**
 * Relative specifiers in tsc's output. tsc prints every import and export
 * clause on a code line; JSDoc lines (which hold `@example` imports) are
 * skipped.
 */
function relativeSpecifiers(code: string): Specifier[] {
  const found: Specifier[] = [];
  for (const line of code.split("\n")) {
    if (COMMENT_LINE.test(line)) continue;
    for (const match of line.matchAll(SPECIFIER)) {
      found.push({ specifier: match[3], dynamic: match[1].startsWith("import") && match[1].includes("(") });
    }
  }
  return found;
}

/**
 * tsc rewrites `.ts` specifiers in JavaScript only; declarations keep them.
 * Consumers' compilers resolve `.js` specifiers everywhere, so rewrite them too.
 */
function rewriteDeclarationSpecifiers(code: string): string {
  return code.split("\n").map((line) =>
    COMMENT_LINE.test(line) ? line : line.replace(SPECIFIER, (_all, lead: string, quote: string, spec: string) => {
      const rewritten = spec.replace(/\.ts$/, ".js").replace(/\.mts$/, ".mjs").replace(/\.cts$/, ".cjs");
      return `${lead}${quote}${rewritten}${quote}`;
    })
  ).join("\n");
}

function packagePath(path: string): string {
  return relative(esmDir, path).split(sep).join("/");
}

/** Files reachable from `entry` through relative specifiers (static ones only unless `dynamic`). */
async function reachable(entry: string, dynamic: boolean): Promise<Set<string>> {
  const seen = new Set<string>();
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    let code: string;
    try {
      code = await Deno.readTextFile(file);
    } catch {
      fail(`${packagePath(file)} is imported but was not emitted`);
    }
    for (const { specifier, dynamic: isDynamic } of relativeSpecifiers(code)) {
      if (specifier.endsWith(".ts") && !specifier.endsWith(".d.ts")) {
        fail(`${packagePath(file)} still imports "${specifier}"`);
      }
      // In a declaration file, `import("...")` is a type reference, not a lazy load.
      if (isDynamic && !dynamic && !file.endsWith(".d.ts")) continue;
      let target = join(dirname(file), specifier);
      if (file.endsWith(".d.ts")) target = target.replace(/\.js$/, ".d.ts");
      queue.push(target);
    }
  }
  return seen;
}

async function finishDeclarations(): Promise<void> {
  for await (const path of walk(esmDir)) {
    if (path.endsWith(".d.ts")) {
      await Deno.writeTextFile(path, rewriteDeclarationSpecifiers(await Deno.readTextFile(path)));
    }
  }
  // Declarations of internal modules (the runtime shims among them) are dead
  // weight, and the Deno shim's name `Deno.Conn`, which no consumer can resolve.
  const publicTypes = await reachable(join(esmDir, "mod.d.ts"), false);
  for (const path of Object.values(SIDE_ENTRIES)) {
    for (const file of await reachable(join(esmDir, `${path}.d.ts`), false)) publicTypes.add(file);
  }
  for await (const path of walk(esmDir)) {
    if (path.endsWith(".d.ts") && !publicTypes.has(path)) await Deno.remove(path);
  }
}

async function checkModuleGraph(): Promise<void> {
  const entry = join(esmDir, "mod.js");
  const loadedEagerly = await reachable(entry, false);
  for (const shim of ON_DEMAND_SHIMS) {
    if (loadedEagerly.has(join(esmDir, shim))) {
      fail(`${shim} is statically imported from mod.js; runtime shims must be loaded with dynamic import()`);
    }
  }
  // Every module any import() can reach must exist, with its specifiers rewritten.
  const loadedEver = await reachable(entry, true);
  for (const path of Object.values(SIDE_ENTRIES)) {
    if (loadedEver.has(join(esmDir, `${path}.js`))) {
      fail(`${path}.js is reachable from mod.js; the other entry points must stay out of the main package's graph`);
    }
    await reachable(join(esmDir, `${path}.js`), true);
  }
}

async function writePackageJson(deno: DenoConfig): Promise<void> {
  const pkg = {
    name: "streamsock",
    version: deno.version,
    description: DESCRIPTION,
    keywords: KEYWORDS,
    license: deno.license ?? "MIT",
    repository: { type: "git", url: REPOSITORY },
    type: "module",
    main: "./esm/mod.js",
    types: "./esm/mod.d.ts",
    // The command line (src/cli/main.ts, compiled with the rest of src/): npx streamsock, bunx streamsock.
    bin: { streamsock: "./esm/src/cli/main.js" },
    exports: {
      ".": { types: "./esm/mod.d.ts", import: "./esm/mod.js", default: "./esm/mod.js" },
      ...Object.fromEntries(
        Object.entries(SIDE_ENTRIES).map((
          [name, path],
        ) => [name, { types: `./esm/${path}.d.ts`, import: `./esm/${path}.js`, default: `./esm/${path}.js` }]),
      ),
      "./package.json": "./package.json",
    },
    // `streamsock/redis` needs the `redis` client; the main package, `streamsock/web` and `streamsock/ws` need nothing.
    peerDependencies: PEER_DEPENDENCIES,
    peerDependenciesMeta: Object.fromEntries(Object.keys(PEER_DEPENDENCIES).map((name) => [name, { optional: true }])),
    engines: { node: ">=20.19" },
    sideEffects: false,
    files: ["esm/", "README.md", "LICENSE"],
  };
  await Deno.writeTextFile(join(outDir, "package.json"), JSON.stringify(pkg, null, 2) + "\n");
}

const deno = JSON.parse(await Deno.readTextFile(join(root, "deno.json"))) as DenoConfig;
const files = await sources();
console.log(`build_npm: type-checking the source with deno check`);
await run(Deno.execPath(), ["check", "--quiet", ...files.map((file) => relative(root, file))]);
await Deno.remove(outDir, { recursive: true }).catch((err) => {
  if (!(err instanceof Deno.errors.NotFound)) throw err;
});
console.log(`build_npm: compiling ${files.length} modules with tsc`);
await compile(files);
await finishDeclarations();
await checkModuleGraph();
await writePackageJson(deno);
await Deno.copyFile(join(root, "README.md"), join(outDir, "README.md"));
await Deno.copyFile(join(root, "LICENSE"), join(outDir, "LICENSE"));
console.log(`build_npm: wrote ${relative(root, outDir)}/ (streamsock@${deno.version})`);
