// require("streamsock/ws") is the WebSocket class with the rest of the API on
// it, as require("ws") is.
module.exports = require("streamsock/ws");
