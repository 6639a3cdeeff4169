// JSR readiness, checked offline (part of `npm run check`):
//   deno task check:jsr
//
// 1. `deno publish --dry-run`: the slow-types check (explicit types on the
//    public API) and the list of files JSR would receive, which must be
//    exactly mod.ts, src/**/*.ts, README.md, LICENSE and deno.json.
// 2. Every symbol an entry point of deno.json exports (mod.ts, ./redis, ./cli)
//    has a doc comment with an `@example`.
// 3. `deno check --doc`: those examples type-check against the real API.

import { join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../", import.meta.url));
const deno = Deno.execPath();
const problems: string[] = [];

async function output(args: string[]): Promise<{ code: number; text: string; stdout: string }> {
  const { code, stdout, stderr } = await new Deno.Command(deno, { args, cwd: root, env: { NO_COLOR: "1" } }).output();
  const decoder = new TextDecoder();
  const out = decoder.decode(stdout);
  return { code, text: out + decoder.decode(stderr), stdout: out };
}

async function* walk(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) yield* walk(path);
    else if (entry.isFile) yield path;
  }
}

const sources: string[] = [];
for await (const path of walk(join(root, "src"))) {
  if (path.endsWith(".ts")) sources.push(relative(root, path).split(sep).join("/"));
}

const publish = await output(["publish", "--dry-run", "--allow-dirty"]);
if (publish.code !== 0) problems.push(`deno publish --dry-run failed:\n${publish.text}`);
else {
  const published = [...publish.text.matchAll(/file:\/\/(\S+)/g)].map((m) => relative(root, m[1]).split(sep).join("/"));
  const expected = ["mod.ts", ...sources, "README.md", "LICENSE", "deno.json"];
  for (const file of expected) {
    if (!published.includes(file)) problems.push(`JSR would not receive ${file}`);
  }
  for (const file of published) {
    if (!expected.includes(file)) problems.push(`JSR would receive ${file}, which is not part of the library`);
  }
}

interface DocNode {
  name: string;
  declarations: { kind?: string; jsDoc?: { doc?: string; tags?: { kind: string }[] } }[];
}
// Every entry point deno.json exports, so an entry added there is held to the same rule.
const exported = (JSON.parse(await Deno.readTextFile(join(root, "deno.json"))) as { exports: Record<string, string> })
  .exports;
const entries = Object.values(exported).map((path) => path.replace(/^\.\//, ""));
for (const entry of entries) {
  const doc = await output(["doc", "--json", entry]);
  if (doc.code !== 0) {
    problems.push(`deno doc --json ${entry} failed:\n${doc.text}`);
    continue;
  }
  const json = JSON.parse(doc.stdout);
  const symbols = (json.nodes[new URL(entry, `file://${root}`).href]?.symbols ?? []) as DocNode[];
  for (const symbol of symbols) {
    // `export default X` and `export { X as "module.exports" }` are other names for X, checked under its own.
    if (symbol.declarations.every((declaration) => declaration.kind === "reference")) continue;
    const tags = symbol.declarations.flatMap((declaration) => declaration.jsDoc?.tags ?? []);
    if (!tags.some((tag) => tag.kind === "example")) {
      problems.push(`${symbol.name} (${entry}) has no @example in its doc comment`);
    }
  }
}

const examples = await output(["check", "--quiet", "--doc", "mod.ts", ...sources]);
if (examples.code !== 0) problems.push(`the doc examples do not type-check:\n${examples.text}`);

if (problems.length > 0) {
  console.error(`check_jsr: ${problems.length} problem(s)\n- ${problems.join("\n- ")}`);
  Deno.exit(1);
}
console.log(`check_jsr: ready for JSR (${sources.length + 1} modules, every export documented with an example)`);
