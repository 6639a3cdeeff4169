// The import graph of src/ and mod.ts holds to the layer order that
// docs/architecture.md states ("Imports run one way, down this order: ..."):
// no import from a lower layer up to a higher one, and no cycle. The order is
// read from the document itself, so the two cannot drift apart; the imports
// are read with tests/_imports.ts's lexer (type-only imports count: a type
// that must come from above is a dependency on what is above).
import { describe, test } from "./_test.ts";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type Import, importsOf } from "./_imports.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** One module: its path from the repository root (with "/"), its layer's index, its relative imports. */
interface Module {
  path: string;
  layer: number;
  imports: (Import & { target: string })[];
}

/**
 * The layers, bottom first, read from docs/architecture.md's sentence
 * "Imports run one way, down this order: `a` `b` < `c/` < ... ." Each entry
 * names files (`message.ts`) or folders (`codec/`) under src/; `mod.ts`, the
 * public entry at the root, sits above every layer.
 */
export function layerOrder(architecture: string): string[][] {
  const match = /Imports run one way, down this order:([^]*?)(?:, and no files|\.\s)/.exec(architecture);
  if (match === null) {
    throw new Error('docs/architecture.md has no sentence "Imports run one way, down this order: ..."');
  }
  const layers = match[1].split("<").map((part) => [...part.matchAll(/`([^`]+)`/g)].map((m) => m[1]));
  if (layers.some((names) => names.length === 0)) throw new Error(`a layer without names in: ${match[1]}`);
  return layers;
}

/** The index of the layer `path` (from the root) belongs to; Infinity for mod.ts; -1 for none. */
function layerOf(path: string, layers: string[][]): number {
  if (path === "mod.ts") return Infinity;
  if (!path.startsWith("src/")) return -1;
  const inSrc = path.slice("src/".length);
  return layers.findIndex((names) =>
    names.some((name) => name.endsWith("/") ? inSrc.startsWith(name) : inSrc === name)
  );
}

function sourceFiles(dir: string): string[] {
  const files: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) files.push(...sourceFiles(full));
    else if (name.endsWith(".ts")) files.push(full);
  }
  return files;
}

const posix = (path: string) => path.split("\\").join("/");

/** Reads src/**\/*.ts and mod.ts under `root` into modules with their relative imports resolved. */
export function readGraph(root: string, layers: string[][]): Map<string, Module> {
  const modules = new Map<string, Module>();
  for (const file of [join(root, "mod.ts"), ...sourceFiles(join(root, "src"))]) {
    const path = posix(relative(root, file));
    const imports = importsOf(readFileSync(file, "utf8"))
      .filter((i) => i.specifier.startsWith("./") || i.specifier.startsWith("../"))
      .map((i) => ({ ...i, target: posix(relative(root, resolve(dirname(file), i.specifier))) }));
    modules.set(path, { path, layer: layerOf(path, layers), imports });
  }
  return modules;
}

/** Imports that name a file that is not there (a misread import would show here first). */
export function missingTargets(root: string, modules: Map<string, Module>): string[] {
  const missing: string[] = [];
  for (const m of modules.values()) {
    for (const i of m.imports) {
      if (!existsSync(join(root, i.target))) missing.push(`${m.path}:${i.line} imports ${i.specifier}`);
    }
  }
  return missing;
}

/** Every import from a lower layer up to a higher one, as "from:line → to (layer a < layer b)". */
export function upwardImports(modules: Map<string, Module>, layers: string[][]): string[] {
  const name = (layer: number) => layer === Infinity ? "mod.ts" : layers[layer].join(" ");
  const found: string[] = [];
  for (const m of modules.values()) {
    for (const i of m.imports) {
      const target = modules.get(i.target);
      if (target === undefined || target.layer <= m.layer) continue;
      found.push(`${m.path}:${i.line} imports ${i.target} (${name(m.layer)} is below ${name(target.layer)})`);
    }
  }
  return found;
}

/** An import cycle: one path around it, and the other files of the same tangle (strongly connected component). */
export interface Cycle {
  path: string[];
  others: string[];
}

/**
 * The import cycles: each strongly connected component of more than one
 * file. A file's imports of itself are not cycles (`src/ws/websocket.ts`
 * names its own class in its namespace of types). `allowed` edges
 * ("from → to") are left out of the graph.
 */
export function importCycles(modules: Map<string, Module>, allowed: ReadonlySet<string> = new Set()): Cycle[] {
  // Tarjan's algorithm, iterative.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let counter = 0;
  const edges = (path: string) =>
    [...new Set(modules.get(path)!.imports.map((i) => i.target))].filter((target) =>
      target !== path && modules.has(target) && !allowed.has(`${path} → ${target}`)
    );
  for (const start of modules.keys()) {
    if (index.has(start)) continue;
    const work: { node: string; next: number; targets: string[] }[] = [];
    const visit = (node: string) => {
      index.set(node, counter);
      low.set(node, counter++);
      stack.push(node);
      onStack.add(node);
      work.push({ node, next: 0, targets: edges(node) });
    };
    visit(start);
    while (work.length > 0) {
      const frame = work[work.length - 1];
      if (frame.next < frame.targets.length) {
        const target = frame.targets[frame.next++];
        if (!index.has(target)) visit(target);
        else if (onStack.has(target)) low.set(frame.node, Math.min(low.get(frame.node)!, index.get(target)!));
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const parent = work[work.length - 1].node;
        low.set(parent, Math.min(low.get(parent)!, low.get(frame.node)!));
      }
      if (low.get(frame.node) === index.get(frame.node)) {
        const component: string[] = [];
        let member: string;
        do {
          member = stack.pop()!;
          onStack.delete(member);
          component.push(member);
        } while (member !== frame.node);
        if (component.length > 1) components.push(component);
      }
    }
  }
  return components.map((component) => {
    const path = cyclePath(component, edges);
    return { path, others: component.filter((member) => !path.includes(member)).sort() };
  });
}

const describeCycle = ({ path, others }: Cycle) =>
  path.join(" → ") + (others.length === 0 ? "" : ` (and in the same tangle: ${others.join(", ")})`);

/** One cycle through a component's first member, found breadth-first: a → b → ... → a. */
function cyclePath(component: string[], edges: (path: string) => string[]): string[] {
  const inside = new Set(component);
  const start = [...component].sort()[0];
  const previous = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const node = queue.shift()!;
    for (const target of edges(node)) {
      if (!inside.has(target)) continue;
      if (target === start) {
        const path = [start];
        for (let at = node; at !== start; at = previous.get(at)!) path.splice(1, 0, at);
        return [...path, start];
      }
      if (!previous.has(target)) {
        previous.set(target, node);
        queue.push(target);
      }
    }
  }
  return component;
}

/**
 * The one exception to "no cycle", each edge type-only (checked): ws's
 * `WebSocket` class carries `WebSocketServer`, `Server` and
 * `createWebSocketStream` as static members and @types/ws's types in its
 * namespace, both of which TypeScript lets only the class's own file
 * declare, while the server and the stream are built on the class.
 */
const TYPE_CYCLES_ALLOWED = new Map([
  ["src/ws/websocket.ts → src/ws/server.ts", "WebSocket.WebSocketServer / .Server, and the namespace's server types"],
  ["src/ws/websocket.ts → src/ws/stream.ts", "WebSocket.createWebSocketStream"],
]);

const architecture = () => readFileSync(join(ROOT, "docs", "architecture.md"), "utf8");

describe("the import graph of src/ and mod.ts", () => {
  test("every module is in a layer of docs/architecture.md's order", () => {
    const layers = layerOrder(architecture());
    assert.ok(
      layers.length >= 5,
      `only ${layers.length} layers read from docs/architecture.md: ${JSON.stringify(layers)}`,
    );
    const modules = readGraph(ROOT, layers);
    const outside = [...modules.values()].filter((m) => m.layer === -1).map((m) => m.path);
    assert.deepEqual(outside, [], "modules in no layer of docs/architecture.md's order (add their folder to it)");
    const unused = layers.flat().filter((name) => ![...modules.keys()].some((path) => layerOf(path, [[name]]) === 0));
    assert.deepEqual(unused, [], "names in docs/architecture.md's order that match no module");
  });

  test("every relative import names a file that exists", () => {
    const modules = readGraph(ROOT, layerOrder(architecture()));
    const count = [...modules.values()].reduce((sum, m) => sum + m.imports.length, 0);
    assert.ok(count > 300, `only ${count} imports read from ${modules.size} modules: the parser misses some`);
    assert.deepEqual(missingTargets(ROOT, modules), []);
  });

  test("no import runs from a lower layer up to a higher one", () => {
    const layers = layerOrder(architecture());
    const modules = readGraph(ROOT, layers);
    assert.deepEqual(upwardImports(modules, layers), []);
    const entries = modules.get("mod.ts")!.imports.filter((i) => /^src\/(web|ws|cli)\//.test(i.target));
    assert.deepEqual(
      entries.map((i) => `mod.ts:${i.line} imports ${i.target}`),
      [],
      "mod.ts imports another entry point",
    );
  });

  test("no files import each other in a cycle", () => {
    const modules = readGraph(ROOT, layerOrder(architecture()));
    assert.deepEqual(importCycles(modules, new Set(TYPE_CYCLES_ALLOWED.keys())).map(describeCycle), []);
  });

  test("the cycles allowed are type-only imports that are still there", () => {
    const modules = readGraph(ROOT, layerOrder(architecture()));
    for (const edge of TYPE_CYCLES_ALLOWED.keys()) {
      const [from, to] = edge.split(" → ");
      const imports = modules.get(from)?.imports.filter((i) => i.target === to) ?? [];
      assert.ok(imports.length > 0, `${edge} is allowed but no longer imported: take it off TYPE_CYCLES_ALLOWED`);
      const loaded = imports.filter((i) => !i.typeOnly).map((i) => `${from}:${i.line}`);
      assert.deepEqual(loaded, [], `${edge} is allowed as a type-only import, but these lines import it at run time`);
    }
  });
});

// The checks above must be able to fail: the same functions over small trees
// with a planted upward import and a planted cycle.
describe("the layering checks themselves", () => {
  const layers = [["message.ts"], ["codec/"], ["connection/"]];
  const graph = (files: Record<string, string[]>): Map<string, Module> =>
    new Map(
      Object.entries(files).map(([path, targets]) => [path, {
        path,
        layer: layerOf(path, layers),
        imports: targets.map((target, n) => ({
          specifier: target,
          target,
          line: n + 1,
          typeOnly: false,
          dynamic: false,
        })),
      }]),
    );

  test("an upward import is reported with its file, line and layers", () => {
    const modules = graph({
      "src/message.ts": [],
      "src/codec/a.ts": ["src/message.ts", "src/connection/x.ts"],
      "src/connection/x.ts": ["src/codec/a.ts"],
      "mod.ts": ["src/connection/x.ts"],
    });
    assert.deepEqual(upwardImports(modules, layers), [
      "src/codec/a.ts:2 imports src/connection/x.ts (codec/ is below connection/)",
    ]);
  });

  test("a cycle is reported as a path around it; a diamond or a self-import is not a cycle", () => {
    const modules = graph({
      "src/codec/a.ts": ["src/codec/b.ts", "src/codec/d.ts"],
      "src/codec/b.ts": ["src/codec/c.ts"],
      "src/codec/c.ts": ["src/codec/a.ts"],
      "src/codec/d.ts": ["src/codec/e.ts"],
      "src/codec/e.ts": [],
      "src/connection/x.ts": ["src/codec/d.ts", "src/codec/e.ts"],
      "src/connection/self.ts": ["src/connection/self.ts"],
    });
    assert.deepEqual(importCycles(modules).map(describeCycle), [
      "src/codec/a.ts → src/codec/b.ts → src/codec/c.ts → src/codec/a.ts",
    ]);
    modules.get("src/codec/e.ts")!.imports.push(
      { specifier: "x", target: "src/connection/x.ts", line: 1, typeOnly: true, dynamic: false },
    );
    assert.deepEqual(importCycles(modules).map(describeCycle).sort(), [
      "src/codec/a.ts → src/codec/b.ts → src/codec/c.ts → src/codec/a.ts",
      "src/codec/d.ts → src/codec/e.ts → src/connection/x.ts → src/codec/d.ts",
    ]);
    assert.deepEqual(
      importCycles(modules, new Set(["src/codec/e.ts → src/connection/x.ts"])).map(describeCycle),
      ["src/codec/a.ts → src/codec/b.ts → src/codec/c.ts → src/codec/a.ts"],
      "an allowed edge is left out",
    );
  });

  test("the order is read from the sentence, folders and files alike", () => {
    const text = "Before.\n\nImports run one way, down this order: `message.ts` `errors.ts` < `codec/` <\n" +
      "`client/` and `server/` < `web/`, `ws/` and `cli/`, and no files import each other in a cycle.";
    assert.deepEqual(layerOrder(text), [["message.ts", "errors.ts"], ["codec/"], ["client/", "server/"], [
      "web/",
      "ws/",
      "cli/",
    ]]);
    assert.throws(() => layerOrder("no such sentence"), /down this order/);
  });

  test("the parser finds every form of import and none in comments, strings or templates", () => {
    const source = [
      'import { a, type B } from "./a.ts";',
      'import type { C } from "./c.ts";',
      'import { type D, type E as F } from "./d.ts";',
      'import * as g from "./g.ts";',
      'import h, { i } from "./h.ts";',
      'import "./side.ts";',
      'export * from "./star.ts";',
      'export { j as k } from "./j.ts";',
      'export type { L } from "./l.ts";',
      "export { a };",
      "export const m = 1;",
      "/** @example",
      ' * import { connect } from "./comment.ts";',
      " */",
      '// import { x } from "./line_comment.ts";',
      "const s = \"import { y } from './string.ts'\";",
      "const page = `",
      'import { z } from "./template.ts";',
      '${`nested ${"x"}`} export * from "./template2.ts";`;',
      'const re = /import "x"/g; const q = 4 / 2 / 1;',
      'const later = await import("./dynamic.ts");',
      'type T = typeof import("./typed.ts").T;',
      "const meta = import.meta.url;",
      'export {\n  n,\n  o,\n} from "./multiline.ts";',
    ].join("\n");
    const found = importsOf(source).map((i) =>
      `${i.specifier}${i.typeOnly ? " type" : ""}${i.dynamic ? " dynamic" : ""}@${i.line}`
    );
    assert.deepEqual(found, [
      "./a.ts@1",
      "./c.ts type@2",
      "./d.ts type@3",
      "./g.ts@4",
      "./h.ts@5",
      "./side.ts@6",
      "./star.ts@7",
      "./j.ts@8",
      "./l.ts type@9",
      "./dynamic.ts dynamic@21",
      "./typed.ts type dynamic@22",
      "./multiline.ts@27",
    ]);
  });
});
