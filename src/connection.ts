/**
 * The connection, re-exported from `src/connection/` where it lives (kept so
 * existing imports of this path keep working).
 *
 * @module
 */

export { WebSocketConnection } from "./connection/connection.ts";
export { endIterationOnAnyClose } from "./connection/shell.ts";
export type { IncomingStream } from "./connection/streams.ts";
export { attachHub, SHARED_CLOSED, SHARED_DROPPED, type SharedMessage, writeShared } from "./connection/topics.ts";
export type { Clock } from "./connection/liveness.ts";
export type { SendOptions } from "./connection/sender.ts";
export { ZlibSweeper } from "./extensions/zlib_sweeper.ts";
export {
  type CloseInfo,
  DEFAULT_CLOSE_TIMEOUT,
  DEFAULT_MAX_BACKPRESSURE,
  DEFAULT_MAX_MESSAGE_SIZE,
  DEFAULT_PING_INTERVAL,
  DEFAULT_PING_TIMEOUT,
  type Sendable,
  type WebSocketConnectionOptions,
} from "./connection/options.ts";
