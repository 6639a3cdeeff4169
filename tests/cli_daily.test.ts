// The command line for daily use, as spawned processes of the runtime running
// the tests: --version, interactive commands, --execute, --reconnect,
// --proxy (and the environment), --timestamps, --json, serve --verbose, and
// the rough edges a new user hit (no scheme, a bad port, a mistyped flag,
// --ping keeping --wait from ever firing, Bun's bare "Failed to connect").
import { describe, eventually, type Owner, test } from "./_test.ts";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer as createNetServer } from "node:net";
import { type Message, serve, type Server, type WebSocketConnection } from "../mod.ts";
import { VERSION } from "../src/version.ts";
import { root, run, start } from "./_spawn.ts";
import { startHttpsProxy } from "./_proxies.ts";
import { testCertificate } from "./_tls.ts";

const CLI = "src/cli/main.ts";

/**
 * A library server that records what each connection sent and runs `body`,
 * if any, per connection; closed when the test ends.
 */
async function recordingServer(t: Owner, body?: (ws: WebSocketConnection, index: number) => Promise<void>) {
  const received: Message[][] = [];
  const closes: { code: number; reason: string }[] = [];
  const server: Server = serve({ hostname: "127.0.0.1", port: 0 }, async (ws) => {
    const index = received.length;
    const messages: Message[] = [];
    received.push(messages);
    const reading = (async () => {
      for await (const message of ws) {
        messages.push(message);
        if (message.type === "text" || message.type === "binary") await ws.send(message);
      }
    })().catch(() => {});
    await body?.(ws, index);
    await reading;
    const info = await ws.closed;
    closes.push({ code: info.code, reason: info.reason });
  });
  t.after(() => server.close());
  await server.ready;
  return { server, received, closes };
}

async function closedPort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("streamsock --version and --help", () => {
  test("--version prints the release's version, the one deno.json publishes", async () => {
    const deno = JSON.parse(readFileSync(`${root}deno.json`, "utf8")) as { version: string };
    assert.equal(VERSION, deno.version);
    const result = await run(CLI, ["--version"]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim(), `streamsock ${deno.version}`);
  });

  test("--help shows every new flag and command", async () => {
    const main = await run(CLI, ["--help"]);
    assert.match(main.stdout, /--version/);
    const connect = await run(CLI, ["connect", "--help"]);
    for (
      const text of [
        "--execute",
        "-x,",
        "--reconnect",
        "--proxy",
        "--timestamps",
        "--json",
        "/ping [data]",
        "/close [code [reason]]",
        "/binary <hex>",
        "/quit",
        "HTTPS_PROXY",
      ]
    ) {
      assert.ok(connect.stdout.includes(text), `connect --help does not mention ${text}`);
    }
    assert.doesNotMatch(connect.stdout, /20s, 20s/);
    assert.match(connect.stdout, /--ping <duration> .*\(default 20s\)/);
    const serveHelp = await run(CLI, ["serve", "--help"]);
    assert.match(serveHelp.stdout, /-v, --verbose/);
  });
});

describe("streamsock connect: rough edges", () => {
  test("a mistyped flag prints our message and usage line, not parseArgs' text", async () => {
    const result = await run(CLI, ["connect", "--proxi", "x", "ws://127.0.0.1:1/"]);
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      /^streamsock: unknown option --proxi\nUsage: streamsock connect <url> \[options\]; run "streamsock connect --help"/,
    );
    assert.doesNotMatch(result.stderr, /positional argument/);
  });

  test("a port out of range is named", async () => {
    const result = await run(CLI, ["connect", "ws://127.0.0.1:99999/"]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /port 99999 .*out of range/);
  });

  test("a URL without a scheme means ws://", async (t) => {
    const { server } = await recordingServer(t);
    const result = await run(CLI, ["connect", `127.0.0.1:${server.port}`, "--wait", "300ms"], { input: "hi\n" });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, new RegExp(`connected to ws://127\\.0\\.0\\.1:${server.port}`));
    assert.match(result.stdout, /^< text: hi$/m);
  });

  test("--ping shorter than --wait still exits: pongs do not count as received", async (t) => {
    const { server } = await recordingServer(t);
    const result = await run(CLI, ["connect", `ws://127.0.0.1:${server.port}/`, "--ping", "200ms", "--wait", "1s"], {
      input: "hi\n",
      timeout: 20_000,
    });
    assert.equal(result.code, 0, result.stderr);
    assert.doesNotMatch(result.stdout, /pong/);
  });

  test("a refused connection prints the error code on every runtime", async () => {
    const result = await run(CLI, ["connect", `ws://127.0.0.1:${await closedPort()}/`]);
    assert.equal(result.code, 3);
    assert.match(result.stderr, /ECONNREFUSED/);
  });
});

