// The README's code, for tests that hold it to what it claims: its fenced
// blocks by section, and a block run as a program of the runtime running the
// tests, with only the package's import (and whatever the test names, such as
// a URL) rewritten.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { root, type Started, start } from "./_spawn.ts";
import type { Owner } from "./_test.ts";

/** The README's text. */
export const README = readFileSync(join(root, "README.md"), "utf8");

/** One fenced code block: its info string's language and its code. */
export interface CodeBlock {
  lang: string;
  code: string;
}

/** The text of the section under `heading` (a line `## heading` or deeper), up to the next heading of its level or higher. */
export function section(heading: string, markdown: string = README): string {
  const lines = markdown.split("\n");
  const start = lines.findIndex((line) => /^#{1,6} /.test(line) && line.replace(/^#+ /, "") === heading);
  if (start < 0) throw new Error(`No section ${JSON.stringify(heading)} in the README`);
  const level = lines[start].indexOf(" ");
  let end = start + 1;
  while (end < lines.length && !(new RegExp(`^#{1,${level}} `).test(lines[end]))) end++;
  return lines.slice(start + 1, end).join("\n");
}

/** The fenced code blocks of a piece of Markdown, in order (indented ones, inside lists, too). */
export function codeBlocks(markdown: string): CodeBlock[] {
  const blocks: CodeBlock[] = [];
  const fence = /^( *)```(\w*)[^\n]*\n([\s\S]*?)^\1```/gm;
  for (const match of markdown.matchAll(fence)) {
    const indent = match[1].length;
    const code = match[3].split("\n").map((line) => line.slice(Math.min(indent, line.search(/\S|$/)))).join("\n");
    blocks.push({ lang: match[2], code });
  }
  return blocks;
}

/** The package's import specifiers in the README (JSR, npm), rewritten to this checkout. */
const PACKAGE = /(["'])(?:jsr:)?(?:@streamsock\/streamsock|streamsock)(\/redis)?\1/g;

/**
 * `code` as a program of this checkout: the package's imports point at
 * `mod.ts` (`src/pubsub/redis.ts` for `/redis`), then each of `replace`
 * (exact text, which must occur) is substituted.
 */
export function programOf(code: string, replace: [string, string][] = []): string {
  let program = code.replace(PACKAGE, (_, quote, redis) => `${quote}${join(root, redis ? "src/pubsub/redis.ts" : "mod.ts")}${quote}`);
  for (const [from, to] of replace) {
    if (!program.includes(from)) throw new Error(`The README's code no longer contains ${JSON.stringify(from)}`);
    program = program.replaceAll(from, to);
  }
  return program;
}

/**
 * A README block started as a program (an ES module) of this runtime; when
 * `t` ends, the program is stopped (by its PID) and its file removed. The
 * file lives in the checkout's `.tmp/` (ignored by git), so Deno finds the
 * project's configuration (the `redis` import) and Node its `node_modules`.
 */
export function startProgram(t: Owner, program: string, env: Record<string, string> = {}): Started {
  mkdirSync(join(root, ".tmp"), { recursive: true });
  const dir = mkdtempSync(join(root, ".tmp", "readme-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "program.mts");
  writeFileSync(file, program);
  return start(t, file, [], env);
}
