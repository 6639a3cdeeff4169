/**
 * The WebSocket protocol core: RFC 6455 without I/O.
 *
 * Bytes go in (`receiveData`, `receiveEof`), and what they mean comes out
 * through a {@link ProtocolSink}: frames for the application, bytes to send,
 * and the moment to close our side of TCP. Nothing here awaits, sets a timer
 * or reads a clock; the connection shell (`src/connection/`) pumps bytes and
 * runs the timers. Every protocol decision lives in this file, each with the
 * RFC 6455 section it obeys. The model is python-websockets' `Protocol`.
 *
 * @module
 */

import { CloseCode, decodeClosePayload, encodeClosePayload, MAX_CLOSE_REASON_BYTES } from "../codec/close.ts";
import { DEFAULT_MAX_FRAME_SIZE, FrameDecoder } from "../codec/decoder.ts";
import { checkControlFrame, encodeFrame, encodeTextFrame } from "../codec/encoder.ts";
import { type Frame, headerSize, Opcode, writeHeader } from "../codec/frame.ts";
import { randomMaskKey } from "../codec/mask.ts";
import { ConnectionClosedError, type WebSocketError } from "../errors.ts";
import { Message, type MessageType } from "../message.ts";
import { IncomingText } from "./text.ts";
import { type CloseInfo, type MessageStage, type ProtocolOptions, type ProtocolSink, State } from "./types.ts";

const EMPTY = new Uint8Array(0);
// Payloads at least this large are written after their header without being copied (server side, unmasked).
const LARGE_PAYLOAD = 16 * 1024;

/** Cuts a close reason to the 123 bytes a close frame holds (§5.5.1), at a character boundary. */
export function truncateReason(text: string): string {
  const bytes = new TextEncoder().encode(text);
  if (bytes.length <= MAX_CLOSE_REASON_BYTES) return text;
  let end = MAX_CLOSE_REASON_BYTES;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return new TextDecoder().decode(bytes.subarray(0, end));
}

/**
 * One WebSocket connection's protocol state, without I/O.
 *
 * @example Feeding bytes and reading what comes out
 * ```ts
 * import { Protocol } from "./protocol.ts";
 *
 * const out: Uint8Array[] = [];
 * const protocol = new Protocol({ role: "client" }, {
 *   frame: (msg) => console.log(msg.type, msg.data),
 *   write: (bytes) => out.push(bytes),
 *   sendEof: () => {},
 *   closeReceived: () => protocol.sendClose(),
 *   failing: () => {},
 * });
 * protocol.receiveData(new Uint8Array([0x81, 0x02, 0x68, 0x69])); // text "hi"
 * ```
 */
export class Protocol {
  readonly #sink: ProtocolSink;
  readonly #client: boolean;
  readonly #autoPong: boolean;
  readonly #echoCloseReason: boolean;
  readonly #maxFrameSize: number;
  readonly #maskKey: (() => Uint8Array) | null;
  readonly #decoder: FrameDecoder;
  readonly #stage: MessageStage | null;
  #state: State;

  /** The type of the data message being received, for its continuation frames (§5.4). */
  #recvType: "text" | "binary" = "binary";
  /** Whether it is compressed: then its frames' UTF-8 is judged by the stage's output. */
  #recvTransformed = false;
  /** The stage took a frame and has not given it back: later bytes wait undecoded, in order. */
  #stageHolds = false;
  /** UTF-8 of the text message being received (§8.1); created with the first text fragment. */
  #text: IncomingText | null = null;
  /** The type of the fragmented message being sent, or null (§5.4: no interleaving). */
  #sendType: "text" | "binary" | null = null;

  /** Our close frame, once it was decided (it may still wait behind messages the stage is compressing). */
  #closeSent: { code: number; reason: string } | null = null;
  /** Our close frame reached the sink: from here on nothing at all may be written (§5.5.1). */
  #closeWritten = false;
  #closeReceived: { code: number; reason: string } | null = null;
  /** How the connection ended when it did not end with both close frames and a clean EOF. */
  #failure: CloseInfo | null = null;
  #eofSent = false;