describe("streamsock connect: interactive commands", () => {
  test("/ping prints its pong, /binary sends bytes, // escapes, /close sends code and reason", async (t) => {
    const { server, received, closes } = await recordingServer(t);
    const result = await run(CLI, ["connect", `ws://127.0.0.1:${server.port}/`], {
      input: "/ping abc\n/binary 01 ff\n//ping\n/close 4001 bye now\nnot sent\n",
    });
    assert.equal(result.code, 1, "4001 is not a clean code for scripts");
    assert.match(result.stdout, /^< pong \(3 bytes\): 616263$/m);
    assert.match(result.stdout, /^< binary \(2 bytes\): 01ff$/m);
    assert.match(result.stdout, /^< text: \/ping$/m);
    const data = received[0].filter((m) => m.type !== "ping");
    assert.deepEqual(data.map((m) => m.type), ["binary", "text"], "nothing after /close");
    assert.deepEqual([...(data[0].data as Uint8Array)], [1, 255]);
    assert.equal(data[1].data, "/ping");
    await eventually(() => closes.length > 0, 2000, "the server to see the connection close");
    assert.deepEqual(closes[0], { code: 4001, reason: "bye now" });
  });

  test("/quit closes with 1000 and exits while stdin stays open", async (t) => {
    const { server, closes } = await recordingServer(t);
    const client = start(t, CLI, ["connect", `ws://127.0.0.1:${server.port}/`]);
    await client.waitFor(/connected to/, 20_000, "stderr");
    client.process.stdin!.write("/quit\n");
    const result = await client.finished(20_000);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(closes[0]?.code, 1000);
  });
});

describe("streamsock connect: output and one-shot", () => {
  test("--timestamps and --json", async (t) => {
    const { server } = await recordingServer(t, async (ws) => {
      await ws.send(JSON.stringify({ a: 1, b: [true] }));
      await ws.send("not json");
    });
    const result = await run(CLI, [
      "connect",
      `ws://127.0.0.1:${server.port}/`,
      "--timestamps",
      "--json",
      "--wait",
      "500ms",
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stdout,
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z < text: \{\n {2}"a": 1,\n {2}"b": \[\n {4}true\n {2}\]\n\}$/m,
    );
    assert.match(result.stdout, /Z < text: not json$/m);
  });

  test("-x sends one message, prints the answer and closes with 1000", async (t) => {
    const { server, received, closes } = await recordingServer(t);
    // stdin stays open: --execute does not read it.
    const client = start(t, CLI, ["connect", "-x", "hello there", `ws://127.0.0.1:${server.port}/`]);
    const result = await client.finished(20_000);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "< text: hello there\n");
    assert.equal(received[0][0].data, "hello there");
    await eventually(() => closes.length > 0, 2000, "the server to see the connection close");
    assert.equal(closes[0].code, 1000);
  });
});

