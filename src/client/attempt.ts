/**
 * One attempt of `connect` over HTTP/1.1 (RFC 6455 §4.1): dial (directly,
 * through a proxy, or an HTTP/2 session when asked), send the request head,
 * and read the answer through the shared opening driver of
 * `src/opening.ts`.
 *
 * @module
 */

import type { WebSocketConnection } from "../connection/connection.ts";
import { connectErrorOf, HandshakeError } from "../errors.ts";
import {
  buildRequestHead,
  isRedirect,
  refusalReason,
  ResponseBodyReader,
  statusOf,
  validateResponse,
} from "../handshake/client.ts";
import type { HttpHead } from "../handshake/http.ts";
import { computeAccept, generateKey } from "../handshake/key.ts";
import { PERMESSAGE_DEFLATE } from "../handshake/permessage_deflate.ts";
import { resolveCompression } from "../handshake/deflate_options.ts";
import { Opening, type OpeningEnd } from "../opening.ts";
import { dial } from "../transport/runtime.ts";
import { readEnvironment } from "../transport/environment.ts";
import { dialHttp2, HTTP2_ALPN } from "../transport/http2.ts";
import type { Transport } from "../transport/types.ts";
import { type AttemptRequest, checkDeflateAnswer, ERROR_BODY_WAIT, openConnection, type Redirect } from "./answer.ts";
import { attemptHttp2 } from "./http2.ts";
import type { ConnectOptions } from "./options.ts";
import { resolveProxy } from "./proxy.ts";

/**
 * One request and its response: the open connection, a redirect to follow,
 * or a rejection. The socket is closed unless a connection is returned.
 */
export async function attempt(
  request: AttemptRequest,
  options: ConnectOptions,
  signal: AbortSignal,
): Promise<WebSocketConnection | Redirect> {
  const { url } = request;
  const key = generateKey();
  // Computed before any byte is read, so the 101 is checked and the
  // connection takes over the transport in the same data callback: bytes that
  // follow the 101 in the same read cannot be missed.
  const accept = await computeAccept(key);
  const secure = url.protocol === "wss:";
  const port = url.port === "" ? (secure ? 443 : 80) : Number(url.port);
  const target = {
    // URL keeps IPv6 literals in brackets; sockets want the bare address.
    hostname: url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname,
    port,
    tls: secure ? (options.tls ?? {}) : undefined,
    signal,
  };
  let transport: Transport | null = null;
  // Chosen per attempt: NO_PROXY may send a redirect's target direct.
  const proxy = resolveProxy(url, options.proxy, readEnvironment);
  // RFC 8441: a WebSocket as a stream of an HTTP/2 session, through the
  // proxy's tunnel when there is one (ALPN inside it, as curl does).
  if (options.http2 === true || (options.http2 === "auto" && secure)) {
    const pool = options.http2Pool;
    const key = `${url.protocol}//${url.host} ${JSON.stringify(options.tls ?? {})} ${proxy?.address.display ?? "direct"}`;
    const pooled = pool?.get(key);
    if (pooled !== undefined) return attemptHttp2(pooled, request, options, signal, false);
    const dialing = proxy === null ? dialHttp2(target) : (await import("../transport/proxy.ts"))
      .tunnelSocket(target, proxy, HTTP2_ALPN)
      .then((socket) => dialHttp2(target, socket));
    const dialed = await dialing.catch((err) => {
      throw connectErrorOf(err, url.hostname, port);
    });
    if ("session" in dialed) {
      const taken = pool?.add(key, dialed.session) ?? false;
      return attemptHttp2(dialed.session, request, options, signal, !taken);
    }
    if ("transport" in dialed) transport = dialed.transport;
    else if (!secure) {
      throw new HandshakeError(`${url.host} speaks h2c without RFC 8441 extended CONNECT`, {
        code: "ERR_HANDSHAKE_HTTP2",
      });
    }
  }
  if (transport === null) {
    // A proxy's own failures are ProxyErrors, named after the proxy.
    transport = proxy === null
      ? await dial(target).catch((err) => {
        throw connectErrorOf(err, url.hostname, port);
      })
      : await (await import("../transport/proxy.ts")).dialThroughProxy(target, proxy);
  }
  return readResponse(transport, { request, options, signal, key, accept, port });
}

