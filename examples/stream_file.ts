// A file larger than you would want in memory, through a WebSocket with flat
// memory on both ends: the client sends it with `sendAll(stream)`, chunk by
// chunk as the file is read; the server receives it with `recvStream()` and
// pipes it to another file as the frames arrive. Self-contained: it writes a
// test file (SIZE_MIB, 256 by default), starts a server on a free port, sends
// the file, compares the two files' SHA-256 and prints the peak RSS growth.
//
//   deno run -A examples/stream_file.ts   |   bun examples/stream_file.ts   |   npx tsx examples/stream_file.ts
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { connect, serve } from "../mod.ts";

const MiB = 1024 * 1024;
const size = Number(process.env.SIZE_MIB ?? 256) * MiB;
const dir = mkdtempSync(join(tmpdir(), "streamsock-"));
const source = join(dir, "source.bin");
const copy = join(dir, "copy.bin");

async function sha256(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Uint8Array);
  return hash.digest("hex");
}

try {
  // A file of pseudo-random bytes, written 1 MiB at a time.
  const block = new Uint8Array(MiB);
  let x = 1;
  await pipeline(
    (async function* () {
      for (let written = 0; written < size; written += MiB) {
        for (let i = 0; i < block.length; i++) block[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
        yield block.slice();
      }
    })(),
    createWriteStream(source),
  );

  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);

  let received: Promise<void> | null = null;
  const server = serve({ hostname: "127.0.0.1", port: 0 }, async (ws) => {
    const { readable } = await ws.recvStream();
    received = readable.pipeTo(Writable.toWeb(createWriteStream(copy)) as WritableStream<Uint8Array>);
    await received;
    await ws.send("saved");
  });
  await server.ready;

  const ws = await connect(`ws://127.0.0.1:${server.port}/`);
  const started = performance.now();
  await ws.sendAll(createReadStream(source, { highWaterMark: 256 * 1024 }) as AsyncIterable<Uint8Array>);
  const reply = await ws.recv();
  const seconds = (performance.now() - started) / 1000;
  await ws.close();
  await server.close();
  clearInterval(sampler);

  const same = (await sha256(source)) === (await sha256(copy));
  console.log(`sent ${size / MiB} MiB in ${seconds.toFixed(2)} s; the server said "${reply.data}"`);
  console.log(`the copy is ${same ? "identical" : "DIFFERENT"}`);
  console.log(`peak RSS growth ${((peak - baseline) / MiB).toFixed(1)} MiB for a ${size / MiB} MiB file`);
  process.exitCode = same ? 0 : 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