describe("streamsock connect --reconnect and --proxy", () => {
  test("--reconnect survives the server closing the connection and sends later lines on the new one", async (t) => {
    const { server, received } = await recordingServer(t, async (ws, index) => {
      if (index === 0) await ws.close(1012, "restarting");
    });
    const client = start(t, CLI, ["connect", `ws://127.0.0.1:${server.port}/`, "--reconnect", "--wait", "300ms"]);
    await client.waitFor(
      /closed 1012 restarting[\s\S]*connected to[\s\S]*connected to|connected to[\s\S]*connected to/,
      20_000,
      "stderr",
    );
    client.process.stdin!.end("on the second connection\n");
    const result = await client.finished(20_000);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^< text: on the second connection$/m);
    assert.equal(received.length, 2);
    assert.equal(received[1][0].data, "on the second connection");
  });

  test("--proxy tunnels through an HTTP proxy, and HTTPS_PROXY does the same from the environment", async (t) => {
    const { server } = await recordingServer(t);
    const proxy = await startHttpsProxy(t, null);
    const flag = await run(CLI, [
      "connect",
      `ws://127.0.0.1:${server.port}/`,
      "--proxy",
      proxy.url,
      "--wait",
      "300ms",
    ], {
      input: "via flag\n",
    });
    assert.equal(flag.code, 0, flag.stderr);
    assert.match(flag.stdout, /^< text: via flag$/m);
    assert.equal(proxy.requests.length, 1);
    assert.match(proxy.requests[0], new RegExp(`^CONNECT 127\\.0\\.0\\.1:${server.port} HTTP/1\\.1`));

    const child = start(t, CLI, ["connect", `ws://127.0.0.1:${server.port}/`, "--wait", "300ms"], {
      HTTPS_PROXY: proxy.url,
      NO_PROXY: "",
      no_proxy: "",
    });
    child.process.stdin!.end("via env\n");
    const env = await child.finished(20_000);
    assert.equal(env.code, 0, env.stderr);
    assert.match(env.stdout, /^< text: via env$/m);
    assert.equal(proxy.requests.length, 2);
  });
});

describe("streamsock connect --proxy https://", () => {
  test("--ca is trusted for the https:// proxy's certificate as well as the server's", async (t) => {
    const cert = await testCertificate();
    const dir = await mkdtemp(join(tmpdir(), "streamsock-cli-proxy-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const { server } = await recordingServer(t);
    const proxy = await startHttpsProxy(t, cert);
    await writeFile(join(dir, "ca.pem"), cert.cert);
    const args = ["connect", `ws://127.0.0.1:${server.port}/`, "--proxy", proxy.url, "--wait", "300ms"];
    const trusted = await run(CLI, [...args, "--ca", join(dir, "ca.pem")], { input: "via https proxy\n" });
    assert.equal(trusted.code, 0, trusted.stderr);
    assert.match(trusted.stdout, /^< text: via https proxy$/m);
    const untrusted = await run(CLI, args, { input: "never sent\n" });
    assert.equal(untrusted.code, 3, untrusted.stderr);
    assert.match(untrusted.stderr, /proxy/i);
    assert.equal(proxy.requests.length, 1, "the untrusted proxy never saw a CONNECT");
  });
});

describe("streamsock serve --verbose", () => {
  test("traces every frame on stdout with its connection number", async (t) => {
    const serveProcess = start(t, CLI, ["serve", "--port", "0", "--verbose"]);
    const [, port] = await serveProcess.waitFor(/listening on ws:\/\/127\.0\.0\.1:(\d+)\//);
    const result = await run(CLI, ["connect", `ws://127.0.0.1:${port}/`, "--wait", "300ms"], { input: "hi\n" });
    assert.equal(result.code, 0, result.stderr);
    await serveProcess.waitFor(/\[#1\] closed 1000/);
    assert.match(serveProcess.stdout, /^\[#1\] < text fin=1 rsv=0 len=2 mask=[0-9a-f]{8} "hi"$/m);
    assert.match(serveProcess.stdout, /^\[#1\] > text fin=1 rsv=0 len=2 mask=none "hi"$/m);
    assert.match(serveProcess.stdout, /^\[#1\] > close fin=1 rsv=0 len=2 mask=none code=1000 ""$/m);
  });
});
