// Developer check (not part of npm test): does a test file exit promptly when
// its tests fail? A test that fails before its cleanup runs can leave a
// socket, a server, a child process or a timer behind, and on Node such a
// file never exits; the runner then prints nothing for the files after it.
//
// For each test file given, this copies the file beside itself, plants
// `throw new Error("planted failure")` right after the first statement of
// every test body that awaits something (inside a `try` when that is where
// the await is), runs the copy alone on each runtime, and reports how long
// the runtime took to exit and how many tests failed. The file must exit
// within seconds: "HUNG" means it was still running at the limit and was
// killed, "LEFT PROCESSES RUNNING" that processes it started outlived it
// (both are killed with the process group this script started).
//
//   node --import tsx scripts/failing_test_exit.ts [--runtimes deno,bun,node] [--limit 60] [--only text] [file...]
//
// With no file, every tests/**/*.test.ts is checked. `--only` plants only in
// the tests whose body opens on a line containing `text`, to find which test
// of a file hangs. The copy is named `<file>.planted.test.ts` and removed
// afterwards. Deno runs it with --no-check: the time measured is the exit's.
import { spawn } from "node:child_process";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join, relative } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../", import.meta.url));
const PLANTED = `throw new Error("planted failure (scripts/failing_test_exit.ts)");`;

// ---------------------------------------------------------------- a small TypeScript lexer

interface Token {
  kind: "name" | "punct" | "string" | "number";
  text: string;
  start: number;
  end: number;
}

const REGEX_AFTER_NAME = new Set([
  "return", "typeof", "instanceof", "in", "of", "new", "delete", "void", "throw", "case", "do", "else", "yield", "await",
]);

