// Runs the conformance suite (tests/conformance/) and the interop matrix
// (tests/interop/) on Deno, Bun and Node, reads each runner's JUnit report,
// and writes the results tables to docs/conformance.md. Exits non-zero when
// any case failed (the document is written anyway, failures listed).
//
//   node --import tsx scripts/conformance_report.ts
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const bin = (name: string) => join(root, "node_modules/.bin", name);
const RUNTIMES = ["Deno", "Bun", "Node"] as const;
type Runtime = typeof RUNTIMES[number];
type Outcome = "pass" | "fail" | "skip";

const CATEGORIES: Record<string, string> = {
  "1": "1.x framing",
  "2": "2.x pings and pongs",
  "3": "3.x reserved bits",
  "4": "4.x reserved opcodes",
  "5": "5.x fragmentation",
  "6": "6.x UTF-8",
  "7": "7.x closing",
  "9": "9.x sizes and limits",
};

function testFiles(dir: string): string[] {
  return readdirSync(join(root, dir)).filter((f) => f.endsWith(".test.ts")).sort().map((f) => `${dir}/${f}`);
}

function command(runtime: Runtime, report: string): [string, string[]] {
  const files = [...testFiles("tests/conformance"), ...testFiles("tests/interop")];
  switch (runtime) {
    case "Deno":
      return [bin("deno"), ["test", "-A", "--reporter=junit", `--junit-path=${report}`, ...files]];
    case "Bun":
      return [
        bin("bun"),
        ["test", "--timeout", "120000", "--reporter=junit", `--reporter-outfile=${report}`, ...files.map((f) => `./${f}`)],
      ];
    case "Node":
      return [
        "node",
        ["--import", "tsx", "--test", "--test-reporter=junit", `--test-reporter-destination=${report}`, ...files],
      ];
  }
}

function unescapeXml(text: string): string {
  return text.replace(/&gt;/g, ">").replace(/&lt;/g, "<").replace(/&quot;/g, '"').replace(/&apos;/g, "'")
    .replace(/&#(\d+);/g, (_, n) => String.fromCodePoint(Number(n))).replace(/&amp;/g, "&");
}

/** Every `[server]`, `[client]` and `[interop]` case in a JUnit report, by name. */
function parseJunit(xml: string): Map<string, Outcome> {
  const results = new Map<string, Outcome>();
  const testcase = /<testcase\b[^>]*\bname="([^"]*)"[^>]*?(\/>|>([\s\S]*?)<\/testcase>)/g;
  for (const match of xml.matchAll(testcase)) {
    const name = unescapeXml(match[1]);
    const at = name.search(/\[(server|client|interop)\] /);
    if (at < 0) continue;
    const body = match[3] ?? "";
    const outcome: Outcome = /<(failure|error)\b/.test(body) ? "fail" : /<skipped\b/.test(body) ? "skip" : "pass";
    const key = name.slice(at);
    // A name seen twice (Deno lists a step under more than one suite) keeps its worst outcome.
    if (results.get(key) !== "fail") results.set(key, outcome);
  }
  return results;
}

function version(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim().split("\n")[0];
  } catch {
    return "not installed";
  }
}

