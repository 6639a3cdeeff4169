// Server memory per idle WebSocket: RFC 8441 streams multiplexed on one
// HTTP/2 session vs one HTTP/1.1 connection each, against serve({ http2: true }).
//
//   node --import tsx bench/http2_idle.ts [count]        (server on Node)
//   RUNTIME=deno node --import tsx bench/http2_idle.ts   (server on Deno; bun likewise)
//
// The server runs in a child process of the chosen runtime and reports its
// RSS (after a GC where the runtime exposes one); the clients here are bare
// node:http2 streams and raw TCP/TLS upgrades, so no client state is counted.
// Figures go to docs/performance.md.
import { spawn } from "node:child_process";
import { type ClientHttp2Session, type ClientHttp2Stream, connect as http2Connect } from "node:http2";
import { connect as netConnect, type Socket } from "node:net";
import process from "node:process";
import { connect as tlsConnect } from "node:tls";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const HERE = fileURLToPath(import.meta.url);
type Mode = "h2-tls" | "h1-tls" | "h2c" | "h1";
const MODES: Mode[] = ["h2-tls", "h1-tls", "h2c", "h1"];

async function runServer(): Promise<void> {
  const { serve } = await import("../src/server/serve.ts");
  const { testCertificate } = await import("../tests/_tls.ts");
  const tls = process.argv[3] === "tls" ? await testCertificate() : undefined;
  const server = serve({ hostname: "127.0.0.1", port: 0, tls, http2: true }, async (ws) => {
    for await (const msg of ws) await ws.send(msg);
  });
  await server.ready;
  console.log(JSON.stringify({ port: server.port, cert: tls?.cert }));
  const g = globalThis as { gc?: () => void; Bun?: { gc(force: boolean): void } };
  for await (const line of createInterface({ input: process.stdin })) {
    if (line !== "rss") break;
    for (let i = 0; i < 3; i++) {
      g.Bun?.gc(true);
      g.gc?.();
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    console.log(JSON.stringify({ rss: process.memoryUsage().rss, connections: server.connections }));
  }
  await server.close();
  process.exit(0);
}

function serverCommand(tls: boolean): [string, string[]] {
  const args = ["server", tls ? "tls" : "plain"];
  switch (process.env.RUNTIME ?? "node") {
    case "deno":
      return ["node_modules/.bin/deno", ["run", "-A", "--v8-flags=--expose-gc", HERE, ...args]];
    case "bun":
      return ["node_modules/.bin/bun", [HERE, ...args]];
    default:
      return [process.execPath, ["--expose-gc", "--import", "tsx", HERE, ...args]];
  }
}

const UPGRADE = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

function openHttp1(port: number, cert: string | undefined): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket: Socket = cert === undefined
      ? netConnect(port, "127.0.0.1")
      : tlsConnect({ host: "127.0.0.1", port, ca: cert, ALPNProtocols: ["http/1.1"] });
    socket.once(cert === undefined ? "connect" : "secureConnect", () => socket.write(UPGRADE));
    socket.once("data", (chunk: Uint8Array) => {
      if (new TextDecoder().decode(chunk).startsWith("HTTP/1.1 101")) resolve(socket);
      else reject(new Error("no 101"));
    });
    socket.once("error", reject);
  });
}

function openStream(session: ClientHttp2Session): Promise<ClientHttp2Stream> {
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ":method": "CONNECT",
      ":protocol": "websocket",
      ":scheme": session.encrypted ? "https" : "http",
      ":path": "/",
      ":authority": "127.0.0.1",
      "sec-websocket-version": "13",
    });
    stream.once("response", (head) => head[":status"] === 200 ? resolve(stream) : reject(new Error("no 200")));
    stream.once("error", reject);
  });
}

async function measure(mode: Mode, count: number): Promise<number> {
  const tls = mode.endsWith("tls");
  const [command, args] = serverCommand(tls);
  const child = spawn(command, args, { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async () => JSON.parse((await lines.next()).value as string);
  const { port, cert } = await next();
  const rss = async (): Promise<number> => {
    child.stdin!.write("rss\n");
    return (await next()).rss;
  };
  const sockets: Socket[] = [];
  const sessions: ClientHttp2Session[] = [];
  const open = async (n: number) => {
    if (mode.startsWith("h2")) {
      const session = http2Connect(`${tls ? "https" : "http"}://127.0.0.1:${port}`, { ca: cert });
      await new Promise((resolve) => session.once("remoteSettings", resolve));
      sessions.push(session);
      for (let i = 0; i < n; i += 100) {
        await Promise.all(Array.from({ length: Math.min(100, n - i) }, () => openStream(session)));
      }
    } else {
      for (let i = 0; i < n; i += 100) {
        sockets.push(...await Promise.all(Array.from({ length: Math.min(100, n - i) }, () => openHttp1(port, cert))));
      }
    }
  };
  try {
    await open(100); // warm-up: code paths, TLS contexts, the first session
    const before = await rss();
    await open(count);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const after = await rss();
    return (after - before) / count;
  } finally {
    for (const session of sessions) session.destroy();
    for (const socket of sockets) socket.destroy();
    child.stdin!.end();
    await new Promise((resolve) => child.once("exit", resolve));
  }
}

if (process.argv[2] === "server") {
  await runServer();
} else {
  const count = Number(process.argv[2] ?? 2000);
  for (const mode of MODES) {
    const perSocket = await measure(mode, count);
    console.log(
      `${process.env.RUNTIME ?? "node"} ${mode}: ${(perSocket / 1000).toFixed(1)} KB per idle WebSocket (${count})`,
    );
  }
}
