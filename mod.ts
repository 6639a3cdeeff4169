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
export { WebSocketConnection } from "./src/connection/connection.ts";
export {
  DEFAULT_CLOSE_TIMEOUT,
  DEFAULT_MAX_BACKPRESSURE,
  DEFAULT_MAX_MESSAGE_SIZE,
  type Sendable,
  type WebSocketConnectionOptions,
} from "./src/connection/options.ts";
export type { SendOptions } from "./src/connection/sender.ts";
export type { IncomingStream } from "./src/connection/streams.ts";
export type { Clock } from "./src/connection/clock.ts";
export type { CloseInfo } from "./src/protocol/types.ts";
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
export { connect } from "./src/client/connect.ts";
export type { ConnectOptions, ConnectTlsOptions, ProxyOptions, UpgradeResponse } from "./src/client/options.ts";
export { Http2Pool } from "./src/client/http2_pool.ts";
export { isRetryable, type ReconnectAttempt, reconnecting, type ReconnectingOptions } from "./src/client/reconnecting.ts";
export {
  type PublishReceipt,
  type ResumeConnections,
  type ResumeEvent,
  ResumingClient,
  type ResumeOptions,
  type SubscribeFrom,
} from "./src/client/resuming.ts";
export {
  type ConnectionLimits,
  DEFAULT_HANDSHAKE_TIMEOUT,
  type HttpAnswer,
  type NodeUpgradeRequest,
  type NodeUpgradeSocket,
  type OnSocket,
  type RequestHandlerOptions,
  type SelectProtocol,
  type ServeOptions,
  type UpgradeHandler,
} from "./src/server/options.ts";
export { requestHandler } from "./src/server/request_handler.ts";
export { type Http2Handler, http2Handler } from "./src/server/http2_handler.ts";
export { serve, type Server, type ServerCloseOptions } from "./src/server/serve.ts";
export type { DropCause, LimitName, ServerStats } from "./src/connection/telemetry.ts";
export { PROMETHEUS_CONTENT_TYPE, prometheusMetrics } from "./src/server/metrics.ts";
export type { UpgradeRequest, VerifyResult } from "./src/handshake/server.ts";
export type { HeaderFields } from "./src/handshake/http.ts";
export { type CompressionOptions, DEFAULT_MEM_LEVEL, DEFAULT_SERVER_WINDOW_BITS } from "./src/handshake/deflate_options.ts";
export { DEFAULT_COMPRESSION_THRESHOLD } from "./src/extensions/parameters.ts";
export { type IdleReleasable, ZlibSweeper } from "./src/extensions/zlib_sweeper.ts";
export {
  type AppendKey,
  type DurablePrefix,
  Hub,
  type HubOptions,
  type PublishOptions,
} from "./src/pubsub/hub.ts";
export type { ResumeSessionOptions } from "./src/pubsub/durable.ts";
export {
  type Appended,
  type AppendOptions,
  type DurableLog,
  type DurableTopicOptions,
  type LogEntry,
  type LogFeed,
  type LogRead,
  MemoryLog,
} from "./src/pubsub/durable_log.ts";
export {
  type ClientFrame,
  type GapReason,
  type Position,
  RESUME_PROTOCOL,
  ResumeProtocolError,
  type ServerFrame,
  type WirePayload,
} from "./src/pubsub/resume_protocol.ts";
export type { Backplane, BackplaneReceiver } from "./src/pubsub/backplane.ts";
export { type Frame, Opcode } from "./src/codec/frame.ts";
export { DEFAULT_MAX_FRAME_SIZE, FrameDecoder, type FrameDecoderOptions, FrameDecoderStream } from "./src/codec/decoder.ts";
export { encodeFrame, type FrameEncoderOptions, FrameEncoderStream } from "./src/codec/encoder.ts";
export { CloseCode, isValidCloseCode } from "./src/codec/close.ts";
export type { ByteStreamPair, Transport, TransportSink } from "./src/transport/types.ts";
export { streamTransport } from "./src/transport/streams.ts";
export type { TracedFrame } from "./src/transport/trace.ts";
