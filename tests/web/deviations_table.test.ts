// The README's table of where each runtime's own WebSocket deviates from the
// standard says exactly what DEVIATIONS in _web.ts says: one row per listed
// check (named as there), a cell other than "ok" in a runtime's column
// exactly where that runtime is listed, and "ok" all down streamsock's. The
// suites fail when a listed check passes, so the list is true; this keeps
// the table equal to it.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, test } from "../_test.ts";
import { DEVIATIONS } from "./_web.ts";

const README = fileURLToPath(new URL("../../README.md", import.meta.url));

/** The README's column for each implementation DEVIATIONS names. */
const COLUMNS: Record<string, string> = {
  "deno native": "Deno 2.9",
  "bun native": "Bun 1.4",
  "node22 native": "Node 22 (undici)",
  "node24 native": "Node 24 (undici)",
};

/** The deviation table: its header cells and its rows, cells with their backticks removed. */
function deviationTable(): { header: string[]; rows: string[][] } {
  const text = readFileSync(README, "utf8");
  const section = text.slice(text.indexOf("## The standard WebSocket API"));
  const lines = section.split("\n");
  const start = lines.findIndex((line) => line.startsWith("| Check |"));
  assert.ok(start >= 0, 'the README\'s "The standard WebSocket API" has a "| Check |" table');
  const cells = (line: string) => line.slice(1, -1).split("|").map((cell) => cell.trim().replaceAll("`", ""));
  const rows: string[][] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith("|")) break;
    rows.push(cells(line));
  }
  return { header: cells(lines[start]), rows };
}

describe("the README's deviation table", () => {
  test("has a row for each check DEVIATIONS lists, and only those", () => {
    const { rows } = deviationTable();
    const listed = new Set(Object.values(DEVIATIONS).flatMap((checks) => Object.keys(checks)));
    assert.deepEqual(rows.map((row) => row[0]).sort(), [...listed].sort());
  });

  for (const [impl, column] of Object.entries(COLUMNS)) {
    test(`the ${column} column deviates exactly where DEVIATIONS lists ${impl}`, () => {
      const { header, rows } = deviationTable();
      const index = header.indexOf(column);
      assert.ok(index > 0, `a "${column}" column in ${header.join(" | ")}`);
      const deviating = rows.filter((row) => row[index] !== "ok").map((row) => row[0]).sort();
      assert.deepEqual(deviating, Object.keys(DEVIATIONS[impl] ?? {}).sort());
    });
  }

  test("every implementation DEVIATIONS lists has a column; streamsock/web's is ok all down", () => {
    const { header, rows } = deviationTable();
    for (const impl of Object.keys(DEVIATIONS)) assert.ok(impl in COLUMNS, `a README column for ${impl}`);
    const ours = header.indexOf("streamsock/web");
    assert.ok(ours > 0, "a streamsock/web column");
    assert.deepEqual(rows.filter((row) => row[ours] !== "ok").map((row) => row[0]), []);
  });
});
