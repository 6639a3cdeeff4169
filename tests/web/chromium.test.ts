// Headless Chromium runs a page's WebSocket code (tests/web/fixtures/
// page_scenarios.js) against our server and a ws one; the same code runs here
// with streamsock's WebSocket and WebSocketStream against the same servers; every
// scenario's event log must be equal, line for line. Chromium is the
// reference implementation of the standard here.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { WebSocket, WebSocketStream } from "../../src/web/mod.ts";
import { findChromium } from "../interop/_peers.ts";
import { after, before, describe, type Owner, Releases, test, withTimeout } from "../_test.ts";
import { type ScenarioServer, startOurServer, startWsServer } from "./_web.ts";

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
type Scenarios = Record<string, (base: string, wsBase: string) => Promise<string[]>>;
const makeScenarios = new Function(
  "WebSocket",
  "WebSocketStream",
  `${readFileSync(fixture("page_scenarios.js"), "utf8")}; return makeScenarios(WebSocket, WebSocketStream);`,
) as (ws: unknown, wss: unknown) => Scenarios;

/**
 * Runs the scenarios in Chromium, in a Node child process (playwright-core
 * drives it); when `owner` ends, the child is stopped by its PID with
 * SIGTERM, on which playwright closes the browser it launched, and the
 * profile directory is removed.
 */
async function inChromium(owner: Owner, base: string, wsBase: string): Promise<Record<string, string[]>> {
  const dir = mkdtempSync(join(tmpdir(), "streamsock-chromium-web-"));
  owner.after(() => rmSync(dir, { recursive: true, force: true }));
  const child = spawn("node", [fixture("chromium_scenarios.mjs"), base, wsBase, dir], { stdio: ["ignore", "pipe", "pipe"] });
  const closed = new Promise((resolve) => child.once("close", resolve));
  owner.after(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    await withTimeout(closed, 10_000, "the Chromium driver's exit").catch(() => child.kill("SIGKILL"));
  });
  let out = "";
  let err = "";
  child.stdout!.on("data", (chunk) => (out += chunk));
  child.stderr!.on("data", (chunk) => (err += chunk));
  await withTimeout(closed, 120_000, "the Chromium scenarios");
  const result = JSON.parse(out.trim().split("\n").at(-1) ?? "{}");
  if (result.error !== undefined || result.logs === undefined) throw new Error(`Chromium failed: ${result.error} ${err}`);
  return result.logs;
}

/**
 * Where Chromium deviates from the standard and ours does not, by scenario:
 * the line ours logs and the line Chromium logs instead. A listed difference
 * must still be there, so the README's Chromium column stays true.
 */
const CHROMIUM_DIFFERENCES: Record<string, [ours: string, chromium: string][]> = {
  "WebSocketStream: echo, then close with a code": [
    ["read binary [object Uint8Array] 7,8", "read binary [object ArrayBuffer] 7,8"],
  ],
};

/**
 * Subclasses of `WebSocket` and `WebSocketStream` whose instances are closed
 * when `t` ends, for the page code, which closes what it opens only when it
 * gets that far.
 */
function closedWith(t: Owner): [typeof WebSocket, typeof WebSocketStream] {
  const opened: { close(): void }[] = [];
  t.after(() => {
    for (const socket of opened) socket.close();
  });
  class ClosedWithTest extends WebSocket {
    constructor(...args: ConstructorParameters<typeof WebSocket>) {
      super(...args);
      opened.push(this);
    }
  }
  class StreamClosedWithTest extends WebSocketStream {
    constructor(...args: ConstructorParameters<typeof WebSocketStream>) {
      super(...args);
      opened.push(this);
    }
  }
  return [ClosedWithTest, StreamClosedWithTest];
}

const chromium = findChromium();

describe("the same page code in Chromium and on streamsock's WebSocket", { skip: "skip" in chromium ? chromium.skip : false }, () => {
  let server: ScenarioServer;
  let wsServer: ScenarioServer;
  let browser: Record<string, string[]> = {};
  const releases = new Releases();
  before(async () => {
    server = await startOurServer(releases);
    wsServer = await startWsServer(releases);
    browser = await inChromium(releases, server.origin, wsServer.origin);
  });
  after(() => releases.release());

  for (const name of Object.keys(makeScenarios(WebSocket, WebSocketStream))) {
    test(name, async (t) => {
      const expected = browser[name];
      assert.ok(expected !== undefined, `Chromium ran "${name}"`);
      const ours = makeScenarios(...closedWith(t));
      const actual = await withTimeout(ours[name](server.origin, wsServer.origin), 20_000, name);
      const differences = CHROMIUM_DIFFERENCES[name] ?? [];
      for (const [line, chromiumLine] of differences) {
        assert.ok(actual.includes(line), `ours logs "${line}"`);
        assert.ok(expected.includes(chromiumLine), `Chromium no longer logs "${chromiumLine}": update CHROMIUM_DIFFERENCES and the README`);
      }
      const asChromium = actual.map((line) => differences.find(([ours]) => ours === line)?.[1] ?? line);
      assert.deepEqual(asChromium, expected);
    });
  }
});
