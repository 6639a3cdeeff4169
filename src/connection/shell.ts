/**
 * The shell's state and wiring: one `Shell` per connection holds the core,
 * the transport and the parts (inbox, writer, sender, liveness), answers
 * every part's callbacks as its own methods, pumps received bytes into the
 * core, and runs the closing handshake's timers. `WebSocketConnection`
 * (`connection.ts`) is the public face over it; topics (`topics.ts`), send
 * options (`send_options.ts`) and the streams (`streams.ts`) work on it too.
 * Internal: nothing here is exported from the package.
 *
 * @module
 */

import { CloseCode, encodeClosePayload } from "../codec/close.ts";
import { DEFAULT_MAX_FRAME_SIZE } from "../codec/decoder.ts";
import type { Frame } from "../codec/frame.ts";
import { ConnectionClosedError, TimeoutError, WebSocketError } from "../errors.ts";
import { INFLATE_BACKLOG_BYTES, PerMessageDeflate } from "../extensions/permessage_deflate.ts";
import { compressionTuning, negotiatedDeflateOf } from "../handshake/deflate_options.ts";
import type { Message, MessageType } from "../message.ts";
import { utf8Length } from "../codec/utf8.ts";
import type { CloseInfo, ProtocolSink } from "../protocol/types.ts";
import { Protocol } from "../protocol/protocol.ts";
import { nextTurn } from "../transport/runtime.ts";
import type { Transport, TransportSink } from "../transport/types.ts";
import { nodeZlib } from "../transport/zlib.ts";
import type { Inbox } from "./inbox.ts";
import { type Clock, systemClock } from "./clock.ts";
import { Liveness, type LivenessHost } from "./liveness.ts";
import {
  DEFAULT_CLOSE_TIMEOUT,
  DEFAULT_MAX_BACKPRESSURE,
  DEFAULT_MAX_MESSAGE_SIZE,
  DEFAULT_PING_INTERVAL,
  DEFAULT_PING_TIMEOUT,
  type WebSocketConnectionOptions,
} from "./options.ts";
import { Receiver, type ReceiverHost } from "./receiver.ts";
import { Sender, type SenderHost } from "./sender.ts";
import type { TopicHub } from "./topic_hub.ts";
import { Writer, type WriterHost } from "./writer.ts";
import type { Counted, Telemetry } from "./telemetry.ts";
import { RateLimiter, rateLimitsOf } from "./rate_limit.ts";

/**
 * Frames taken apart before the connection lets the event loop run: a read
 * full of tiny frames (a flood of empty ones) must not keep timers, accepts
 * and other connections waiting (see docs/performance.md).
 */
const FRAMES_PER_TURN = 512;
const NO_BYTES = new Uint8Array(0);
/** Queued bytes beyond the application's frames that still do not pause reading while it waits to send. */
const CONGESTION_SLACK = 1024 * 1024;

/**
 * One connection's state. It implements every part's host interface as
 * methods, so an idle connection carries this one object rather than a
 * closure per callback (see docs/performance.md). `Face` is the public face
 * over it (`WebSocketConnection`), which the hub and the server's registry
 * hold.
 */