  /**
   * @param options Role, limits and policies.
   * @param sink Where frames, bytes and decisions go.
   */
  constructor(options: ProtocolOptions, sink: ProtocolSink) {
    this.#sink = sink;
    this.#client = options.role === "client";
    this.#autoPong = options.autoPong ?? true;
    this.#echoCloseReason = options.echoCloseReason ?? false;
    this.#maxFrameSize = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
    this.#maskKey = this.#client ? (options.maskKey ?? randomMaskKey) : null;
    this.#state = options.state ?? State.OPEN;
    this.#stage = options.stage ?? null;
    this.#decoder = new FrameDecoder({
      // §5.1: a server requires masked frames, a client unmasked ones.
      masked: !this.#client,
      // A stage's limit is for frames as they travel (compressed ones may exceed maxFrameSize slightly).
      maxFrameSize: this.#stage?.frameLimit ?? this.#maxFrameSize,
      allowedRsv: options.allowedRsv ?? 0,
      ownsChunks: options.ownsChunks ?? false,
    });
  }

  /** Where the connection is: CONNECTING, OPEN, CLOSING or CLOSED. */
  get state(): State {
    return this.#state;
  }

  /** True while received bytes are still processed: until a close frame arrived or the connection failed (§5.5.1). */
  get receiving(): boolean {
    return this.#state !== State.CLOSED && this.#closeReceived === null && this.#failure === null;
  }

  /** Whether our close frame was written. */
  get closeSent(): boolean {
    return this.#closeSent !== null;
  }

  /** Whether the peer's close frame arrived. */
  get closeReceived(): boolean {
    return this.#closeReceived !== null;
  }

  /** Unread bytes held by the decoder: non-zero when the transport ends inside a frame. */
  get bufferedAmount(): number {
    return this.#decoder.bufferedAmount;
  }

  /**
   * Whether the message stage holds a received frame: until it gives it back
   * through {@link receiveFrame}, received bytes only wait in the decoder.
   */
  get waitingForStage(): boolean {
    return this.#stageHolds;
  }

  /**
   * How the connection ended, or is ending: the failure, else the peer's
   * close, else ours; null before any close frame. Once CLOSED it is never null.
   */
  get closeInfo(): CloseInfo | null {
    if (this.#failure !== null) return this.#failure;
    const frame = this.#closeReceived ?? this.#closeSent;
    if (frame !== null) return { code: frame.code, reason: frame.reason, wasClean: true };
    return this.#state === State.CLOSED ? { code: CloseCode.Abnormal, reason: "", wasClean: false } : null;
  }

  /** Whether a data message of ours is partly sent: its next frame must be a continuation (§5.4). */
  get messageInProgress(): boolean {
    return this.#sendType !== null;
  }

  /**
   * Whether we now wait for the peer to close TCP (RFC 6455 §7.1.1): once our
   * close frame is out, the client always waits for the server to close
   * first; the server waits for the client's EOF after closing its own side.
   * The shell bounds the wait with its close timeout, then drops the connection.
   */
  closeExpected(): boolean {
    return this.#state === State.CLOSING && this.#closeSent !== null;
  }

  // ---------------------------------------------------------------- receiving

  /**
   * Bytes received from the peer, taken apart into at most `maxFrames`
   * frames; the rest stays buffered for the next call (an empty chunk
   * continues), so the shell can let other work run in between.
   *
   * @returns True when frames may still be waiting in the buffer.
   */
  receiveData(chunk: Uint8Array, maxFrames: number = Infinity): boolean {
    // §5.5.1: after a close frame, data is not processed; a failed connection reads only to see EOF.
    if (!this.receiving) return false;
    const decoder = this.#decoder;
    decoder.push(chunk);
    // The stage holds a frame: what follows it waits here until it comes back.
    if (this.#stageHolds) return false;
    let budget = maxFrames;
    try {
      for (let frame = budget > 0 ? decoder.next() : null; frame !== null; frame = decoder.next()) {
        this.#receiveDecoded(frame);
        if (!this.receiving || this.#stageHolds) return false;
        if (--budget === 0) return decoder.bufferedAmount > 0;
      }
      if (budget === 0) return decoder.bufferedAmount > 0;
      // §8.1 fail fast: judge a large text frame's bytes as they arrive. A
      // stage (deflate) may hold earlier frames, so then the frame waits to be whole.
      if (this.#stage === null) this.#checkPartialText();
    } catch (err) {
      this.failWith(err as WebSocketError);
    }
    return false;
  }

  /**
   * The frame the message stage took, given back (transformed). Returns
   * true while frames are still processed: the shell then goes on with the
   * bytes that waited behind it (`receiveData` with an empty chunk).
   */
  receiveFrame(frame: Frame): boolean {
    this.#stageHolds = false;
    if (!this.receiving) return false;
    try {
      this.#onFrame(frame);
    } catch (err) {
      this.failWith(err as WebSocketError);
      return false;
    }
    return this.receiving;
  }

  /**
   * The peer closed TCP, or the transport failed with `cause`. A clean end
   * needs both close frames first (§7.1.5, §7.4.1: otherwise 1006); an
   * orderly EOF right after the peer's close frame keeps the peer's code
   * (uWS closes without waiting for our answer).
   */
  receiveEof(cause?: unknown): void {
    if (this.#state === State.CLOSED) return;
    if (this.#failure === null && !(this.#closeSent !== null && this.#closeReceived !== null)) {
      const received = this.#closeReceived;
      if (received !== null) {
        if (cause !== undefined) this.#failure = { code: received.code, reason: received.reason, wasClean: false };
      } else {
        const midFrame = this.#decoder.bufferedAmount > 0;
        const error = new ConnectionClosedError(CloseCode.Abnormal, "", {
          cause: cause ??
            new Error(midFrame ? "Transport closed in the middle of a frame" : "Transport closed without a closing handshake"),
        });
        this.#failure = { code: CloseCode.Abnormal, reason: "", wasClean: false, error };
      }
    }
    this.#state = State.CLOSED;
    this.#eofSent = true;
  }

  /**
   * The shell gave up waiting for the peer (its close timeout, or a
   * terminate): the connection is CLOSED, abnormally (1006) unless both close
   * frames were exchanged or it had already failed with a code of its own.
   */
  abandon(cause: Error): void {
    if (this.#state === State.CLOSED) return;
    if (this.#failure === null && !(this.#closeSent !== null && this.#closeReceived !== null)) {
      this.#failure = {
        code: CloseCode.Abnormal,
        reason: "",
        wasClean: false,
        error: new ConnectionClosedError(CloseCode.Abnormal, "", { cause }),
      };
    }
    this.#state = State.CLOSED;
    this.#eofSent = true;
  }

  #checkPartialText(): void {
    const partial = this.#decoder.partialFrame;
    if (partial === null || partial.rsv !== 0) return;
    const opcode = partial.opcode;
    const text = opcode === Opcode.Text ||
      (opcode === Opcode.Continuation && this.#recvType === "text" && !this.#recvTransformed);
    if (text) (this.#text ??= new IncomingText()).checkPartial(this.#decoder, opcode === Opcode.Continuation);
  }

  #receiveDecoded(frame: Frame): void {
    const opcode = frame.opcode;
    if (opcode === Opcode.Text || opcode === Opcode.Binary) this.#recvTransformed = frame.rsv1 === true;
    if (this.#stage !== null && this.#stage.intercept(frame)) {
      this.#stageHolds = true;
      return;
    }
    this.#onFrame(frame);
  }

  #onFrame(frame: Frame): void {
    const opcode = frame.opcode;
    const payload = frame.payload;
    switch (opcode) {
      case Opcode.Text:
      case Opcode.Binary:
      case Opcode.Continuation: {
        // §5.4: continuation frames carry the type of the message they continue.
        let type = this.#recvType;
        if (opcode !== Opcode.Continuation) type = this.#recvType = opcode === Opcode.Text ? "text" : "binary";
        let data: string | Uint8Array = payload;
        if (type === "text") data = (this.#text ??= new IncomingText()).decode(payload, frame.fin, opcode === Opcode.Continuation);
        this.#sink.frame(new Message(data, type, !frame.fin), payload.length);
        return;
      }
      case Opcode.Ping:
        // §5.5.2: answer with a pong carrying the same data, unless our close
        // frame is out (§5.5.1: nothing follows it).
        if (this.#autoPong && this.#closeSent === null) this.#writeControl(Opcode.Pong, payload);
        this.#sink.frame(new Message(payload, "ping"), payload.length);
        return;
      case Opcode.Pong:
        // §5.5.3: an unsolicited pong is allowed and needs no answer.
        this.#sink.frame(new Message(payload, "pong"), payload.length);
        return;
      case Opcode.Close: {
        // §5.5.1: the body is a 2-byte code and a UTF-8 reason, or empty (1005 then, §7.1.5).
        const { code, reason } = decodeClosePayload(payload);
        this.#closeReceived = { code, reason };
        if (this.#state === State.OPEN) this.#state = State.CLOSING;
        this.#sink.frame(new Message(reason, "close", false, code), payload.length);
        // §7.1.1: once both close frames are exchanged the server closes TCP first.
        if (this.#closeSent !== null) this.#endIfServer();
        this.#sink.closeReceived();
        return;
      }
    }
  }

  // ------------------------------------------------------------------ sending

  /**
   * The opcode for the next data frame of a message of `type`, tracking
   * fragmentation (§5.4: a fragmented message's frames may not interleave
   * with another message's; the first frame carries the type, the rest 0).
   *
   * @throws {ConnectionClosedError} Once our close frame is decided (§5.5.1).
   * @throws {TypeError} When a message of the other type is in progress.
   */
  dataOpcode(type: MessageType, fin: boolean): Opcode {
    this.#checkSending();
    const ongoing = this.#sendType;
    let opcode: Opcode;
    if (ongoing === null) opcode = type === "text" ? Opcode.Text : Opcode.Binary;
    else if (ongoing !== type) {
      throw new TypeError(`A ${ongoing} message is in progress; finish it before sending ${type}`);
    } else opcode = Opcode.Continuation;
    this.#sendType = fin ? null : type as "text" | "binary";
    return opcode;
  }

  /**
   * Writes one data frame; a string is encoded straight into the frame.
   *
   * @throws {ConnectionClosedError} Once our close frame is decided (§5.5.1: nothing is written).
   * @throws {RangeError} When the payload exceeds maxFrameSize (nothing is written).
   * @throws {TypeError} When a message of the other type is in progress.
   */
  sendData(data: string | Uint8Array, type: MessageType, fin: boolean): void {
    if (typeof data !== "string") return this.sendFragment(type, data, fin);
    this.#checkSending();
    const opcode = this.#peekOpcode(type);
    const { bytes, payloadLength } = encodeTextFrame(data, opcode, fin, 0, this.#nextMaskKey());
    this.checkFrameSize(payloadLength);
    this.dataOpcode(type, fin);
    this.#sink.write(bytes);
  }

  /**
   * Writes one data frame of bytes.
   *
   * @throws {ConnectionClosedError} Once our close frame is decided (§5.5.1: nothing is written).
   * @throws {RangeError} When the payload exceeds maxFrameSize (nothing is written).
   */
  sendFragment(type: MessageType, payload: Uint8Array, fin: boolean): void {
    this.#checkSending();
    this.checkFrameSize(payload.length);
    const opcode = this.dataOpcode(type, fin);
    const key = this.#nextMaskKey();
    if (key === null && payload.length >= LARGE_PAYLOAD) {
      // Server frames are not masked (§5.1): send the caller's bytes without copying.
      const header = new Uint8Array(headerSize(payload.length, false));
      writeHeader(header, 0, fin, 0, opcode, payload.length, null);
      this.#sink.write(header);
      this.#sink.write(payload);
    } else {
      this.#sink.write(encodeFrame({ fin, opcode, payload }, key));
    }
  }

  /**
   * Encodes and writes a frame as it is (the message stage's output), masked
   * by a client (§5.3). The stage only holds frames admitted before our
   * close frame was decided, and writes them ahead of it; a data frame that
   * would still come after the close frame on the wire is refused.
   *
   * @throws {ConnectionClosedError} For a data frame once our close frame was written (nothing is written).
   */
  sendFrame(frame: Frame): void {
    if (frame.opcode < Opcode.Close && (this.#closeWritten || this.#state === State.CLOSED)) throw this.#closedError();
    if (frame.opcode === Opcode.Close) this.#closeWritten = true;
    this.#sink.write(encodeFrame(frame, this.#nextMaskKey()));
  }

  /**
   * Writes a whole data message framed elsewhere, unmasked: a hub's frame,
   * encoded once for every subscriber (servers only: a client masks each
   * frame, §5.3). It may not land between the fragments of a message of ours (§5.4).
   *
   * @throws {ConnectionClosedError} Once our close frame is decided (§5.5.1: nothing is written).
   * @throws {TypeError} On a client, or while a fragmented message of ours is in progress.
   */
  sendEncoded(bytes: Uint8Array): void {
    this.#checkSending();
    if (this.#client) throw new TypeError("A client masks every frame: it cannot send a frame encoded elsewhere");
    if (this.#sendType !== null) throw new TypeError(`A ${this.#sendType} message is in progress`);
    this.#sink.write(bytes);
  }

  /**
   * Sends a ping (§5.5.2).
   *
   * @throws {ConnectionClosedError} Once our close frame is decided (§5.5.1: nothing follows it).
   * @throws {RangeError} For a payload over 125 bytes (§5.5).
   */
  sendPing(payload: Uint8Array = EMPTY): void {
    this.#checkSending();
    checkControlFrame(true, payload.length);
    this.#writeControl(Opcode.Ping, payload);
  }

  /**
   * Sends a pong (§5.5.3: an unsolicited one serves as a heartbeat).
   *
   * @throws {ConnectionClosedError} Once our close frame is decided (§5.5.1: nothing follows it).
   * @throws {RangeError} For a payload over 125 bytes (§5.5).
   */
  sendPong(payload: Uint8Array = EMPTY): void {
    this.#checkSending();
    checkControlFrame(true, payload.length);
    this.#writeControl(Opcode.Pong, payload);
  }

  /**
   * Sends our close frame, once (§5.5.1). After the peer's close it echoes
   * the peer's code (§5.5.1: "typically echos the status code it received"),
   * and its reason with `echoCloseReason`.
   * Once both frames are exchanged the server closes TCP (§7.1.1).
   *
   * @throws {RangeError} For a code that may not be sent, or a reason over 123 bytes (§7.4).
   */
  sendClose(code?: number, reason = ""): void {
    if (this.#closeSent !== null || this.#state === State.CLOSED) return;
    const received = this.#closeReceived;
    if (received !== null) {
      code = received.code === CloseCode.NoStatus ? undefined : received.code;
      reason = this.#echoCloseReason ? received.reason : "";
    }
    const payload = encodeClosePayload(code, reason);
    this.#closeSent = { code: code ?? CloseCode.NoStatus, reason };
    this.#state = State.CLOSING;
    this.#writeControl(Opcode.Close, payload);
    if (received !== null) this.#endIfServer();
  }

  /**
   * Fails the connection (§7.1.7): sends a close frame with `code` unless
   * one was sent, stops processing received data, and, on the server,
   * closes TCP. A client waits for the server to close first (§7.1.1), up to
   * the shell's close timeout.
   */
  fail(code: number, reason: string, error?: WebSocketError): void {
    if (this.#state === State.CLOSED || this.#failure !== null) return;
    reason = truncateReason(reason);
    const err = error ?? new ConnectionClosedError(code, reason);
    this.#failure = { code, reason, wasClean: false, error: err };
    this.#sink.failing(err);
    if (this.#closeSent === null) {
      let payload: Uint8Array;
      try {
        payload = encodeClosePayload(code, reason);
      } catch {
        // A code that may not be sent (1005, 1006, 1015: §7.4.1): report it, send 1011.
        payload = encodeClosePayload(CloseCode.InternalError, reason);
      }
      this.#closeSent = { code, reason };
      this.#writeControl(Opcode.Close, payload);
    }
    this.#state = State.CLOSING;
    this.#endIfServer();
  }

  /** {@link fail} with an error's close code (1011 when it has none, §7.4.1) and message. */
  failWith(err: WebSocketError): void {
    this.fail(err.closeCode ?? CloseCode.InternalError, err.message, err);
  }

  #endIfServer(): void {
    if (this.#client || this.#eofSent) return;
    this.#eofSent = true;
    this.#sink.sendEof();
  }

  #writeControl(opcode: Opcode, payload: Uint8Array): void {
    const frame: Frame = { fin: true, opcode, payload };
    // Behind messages the stage is still transforming, so frames keep their order.
    if (this.#stage !== null && this.#stage.queueControl(frame)) return;
    if (opcode === Opcode.Close) this.#closeWritten = true;
    this.#sink.write(encodeFrame(frame, this.#nextMaskKey()));
  }

  /**
   * §5.5.1: "After sending a Close frame, the endpoint MUST NOT send any
   * further data frames." Refused from the moment our close frame is decided,
   * also when it still waits behind a compressed message, and once the
   * connection is gone; every sending path (send, sendAll, streams, a hub's
   * frames, the deflate stage) passes through here.
   */
  #checkSending(): void {
    if (this.#closeSent !== null || this.#state === State.CLOSED) throw this.#closedError();
  }

  #closedError(): ConnectionClosedError {
    const info = this.closeInfo;
    return new ConnectionClosedError(info?.code ?? CloseCode.Abnormal, info?.reason ?? "");
  }

  #peekOpcode(type: MessageType): Opcode {
    const ongoing = this.#sendType;
    if (ongoing === null) return type === "text" ? Opcode.Text : Opcode.Binary;
    if (ongoing !== type) throw new TypeError(`A ${ongoing} message is in progress; finish it before sending ${type}`);
    return Opcode.Continuation;
  }

  /**
   * Checks a data frame's payload size against maxFrameSize before it is sent.
   *
   * @throws {RangeError} When it is larger.
   */
  checkFrameSize(length: number): void {
    if (length > this.#maxFrameSize) {
      throw new RangeError(
        `Frame payload of ${length} bytes exceeds maxFrameSize ${this.#maxFrameSize}; use sendAll to send it in fragments`,
      );
    }
  }

  /** §5.3: a client masks every frame with a fresh, unpredictable key; a server never masks. */
  #nextMaskKey(): Uint8Array | null {
    return this.#maskKey === null ? null : this.#maskKey();
  }
}