/** One request on a dialed transport: what was asked, and what the answer must prove. */
interface Exchange {
  request: AttemptRequest;
  options: ConnectOptions;
  signal: AbortSignal;
  /** The Sec-WebSocket-Key sent. */
  key: string;
  /** The Sec-WebSocket-Accept it implies. */
  accept: string;
  /** The server's port, for connection errors. */
  port: number;
}

/**
 * Sends the request head over the dialed transport and reads the answer
 * through the shared {@link Opening} driver: a 101 that passes the checks
 * becomes the connection in the same data callback (so bytes that follow
 * it in that read reach the connection), a redirect to follow is returned,
 * anything else rejects with the refusal and the start of its body.
 */
function readResponse(transport: Transport, exchange: Exchange): Promise<WebSocketConnection | Redirect> {
  const { request, options, signal, key, accept, port } = exchange;
  const { url, protocols } = request;
  return new Promise((resolve, reject) => {
    let body: ResponseBodyReader | null = null;
    let response: HttpHead | null = null;
    let settled = false;
    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      opening.close();
      reject(err);
    };
    const refuse = () => {
      const { startLine, headers } = response!;
      const status = `${startLine[1]} ${startLine[2]}`.trimEnd();
      const reason = refusalReason(body!.body, headers);
      fail(
        new HandshakeError(`Server refused the WebSocket upgrade: ${status}${reason && ` (${reason})`}`, {
          code: "ERR_HANDSHAKE_STATUS",
          status: Number(startLine[1]),
          headers,
          body: body!.body,
        }),
      );
    };

    const onHead = (head: HttpHead) => {
      const status = statusOf(head);
      if (status === 101) {
        options.onUpgrade?.({ status, statusText: head.startLine[2], headers: head.headers });
        const offer = resolveCompression(options.compression, true, "client");
        const { protocol, extensions } = validateResponse(head, {
          accept,
          protocols,
          extensions: offer === null ? [] : [PERMESSAGE_DEFLATE],
        });
        const deflate = offer === null ? null : checkDeflateAnswer(head.headers, 101, extensions, offer);
        settled = true;
        resolve(openConnection(transport, options, url, protocol, extensions, deflate, opening.release()));
        return;
      }
      const location = head.headers.get("location");
      if (request.followRedirects && isRedirect(status) && location !== null) {
        settled = true;
        opening.close();
        resolve({ location, status, headers: head.headers });
        return;
      }
      response = head;
      const reader = body = new ResponseBodyReader(head.headers);
      // The body only decorates the error: it gets a deadline of its own.
      opening.deadline(ERROR_BODY_WAIT);
      opening.follow((chunk) => {
        if (reader.push(chunk)) refuse();
      });
      if (reader.done) refuse();
    };

    const onEnded = (end: OpeningEnd) => {
      // After a refusal's head, whatever ends the opening ends its body.
      if (body !== null && end.cause !== "abort") return refuse();
      switch (end.cause) {
        case "abort":
          return fail(end.reason);
        case "malformed":
          if (end.error.tls) {
            return fail(
              new HandshakeError(`${url.host} answered in TLS: it is a wss:// port, so connect with wss://`, {
                code: "ERR_HANDSHAKE_TLS",
                cause: end.error,
              }),
            );
          }
          return fail(
            new HandshakeError(`Malformed handshake response: ${end.error.message}`, {
              code: "ERR_HANDSHAKE_MALFORMED",
              cause: end.error,
            }),
          );
        case "error":
          return fail(connectErrorOf(end.error, url.hostname, port));
        case "eof":
        case "timeout": // only a refusal's body has a deadline
        case "overflow": // no bound: the 101 hands the bytes over at once
          return fail(
            new HandshakeError(
              // Node's and Bun's TLS servers close a plain-text connection without a byte.
              `Server closed the connection before answering the handshake${
                url.protocol === "ws:" ? ` (if ${url.host} is a TLS port, use wss://)` : ""
              }`,
              { code: "ERR_HANDSHAKE_EOF" },
            ),
          );
      }
    };

    const opening: Opening = new Opening(transport, { head: {}, signal }, {
      head(head) {
        try {
          onHead(head);
        } catch (err) {
          fail(err);
        }
      },
      ended: onEnded,
    });
    opening.start();
    if (opening.reading) transport.write(buildRequestHead({ url, key, protocols, headers: request.fields }));
  });
}