const work = mkdtempSync(join(tmpdir(), "streamsock-conformance-"));
const byRuntime = new Map<Runtime, Map<string, Outcome>>();
try {
  for (const runtime of RUNTIMES) {
    const report = join(work, `${runtime}.xml`);
    const [cmd, args] = command(runtime, report);
    console.log(`${runtime}: ${cmd} ${args.join(" ")}`);
    const run = spawnSync(cmd, args, { cwd: root, stdio: ["ignore", "inherit", "inherit"], timeout: 1_200_000 });
    console.log(`${runtime}: exit ${run.status}`);
    let xml = "";
    try {
      xml = readFileSync(report, "utf8");
    } catch {
      console.error(`${runtime}: no JUnit report was written`);
    }
    byRuntime.set(runtime, parseJunit(xml));
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

const names = new Set<string>();
for (const results of byRuntime.values()) for (const name of results.keys()) names.add(name);
const failures: string[] = [];
for (const [runtime, results] of byRuntime) {
  for (const [name, outcome] of results) if (outcome === "fail") failures.push(`${runtime}: ${name}`);
  if (results.size === 0) failures.push(`${runtime}: no results at all`);
}

function cell(runtime: Runtime, keys: string[]): string {
  const results = byRuntime.get(runtime)!;
  let pass = 0;
  let skip = 0;
  let missing = 0;
  for (const key of keys) {
    const outcome = results.get(key);
    if (outcome === "pass") pass++;
    else if (outcome === "skip") skip++;
    else if (outcome === undefined) missing++;
  }
  const mark = pass === keys.length ? "✅" : pass + skip === keys.length ? "⚠️" : "❌";
  return `${mark} ${pass}/${keys.length}${skip ? ` (${skip} skipped)` : ""}${missing ? ` (${missing} not run)` : ""}`;
}

const lines: string[] = [];
lines.push("# RFC 6455 conformance and interoperability");
lines.push("");
lines.push(
  "Generated by `node --import tsx scripts/conformance_report.ts` (about two minutes), which runs",
  "`tests/conformance/` and `tests/interop/` on Deno, Bun and Node, reads each runner's JUnit report and",
  "rewrites this file. `npm test` runs the same tests on all three runtimes.",
);
lines.push("");
lines.push(`Run on ${new Date().toISOString().slice(0, 10)} with Deno ${version(bin("deno"), ["--version"]).replace(/^deno /, "")}, Bun ${
  version(bin("bun"), ["--version"])
}, Node ${version("node", ["--version"])}, ${version("/usr/bin/chromium", ["--version"])}, Python websockets ${
  version("/usr/bin/python3", ["-c", "import websockets; print(websockets.__version__)"])
}.`);
lines.push("");
lines.push("## Conformance suite");
lines.push("");
lines.push(
  "Our own cases, written from RFC 6455 in the spirit of the Autobahn|Testsuite categories. Against **our",
  "server** (`serve`) a raw `node:net` client sends crafted, masked bytes after a hand-written upgrade request;",
  "against **our client** (`connect`) a raw `node:net` server answers the handshake by hand and sends crafted,",
  "unmasked bytes. Both run an echo application, over real TCP on 127.0.0.1, and every case checks the exact",
  "bytes that come back (masking aside) or the exact close code and the end of TCP. Cells: cases passed / cases.",
);
lines.push("");
lines.push(`| Category | ${RUNTIMES.map((r) => `server, ${r}`).join(" | ")} | ${RUNTIMES.map((r) => `client, ${r}`).join(" | ")} |`);
lines.push(`|---|${"---|".repeat(RUNTIMES.length * 2)}`);
let totalServer = 0;
let totalClient = 0;
for (const [digit, title] of Object.entries(CATEGORIES)) {
  const of = (side: string) => [...names].filter((n) => n.startsWith(`[${side}] ${digit}.`)).sort();
  const server = of("server");
  const client = of("client");
  totalServer += server.length;
  totalClient += client.length;
  lines.push(`| ${title} | ${RUNTIMES.map((r) => cell(r, server)).join(" | ")} | ${RUNTIMES.map((r) => cell(r, client)).join(" | ")} |`);
}
const allOf = (side: string) => [...names].filter((n) => n.startsWith(`[${side}] `));
lines.push(`| **all** | ${RUNTIMES.map((r) => cell(r, allOf("server"))).join(" | ")} | ${RUNTIMES.map((r) => cell(r, allOf("client"))).join(" | ")} |`);
lines.push("");
lines.push(`${totalServer} cases against the server and ${totalClient} against the client on each runtime.`);
lines.push("");
lines.push("## Interop matrix");
lines.push("");
lines.push(
  "Implementations nobody here wrote, each in its own process on 127.0.0.1, exchange multi-byte text, binary,",
  "empty, 125/126/65535/65536-byte and 1 MiB messages, negotiate a subprotocol, ping and are pinged (where",
  "their API can), and close with a code and reason from either end. The columns say which runtime streamsock",
  "ran on. ⚠️ means skipped because the program was not installed (the test says so loudly).",
);
lines.push("");
lines.push(`| Peer | ${RUNTIMES.join(" | ")} |`);
lines.push(`|---|${"---|".repeat(RUNTIMES.length)}`);
for (const name of [...names].filter((n) => n.startsWith("[interop] ")).sort()) {
  const row = RUNTIMES.map((r) => {
    const outcome = byRuntime.get(r)!.get(name);
    return outcome === "pass" ? "✅ pass" : outcome === "skip" ? "⚠️ skipped" : outcome === "fail" ? "❌ fail" : "not run";
  });
  lines.push(`| ${name.slice("[interop] ".length).replace("<-", "←").replace("->", "→")} | ${row.join(" | ")} |`);
}
lines.push("");
lines.push("## Behaviour the cases pin down");
lines.push("");
lines.push(
  "- A close frame is answered one macrotask after it is read (RFC 6455 §5.5.1, \"as soon as practical\"),",
  "  echoing its status code without the reason. Messages that arrived in the same read as the close still",
  "  reach the application, and the replies it sends before then (an echo loop's, which wait for no I/O) go",
  "  out before our close frame (case 7.1.7). A reply sent later, after waiting for a timer, other I/O, a",
  "  congested socket or the compressor, is refused with `ConnectionClosedError`: nothing follows our close",
  "  frame (case 7.1.6 accepts any in-order prefix of a hundred echoes before the close).",
  "- Nothing follows our own close frame either when we fail the connection: a violation in the same read as",
  "  valid messages (cases 3.9-3.12, 4.3.x, 5.19-5.20) gets the close and no echo after it, also with the",
  "  other echo idioms, permessage-deflate and HTTP/2 of `tests/conformance/after_close.test.ts`.",
  "- Close codes 1012-1014 (IANA registry) are accepted like 1000-1003, 1007-1011 and 3000-4999; 1004-1006,",
  "  1015, 0-999, 1016-2999 and 5000+ fail with 1002.",
  "- UTF-8 is checked per frame as it arrives: an invalid byte fails the connection with 1007 at the frame",
  "  that holds it, however unfinished the message (6.x, one byte per fragment, with a ping probe proving the",
  "  valid prefix was accepted); a message ending inside a character fails at its final frame.",
  "- A frame over `maxFrameSize` fails with 1009 as soon as its header arrives; a message over `maxMessageSize`",
  "  with 1009 at the fragment that crosses it.",
  "- The server closes TCP first after the closing handshake; the client waits for it, up to `closeTimeout`.",
);
if (failures.length > 0) {
  lines.push("");
  lines.push("## Failures in this run");
  lines.push("");
  for (const failure of failures) lines.push(`- ${failure}`);
}
lines.push("");
writeFileSync(join(root, "docs/conformance.md"), lines.join("\n"));
console.log(`docs/conformance.md written; ${failures.length} failure(s)`);
process.exitCode = failures.length > 0 ? 1 : 0;
