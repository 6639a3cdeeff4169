// Every example in examples/ and the demo run here, as processes of the
// runtime running the tests, against real sockets on 127.0.0.1 with ports the
// system picks, so none of them can rot. Servers are stopped by PID when the
// test ends.
import { describe, type Owner, test, withTimeout } from "./_test.ts";
import assert from "node:assert/strict";
import { connect, HandshakeError, type WebSocketConnection } from "../mod.ts";
import { run, start, type Started } from "./_spawn.ts";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect as http2Connect } from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { testCertificate } from "./_tls.ts";

const LISTENING = /(?:ws|http):\/\/127\.0\.0\.1:(\d+)\//;

async function startServer(t: Owner, script: string): Promise<{ server: Started; port: number }> {
  const server = start(t, script, [], { PORT: "0", HOST: "127.0.0.1" });
  const [, port] = await server.waitFor(LISTENING);
  return { server, port: Number(port) };
}

async function next(ws: WebSocketConnection): Promise<string> {
  return (await ws.recvAll()).data as string;
}

describe("examples", () => {
  test("echo_server.ts echoes what echo_client.ts sends, and stops on SIGTERM", async (t) => {
    const { server, port } = await startServer(t, "examples/echo_server.ts");
    const client = await run("examples/echo_client.ts", [`ws://127.0.0.1:${port}/`]);
    assert.equal(client.code, 0, client.stderr);
    const lines = client.stdout.trim().split("\n");
    assert.equal(lines[0], "echo: hello");
    assert.match(lines[1], /^echo: .*1.*2.*3/); // each runtime prints a Uint8Array its own way
    assert.equal(lines[2], "closed: 1000 cleanly");
    const stopped = await server.stop();
    // "stopped" is printed after a graceful shutdown. Deno's node:child_process
    // reports a child it sent a signal to as ended by that signal, even
    // when the child handled it and exited with 0.
    assert.match(stopped.stdout, /stopped/);
    assert.ok(stopped.code === 0 || stopped.signal === "SIGTERM", `exit ${stopped.code} ${stopped.signal}`);
  });

  test("chat.ts publishes each message to everybody else in the room and announces arrivals and departures", async (t) => {
    const { port } = await startServer(t, "examples/chat.ts");
    const members: WebSocketConnection[] = [];
    t.after(() => Promise.all(members.map((ws) => ws.terminate())));
    const alice = await connect(`ws://127.0.0.1:${port}/?name=alice`);
    members.push(alice);
    assert.equal(await next(alice), "* welcome to /, alice; 0 other(s) here");
    const bob = await connect(`ws://127.0.0.1:${port}/?name=bob`);
    members.push(bob);
    assert.equal(await next(bob), "* welcome to /, bob; 1 other(s) here");
    assert.equal(await next(alice), "* bob joined");
    // Another path is another room: carol hears nothing of this one.
    const carol = await connect(`ws://127.0.0.1:${port}/other?name=carol`);
    members.push(carol);
    assert.equal(await next(carol), "* welcome to /other, carol; 0 other(s) here");

    await alice.send("hi bob");
    assert.equal(await next(bob), "alice: hi bob");
    await bob.send("hi alice");
    assert.equal(await next(alice), "bob: hi alice"); // not "alice: hi bob": no echo to the author
    await bob.close();
    assert.equal(await next(alice), "* bob left");
    // alice's words stay in "/": the next thing carol hears is dave joining "/other".
    await alice.send("anyone?");
    const dave = await connect(`ws://127.0.0.1:${port}/other?name=dave`);
    members.push(dave);
    assert.equal(await next(carol), "* dave joined");
    await Promise.all(members.map((ws) => ws.close()));
  });

  test("json_rpc_client.ts pairs concurrent answers with their requests by id", async (t) => {
    const { port } = await startServer(t, "examples/json_rpc_server.ts");
    const client = await run("examples/json_rpc_client.ts", [`ws://127.0.0.1:${port}/`]);
    assert.equal(client.code, 0, client.stderr);
    assert.deepEqual(client.stdout.trim().split("\n"), [
      "add(2, 3) = 5", // answered before the slower request sent first
      "slept 100 ms",
      'echo -> {"nested":[1,"two"]}',
      "divide -> error: No method divide (-32601)",
    ]);
    // Without the "jsonrpc" subprotocol the server refuses the handshake,
    // whether the client offers another one or none at all.
    await assert.rejects(connect(`ws://127.0.0.1:${port}/`, { protocol: "chat" }), (err) => {
      assert.ok(err instanceof HandshakeError);
      assert.equal(err.status, 400);
      return true;
    });
    await assert.rejects(connect(`ws://127.0.0.1:${port}/`), (err) => {
      assert.ok(err instanceof HandshakeError);
      assert.equal(err.status, 400);
      assert.match(err.message, /Offer the jsonrpc subprotocol/);
      return true;
    });
  });

  test("node_http.ts serves HTTP routes and WebSockets on one node:http server", async (t) => {
    const { server, port } = await startServer(t, "examples/node_http.ts");
    const health = await fetch(`http://127.0.0.1:${port}/health`);
    assert.deepEqual(await health.json(), { ok: true });
    const missing = await fetch(`http://127.0.0.1:${port}/nope`);
    assert.equal(missing.status, 404);
    await missing.body?.cancel();

    const ws = await connect(`ws://127.0.0.1:${port}/upper`);
    await ws.send("shout this");
    assert.equal(await next(ws), "SHOUT THIS");
    assert.equal((await ws.close()).wasClean, true);

    await assert.rejects(connect(`ws://127.0.0.1:${port}/other`), (err) => {
      assert.ok(err instanceof HandshakeError);
      assert.equal(err.status, 404);
      return true;
    });

    // SIGTERM: the hub closes the open WebSocket with 1001, then the process ends.
    const open = await connect(`ws://127.0.0.1:${port}/upper`);
    const stopped = await server.stop();
    assert.equal((await open.closed).code, 1001);
    assert.match(stopped.stdout, /stopping: closing 1 WebSocket connection/);
    assert.ok(stopped.code === 0 || stopped.signal === "SIGTERM", `exit ${stopped.code} ${stopped.signal}`);
  });

  test("stream_file.ts pipes a 128 MiB file through a socket without holding it (sendAll(stream), recvStream)", async () => {
    const result = await run("examples/stream_file.ts", [], { env: { SIZE_MIB: "128" }, timeout: 120_000 });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /the copy is identical/);
    const growth = Number(/peak RSS growth ([\d.]+) MiB/.exec(result.stdout)?.[1]);
    // Holding the file would take 128 MiB at least; what remains is garbage the collector has not taken yet.
    assert.ok(growth < 100, `peak RSS growth ${growth} MiB for a 128 MiB file`);
  });

  test("frames.ts shows send/recv frame by frame, recvAll reassembly and its limit", async () => {
    const result = await run("examples/frames.ts", []);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(result.stdout.trim().split("\n"), [
      'server recv: text "Hello, " partial',
      "server recv: ping 1 bytes",
      'server recv: text "frame " partial',
      'server recv: text "world"',
      'server recvAll: text "reassembled"',
      "server recvAll: binary 3000 bytes",
      "server recvAll(1000): Message of more than 1000 bytes exceeds maxMessageSize (close code 1009)",
      "client: the server closed the connection with 1009",
    ]);
  });
});

