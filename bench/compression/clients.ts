// The clients of scenario (j), compression memory, run by bench/run.ts on Node:
//
//   node --import tsx bench/compression/clients.ts PORT CONNS MESSAGES
//
// Opens CONNS compressing connections to the server under test, alternately a
// real `ws` client (`perMessageDeflate` at its defaults) and a streamsock
// client (`compression: true`), 50 handshakes at a time. Each connection then
// sends MESSAGES different JSON-like texts of about 1,200 bytes (above the
// 1 KiB threshold of both, so every one is compressed both ways), one at a
// time, and checks each echo. Both clients offer
// `permessage-deflate; client_max_window_bits`, as browsers do, so the server
// decides both windows.
//
// Then it prints one JSON line and keeps every connection open, without
// pings, until it is killed: bench/run.ts reads the server's RSS meanwhile.
// The line has the bytes on the wire per message in each direction, read
// from the `ws` clients' sockets (frame headers included), the agreed
// Sec-WebSocket-Extensions of the first `ws` client, and the time taken.
import process from "node:process";
import WebSocket from "ws";
import { connect, type WebSocketConnection } from "../../mod.ts";
import { jsonMessageText } from "./message.ts";

const [portText, connsText, messagesText] = process.argv.slice(2);
const url = `ws://127.0.0.1:${portText}/`;
const CONNS = Number(connsText);
const MESSAGES = Number(messagesText);

interface Peer {
  exchange(text: string): Promise<void>;
  /** Bytes read and written on the socket so far (ws clients only). */
  counts(): { read: number; written: number } | null;
  extensions: string;
}

function openWs(): Promise<Peer> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: true });
    let waiting: { text: string; resolve: () => void; reject: (e: Error) => void } | null = null;
    ws.on("message", (data, isBinary) => {
      const w = waiting;
      waiting = null;
      if (w === null) return;
      if (isBinary || String(data) !== w.text) w.reject(new Error("ws client: the echo differs from the message sent"));
      else w.resolve();
    });
    ws.once("error", reject);
    ws.once("open", () => {
      // deno-lint-ignore no-explicit-any
      const socket = (ws as any)._socket as { bytesRead: number; bytesWritten: number };
      resolve({
        extensions: ws.extensions,
        exchange: (text) =>
          new Promise<void>((res, rej) => {
            waiting = { text, resolve: res, reject: rej };
            ws.send(text);
          }),
        counts: () => ({ read: socket.bytesRead, written: socket.bytesWritten }),
      });
    });
  });
}

async function openOurs(): Promise<Peer> {
  const ws: WebSocketConnection = await connect(url, { compression: true, pingInterval: 0 });
  return {
    extensions: ws.extensions,
    exchange: async (text) => {
      await ws.send(text);
      const echo = await ws.recv();
      if (echo.data !== text) throw new Error("streamsock client: the echo differs from the message sent");
    },
    counts: () => null,
  };
}

const t0 = performance.now();
const peers: Peer[] = [];
for (let i = 0; i < CONNS; i += 50) {
  const batch = Array.from({ length: Math.min(50, CONNS - i) }, (_, k) => ((i + k) % 2 === 0 ? openWs() : openOurs()));
  peers.push(...await Promise.all(batch));
}
const opened = performance.now();
const texts = Array.from({ length: MESSAGES }, (_, i) => jsonMessageText(i));
const before = peers.map((p) => p.counts());
for (let i = 0; i < peers.length; i += 100) {
  await Promise.all(peers.slice(i, i + 100).map(async (peer) => {
    for (const text of texts) await peer.exchange(text);
  }));
}
let read = 0;
let written = 0;
let counted = 0;
peers.forEach((p, i) => {
  const now = p.counts();
  const then = before[i];
  if (now === null || then === null) return;
  read += now.read - then.read;
  written += now.written - then.written;
  counted++;
});
const ours = peers.find((p) => p.counts() === null);
console.log(JSON.stringify({
  conns: peers.length,
  messages: MESSAGES,
  messageBytes: texts.reduce((n, t) => n + t.length, 0) / MESSAGES,
  serverToClient: read / (counted * MESSAGES),
  clientToServer: written / (counted * MESSAGES),
  openMs: opened - t0,
  exchangeMs: performance.now() - opened,
  extensions: peers[0].extensions,
  oursExtensions: ours?.extensions ?? "",
}));
// Hold every connection until bench/run.ts kills this process.
setInterval(() => {}, 1 << 30);
