// One client under test for scenario (e), run by bench/run.ts on Node, Deno or
// Bun against Bun's native server:
//
//   <runtime> bench/clients/client.ts streamsock|ws|native|raw small|bulk PORT WARMUP_S SECONDS
//
// small: one connection, 32 binary messages of 32 bytes in flight; bulk: one
// 16 MiB binary message in flight. Prints {"rate":..,"bytesPerSecond":..}.
// raw (bulk only) is the raw TCP ceiling: the same bytes without WebSocket,
// against bench/servers/raw_tcp_echo.ts, on the socket API streamsock's
// `connect` uses on the runtime (Deno.connect, Bun.connect, node:net).
import process from "node:process";
import { connect } from "../../mod.ts";

const [impl, mode, port, warmupText, secondsText] = process.argv.slice(2);
const url = `ws://127.0.0.1:${port}/`;
const size = mode === "bulk" ? 16 * 1024 * 1024 : 32;
const window = mode === "bulk" ? 1 : 32;
const payload = new Uint8Array(size).fill(97);
const warmup = Number(warmupText) * 1000;
const seconds = Number(secondsText) * 1000;

/** Counts echoes; returns true once the measured interval is over. */
function meter(): (n: number) => boolean {
  const start = performance.now();
  let measuring = false;
  let t0 = 0;
  let count = 0;
  let checked = 0;
  return (n) => {
    count += n;
    // Reading the clock on every small message would cost the client more than the echo.
    if (++checked < (mode === "bulk" ? 1 : 256)) return false;
    checked = 0;
    const now = performance.now();
    if (!measuring) {
      if (now - start < warmup) return false;
      measuring = true;
      t0 = now;
      count = 0;
      return false;
    }
    if (now - t0 < seconds) return false;
    const secs = (now - t0) / 1000;
    console.log(JSON.stringify({ rate: count / secs, bytesPerSecond: (count * size) / secs }));
    return true;
  };
}

if (impl === "raw") {
  // One message in flight: write SIZE bytes, count SIZE bytes back, repeat.
  const done = meter();
  let received = 0;
  const onBytes = (n: number, send: () => void) => {
    received += n;
    while (received >= size) {
      received -= size;
      if (done(1)) process.exit(0);
      send();
    }
  };
  // deno-lint-ignore no-explicit-any
  const g = globalThis as any;
  if (g.Deno !== undefined) {
    const conn = await g.Deno.connect({ hostname: "127.0.0.1", port: Number(port) });
    conn.setNoDelay(true);
    const writeAll = async () => {
      for (let off = 0; off < size;) off += await conn.write(payload.subarray(off));
    };
    let writing = writeAll();
    const buffer = new Uint8Array(64 * 1024);
    for (;;) {
      const n: number | null = await conn.read(buffer);
      if (n === null) throw new Error("server closed the connection");
      onBytes(n, () => (writing = writing.then(writeAll)));
    }
  } else if (g.Bun !== undefined) {
    // Bun.connect: write what the kernel takes, the rest on drain.
    let pending: Uint8Array | null = null;
    type Sock = { write(b: Uint8Array): number };
    const write = (socket: Sock, bytes: Uint8Array) => {
      const n = socket.write(bytes);
      pending = n < bytes.length ? bytes.subarray(Math.max(0, n)) : null;
    };
    await g.Bun.connect({
      hostname: "127.0.0.1",
      port: Number(port),
      socket: {
        open: (socket: Sock) => write(socket, payload),
        data: (socket: Sock, data: Uint8Array) => onBytes(data.length, () => write(socket, payload)),
        drain: (socket: Sock) => {
          if (pending !== null) write(socket, pending);
        },
      },
    });
  } else {
    const { connect: tcpConnect } = await import("node:net");
    const socket = tcpConnect({ host: "127.0.0.1", port: Number(port), noDelay: true }, () => socket.write(payload));
    socket.on("data", (chunk: Uint8Array) => onBytes(chunk.length, () => socket.write(payload)));
    socket.on("error", (err) => {
      console.error("client error", err);
      process.exit(1);
    });
  }
} else if (impl === "streamsock") {
  const ws = await connect(url, { maxFrameSize: 64 * 1024 * 1024 });
  const done = meter();
  for (let i = 0; i < window; i++) void ws.send(payload);
  for await (const _msg of ws) {
    if (done(1)) break;
    await ws.send(payload);
  }
  process.exit(0);
} else {
  type Socket = {
    binaryType: string;
    onopen: (() => void) | null;
    onmessage: ((e: { data: unknown }) => void) | null;
    onerror: ((e: unknown) => void) | null;
    send(data: Uint8Array): void;
  };
  // deno-lint-ignore no-explicit-any
  const WS = impl === "ws" ? (await import("ws")).default as any : (globalThis as any).WebSocket;
  const ws: Socket = new WS(url);
  ws.binaryType = "arraybuffer";
  const done = meter();
  ws.onerror = (e) => {
    console.error("client error", e);
    process.exit(1);
  };
  ws.onopen = () => {
    for (let i = 0; i < window; i++) ws.send(payload);
  };
  ws.onmessage = () => {
    if (done(1)) process.exit(0);
    ws.send(payload);
  };
}
