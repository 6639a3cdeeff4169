// The fan-out load generator (plain Node, raw sockets, so that it is not the
// bottleneck): N subscribers on ws://127.0.0.1:<subPort>/sub and one publisher
// on ws://127.0.0.1:<pubPort>/pub sending 32-byte binary messages, at most
// <window> messages ahead of the slowest-on-average subscriber. Server frames
// of a 32-byte binary message are 34 bytes, so subscribers count bytes; one
// probe subscriber reads the send time (performance.now(), same process) in
// each payload for the latency. Prints one JSON line:
// { rate: delivered msgs/s over all subscribers, published, p50, p99 (µs) }.
// Usage: node client.mjs <pubPort> <subPort> <subscribers> <seconds> [window]
import { connect } from "node:net";
import { randomBytes } from "node:crypto";

const [pubPort, subPort, count, seconds, windowArg] = process.argv.slice(2).map(Number);
const WINDOW = windowArg || 64;
const FRAME = 34;

function open(port, path) {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    socket.setNoDelay(true);
    let head = Buffer.alloc(0);
    const onData = (chunk) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      socket.off("data", onData);
      if (!head.subarray(0, 12).toString().includes("101")) return reject(new Error(head.toString()));
      resolve({ socket, rest: head.subarray(end + 4) });
    };
    socket.on("data", onData);
    socket.once("error", reject);
    socket.once("connect", () =>
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      )
    );
  });
}

let received = 0; // bytes over all subscribers
const subs = [];
for (let i = 0; i < count; i += 50) {
  const batch = await Promise.all(Array.from({ length: Math.min(50, count - i) }, () => open(subPort, "/sub")));
  subs.push(...batch);
}
const latencies = [];
let measuring = false;
let probeBuffer = Buffer.alloc(0);
subs.forEach(({ socket, rest }, index) => {
  received += rest.length;
  socket.on("data", (chunk) => {
    received += chunk.length;
    if (index !== 0) return;
    pump();
    if (!measuring) return;
    probeBuffer = probeBuffer.length === 0 ? chunk : Buffer.concat([probeBuffer, chunk]);
    let at = 0;
    for (; at + FRAME <= probeBuffer.length; at += FRAME) {
      latencies.push((performance.now() - probeBuffer.readDoubleLE(at + 2)) * 1000);
    }
    probeBuffer = probeBuffer.subarray(at);
  });
});
const { socket: pub } = await open(pubPort, "/pub");
// Masked with the zero key (RFC 6455 allows any key): the payload stays as written.
const frame = Buffer.alloc(2 + 4 + 32);
frame[0] = 0x82;
frame[1] = 0x80 | 32;
let published = 0;
let stop = false;
const expected = () => published * count * FRAME;
function pump() {
  while (!stop && expected() - received < WINDOW * count * FRAME) {
    const message = Buffer.from(frame);
    message.writeDoubleLE(performance.now(), 6);
    published++;
    if (!pub.write(message)) {
      pub.once("drain", pump);
      return;
    }
  }
}
const ticker = setInterval(pump, 1);
// Warm-up, then measure.
pump();
await new Promise((r) => setTimeout(r, 1000));
measuring = true;
const startBytes = received;
const t0 = performance.now();
await new Promise((r) => setTimeout(r, seconds * 1000));
const bytes = received - startBytes;
const elapsed = (performance.now() - t0) / 1000;
stop = true;
clearInterval(ticker);
latencies.sort((a, b) => a - b);
const pct = (p) => latencies.length === 0 ? NaN : latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))];
console.log(JSON.stringify({ rate: bytes / FRAME / elapsed, published, p50: pct(0.5), p99: pct(0.99), samples: latencies.length }));
pub.destroy();
for (const { socket } of subs) socket.destroy();
process.exit(0);