export class Shell<Face extends object = object>
  implements ProtocolSink, TransportSink, ReceiverHost, SenderHost, WriterHost, LivenessHost, Counted {
  readonly transport: Transport;
  readonly maxFrameSize: number;
  readonly closeTimeout: number;
  readonly clock: Clock;
  readonly core: Protocol;
  /** permessage-deflate, when negotiated; null keeps every path synchronous. */
  readonly deflate: PerMessageDeflate | null;
  readonly receiver: Receiver;
  readonly inbox: Inbox;
  readonly writer: Writer;
  readonly sender: Sender;
  readonly liveness: Liveness | null;
  readonly maxBackpressure: number;
  readonly backpressurePolicy: "close" | "drop";
  /** A client masks every frame, so a published frame cannot be shared as it is. */
  readonly client: boolean;

  paused = false;
  /** Frames wait in the core's buffer for the next turn of the event loop. */
  yielding = false;
  /** The transport is dropped and `closed` resolved. */
  dropped = false;
  // Topics (topics.ts): the hub this connection joined, and published
  // messages held while a fragmented message of ours is being sent.
  hub: TopicHub<Face> | null = null;
  held: (() => void)[] | null = null;
  heldBytes = 0;
  /** close() was called (or the peer's close is being answered); the frame may wait for sends ahead of it. */
  closeRequest: { code: number; reason: string } | null = null;
  /** Defers the answer to the peer's close by one macrotask. */
  echoTimer: unknown = undefined;
  closeTimer: unknown = undefined;
  /**
   * What holds this connection until it closes (the server's set of open
   * connections): told at once when it is dropped, instead of a callback on
   * `closed` per connection (`untrackOnClose` in `connection.ts`).
   */
  registry: { delete(ws: Face): unknown } | null = null;
  // Counted (telemetry.ts): plain increments on paths that run anyway; a
  // server adds them up when asked and when the connection closes.
  bytesIn = 0;
  bytesOut = 0;
  messagesIn = 0;
  messagesOut = 0;
  /** The payload bytes of the fragments received so far of the message in progress. */
  partialIn = 0;
  openedAt = 0;
  /** The server's telemetry, for a server's connection; null for a client's (nothing is published). */
  telemetry: Telemetry | null = null;
  peer: string | undefined = undefined;
  /** The congestion last published on the backpressure channels. */
  reportedCongestion = false;
  /** maxMessagesPerSecond / maxBytesPerSecond, when set; null costs one comparison per read. */
  readonly limiter: RateLimiter | null;
  /** Over a rate limit: nothing is read or decoded until `rateTimer` fires. */
  rateLimited = false;
  rateTimer: unknown = undefined;
  #resumeTask: (() => void) | null = null;
  /** `closed`, made when first asked for; settled by #terminate. */
  #closed: Promise<CloseInfo> | null = null;
  #resolveClosed: ((info: CloseInfo) => void) | null = null;
  /** The public face, for the hub and the registry. */
  readonly ws: Face;

  constructor(ws: Face, transport: Transport, options: WebSocketConnectionOptions) {
    this.ws = ws;
    this.transport = transport;
    this.maxFrameSize = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
    this.closeTimeout = options.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT;
    this.clock = options.clock ?? systemClock;
    this.client = options.role === "client";
    this.maxBackpressure = options.maxBackpressure ?? DEFAULT_MAX_BACKPRESSURE;
    this.backpressurePolicy = options.backpressurePolicy ?? "close";
    this.receiver = new Receiver(options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE, this);
    const limits = rateLimitsOf(options);
    this.limiter = limits === null ? null : new RateLimiter(limits, this.clock.now());
    this.inbox = this.receiver.inbox;
    this.writer = new Writer(transport, this.inbox, this);
    // No extension negotiated (the common case): no deflate state, not even its callbacks.
    const negotiated = negotiatedDeflateOf(options);
    this.deflate = negotiated === null ? null : new PerMessageDeflate(
      negotiated,
      compressionTuning(options.compression, options.role),
      this.maxFrameSize,
      {
        deliver: (frame) => this.#onInflated(frame),
        write: (frame) => this.core.sendFrame(frame),
        fail: (err) => this.fail(err),
      },
      nodeZlib,
      options.zlibSweeper ?? null,
    );
    this.core = new Protocol({
      role: options.role,
      maxFrameSize: this.maxFrameSize,
      autoPong: options.autoPong,
      echoCloseReason: options.echoCloseReason,
      maskKey: options.maskKey,
      allowedRsv: this.deflate === null ? 0 : 4,
      ownsChunks: transport.mutableChunks,
      stage: this.deflate,
    }, this);
    this.sender = new Sender(this.core, this.writer, this.deflate, this.maxFrameSize, this);
    transport.start(this);
    const pingInterval = options.pingInterval ?? DEFAULT_PING_INTERVAL;
    const idleTimeout = options.idleTimeout ?? 0;
    this.liveness = pingInterval > 0 || idleTimeout > 0
      ? new Liveness(this.clock, { pingInterval, pingTimeout: options.pingTimeout ?? DEFAULT_PING_TIMEOUT, idleTimeout }, this)
      : null;
    // A copy as a plain Uint8Array: node:http hands the upgrade head over as a
    // Buffer, and payload views of it would otherwise reach users as Buffers.
    if (options.head !== undefined && options.head.length > 0) this.data(new Uint8Array(options.head));
  }

  /** What `WebSocketConnection.closed` is: made on first use (most server connections never ask). */
  get closed(): Promise<CloseInfo> {
    if (this.#closed === null) {
      this.#closed = this.dropped
        ? Promise.resolve(this.core.closeInfo!)
        : new Promise((resolve) => (this.#resolveClosed = resolve));
    }
    return this.#closed;
  }

  /** Bytes queued for sending but not yet handed to the operating system. */
  get bufferedAmount(): number {
    return this.writer.bufferedAmount + this.transport.bufferedAmount;
  }

  // ------------------------------------------------ ProtocolSink: what the core decided

  frame(msg: Message, size: number): void {
    const type = msg.type;
    if (type === "text" || type === "binary") {
      this.liveness?.dataReceived();
      if (msg.partial) this.partialIn += size;
      else {
        this.messagesIn++;
        this.limiter?.message();
        const telemetry = this.telemetry;
        if (telemetry !== null && telemetry.channels.messageReceived.hasSubscribers) {
          telemetry.channels.messageReceived.publish({ ws: this.ws, type, size: size + this.partialIn });
        }
        this.partialIn = 0;
      }
    }
    this.inbox.deliver(msg, size);
  }

  write(bytes: Uint8Array): void {
    this.bytesOut += bytes.length;
    this.writer.write(bytes);
  }

  sendEof(): void {
    const writer = this.writer;
    if (writer.ended) return;
    if (this.deflate !== null && this.deflate.sending) {
      // The close frame waits behind compressed messages: end once it is out.
      void this.deflate.sent().then(() => this.sendEof());
      return;
    }
    writer.flush();
    writer.ended = true;
    this.transport.end();
  }

  closeReceived(): void {
    const info = this.core.closeInfo!;
    this.inbox.end(new ConnectionClosedError(info.code, info.reason));
    if (this.core.closeSent) {
      this.#afterCloseSent();
    } else if (this.closeRequest === null) {
      // §5.5.1 asks for the answer "as soon as practical": one macrotask
      // lets the application reply to messages that arrived just before
      // the close (an echo server's replies are not cut off).
      this.echoTimer = this.clock.setTimeout(() => this.requestClose(undefined, ""), 0);
    }
  }

  /** The core is failing the connection: drop what waits to be compressed, wake readers, bound the wait. */
  failing(err: WebSocketError): void {
    // Sends still waiting for the compressor are refused like any send after our close frame.
    this.deflate?.dispose(this.closedError());
    this.inbox.end(err);
    this.#armCloseTimer();
  }

  // ------------------------------------------------ TransportSink: what the transport reports

  data(chunk: Uint8Array): void {
    this.bytesIn += chunk.length;
    const core = this.core;
    if (!core.receiving) return;
    this.liveness?.received();
    const limiter = this.limiter;
    if (limiter !== null) return this.#dataLimited(chunk, limiter);
    // While frames wait for the next turn, new bytes only join them.
    const more = core.receiveData(chunk, this.yielding ? 0 : FRAMES_PER_TURN);
    if (more && !this.yielding) this.#yieldTurn();
    this.updateReading();
  }

  /** `data` under rate limits: bytes charged as read, frames decoded no faster than the message bucket allows. */
  #dataLimited(chunk: Uint8Array, limiter: RateLimiter): void {
    const now = this.clock.now();
    const bytesOver = limiter.read(chunk.length, now);
    const held = this.yielding || this.rateLimited;
    const budget = held ? 0 : limiter.frames(now, FRAMES_PER_TURN);
    const more = this.core.receiveData(chunk, budget);
    if (!held && !this.dropped) {
      if (bytesOver || (more && budget === 0)) this.#overRate(limiter, bytesOver);
      else if (more) this.#yieldTurn();
    }
    this.updateReading();
  }

  /** Over a rate limit: counted, then reading waits for the bucket (or the connection is failed with 1008). */
  #overRate(limiter: RateLimiter, bytes: boolean): void {
    const close = limiter.limits.action === "close";
    this.telemetry?.limit(bytes ? "maxBytesPerSecond" : "maxMessagesPerSecond", {
      ws: this.ws,
      remoteAddress: this.transport.remoteAddress,
      action: limiter.limits.action,
    });
    if (close) {
      this.telemetry?.drop("rateLimit");
      this.fail(
        new WebSocketError(
          bytes ? "The peer sent more than maxBytesPerSecond allows" : "The peer sent more than maxMessagesPerSecond allows",
          { code: "ERR_RATE_LIMIT", closeCode: CloseCode.PolicyViolation },
        ),
      );
      return;
    }
    this.rateLimited = true;
    this.clock.clearTimeout(this.rateTimer);
    this.rateTimer = this.clock.setTimeout(() => {
      this.rateLimited = false;
      if (this.dropped) return;
      const core = this.core;
      if (core.receiving) {
        const now = this.clock.now();
        if (limiter.bytesExhausted && limiter.read(0, now)) return this.#overRate(limiter, true);
        const budget = limiter.frames(now, FRAMES_PER_TURN);
        if (budget === 0) return this.#overRate(limiter, false);
        if (core.receiveData(NO_BYTES, budget)) this.#yieldTurn();
      }
      this.updateReading();
    }, limiter.wait(this.clock.now()));
    this.updateReading();
  }

  end(): void {
    this.#onTransportEnd(undefined);
  }

  error(err: unknown): void {
    this.#onTransportEnd(err);
  }

  drain(): void {
    this.writer.drain();
  }

  // ------------------------------------------------ ReceiverHost, WriterHost, SenderHost

  taken(): void {
    if (this.paused) this.updateReading();
  }

  congestionChanged(): void {
    this.updateReading();
    const telemetry = this.telemetry;
    if (telemetry !== null && this.writer.congested !== this.reportedCongestion) this.#reportCongestion(telemetry);
  }

  #reportCongestion(telemetry: Telemetry): void {
    const congested = this.reportedCongestion = this.writer.congested;
    const channel = congested ? telemetry.channels.backpressureStart : telemetry.channels.backpressureEnd;
    if (channel.hasSubscribers) channel.publish({ ws: this.ws, bufferedAmount: this.bufferedAmount });
  }

  /** Fails the connection (RFC 6455 §7.1.7, decided by the core). */
  fail(err: WebSocketError): void {
    if (this.dropped) return;
    this.core.failWith(err);
    this.updateReading(); // a paused transport must be read again to see the peer's EOF
  }

  peerClosed(): boolean {
    return this.core.closeReceived;
  }

  closeRequested(): { code: number; reason: string } | null {
    return this.closeRequest;
  }

  terminated(): boolean {
    return this.dropped;
  }

  close(message: Message): Promise<void> {
    const reason = message.data as string;
    this.requestClose(message.code ?? (reason === "" ? undefined : CloseCode.Normal), reason);
    return this.writer.ready();
  }

  messageEnded(type: MessageType, data: string | Uint8Array | number): void {
    this.messageSent(type, data);
    if (this.held !== null) {
      // Our fragmented message ended: what was published meanwhile goes out now, in order.
      const held = this.held;
      this.held = null;
      this.heldBytes = 0;
      for (const write of held) write();
    }
  }

  /** A whole data message went out (a published one included): counted, and published when someone listens. */
  messageSent(type: MessageType, data: string | Uint8Array | number): void {
    this.messagesOut++;
    const telemetry = this.telemetry;
    if (telemetry !== null && telemetry.channels.messageSent.hasSubscribers) {
      const size = typeof data === "number" ? data : typeof data === "string" ? utf8Length(data) : data.length;
      telemetry.channels.messageSent.publish({ ws: this.ws, type, size });
    }
  }

  // ------------------------------------------------ LivenessHost

  active(): boolean {
    return !this.dropped && !this.core.closeSent;
  }

  ping(): void {
    this.core.sendPing();
  }

  dead(pingTimeout: number): void {
    const telemetry = this.telemetry;
    if (telemetry !== null) {
      telemetry.drop("keepalive");
      const channel = telemetry.channels.keepaliveTimeout;
      if (channel.hasSubscribers) channel.publish({ ws: this.ws, pingTimeout });
    }
    // The peer is unresponsive: waiting for a closing handshake is pointless.
    this.fail(
      new TimeoutError(`No answer to a keepalive ping within ${pingTimeout} ms`, { closeCode: CloseCode.InternalError }),
    );
    this.drop();
  }

  idle(): void {
    this.requestClose(CloseCode.GoingAway, "Idle timeout");
  }

  // ------------------------------------------------ receiving

  /** Lets the event loop run (timers, accepts, other connections) before the next frames. */
  #yieldTurn(): void {
    this.yielding = true;
    nextTurn(this.#resumeTask ??= () => {
      this.yielding = false;
      const limiter = this.limiter;
      if (limiter !== null) {
        // Over the rate: the rate timer goes on decoding.
        if (!this.rateLimited && !this.dropped && this.core.receiving) {
          const budget = limiter.frames(this.clock.now(), FRAMES_PER_TURN);
          if (budget === 0) this.#overRate(limiter, false);
          else if (this.core.receiveData(NO_BYTES, budget)) this.#yieldTurn();
        }
      } else if (!this.dropped && this.core.receiving && this.core.receiveData(NO_BYTES, FRAMES_PER_TURN)) {
        this.#yieldTurn();
      }
      this.updateReading();
    });
  }

  /**
   * The frame permessage-deflate took, back inflated: the core handles it,
   * then decodes what arrived behind it (unless a turn is already scheduled).
   */
  #onInflated(frame: Frame): void {
    const core = this.core;
    if (core.receiveFrame(frame) && !this.yielding && !this.rateLimited) {
      const limiter = this.limiter;
      const budget = limiter === null ? FRAMES_PER_TURN : limiter.frames(this.clock.now(), FRAMES_PER_TURN);
      if (budget === 0) this.#overRate(limiter!, false);
      else if (core.receiveData(NO_BYTES, budget)) this.#yieldTurn();
    }
    this.updateReading();
  }

  /** Pauses the transport while too much is unread or unsent; resumes when both fall. */
  updateReading(): void {
    // Once the core stopped processing (a close frame arrived, or we failed
    // the connection) bytes are discarded as they come, so there is nothing
    // to hold back, and the transport must be read to see the peer's EOF.
    // Congestion pauses reading when nobody paces it (our automatic pongs
    // to a peer that floods pings and never reads them), or when far more is
    // queued than one frame of the application's (pongs on top of it).
    const writer = this.writer;
    const congested = writer.congested &&
      (!writer.senderWaiting || this.bufferedAmount > 2 * this.maxFrameSize + CONGESTION_SLACK);
    const shouldPause = this.core.receiving &&
      (this.inbox.full || this.yielding || congested || this.rateLimited ||
        (this.core.waitingForStage && this.core.bufferedAmount > INFLATE_BACKLOG_BYTES));
    if (shouldPause !== this.paused && !this.dropped) {
      this.paused = shouldPause;
      if (shouldPause) this.transport.pause();
      else this.transport.resume();
    }
  }

  // ------------------------------------------------ closing

  /**
   * Sends our close frame once nothing sent before it is cut off: a message
   * `sendAll` is fragmenting, and the sends issued before the close waiting
   * behind it, go first; sends issued after it are refused.
   *
   * @throws {RangeError} For a code that may not be sent or a reason too long.
   */
  requestClose(code: number | undefined, reason: string): void {
    const core = this.core;
    if (core.closeSent || this.closeRequest !== null || this.dropped) return;
    // Validates before anything is sent; after the peer's close the core echoes its code instead.
    if (!core.closeReceived) encodeClosePayload(code, reason);
    this.closeRequest = { code: code ?? CloseCode.NoStatus, reason };
    this.clock.clearTimeout(this.echoTimer);
    if (this.sender.busy === null) {
      core.sendClose(code, reason);
      this.#afterCloseSent();
      return;
    }
    // The wait for the sends ahead is bounded like the handshake itself.
    this.#armCloseTimer();
    void (async () => {
      while (this.sender.busy !== null) await this.sender.busy;
      if (core.closeSent || this.dropped) return;
      core.sendClose(code, reason);
      this.#afterCloseSent();
    })();
  }

  /**
   * After our close frame went out (or the handshake completed): wait for
   * the peer, up to closeTimeout. The core already told the server to close
   * TCP when both frames are exchanged (§7.1.1); the client waits for it.
   */
  #afterCloseSent(): void {
    // Ending the transport can report its end at once (Bun's socket.end()
    // calls the close handler synchronously): a timer set after that would
    // only hold the process open for closeTimeout.
    if (this.dropped) return;
    this.#armCloseTimer();
  }

  #armCloseTimer(): void {
    this.clock.clearTimeout(this.closeTimer);
    this.closeTimer = this.clock.setTimeout(() => this.#onCloseTimeout(), this.closeTimeout);
  }

  #onCloseTimeout(): void {
    if (this.dropped) return;
    this.telemetry?.drop("closeTimeout");
    this.core.abandon(new Error(`Peer did not finish the closing handshake within ${this.closeTimeout} ms`));
    this.drop();
  }

  #onTransportEnd(cause: unknown): void {
    if (this.dropped) return;
    this.writer.ended = true;
    this.core.receiveEof(cause);
    if (cause !== undefined) this.transport.destroy();
    else this.transport.end();
    this.#terminate();
  }

  /** The error sends and receives fail with once the connection is closed. */
  closedError(): ConnectionClosedError {
    const info = this.core.closeInfo;
    return new ConnectionClosedError(info?.code ?? CloseCode.Abnormal, info?.reason ?? "");
  }

  /** Drops the transport at once and settles everything (the core decided or was told how it closed). */
  drop(): void {
    this.transport.destroy();
    this.#terminate();
  }

  #terminate(): void {
    if (this.dropped) return;
    this.dropped = true;
    const clock = this.clock;
    clock.clearTimeout(this.closeTimer);
    clock.clearTimeout(this.echoTimer);
    if (this.rateTimer !== undefined) clock.clearTimeout(this.rateTimer);
    this.liveness?.stop();
    this.core.abandon(new Error("The connection was dropped"));
    const info = this.core.closeInfo!;
    this.inbox.end(info.error ?? this.closedError(), true);
    this.writer.close(this.closedError());
    this.deflate?.dispose(this.closedError());
    this.held = null;
    this.heldBytes = 0;
    // Out of the hub and the server's registry now, not a callback later.
    this.hub?.remove(this.ws);
    const registry = this.registry;
    this.registry = null;
    registry?.delete(this.ws);
    this.telemetry?.closed(this, info, clock.now());
    const resolve = this.#resolveClosed;
    this.#resolveClosed = null;
    resolve?.(info);
  }
}
