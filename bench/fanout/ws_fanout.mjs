// Fan-out with the ws package: the broadcast loop every ws user writes, over
// the subscribers' set.
import { WebSocketServer } from "ws";

const subscribers = new Set();
const wss = new WebSocketServer({ port: 0, host: "127.0.0.1", perMessageDeflate: false });
wss.on("connection", (ws, req) => {
  if (req.url.startsWith("/sub")) {
    subscribers.add(ws);
    ws.on("close", () => subscribers.delete(ws));
    return;
  }
  ws.on("message", (data, isBinary) => {
    for (const sub of subscribers) sub.send(data, { binary: isBinary });
  });
});
wss.on("listening", () => console.log(`ready ${wss.address().port}`));
