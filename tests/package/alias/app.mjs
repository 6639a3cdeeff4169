// An application on socket.io and socket.io-client, neither of them touched,
// with `ws` aliased to streamsock/ws (package.json's overrides; Bun's
// preload): engine.io's server (which requires ws) and engine.io-client's
// Node transport (which imports it) must both run on streamsock.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { Server } from "socket.io";
import { io } from "socket.io-client";
import { WebSocket as StreamsockWebSocket } from "streamsock/ws";

const http = createServer();
const server = new Server(http, { transports: ["websocket"] });
await new Promise((resolve) => http.listen(0, "127.0.0.1", resolve));
const serverSockets = [];
server.on("connection", (socket) => {
  serverSockets.push(socket.conn.transport.socket);
  socket.on("sum", (a, b, ack) => ack(a + b));
});
const client = io(`http://127.0.0.1:${http.address().port}`, { transports: ["websocket"], reconnection: false });
try {
  await new Promise((resolve, reject) => {
    client.once("connect", resolve);
    client.once("connect_error", reject);
  });
  assert.equal(await client.timeout(5000).emitWithAck("sum", 2, 40), 42);
  // What only streamsock/ws's sockets are: proof that it is what runs.
  assert.ok(serverSockets[0] instanceof StreamsockWebSocket, "socket.io's server runs on streamsock/ws");
  assert.ok(client.io.engine.transport.ws instanceof StreamsockWebSocket, "socket.io-client runs on streamsock/ws");
  assert.equal(typeof serverSockets[0].closedCleanly, "boolean");
  console.log("ws aliased to streamsock/ws: socket.io and socket.io-client ok");
} finally {
  client.disconnect();
  await new Promise((resolve) => server.close(resolve));
}
