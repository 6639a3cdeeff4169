/**
 * The server: `requestHandler` (Gerbil's `websocket-request-handler`) for the
 * `"upgrade"` event of a node:http / node:https server, `http2Handler` for a
 * node:http2 server, and `serve`, a standalone server on the runtime's own
 * listener. All run the same handshake (`src/server/pending_handshake.ts`,
 * over the shared opening driver of `src/handshake/opening.ts`) over a
 * transport; the parts live in `src/server/`.
 *
 * @module
 */

export type { UpgradeRequest, VerifyResult } from "./handshake/server.ts";
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
} from "./server/options.ts";
export { requestHandler } from "./server/request_handler.ts";
export { type Http2Handler, http2Handler } from "./server/http2_handler.ts";
export { type Server, type ServerCloseOptions, serve } from "./server/serve.ts";
export type { DropCause, LimitName, ServerStats } from "./connection/telemetry.ts";
export { PROMETHEUS_CONTENT_TYPE, prometheusMetrics } from "./server/metrics.ts";
