// The ws package's echo server. bench/run.ts sets WS_NO_BUFFER_UTIL=1 for the
// plain variant; without it ws loads bufferutil's native masking.
import { WebSocketServer } from "ws";

const wss = new WebSocketServer({ port: 0, host: "127.0.0.1", perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
wss.on("connection", (ws) => {
  ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
});
wss.on("listening", () => console.log(`ready ${wss.address().port}`));
