/**
 * One server-side opening handshake in progress, over any transport: a
 * socket `serve` accepted (the request head still to read), a socket
 * node:http upgraded (head already read) or an RFC 8441 stream. The
 * transport's bytes and time are handled by the shared {@link Opening}
 * driver; this module decides what to answer.
 *
 * @module
 */

import { WebSocketConnection } from "../connection/connection.ts";
import { TimeoutError } from "../errors.ts";
import type { HttpHead, HttpHeadLimits } from "../handshake/http.ts";
import { Opening, type OpeningEnd } from "../opening.ts";
import {
  acceptHeaders,
  checkConnectRequest,
  checkResponseFields,
  type CheckedUpgrade,
  checkUpgradeRequest,
  type HandshakeRejection,
  isRejection,
  negotiateProtocol,
  type NodeUpgradeRequest,
  rejectionResponse,
  switchingProtocolsHead,
  type UpgradeRequest,
  verifyAcceptance,
  verifyRejection,
} from "../handshake/server.ts";
import { traceTransport } from "../transport/trace.ts";
import { withNegotiatedDeflate } from "../handshake/deflate_options.ts";
import type { Http2StreamTransport } from "../transport/http2.ts";
import type { Transport } from "../transport/types.ts";
import { shellOf } from "../connection/connection.ts";
import type { Telemetry } from "../connection/telemetry.ts";
import { telemetryOf } from "../pubsub/hub.ts";
import { admit, clientAddress } from "./admission.ts";
import {
  acceptFields,
  type ConnectionTracker,
  type HandshakeCore,
  negotiateCompression,
  report,
  runOnSocket,
  type TrackedHandshake,
} from "./core.ts";

/**
 * A client that sends frames before the 101 breaks RFC 6455 §4.1; a little
 * is kept for the connection, more drops the client.
 */
const MAX_EARLY_DATA = 64 * 1024;
/** How long a refused client may take to read the answer before it is dropped. */
const REFUSAL_LINGER = 1000;

/**
 * One opening handshake in progress: it owns the transport (through an
 * {@link Opening}) until the 101 is written, then hands it to a
 * WebSocketConnection. With head limits it reads the request head itself
 * (serve); with `null`, node:http or the HTTP/2 stream already did.
 */
export class PendingHandshake implements TrackedHandshake {
  readonly #opening: Opening;
  readonly #transport: Transport;
  readonly #core: HandshakeCore;
  readonly #tracker: ConnectionTracker;
  readonly #remoteAddress: string | undefined;
  /** Set for an RFC 8441 stream: the refusal or 200 goes out as an HTTP/2 response head. */
  readonly #h2: Http2StreamTransport | null;
  /** The node:http request this handshake came with (requestHandler), for the application's callbacks. */
  readonly #nodeRequest: NodeUpgradeRequest | undefined;
  #request: UpgradeRequest | undefined;
  /** Whether the tracker was told that the handshake ended. */
  #finished = false;
  /** The counters of the hub the connection will join, if any. */
  readonly #telemetry: Telemetry | null;
  /** Past the connection limits: a place is held (for `#peer`, when counted per address) until it opens or fails. */
  #admitted = false;
  #peer: string | undefined = undefined;

