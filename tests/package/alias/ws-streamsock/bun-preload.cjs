// Bun answers `require("ws")` and `import "ws"` with its own implementation
// of ws, whatever node_modules holds: this preload (bunfig.toml) puts
// streamsock/ws's API on that module before the application loads.
const streamsock = require("streamsock/ws");
Object.assign(require("ws"), {
  WebSocket: streamsock.WebSocket,
  WebSocketServer: streamsock.WebSocketServer,
  Server: streamsock.WebSocketServer,
  createWebSocketStream: streamsock.createWebSocketStream,
});
