/**
 * streamsock: a WebSocket client and server for Deno, Bun and Node, with the
 * API of Gerbil Scheme's `:std/net/websocket`.
 *
 * - {@link Message} and {@link WebSocketConnection}: `send`, `sendAll`,
 *   `recv`, `recvAll`, `protocol`, `maxFrameSize`, plus `close`, `closed`,
 *   async iteration and Web Streams of messages.
 * - The server: {@link requestHandler} for the `"upgrade"` event of a
 *   node:http server, {@link http2Handler} for a node:http2 server's
 *   WebSockets over HTTP/2 (RFC 8441), and {@link serve} on the runtime's
 *   own listener (`http2: true` for both on one port).
 * - The RFC 6455 frame codec as Web Streams ({@link FrameDecoderStream},
 *   {@link FrameEncoderStream}), usable on any byte stream in any runtime.
 *
 * @example A connection over an in-memory pipe
 * ```ts
 * import { streamTransport, WebSocketConnection } from "@streamsock/streamsock";
 *
 * const up = new TransformStream<Uint8Array, Uint8Array>();
 * const down = new TransformStream<Uint8Array, Uint8Array>();
 * const client = new WebSocketConnection(streamTransport({ readable: down.readable, writable: up.writable }), { role: "client" });
 * const server = new WebSocketConnection(streamTransport({ readable: up.readable, writable: down.writable }), { role: "server" });
 * await client.send("hello");
 * console.log((await server.recv()).data); // hello
 * ```
 *
 * @module
 */

export { isValidMessage, Message, type MessageOf, type MessageType } from "./src/message.ts";
export {
  type Clock,
  type CloseInfo,
  DEFAULT_CLOSE_TIMEOUT,
  DEFAULT_MAX_BACKPRESSURE,
  DEFAULT_MAX_MESSAGE_SIZE,
  type IncomingStream,
  type Sendable,
  type SendOptions,
  WebSocketConnection,
  type WebSocketConnectionOptions,
} from "./src/connection.ts";
export {
  ConnectError,
  ConnectionClosedError,
  HandshakeError,
  type HandshakeErrorOptions,
  MessageTooBigError,
  ProtocolError,
  ProxyError,
  type ProxyErrorOptions,
  TimeoutError,
  WebSocketError,
  type WebSocketErrorOptions,
} from "./src/errors.ts";
export {
  connect,
  type ConnectOptions,
  type ConnectTlsOptions,
  type ProxyOptions,
  type UpgradeResponse,
} from "./src/client.ts";
export { Http2Pool } from "./src/client_http2.ts";
export { isRetryable, type ReconnectAttempt, reconnecting, type ReconnectingOptions } from "./src/reconnecting.ts";
export {
  type CompressionOptions,
  DEFAULT_COMPRESSION_THRESHOLD,
  DEFAULT_MEM_LEVEL,
  DEFAULT_SERVER_WINDOW_BITS,
} from "./src/handshake/deflate_options.ts";
export { type IdleReleasable, ZlibSweeper } from "./src/extensions/zlib_sweeper.ts";
export type { HeaderFields } from "./src/handshake/http.ts";
export {
  DEFAULT_HANDSHAKE_TIMEOUT,
  type Http2Handler,
  http2Handler,
  type HttpAnswer,
  type NodeUpgradeRequest,
  type NodeUpgradeSocket,
  type OnSocket,
  requestHandler,
  type RequestHandlerOptions,
  type SelectProtocol,
  serve,
  type Server,
  type ServeOptions,
  type UpgradeHandler,
  type UpgradeRequest,
  type VerifyResult,
} from "./src/server.ts";
export { Hub, type HubOptions, type PublishOptions } from "./src/pubsub/hub.ts";
export type { Backplane, BackplaneReceiver } from "./src/pubsub/backplane.ts";
export { type Frame, Opcode } from "./src/codec/frame.ts";
export { DEFAULT_MAX_FRAME_SIZE, FrameDecoder, type FrameDecoderOptions, FrameDecoderStream } from "./src/codec/decoder.ts";
export { encodeFrame, type FrameEncoderOptions, FrameEncoderStream } from "./src/codec/encoder.ts";
export { CloseCode, isValidCloseCode } from "./src/codec/close.ts";
export type { ByteStreamPair, Transport, TransportSink } from "./src/transport/types.ts";
export { streamTransport } from "./src/transport/streams.ts";
export type { TracedFrame } from "./src/trace.ts";
