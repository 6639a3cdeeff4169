/**
 * The vocabulary of the protocol core: its states, what it hands out, the
 * stage it can host, and its options.
 *
 * @module
 */

import type { Frame } from "../codec/frame.ts";
import type { WebSocketError } from "../errors.ts";
import type { Message } from "../message.ts";

/**
 * Where a connection is in its life (RFC 6455 §4, §7): CONNECTING until the
 * opening handshake is done, OPEN while messages flow, CLOSING once a close
 * frame was sent or received (or the connection was failed), CLOSED once the
 * TCP connection is gone.
 */
export const State = { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 } as const;
/** One of the {@link State} values. */
export type State = typeof State[keyof typeof State];

/**
 * How a connection ended.
 *
 * @example
 * ```ts
 * import type { CloseInfo, WebSocketConnection } from "@streamsock/streamsock";
 *
 * async function report(ws: WebSocketConnection): Promise<void> {
 *   const info: CloseInfo = await ws.closed;
 *   console.log(info.code, info.reason, info.wasClean, info.error?.message);
 * }
 * ```
 */
export interface CloseInfo {
  /** The status code: the peer's, ours when we failed the connection, or 1006 when the transport was lost. */
  code: number;
  /** The reason that went with the code. */
  reason: string;
  /** True when both close frames were exchanged. */
  wasClean: boolean;
  /** The failure that ended the connection, if it did not end cleanly. */
  error?: WebSocketError;
}

/** What the core hands out, synchronously and in order. */
export interface ProtocolSink {
  /** A received frame for the application, with its payload size in bytes (text already decoded). */
  frame(msg: Message, size: number): void;
  /** Bytes to send, in order. */
  write(bytes: Uint8Array): void;
  /** Close our side of TCP now (after flushing what was written). */
  sendEof(): void;
  /** The peer's close frame arrived (it was also handed to `frame`). */
  closeReceived(): void;
  /** The connection is being failed: called before our close frame is written. */
  failing(error: WebSocketError): void;
}

/**
 * A stage between the codec and the core that transforms whole messages,
 * such as permessage-deflate (RFC 7692). The core hands it every received
 * frame and every control frame it is about to send; the stage gives frames
 * back, in order, through `receiveFrame` and `sendFrame`.
 */
export interface MessageStage {
  /** Largest payload on the wire the decoder admits (a compressed frame may exceed maxFrameSize slightly). */
  readonly frameLimit: number;
  /**
   * A received frame: true when the stage took it and will give it back
   * later (never synchronously) through `receiveFrame`; until then the core
   * decodes nothing more, so frames keep their order.
   */
  intercept(frame: Frame): boolean;
  /** A control frame to send: true when the stage queued it behind messages it is still transforming. */
  queueControl(frame: Frame): boolean;
}

/** Options for {@link Protocol}. */
export interface ProtocolOptions {
  /** Which end this is: a client masks what it sends, a server requires masked frames (§5.1, §5.3). */
  role: "client" | "server";
  /** Largest frame payload accepted and sent. Defaults to 1 MiB. */
  maxFrameSize?: number;
  /** Answer pings with pongs (§5.5.2). Defaults to true. */
  autoPong?: boolean;
  /** Answer the peer's close frame with its code and its reason, not the code alone. Defaults to false. */
  echoCloseReason?: boolean;
  /** Source of client masking keys. Defaults to fresh random keys (§5.3); inject only in tests. */
  maskKey?: () => Uint8Array;
  /** RSV bits a negotiated extension defines (RSV1 = 4). Defaults to 0 (§5.2: else they must be 0). */
  allowedRsv?: number;
  /** Whether received chunks may be unmasked in place. Defaults to false. */
  ownsChunks?: boolean;
  /** The state to start in. Defaults to OPEN: the opening handshake is done elsewhere. */
  state?: State;
  /** A message stage (permessage-deflate) between the codec and the core. */
  stage?: MessageStage | null;
}