/** Tokens of `src`; strings, template literals and regular expressions are one token each. */
function lex(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const regexAllowed = () => {
    const prev = tokens[tokens.length - 1];
    if (prev === undefined) return true;
    if (prev.kind === "name") return REGEX_AFTER_NAME.has(prev.text);
    if (prev.kind === "punct") return prev.text !== ")" && prev.text !== "]" && prev.text !== "}";
    return false;
  };
  while (i < src.length) {
    const c = src[i];
    if (/\s/.test(c)) {
      i++;
    } else if (src.startsWith("//", i)) {
      i = src.indexOf("\n", i);
      if (i < 0) i = src.length;
    } else if (src.startsWith("/*", i)) {
      i = src.indexOf("*/", i + 2) + 2;
    } else if (c === '"' || c === "'") {
      const start = i++;
      while (src[i] !== c) i += src[i] === "\\" ? 2 : 1;
      tokens.push({ kind: "string", text: src.slice(start, ++i), start, end: i });
    } else if (c === "`") {
      const start = i;
      i = skipTemplate(src, i);
      tokens.push({ kind: "string", text: src.slice(start, i), start, end: i });
    } else if (c === "/" && regexAllowed()) {
      const start = i++;
      let inClass = false;
      while (inClass || src[i] !== "/") {
        if (src[i] === "\\") i++;
        else if (src[i] === "[") inClass = true;
        else if (src[i] === "]") inClass = false;
        i++;
      }
      i++;
      while (/[a-z]/.test(src[i] ?? "")) i++;
      tokens.push({ kind: "string", text: src.slice(start, i), start, end: i });
    } else if (/[A-Za-z_$#]/.test(c)) {
      const start = i;
      while (/[\w$#]/.test(src[i] ?? "")) i++;
      tokens.push({ kind: "name", text: src.slice(start, i), start, end: i });
    } else if (/[0-9]/.test(c)) {
      const start = i;
      while (/[\w.]/.test(src[i] ?? "")) i++;
      tokens.push({ kind: "number", text: src.slice(start, i), start, end: i });
    } else if (src.startsWith("=>", i)) {
      tokens.push({ kind: "punct", text: "=>", start: i, end: i + 2 });
      i += 2;
    } else {
      tokens.push({ kind: "punct", text: c, start: i, end: i + 1 });
      i++;
    }
  }
  return tokens;
}

/** The index just past the template literal starting at `i`, `${...}` expressions included. */
function skipTemplate(src: string, i: number): number {
  i++;
  while (src[i] !== "`") {
    if (src[i] === "\\") i += 2;
    else if (src.startsWith("${", i)) i = findExpressionEnd(src, i + 2) + 1;
    else i++;
  }
  return i + 1;
}

/** The index of the `}` closing a template expression that starts at `i`. */
function findExpressionEnd(src: string, i: number): number {
  let depth = 0;
  while (i < src.length) {
    const c = src[i];
    if (c === '"' || c === "'") {
      i++;
      while (src[i] !== c) i += src[i] === "\\" ? 2 : 1;
      i++;
    } else if (c === "`") i = skipTemplate(src, i);
    else if (c === "{") depth++, i++;
    else if (c === "}") {
      if (depth === 0) return i;
      depth--;
      i++;
    } else i++;
  }
  throw new Error("unterminated template expression");
}

/** For every opening bracket token, the index of its closing one (and back). */
function matchBrackets(tokens: Token[]): Map<number, number> {
  const pairs = new Map<number, number>();
  const stack: number[] = [];
  tokens.forEach((token, i) => {
    if (token.kind !== "punct") return;
    if ("([{".includes(token.text)) stack.push(i);
    else if (")]}".includes(token.text)) {
      const open = stack.pop()!;
      pairs.set(open, i);
      pairs.set(i, open);
    }
  });
  return pairs;
}

// ---------------------------------------------------------------- finding test bodies

/** Token index ranges [open brace, close brace] of the block bodies of tests (and conformance `run` cases). */
function testBodies(tokens: Token[], pairs: Map<number, number>): { open: number; close: number }[] {
  const bodies: { open: number; close: number }[] = [];
  const t = (i: number) => tokens[i]?.text;
  for (let i = 0; i < tokens.length; i++) {
    if (t(i) === "test" && t(i + 1) === "(" && t(i - 1) !== "." && t(i - 1) !== "function") {
      // The last argument, when it is a function with a block body.
      const close = pairs.get(i + 1)!;
      let lastStart = i + 2;
      for (let j = i + 2; j < close; j++) {
        if ("([{".includes(t(j)!) && tokens[j].kind === "punct") j = pairs.get(j)!;
        else if (t(j) === "," && j + 1 < close) lastStart = j + 1;
      }
      const body = functionBody(tokens, pairs, lastStart, close);
      if (body !== null) bodies.push(body);
    } else if (t(i) === "run" && t(i - 1) === "async" && t(i + 1) === "(") {
      // async run(...) { ... } in a conformance case.
      let j = pairs.get(i + 1)! + 1;
      while (t(j) !== "{") j++;
      bodies.push({ open: j, close: pairs.get(j)! });
    } else if (t(i) === "run" && t(i + 1) === ":" && t(i + 2) === "async") {
      const body = functionBody(tokens, pairs, i + 2, tokens.length);
      if (body !== null) bodies.push(body);
    }
  }
  return bodies;
}

/** The block body of the function expression starting at token `start`, if it is one. */
function functionBody(
  tokens: Token[],
  pairs: Map<number, number>,
  start: number,
  limit: number,
): { open: number; close: number } | null {
  let j = start;
  if (tokens[j]?.text === "async") j++;
  if (tokens[j]?.text === "function") {
    while (j < limit && tokens[j].text !== "(") j++;
  }
  if (tokens[j]?.text === "(") j = pairs.get(j)! + 1;
  else if (tokens[j]?.kind === "name") j++;
  else return null;
  // A return type annotation, then the arrow.
  while (j < limit && tokens[j].text !== "=>" && tokens[j].text !== "{") {
    if ("([".includes(tokens[j].text)) j = pairs.get(j)!;
    j++;
  }
  if (tokens[j]?.text === "=>") j++;
  if (tokens[j]?.text !== "{") return null;
  return { open: j, close: pairs.get(j)! };
}

const BLOCK_STATEMENTS = new Set(["for", "while", "if", "try", "switch", "do", "{"]);
const CONTINUATIONS = new Set(["else", "catch", "finally", "while"]);

/** The statements of the block whose braces are tokens `open` and `close`: first and last token of each. */
function statements(tokens: Token[], pairs: Map<number, number>, open: number, close: number): [number, number][] {
  const out: [number, number][] = [];
  for (let start = open + 1; start < close;) {
    const first = tokens[start].text;
    let end = start;
    for (; end < close; end++) {
      const { text, kind } = tokens[end];
      if (text === ";") break;
      if (kind === "punct" && "([{".includes(text)) {
        end = pairs.get(end)!;
        if (text === "{" && BLOCK_STATEMENTS.has(first) && !CONTINUATIONS.has(tokens[end + 1].text)) break;
      }
    }
    end = Math.min(end, close - 1);
    out.push([start, end]);
    start = end + 1;
  }
  return out;
}

const BLOCK_OPENERS = new Set(["for", "while", "if", "switch", "catch"]);

/**
 * Whether the statement (tokens `start`..`end`) awaits as it runs: an await
 * inside a function it merely defines (a handler passed to serve, say) does
 * not count.
 */
function awaitsHere(tokens: Token[], pairs: Map<number, number>, start: number, end: number): boolean {
  for (let k = start; k <= end; k++) {
    const { kind, text } = tokens[k];
    if (kind === "name" && text === "await") return true;
    if (kind !== "punct" || text !== "{") continue;
    const prev = tokens[k - 1];
    const ownBlock = prev.text === ")" ? BLOCK_OPENERS.has(tokens[pairs.get(k - 1)! - 1]?.text) : prev.kind === "name";
    const functionBody = prev.text === "=>" || (prev.text === ")" && !ownBlock);
    if (functionBody) k = pairs.get(k)!;
  }
  return false;
}

/**
 * The source offset just after the first statement of the block (tokens
 * `open`..`close`) that awaits something. A `try` or a bare block is
 * entered, so the throw lands beside the await, inside the `try` whose
 * `finally` is meant to clean up.
 */
function afterFirstAwait(tokens: Token[], pairs: Map<number, number>, open: number, close: number): number | null {
  for (const [start, end] of statements(tokens, pairs, open, close)) {
    if (!awaitsHere(tokens, pairs, start, end)) continue;
    const first = tokens[start].text;
    if (first === "try" || first === "{") {
      const block = first === "{" ? start : start + 1;
      const inner = afterFirstAwait(tokens, pairs, block, pairs.get(block)!);
      if (inner !== null) return inner;
    }
    return tokens[end].end;
  }
  return null;
}

/**
 * `src` with the planted throw after the first awaited statement of every
 * test body (whose opening line contains `only`, when given), and how many
 * bodies got one.
 */
function plant(src: string, only?: string): { text: string; planted: number } {
  const tokens = lex(src);
  const pairs = matchBrackets(tokens);
  const lines = src.split("\n");
  const inserts: number[] = [];
  for (const body of testBodies(tokens, pairs)) {
    const line = lines[src.slice(0, tokens[body.open].start).split("\n").length - 1];
    if (only !== undefined && !line.includes(only)) continue;
    const at = afterFirstAwait(tokens, pairs, body.open, body.close);
    if (at !== null) inserts.push(at);
  }
  let text = src;
  for (const at of inserts.sort((a, b) => b - a)) text = text.slice(0, at) + " " + PLANTED + text.slice(at);
  return { text, planted: inserts.length };
}

// ---------------------------------------------------------------- running

type Runtime = "deno" | "bun" | "node";

function command(runtime: Runtime, file: string): [string, string[]] {
  const bin = (name: string) => join(root, "node_modules", ".bin", name);
  switch (runtime) {
    case "deno":
      return [bin("deno"), ["test", "-A", "--no-check", file]];
    case "bun":
      return [bin("bun"), ["test", "--timeout", "120000", "./" + file]];
    case "node":
      return [process.execPath, ["--import", "tsx", "--test", file]];
  }
}

interface Outcome {
  seconds: number;
  hung: boolean;
  /** Whether processes the file started outlived it. */
  leftBehind: boolean;
  code: number | null;
  failed: string | null;
  output: string;
}

/** Kills the process group of the run in progress, if any (on Ctrl-C). */
let killRunning = () => {};

function runFile(runtime: Runtime, file: string, limitMs: number): Promise<Outcome> {
  const [cmd, args] = command(runtime, file);
  const started = performance.now();
  // Its own process group, so a hung run is killed with every process it started.
  const child = spawn(cmd, args, { cwd: root, detached: true, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } });
  let output = "";
  child.stdout!.on("data", (chunk) => (output += chunk));
  child.stderr!.on("data", (chunk) => (output += chunk));
  let hung = false;
  killRunning = () => {
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      // Already gone.
    }
  };
  const timer = setTimeout(() => {
    hung = true;
    killRunning();
  }, limitMs);
  return new Promise((resolve) => {
    child.on("close", async (code) => {
      clearTimeout(timer);
      const seconds = (performance.now() - started) / 1000;
      // A process the test file started and left behind (a server, say) is still in
      // its group; helpers such as tsx's esbuild service take a moment to follow.
      let leftBehind = groupAlive(child.pid!);
      for (let i = 0; leftBehind && i < 20; i++) {
        await new Promise((wake) => setTimeout(wake, 100));
        leftBehind = groupAlive(child.pid!);
      }
      if (leftBehind) killRunning();
      resolve({ seconds, hung, leftBehind, code, failed: failedCount(runtime, output), output });
    });
  });
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** How many tests failed, as the runner put it, when it got that far. */
function failedCount(runtime: Runtime, output: string): string | null {
  // Deno counts failed top-level tests, and the tests inside describe blocks as steps.
  const match = runtime === "deno"
    ? output.match(/^FAILED \|.*?(\d+ failed(?: \(\d+ steps?\))?)/m)
    : runtime === "bun"
    ? output.match(/^\s*(\d+) fail$/m)
    : output.match(/^# fail (\d+)$/m);
  return match ? (runtime === "deno" ? match[1] : `${match[1]} failed`) : null;
}

function allTestFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory() && !["fixtures", "node-versions", "package"].includes(entry.name)) out.push(...allTestFiles(path));
    else if (entry.name.endsWith(".test.ts") && !entry.name.endsWith(".planted.test.ts")) out.push(path);
  }
  return out.sort();
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  let runtimes: Runtime[] = ["deno", "bun", "node"];
  let limit = 60;
  let only: string | undefined;
  const files: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--runtimes") runtimes = args[++i].split(",") as Runtime[];
    else if (args[i] === "--limit") limit = Number(args[++i]);
    else if (args[i] === "--only") only = args[++i];
    else files.push(relative(root, join(process.cwd(), args[i])));
  }
  if (files.length === 0) files.push(...allTestFiles("tests"));

  let copy: string | null = null;
  const removeCopy = () => copy !== null && rmSync(join(root, copy), { force: true });
  process.on("SIGINT", () => {
    removeCopy();
    killRunning();
    process.exit(130);
  });

  console.log(`| file | planted | ${runtimes.join(" | ")} |`);
  console.log(`|---|---|${runtimes.map(() => "---|").join("")}`);
  let bad = 0;
  for (const file of files) {
    const { text, planted } = plant(readFileSync(join(root, file), "utf8"), only);
    const cells: string[] = [];
    if (planted > 0) {
      copy = join(dirname(file), basename(file, ".test.ts") + ".planted.test.ts");
      writeFileSync(join(root, copy), text);
      try {
        for (const runtime of runtimes) {
          const outcome = await runFile(runtime, copy, limit * 1000);
          const failedNote = outcome.failed ?? "? failed";
          if (outcome.hung) {
            bad++;
            cells.push(`HUNG (killed at ${limit} s)`);
          } else {
            if (outcome.code === 0 || outcome.leftBehind) bad++;
            const notes = [
              failedNote,
              ...(outcome.code === 0 ? ["EXIT 0"] : []),
              ...(outcome.leftBehind ? ["LEFT PROCESSES RUNNING"] : []),
            ];
            cells.push(`${outcome.seconds.toFixed(1)} s, ${notes.join(", ")}`);
          }
          if (process.env.FAILING_TEST_EXIT_VERBOSE) console.error(outcome.output.slice(-4000));
        }
      } finally {
        removeCopy();
        copy = null;
      }
    } else {
      cells.push(...runtimes.map(() => "no test awaits anything: not run"));
    }
    console.log(`| ${file} | ${planted} | ${cells.join(" | ")} |`);
  }
  process.exitCode = bad === 0 ? 0 : 1;
}

await main();
