// The streamsock command line end to end: src/cli/main.ts runs as a process of the
// runtime running the tests (deno run / bun / node --import tsx), so `npm test`
// covers it on all three. Servers bind 127.0.0.1 on ports the system picks and
// are stopped by PID when the test ends.
import { after, before, describe, type Owner, test } from "./_test.ts";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer as createHttpServer } from "node:http";
import { createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type Message, serve, type Server, type UpgradeRequest, type WebSocketConnection } from "../mod.ts";
import { run, start, type Started } from "./_spawn.ts";
import { testCertificate } from "./_tls.ts";

const CLI = "src/cli/main.ts";

async function startServe(t: Owner, args: string[]): Promise<{ server: Started; port: number }> {
  const server = start(t, CLI, ["serve", "--port", "0", ...args]);
  const [, port] = await server.waitFor(/listening on wss?:\/\/127\.0\.0\.1:(\d+)\//);
  return { server, port: Number(port) };
}

/** A library server in the test process, for what the CLI client must cope with; closed when the test ends. */
async function libraryServer(
  t: Owner,
  onSocket: (ws: WebSocketConnection, request: UpgradeRequest) => Promise<void> | void,
): Promise<Server> {
  const server = serve({ port: 0, hostname: "127.0.0.1" }, onSocket);
  t.after(() => server.close());
  await server.ready;
  return server;
}

describe("streamsock --help", () => {
  test("prints the commands and exit codes, and exits 0", async () => {
    const result = await run(CLI, ["--help"]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /streamsock connect <url>/);
    assert.match(result.stdout, /streamsock serve/);
    assert.match(result.stdout, /3 {2}could not connect/);
  });

  test("connect --help lists every flag", async () => {
    const result = await run(CLI, ["connect", "--help"]);
    assert.equal(result.code, 0, result.stderr);
    for (
      const flag of ["--protocol", "--header", "--auth", "--ca", "--insecure", "--max-frame-size", "--ping", "--binary", "--verbose", "--wait"]
    ) assert.ok(result.stdout.includes(flag), `connect --help does not mention ${flag}`);
  });

  test("serve --help lists every flag", async () => {
    const result = await run(CLI, ["help", "serve"]);
    assert.equal(result.code, 0, result.stderr);
    for (const flag of ["--port", "--host", "--echo", "--broadcast", "--cert", "--key"]) {
      assert.ok(result.stdout.includes(flag), `serve --help does not mention ${flag}`);
    }
  });

  test("usage errors exit 2 with a message that points at --help", async () => {
    for (
      const args of [[], ["frobnicate"], ["connect"], ["connect", "ws://a/", "ws://b/"], ["connect", "--bogus", "ws://a/"], [
        "connect",
        "not a url",
      ], ["connect", "ws://a/", "--ping", "soon"], ["serve", "--echo", "--broadcast"], ["serve", "--port", "70000"], [
        "serve",
        "--cert",
        "x.pem",
      ]]
    ) {
      const result = await run(CLI, args);
      assert.equal(result.code, 2, `streamsock ${args.join(" ")}: exit ${result.code}\n${result.stderr}`);
      if (args.length > 0) assert.match(result.stderr, /^streamsock: .*\n.*--help/, `streamsock ${args.join(" ")}`);
    }
  });
});

describe("streamsock serve + streamsock connect", () => {
  test("stdin lines are sent as text, echoes print with their type, and a clean close exits 0", async (t) => {
    const { server, port } = await startServe(t, ["--echo"]);
    const result = await run(CLI, ["connect", `ws://127.0.0.1:${port}/room?x=1`, "--wait", "300ms"], {
      input: "hello\nwörld ✓\r\nlast line without newline",
    });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(result.stdout.trim().split("\n"), [
      "< text: hello",
      "< text: wörld ✓",
      "< text: last line without newline",
      "< close 1000",
    ]);
    assert.match(result.stderr, /connected to ws:\/\/127\.0\.0\.1:\d+\/room\?x=1/);
    await server.waitFor(/\[#1\] closed 1000/);
    assert.match(server.stdout, /\[#1\] open from 127\.0\.0\.1: GET \/room\?x=1/);
    assert.match(server.stdout, /\[#1\] < text: wörld ✓/);
  });

  test("--binary sends lines as binary messages, printed back as hex", async (t) => {
    const { server, port } = await startServe(t, []);
    const result = await run(CLI, ["connect", `ws://127.0.0.1:${port}/`, "--binary", "--wait", "300ms"], {
      input: "AB\n",
    });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^< binary \(2 bytes\): 4142$/m);
    await server.waitFor(/\[#1\] < binary \(2 bytes\): 4142/);
  });

  test("--verbose traces every frame on stderr: opcode, FIN, length, mask", async (t) => {
    const { port } = await startServe(t, []);
    const result = await run(CLI, ["connect", `ws://127.0.0.1:${port}/`, "--verbose", "--wait", "300ms"], {
      input: "hi\n",
    });
    assert.equal(result.code, 0, result.stderr);
    // Client frames are masked with a fresh key, server frames are not (RFC 6455 §5.1).
    assert.match(result.stderr, /^> text fin=1 rsv=0 len=2 mask=[0-9a-f]{8} "hi"$/m);
    assert.match(result.stderr, /^< text fin=1 rsv=\d len=\d+ mask=none/m);
    assert.match(result.stderr, /^> close fin=1 rsv=0 len=2 mask=[0-9a-f]{8} code=1000 ""$/m);
    assert.match(result.stderr, /^< close fin=1 rsv=0 len=2 mask=none code=1000 ""$/m);
    assert.doesNotMatch(result.stdout, /fin=/); // the trace stays out of stdout
  });

  test("--broadcast sends each message to every other client", async (t) => {
    const { server, port } = await startServe(t, ["--broadcast"]);
    const listener = await connect(`ws://127.0.0.1:${port}/`);
    t.after(() => listener.terminate());
    await server.waitFor(/\[#1\] open/);
    const result = await run(CLI, ["connect", `ws://127.0.0.1:${port}/`, "--wait", "200ms"], { input: "to all\n" });
    assert.equal(result.code, 0, result.stderr);
    assert.doesNotMatch(result.stdout, /to all/); // not echoed to its sender
    assert.equal((await listener.recvAll()).data, "to all");
    await listener.close();
  });

  test("--protocol: serve picks its preference among those offered; none in common is a handshake failure (exit 3)", async (t) => {
    const { port } = await startServe(t, ["-p", "chat.v2,chat.v1"]);
    const agreed = await run(CLI, ["connect", `ws://127.0.0.1:${port}/`, "-p", "chat.v1", "--protocol", "chat.v2"]);
    assert.equal(agreed.code, 0, agreed.stderr);
    assert.match(agreed.stderr, /\(protocol: chat\.v2\)/);
    const refused = await run(CLI, ["connect", `ws://127.0.0.1:${port}/`, "-p", "other"]);
    assert.equal(refused.code, 3, refused.stderr);
    assert.match(refused.stderr, /handshake .* failed: .*400/);
  });

  test("serve stops on SIGINT, closing its connections with 1001", async (t) => {
    const { server, port } = await startServe(t, []);
    const ws = await connect(`ws://127.0.0.1:${port}/`);
    t.after(() => ws.terminate());
    await server.waitFor(/\[#1\] open/);
    const stopped = await server.stop("SIGINT");
    assert.match(stopped.stdout, /\[#1\] closed 1001/);
    assert.match(stopped.stdout, /stopped/);
    // Deno's node:child_process reports a signalled child as ended by the signal even when it exited with 0.
    assert.ok(stopped.code === 0 || stopped.signal === "SIGINT", `exit ${stopped.code} ${stopped.signal}`);
    assert.equal((await ws.closed).code, 1001);
  });

  test("serve exits 1 when its port is taken", async (t) => {
    const { port } = await startServe(t, []);
    const second = await run(CLI, ["serve", "--port", String(port)]);
    assert.equal(second.code, 1, second.stderr);
    assert.match(second.stderr, /cannot listen on 127\.0\.0\.1:\d+/);
  });
});

describe("streamsock connect against other servers", () => {
  test("the request carries --header, --auth and --origin", async (t) => {
    const seen: UpgradeRequest[] = [];
    const server = await libraryServer(t, (_ws, request) => void seen.push(request));
    const result = await run(CLI, [
      "connect",
      `ws://127.0.0.1:${server.port}/`,
      "-H",
      "X-Trace: abc",
      "--header",
      "X-Other:  two words ",
      "--auth",
      "user:pa:ss",
      "--origin",
      "https://app.test",
    ]);
    assert.equal(result.code, 0, result.stderr);
    const { headers } = seen[0];
    assert.equal(headers.get("x-trace"), "abc");
    assert.equal(headers.get("x-other"), "two words");
    assert.equal(headers.get("authorization"), `Basic ${btoa("user:pa:ss")}`);
    assert.equal(headers.get("origin"), "https://app.test");

    const bearer = await run(CLI, ["connect", `ws://127.0.0.1:${server.port}/`, "--auth", "Bearer t0ken"]);
    assert.equal(bearer.code, 0, bearer.stderr);
    assert.equal(seen[1].headers.get("authorization"), "Bearer t0ken");
  });

  test("the server's close code decides: 1000 exits 0, 4000 exits 1 with the code and reason", async (t) => {
    const server = await libraryServer(t, async (ws, request) => {
      await ws.recv(); // wait for the client's first line
      await ws.close(request.url === "/ok" ? 1000 : 4000, "go away");
    });
    const ok = await run(CLI, ["connect", `ws://127.0.0.1:${server.port}/ok`], { input: "x\n" });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^< close 1000: go away$/m);
    const app = await run(CLI, ["connect", `ws://127.0.0.1:${server.port}/app`], { input: "x\n" });
    assert.equal(app.code, 1, app.stderr);
    assert.match(app.stdout, /^< close 4000: go away$/m);
    assert.match(app.stderr, /closed with code 4000 \(go away\)/);
  });

  test("the peer's close ends the program while stdin is still open", async (t) => {
    const server = await libraryServer(t, async (ws) => {
      await ws.send("bye");
      await ws.close(1000, "done");
    });
    const client = start(t, CLI, ["connect", `ws://127.0.0.1:${server.port}/`]);
    const result = await client.finished(15_000); // stdin is never closed
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /< text: bye\n< close 1000: done/);
  });

  test("a lost connection (no closing handshake) exits 1 with 1006", async (t) => {
    const tcp = createNetServer((socket) => {
      socket.once("data", (head) => {
        const key = /sec-websocket-key: *(\S+)/i.exec(head.toString())![1];
        crypto.subtle.digest("SHA-1", new TextEncoder().encode(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")).then((hash) => {
          const accept = btoa(String.fromCharCode(...new Uint8Array(hash)));
          socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
          // "hi", then the connection is lost once it was handed to the kernel.
          socket.write(new Uint8Array([0x81, 0x02, 0x68, 0x69]), () => socket.destroy());
        });
      });
    });
    t.after(() => tcp.close());
    await new Promise<void>((resolve) => tcp.listen(0, "127.0.0.1", resolve));
    const { port } = tcp.address() as { port: number };
    const client = start(t, CLI, ["connect", `ws://127.0.0.1:${port}/`]);
    const result = await client.finished(15_000);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stdout, /< text: hi/);
    assert.match(result.stderr, /closed abnormally with code 1006/);
  });

  test("handshake failures exit 3 and say what the server answered", async (t) => {
    const http = createHttpServer((_req, res) => {
      res.writeHead(403, { "content-type": "text/plain" });
      res.end("members only\n");
    });
    t.after(() => http.close());
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    const { port } = http.address() as { port: number };
    const refused = await run(CLI, ["connect", `ws://127.0.0.1:${port}/`]);
    assert.equal(refused.code, 3, refused.stderr);
    assert.match(refused.stderr, /handshake with ws:\/\/127\.0\.0\.1:\d+\/ failed: .*403 Forbidden \(members only\)\n/);
    assert.doesNotMatch(refused.stderr, /members only.*members only/);
    await new Promise((resolve) => http.close(resolve));
    // Nothing listens on that port any more.
    const unreachable = await run(CLI, ["connect", `ws://127.0.0.1:${port}/`]);
    assert.equal(unreachable.code, 3, unreachable.stderr);
    assert.match(unreachable.stderr, /cannot connect to ws:\/\/127\.0\.0\.1:\d+\/: Connection refused by 127\.0\.0\.1:\d+ \(ECONNREFUSED\)\n/);
  });

  test("--max-frame-size: longer lines go out fragmented, a bigger frame received fails with 1009 (exit 1)", async (t) => {
    const frames: Message[] = [];
    const server = await libraryServer(t, async (ws) => {
      for (let msg = await ws.recv(); msg.type !== "close"; msg = await ws.recv()) {
        frames.push(msg);
        if (!msg.partial) await ws.send("0123456789ABCDEF"); // 16 bytes, one frame
      }
    });
    const result = await run(CLI, ["connect", `ws://127.0.0.1:${server.port}/`, "--max-frame-size", "10"], {
      input: "abcdefghijklmnopqrstuvwxyz\n",
    });
    assert.deepEqual(frames.map((f) => [f.data, f.partial]), [["abcdefghij", true], ["klmnopqrst", true], ["uvwxyz", false]]);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /code 1009/);
  });

  test("--ping sends keepalive pings after the given silence", async (t) => {
    let pings = 0;
    const server = await libraryServer(t, async (ws) => {
      for (let msg = await ws.recv(); msg.type !== "close"; msg = await ws.recv()) {
        if (msg.type === "ping" && ++pings === 2) await ws.close(1000, "seen two pings");
      }
    });
    const client = start(t, CLI, ["connect", `ws://127.0.0.1:${server.port}/`, "--ping", "100ms"]);
    const result = await client.finished(15_000);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /< close 1000: seen two pings/);
    assert.equal(pings, 2);
  });
});

describe("wss:// between streamsock serve --cert --key and streamsock connect", () => {
  let dir = "";
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "streamsock-cli-"));
    const { cert, key } = await testCertificate();
    await writeFile(join(dir, "cert.pem"), cert);
    await writeFile(join(dir, "key.pem"), key);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test("--ca trusts the server's certificate, --insecure skips verification, neither fails with exit 3", async (t) => {
    const { port } = await startServe(t, ["--cert", join(dir, "cert.pem"), "--key", join(dir, "key.pem")]);
    const url = `wss://127.0.0.1:${port}/`;
    const trusted = await run(CLI, ["connect", url, "--ca", join(dir, "cert.pem"), "--wait", "300ms"], { input: "secret\n" });
    assert.equal(trusted.code, 0, trusted.stderr);
    assert.match(trusted.stdout, /< text: secret/);
    const insecure = await run(CLI, ["connect", url, "-k"]);
    assert.equal(insecure.code, 0, insecure.stderr);
    const untrusted = await run(CLI, ["connect", url]);
    assert.equal(untrusted.code, 3, untrusted.stderr);
    assert.match(untrusted.stderr, /cannot connect to wss:/);
  });
});