  constructor(
    transport: Transport,
    core: HandshakeCore,
    tracker: ConnectionTracker,
    remoteAddress: string | undefined,
    head: HttpHeadLimits | null,
    h2: Http2StreamTransport | null = null,
    nodeRequest?: NodeUpgradeRequest,
  ) {
    this.#transport = transport;
    this.#nodeRequest = nodeRequest;
    this.#h2 = h2;
    this.#core = core;
    this.#tracker = tracker;
    this.#remoteAddress = remoteAddress;
    this.#telemetry = core.hub === undefined ? null : telemetryOf(core.hub);
    tracker.handshakeStarted(this);
    this.#opening = new Opening(transport, {
      head,
      timeout: core.handshakeTimeout,
      maxLeftover: MAX_EARLY_DATA,
      timers: core.connectionOptions.clock,
    }, {
      head: (head) => this.#onHead(head),
      ended: (end) => this.#onEnded(end),
    });
    this.#opening.start();
  }

  /** Bytes node:http read past the request head: the client's first frames. */
  early(chunk: Uint8Array): void {
    this.#opening.data(chunk);
  }

  #onHead(head: HttpHead): void {
    const [method, target, version] = head.startLine;
    this.upgrade(method, target, version, head.headers);
  }

  #onEnded(end: OpeningEnd): void {
    switch (end.cause) {
      case "malformed":
        if (end.error.tls) {
          // A wss:// client at a ws:// port: answered at once, in the plain HTTP it does not expect.
          return this.refuse({
            status: 400,
            body: "This port speaks plain HTTP (ws://), not TLS: the client began a TLS handshake (wss:// to a ws:// port?)",
          });
        }
        return this.refuse({ status: end.error.status, body: end.error.message });
      case "timeout":
        this.#telemetry?.drop("handshakeTimeout");
        if (this.#opening.readingHead) return this.refuse({ status: 408, body: "The request head did not arrive in time" });
        report(
          this.#core,
          new TimeoutError(`The opening handshake did not finish within ${this.#core.handshakeTimeout} ms`),
          this.#request,
        );
        return this.refuse({ status: 503, body: "The server did not answer in time" });
      default:
        // The client went away, or sent more than MAX_EARLY_DATA before its 101.
        return this.abandon();
    }
  }

  /** Drops the connection: the client went away, misbehaved, or the server is shutting down. */
  abandon(): void {
    this.#finish();
    this.#opening.close();
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    if (this.#admitted) {
      this.#admitted = false;
      this.#telemetry!.unadmit(this.#peer);
    }
    this.#tracker.handshakeEnded(this);
  }

  /** Answers with an error status and closes; `counted` false for an answer of `onRequest`'s, which refuses nothing. */
  refuse(rejection: HandshakeRejection, counted = true): void {
    if (this.#finished) return;
    if (rejection.error !== undefined) report(this.#core, rejection.error, this.#request);
    this.#finish();
    if (counted) this.#telemetry?.refused(rejection.status, rejection.body, this.#request, this.#remoteAddress);
    if (this.#h2 !== null) {
      this.#h2.respond(rejection.status, rejection.headers ?? [], rejection.body + "\n");
    } else {
      this.#transport.write(rejectionResponse(rejection));
      this.#transport.end();
    }
    // The opening still hears the peer's close, which ends the wait early.
    this.#opening.linger(REFUSAL_LINGER);
  }

  /** serve's `onRequest` for a request that asks for no upgrade: its answer, or undefined for the 426. */
  #answerPlainRequest(method: string, target: string, headers: Headers): HandshakeRejection | undefined {
    const onRequest = this.#core.onRequest;
    if (onRequest === undefined) return undefined;
    const request: UpgradeRequest = { method, url: target, headers, protocols: [], remoteAddress: this.#remoteAddress };
    try {
      const answer = onRequest(request);
      return answer === undefined ? undefined : { ...answer, body: answer.body ?? "" };
    } catch (err) {
      return { status: 500, body: "The server failed to answer", error: err };
    }
  }

  /** Checks the request, asks the application, answers, and starts the connection. */
  upgrade(method: string, target: string, version: string, headers: Headers, protocol?: string): void {
    this.#upgrade(method, target, version, headers, protocol).catch((err) => {
      report(this.#core, err, this.#request);
      this.abandon();
    });
  }

  async #upgrade(
    method: string,
    target: string,
    version: string,
    headers: Headers,
    protocol: string | undefined,
  ): Promise<void> {
    const h2 = this.#h2;
    const checked = h2 === null
      ? checkUpgradeRequest(method, version, headers)
      : checkConnectRequest(method, protocol, headers);
    if (isRejection(checked)) {
      const answer = h2 === null && headers.get("upgrade") === null
        ? this.#answerPlainRequest(method, target, headers)
        : undefined;
      return answer === undefined ? this.refuse(checked) : this.refuse(answer, answer.error !== undefined);
    }
    const request: UpgradeRequest = {
      method,
      url: target,
      headers,
      protocols: checked.protocols,
      remoteAddress: this.#remoteAddress,
      httpVersion: h2 === null ? "1.1" : "2",
      nodeRequest: this.#nodeRequest,
    };
    this.#request = request;
    const core = this.#core;
    const telemetry = this.#telemetry;
    if (telemetry !== null) {
      const admission = core.admission;
      const address = clientAddress(this.#remoteAddress, headers, admission.trustProxy);
      const refusal = admit(admission, telemetry, address);
      if (refusal !== null) return this.refuse(refusal);
      this.#admitted = true;
      // Counted per address only under maxConnectionsPerIp: no map entry per client otherwise.
      this.#peer = admission.maxConnectionsPerIp === Infinity ? undefined : address;
    }
    let verified: [string, string][] | null = null;
    if (core.verify !== undefined) {
      let result: unknown;
      try {
        result = await core.verify(request);
      } catch (err) {
        return this.refuse({ status: 500, body: "The server failed to handle the WebSocket handshake", error: err });
      }
      if (this.#finished) return;
      const refusal = verifyRejection(result);
      if (refusal !== null) return this.refuse(refusal);
      verified = verifyAcceptance(result);
    }
    const select = core.selectProtocol;
    const negotiated = negotiateProtocol(
      checked.protocols,
      select === undefined ? undefined : (offered) => select(offered, request),
      core.requireProtocol,
    );
    if (isRejection(negotiated)) return this.refuse(negotiated);
    const deflate = negotiateCompression(headers, core.connectionOptions.compression);
    if (deflate !== null && isRejection(deflate)) return this.refuse(deflate);
    const fields = h2 === null
      ? await acceptHeaders((checked as CheckedUpgrade).key, negotiated.protocol, deflate?.response)
      : acceptFields(negotiated.protocol, deflate?.response);
    if (this.#finished) return;
    if (verified !== null || core.onHeaders !== undefined) {
      try {
        if (verified !== null) fields.push(...verified);
        core.onHeaders?.(fields, request);
        checkResponseFields(fields, h2 !== null);
      } catch (err) {
        return this.refuse({ status: 500, body: "The server failed to handle the WebSocket handshake", error: err });
      }
    }
    // The place held past the limits goes to the connection.
    const admitted = this.#admitted;
    this.#admitted = false;
    this.#finish();
    const transport = this.#transport;
    if (h2 === null) transport.write(switchingProtocolsHead(fields));
    else h2.respond(200, fields);
    const head = this.#opening.release();
    let ws: WebSocketConnection;
    try {
      const trace = core.trace;
      ws = new WebSocketConnection(
        trace === undefined ? transport : traceTransport(transport, (frame) => trace(frame, request), head),
        withNegotiatedDeflate({
          ...core.connectionOptions,
          protocol: negotiated.protocol,
          extensions: deflate?.response ?? "",
          head,
        }, deflate === null ? null : { role: "server", ...deflate.params }),
      );
    } catch (err) {
      if (admitted) telemetry!.unadmit(this.#peer);
      report(core, err, request);
      transport.destroy();
      return;
    }
    // Counted first: from here its close is counted however it comes (a hub that is closing refuses it).
    telemetry?.opened(shellOf(ws), request, admitted, this.#peer, core.connectionOptions.clock?.now() ?? Date.now());
    core.hub?.add(ws);
    this.#tracker.opened(ws, transport);
    runOnSocket(core, ws, request);
  }
}
