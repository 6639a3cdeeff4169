/**
 * What both of the client's handshakes share: the request one attempt sends
 * ({@link AttemptRequest}), and what becomes of a server's answer, over
 * HTTP/1.1 (`attempt.ts`) or HTTP/2 (`http2.ts`) alike: the open connection
 * (with its permessage-deflate agreement checked), a {@link Redirect} to
 * follow, or a refusal whose body gets {@link ERROR_BODY_WAIT}.
 *
 * @module
 */

import { WebSocketConnection } from "../connection/connection.ts";
import { HandshakeError } from "../errors.ts";
import { checkDeflateResponse } from "../handshake/permessage_deflate.ts";
import { type CompressionOptions, negotiationOf, withNegotiatedDeflate } from "../handshake/deflate_options.ts";
import type { NegotiatedDeflate } from "../extensions/parameters.ts";
import { traceTransport } from "../transport/trace.ts";
import type { Transport } from "../transport/types.ts";
import { type ConnectOptions, forwardedOptions } from "./options.ts";

/**
 * How long a refusal's body may take to arrive after its head, when no
 * `timeout` bounds it sooner: the body only decorates the error.
 */
export const ERROR_BODY_WAIT = 2000;

/**
 * RFC 7692 §7.1: a permessage-deflate answer the client cannot accept fails
 * the handshake. Returns what was agreed (null when the server declined).
 */
export function checkDeflateAnswer(
  headers: Headers,
  status: number,
  extensions: string,
  offer: Required<CompressionOptions>,
): NegotiatedDeflate | null {
  try {
    const params = checkDeflateResponse(extensions, negotiationOf(offer));
    return params === null ? null : { role: "client", ...params };
  } catch (err) {
    throw new HandshakeError(`Server's permessage-deflate answer is invalid: ${(err as Error).message}`, {
      code: "ERR_HANDSHAKE_EXTENSION",
      status,
      headers,
      cause: err,
    });
  }
}

/** A redirect to follow, as one handshake attempt reports it. */
export interface Redirect {
  location: string;
  status: number;
  headers: Headers;
}

/** What one attempt sends beyond the URL. */
export interface AttemptRequest {
  url: URL;
  protocols: string[];
  fields: [string, string][];
  followRedirects: boolean;
}

/** The client's connection over a transport whose handshake succeeded. */
export function openConnection(
  transport: Transport,
  options: ConnectOptions,
  url: URL,
  protocol: string | null,
  extensions: string,
  deflate: NegotiatedDeflate | null,
  head?: Uint8Array,
): WebSocketConnection {
  return new WebSocketConnection(
    options.trace ? traceTransport(transport, options.trace, head) : transport,
    withNegotiatedDeflate({ ...forwardedOptions(options), role: "client", url: url.href, protocol, extensions, head }, deflate),
  );
}
