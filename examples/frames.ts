// Frame-level use, as in Gerbil's :std/net/websocket: `send` writes exactly
// one frame (a Message with `partial: true` is a frame of a message that
// continues), `recv` returns exactly one frame, and `recvAll` reassembles the
// frames of a message up to a size limit. Self-contained: it starts a server
// on a free port, talks to it and exits.
//
// Gerbil                                   streamsock
//   (WebSocket-send sock (message d 'text #t))  await ws.send(new Message(d, "text", true))
//   (WebSocket-recv sock)                      await ws.recv()
//   (WebSocket-recv-all sock max)              await ws.recvAll(max)
//   (WebSocket-send-all sock msg)              await ws.sendAll(msg)
//
//   deno run -A examples/frames.ts   |   bun examples/frames.ts   |   npx tsx examples/frames.ts
import { connect, Message, MessageTooBigError, serve, type WebSocketConnection } from "../mod.ts";

function show(msg: Message): string {
  const data = typeof msg.data === "string" ? JSON.stringify(msg.data) : `${msg.data.length} bytes`;
  return `${msg.type} ${data}${msg.partial ? " partial" : ""}`;
}

// The server looks at single frames first, then at whole messages.
async function server(ws: WebSocketConnection): Promise<void> {
  // 1. Three frames of one text message, with a ping between two of them.
  for (let frame = await ws.recv(); ; frame = await ws.recv()) {
    console.log(`server recv: ${show(frame)}`);
    if (frame.type === "text" && !frame.partial) break;
  }
  // 2. The same kind of message through recvAll: one Message, partial false.
  console.log(`server recvAll: ${show(await ws.recvAll())}`);
  // 3. A message fragmented by sendAll at the client's maxFrameSize.
  console.log(`server recvAll: ${show(await ws.recvAll())}`);
  // 4. recvAll with a limit: a message over it fails the connection with 1009.
  try {
    await ws.recvAll(1000);
  } catch (err) {
    if (!(err instanceof MessageTooBigError)) throw err;
    console.log(`server recvAll(1000): ${err.message} (close code ${err.closeCode})`);
  }
}

const listener = serve({ port: 0, hostname: "127.0.0.1" }, server);
await listener.ready;
const ws = await connect(`ws://127.0.0.1:${listener.port}/`, { maxFrameSize: 1024 });

await ws.send(new Message("Hello, ", "text", true));
await ws.send(new Message(new Uint8Array([1]), "ping")); // control frames may come between fragments
await ws.send(new Message("frame ", "text", true));
await ws.send(new Message("world", "text"));

await ws.send(new Message("re", "text", true));
await ws.send(new Message("assembled", "text"));

await ws.sendAll(new Uint8Array(3000)); // 3 frames: 1024 + 1024 + 952 bytes

await ws.sendAll(new Uint8Array(2000));
const { code } = await ws.closed;
console.log(`client: the server closed the connection with ${code}`);
await listener.close();