describe("npm run demo", () => {
  test("exchanges every kind of message, closes with 4000 and exits promptly", async (t) => {
    const demo = start(t, "scripts/demo.ts", []);
    // The demo's own clock ends at "stopped"; the process must not linger after it.
    await demo.waitFor(/stopped after \d+ ms/, 30_000);
    const stoppedAt = Date.now();
    const result = await demo.finished(10_000);
    const linger = Date.now() - stoppedAt;
    assert.equal(result.code, 0, result.stderr);
    for (
      const line of [
        /client {2}<- text "hello, streamsock ✓"/,
        /client {2}<- binary \[de ad be ef\]/,
        /server {2}<- text frame "frag" \(partial\)/,
        /client {2}<- text "fragmented" \(recvAll reassembled/,
        /client {2}<- pong "are you there\?"/,
        /client {2}<- binary of 2\.5 MiB, intact/,
        /bob {5}<- text "hi bob" \(broadcast/,
        /server {2}<- close 4000 "demo done"/,
        /closed: the server answered 4000, a clean closing handshake/,
      ]
    ) assert.match(result.stdout, line);
    assert.ok(linger < 2000, `the demo took ${linger} ms to exit after it finished`);
  });
});

describe("examples over HTTP/2", () => {
  test("http2_server.ts serves its page and its WebSocket over one HTTP/2 connection, and HTTP/1.1 too", async (t) => {
    const { cert, key } = await testCertificate();
    const dir = mkdtempSync(join(tmpdir(), "streamsock-h2-example-"));
    writeFileSync(join(dir, "cert.pem"), cert);
    writeFileSync(join(dir, "key.pem"), key);
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const server = start(t, "examples/http2_server.ts", [], {
      PORT: "0",
      HOST: "127.0.0.1",
      CERT: join(dir, "cert.pem"),
      KEY: join(dir, "key.pem"),
    });
    const [, port] = await server.waitFor(/https:\/\/127\.0\.0\.1:(\d+)\//);
    const session = http2Connect(`https://127.0.0.1:${port}`, { ca: cert });
    t.after(() => session.destroy());
    const page = session.request({ ":path": "/" });
    let html = "";
    page.setEncoding("utf8");
    page.on("data", (chunk: string) => (html += chunk));
    await withTimeout(
      new Promise((resolve, reject) => page.on("end", resolve).on("error", reject)),
      10_000,
      "The page over HTTP/2",
    );
    assert.match(html, /new WebSocket\(`wss:\/\/\$\{location\.host\}\/echo`\)/);
    session.close();
    for (const http2 of ["auto", false] as const) {
      const ws = await connect(`wss://127.0.0.1:${port}/echo`, { http2, tls: { ca: cert }, timeout: 10_000 });
      await ws.send("over one server");
      assert.equal(await next(ws), "over one server");
      assert.equal((await ws.close()).wasClean, true);
    }
    await server.waitFor(/WebSocket over HTTP\/2 to \/echo/);
    await server.waitFor(/WebSocket over HTTP\/1\.1 to \/echo/);
  });
});
