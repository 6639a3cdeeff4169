// streamsock's requestHandler on a node:http server's "upgrade" event, same echo.
import { createServer } from "node:http";
import { requestHandler, type WebSocketConnection } from "../../mod.ts";

const MAX = 64 * 1024 * 1024;

async function echo(ws: WebSocketConnection): Promise<void> {
  for await (const msg of ws) await ws.send(msg);
}

const http = createServer((_req, res) => res.end("WebSocket only\n"));
http.on("upgrade", requestHandler(echo, undefined, { maxFrameSize: MAX }));
http.listen(0, "127.0.0.1", () => console.log(`ready ${(http.address() as { port: number }).port}`));
