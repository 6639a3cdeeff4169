// One client under test for scenario (e), run by bench/run.ts on Node, Deno or
// Bun against Bun's native server:
//
//   <runtime> bench/clients/client.ts streamsock|ws|native small|bulk PORT WARMUP_S SECONDS
//
// small: one connection, 32 binary messages of 32 bytes in flight; bulk: one
// 16 MiB binary message in flight. Prints {"rate":..,"bytesPerSecond":..}.
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

if (impl === "streamsock") {
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
