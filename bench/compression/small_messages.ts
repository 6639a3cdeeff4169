// Small JSON messages with permessage-deflate and context takeover: do they
// pay for being compressed? The companion of issue 29's threshold question in
// docs/performance.md. ws compresses every message when the sending end keeps
// its context; streamsock by default only messages of 1 KiB and more.
//
//   node --import tsx bench/compression/small_messages.ts PORT SIZE SECONDS
//
// Against a server started with BENCH_COMPRESSION=default (streamsock: add
// BENCH_THRESHOLD=0 to compress every message) or "off": 20 `ws` clients,
// each with 16 messages of SIZE bytes in flight (a different JSON-like text
// every time: a set of texts that repeats would let a big window turn every
// message into one back-reference), for SECONDS after a 1 s warm-up. Prints
// {"rate": echoes per second, "wire": bytes per echo as read from the socket}.
import process from "node:process";
import WebSocket from "ws";
import { jsonMessageText } from "./message.ts";

const [portText, sizeText, secondsText] = process.argv.slice(2);
const url = `ws://127.0.0.1:${portText}/`;
const SIZE = Number(sizeText);
const SECONDS = Number(secondsText);
const CONNS = 20;
const IN_FLIGHT = 16;

let measuring = false;
let echoes = 0;
let bytes = 0;
const sockets: { bytesRead: number }[] = [];

await Promise.all(Array.from({ length: CONNS }, (_, c) =>
  new Promise<void>((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: true });
    let next = c * 1_000_000;
    const send = () => ws.send(jsonMessageText(next++, SIZE));
    ws.once("error", reject);
    ws.once("open", () => {
      // deno-lint-ignore no-explicit-any
      sockets.push((ws as any)._socket);
      for (let i = 0; i < IN_FLIGHT; i++) send();
      resolve();
    });
    ws.on("message", () => {
      if (measuring) echoes++;
      send();
    });
  })));
await new Promise((resolve) => setTimeout(resolve, 1000));
const readAt = () => sockets.reduce((n, s) => n + s.bytesRead, 0);
bytes = readAt();
measuring = true;
const t0 = performance.now();
await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000));
measuring = false;
const seconds = (performance.now() - t0) / 1000;
console.log(JSON.stringify({ rate: echoes / seconds, wire: (readAt() - bytes) / Math.max(echoes, 1) }));
process.exit(0);
