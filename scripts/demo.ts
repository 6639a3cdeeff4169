// The main job for now: a WebSocket server and client on 127.0.0.1 exchanging
// every kind of message over real TCP and printing what happened. The opening
// handshake arrives with connect() and serve() (issues #3 and #4); until then
// the demo starts the connection right after the TCP connect.
import { createServer, connect as netConnect } from "node:net";
import { Message, WebSocketConnection } from "../mod.ts";
import { nodeSocketTransport } from "../src/transport/node.ts";

const listener = createServer((socket) => {
  const ws = new WebSocketConnection(nodeSocketTransport(socket), { role: "server" });
  (async () => {
    for await (const msg of ws) {
      console.log(`server <- ${msg.type} ${describe(msg.data)}`);
      await ws.sendAll(msg);
    }
    const { code, reason } = await ws.closed;
    console.log(`server: connection closed (${code} ${reason})`);
    listener.close();
  })();
});
await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
const { port } = listener.address() as { port: number };
console.log(`server listening on 127.0.0.1:${port}`);

const socket = netConnect(port, "127.0.0.1");
await new Promise((resolve) => socket.once("connect", resolve));
const ws = new WebSocketConnection(nodeSocketTransport(socket), { role: "client" });

function describe(data: string | Uint8Array): string {
  return typeof data === "string" ? JSON.stringify(data.length > 40 ? data.slice(0, 40) + "…" : data) : `${data.length} bytes`;
}

await ws.send("hello, streamsock ✓");
console.log(`client <- echo ${describe((await ws.recvAll()).data)}`);
await ws.send(new Uint8Array([1, 2, 3, 4]));
console.log(`client <- echo ${describe((await ws.recvAll()).data)}`);
await ws.send(new Message("frag", "text", true));
await ws.send(new Message("mented", "text"));
console.log(`client <- echo ${describe((await ws.recvAll()).data)}`);
await ws.send(new Message(new TextEncoder().encode("ping!"), "ping"));
const pong = await ws.recv();
console.log(`client <- ${pong.type} ${new TextDecoder().decode(pong.data as Uint8Array)}`);
const big = new Uint8Array(3 * 1024 * 1024).fill(7);
await ws.sendAll(big);
console.log(`client <- echo ${describe((await ws.recvAll(8 * 1024 * 1024)).data)} (sent in ${big.length / ws.maxFrameSize} frames)`);
const info = await ws.close(1000, "demo done");
console.log(`client: connection closed (${info.code}, clean: ${info.wasClean})`);
