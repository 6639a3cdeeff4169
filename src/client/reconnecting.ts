/**
 * `reconnecting`: a client that keeps a connection to one URL for as long
 * as it is wanted, reconnecting with exponential backoff and full jitter,
 * in the shape python-websockets users know (`async for websocket in
 * connect(...)`).
 *
 * @module
 */

import { connect } from "./connect.ts";
import type { ConnectOptions } from "./options.ts";
import type { CloseInfo } from "../protocol/types.ts";
import { type Clock, systemClock } from "../connection/clock.ts";
import { endIterationOnAnyClose, type WebSocketConnection } from "../connection/connection.ts";
import { HandshakeError, ProxyError } from "../errors.ts";
import { type ResumeOptions, ResumingClient } from "./resuming.ts";
import { RESUME_PROTOCOL } from "../pubsub/resume_protocol.ts";

/**
 * Options for {@link reconnecting}: those of `connect` for each attempt,
 * plus the backoff policy.
 *
 * @example
 * ```ts ignore
 * import { reconnecting, type ReconnectingOptions } from "@streamsock/streamsock";
 *
 * const options: ReconnectingOptions = { initialDelay: 500, factor: 2, maxDelay: 30_000, resetAfter: 60_000 };
 * for await (const ws of reconnecting("wss://example.test/feed", options)) {
 *   for await (const message of ws) console.log(message.data);
 * }
 * ```
 */
export interface ReconnectingOptions extends ConnectOptions {
  /** Milliseconds: the ceiling of the first retry's random delay. Defaults to 1000. */
  initialDelay?: number;
  /** Each further retry's ceiling is the previous one times this. Defaults to 1.618, as in python-websockets. */
  factor?: number;
  /** Milliseconds: the largest ceiling. Defaults to 60000. */
  maxDelay?: number;
  /**
   * Milliseconds: a connection that stayed open this long resets the
   * backoff, so the next drop is retried at once. Defaults to 10000.
   */
  resetAfter?: number;
  /**
   * Sees every attempt before it is made: its number since the last
   * connection that lived `resetAfter`, the delay about to be waited, and
   * what ended the previous attempt (an error, or how the last connection
   * closed).
   */
  onAttempt?: (attempt: ReconnectAttempt) => void;
  /**
   * Decides whether an error is worth retrying. The default retries
   * everything except what retrying cannot fix (see {@link isRetryable}).
   */
  shouldRetry?: (error: unknown) => boolean;
  /**
   * Ends the iteration: a pending attempt or wait is cancelled, the open
   * connection is closed (1001 Going Away) and the loop ends without an error.
   */
  signal?: AbortSignal;
  /**
   * Returns a {@link ResumingClient} instead of the connections: durable
   * topics' subscriptions and publishes that survive reconnects, over the
   * `streamsock.resume.v1` subprotocol (`true`, or its options).
   */
  resume?: boolean | ResumeOptions;
}

/**
 * What {@link ReconnectingOptions}' `onAttempt` hook sees.
 *
 * @example
 * ```ts
 * import type { ReconnectAttempt } from "@streamsock/streamsock";
 *
 * const log = (a: ReconnectAttempt) => console.log(`attempt ${a.attempt} in ${a.delay} ms`, a.error ?? a.closed ?? "");
 * log({ attempt: 1, delay: 0 });
 * ```
 */
export interface ReconnectAttempt {
  /** 1 for the first attempt, and again after a connection that lived `resetAfter`. */
  attempt: number;
  /** Milliseconds waited before this attempt, a whole number. */
  delay: number;
  /** Why the previous attempt failed, if it did. */
  error?: unknown;
  /** How the previous connection closed, if there was one. */
  closed?: CloseInfo;
}

/** Our codes for TLS that cannot work as configured (see `ConnectError`): retrying changes nothing. */
const TLS_MISCONFIGURED = new Set(["ERR_TLS_CERT_UNTRUSTED", "ERR_TLS_CERT_EXPIRED", "ERR_TLS_CERT_NAME", "ERR_TLS_NOT_TLS"]);

/** TLS verification failures as Node's, Deno's and Bun's `node:tls` report them. */
const CERTIFICATE_CODES = new Set([
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/**
 * Whether retrying could help: not for a bad URL or option (`TypeError`),
 * a 4xx refusal other than 408, 425 and 429 (from the server or the
 * proxy), a redirect that cannot be followed, a TLS certificate that
 * fails verification, nor a `wss://` URL whose server does not speak TLS.
 * Everything else (refused or reset connections, timeouts, 5xx) may heal.
 *
 * @param error What an attempt failed with.
 * @returns True when another attempt may succeed.
 *
 * @example
 * ```ts
 * import { HandshakeError, isRetryable } from "@streamsock/streamsock";
 *
 * console.log(isRetryable(new HandshakeError("Forbidden", { status: 403 }))); // false
 * console.log(isRetryable(new HandshakeError("Busy", { status: 503 }))); // true
 * ```
 */
export function isRetryable(error: unknown): boolean {
  if (error instanceof TypeError) return false;
  if (error instanceof HandshakeError || error instanceof ProxyError) {
    if (error.code === "ERR_TOO_MANY_REDIRECTS" || error.code === "ERR_REDIRECT_LOOP") return false;
    if (error instanceof ProxyError && error.code === "ERR_PROXY_AUTH") return false;
    const { status } = error;
    if (status >= 400 && status < 500 && status !== 408 && status !== 425 && status !== 429) return false;
    // An https:// proxy whose certificate fails verification comes wrapped.
    return error.cause === undefined || !isCertificateFailure(error.cause);
  }
  return !isCertificateFailure(error);
}

function isCertificateFailure(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string" && (CERTIFICATE_CODES.has(code) || TLS_MISCONFIGURED.has(code))) return true;
  // Deno and Bun do not always carry OpenSSL's code; their messages name the certificate.
  return error instanceof Error && /certificate|UnknownIssuer|self[- ]signed/i.test(error.message);
}

/**
 * Milliseconds a `Retry-After` field asks to wait (RFC 9110 §10.2.3): a
 * number of seconds or an HTTP date.
 *
 * @param value The field's value, or null.
 * @param now The current time in ms since the epoch.
 * @returns The wait, or 0 when absent or unreadable.
 */
export function retryAfterDelay(value: string | null, now: number = Date.now()): number {
  if (value === null) return 0;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? 0 : Math.max(0, date - now);
}

/**
 * Connects to `url` and keeps reconnecting: an async iterator that yields
 * each new connection. The loop body uses the connection until it closes;
 * the next iteration then reconnects. When the body moves on while the
 * connection is still open, it is closed first.
 *
 * On the connections it yields, `for await (const message of ws)` (and
 * `ws.readable`) ends normally however the connection ends: a clean close,
 * but also a server that crashed or reset the connection, a keepalive
 * timeout or a protocol error, which elsewhere make the loop throw. So the
 * obvious nested loop survives exactly what reconnecting is for; how the
 * connection ended is in `ws.closed` and in the next `onAttempt`'s
 * `closed`. A send in the body still rejects with `ConnectionClosedError`
 * once the connection is gone: a body that sends catches that (see the
 * example), or the error ends the loop.
 *
 * Failed attempts are retried after a random delay between 0 and a
 * ceiling that starts at `initialDelay` and grows by `factor` up to
 * `maxDelay` ("full jitter"), or after what a 429/503's `Retry-After`
 * asks, when longer. A connection that stayed open `resetAfter` ms resets
 * the backoff. An error retrying cannot fix ({@link isRetryable}) is thrown
 * from the loop; `signal` ends it quietly.
 *
 * @param url A `ws:` or `wss:` URL.
 * @param options `connect`'s options, the backoff policy, a hook and a signal.
 * @returns An async iterable of connections.
 * @throws {TypeError} For a URL or option that cannot be sent (from the first iteration).
 *
 * @example A feed that survives server crashes and restarts
 * ```ts ignore
 * import { reconnecting } from "@streamsock/streamsock";
 *
 * const stop = new AbortController();
 * for await (const ws of reconnecting("wss://example.test/feed", {
 *   signal: stop.signal,
 *   onAttempt: ({ attempt, delay, error, closed }) => console.log(`attempt ${attempt} in ${delay} ms`, error ?? closed ?? ""),
 * })) {
 *   for await (const message of ws) console.log(message.data);
 * }
 * ```
 *
 * @example A body that answers: a send on a connection that just went away is not fatal
 * ```ts ignore
 * import { ConnectionClosedError, reconnecting } from "@streamsock/streamsock";
 *
 * for await (const ws of reconnecting("wss://example.test/rpc")) {
 *   try {
 *     for await (const request of ws) await ws.sendAll(`ack ${request.data}`);
 *   } catch (err) {
 *     if (!(err instanceof ConnectionClosedError)) throw err;
 *   }
 * }
 * ```
 */
export function reconnecting(
  url: string | URL,
  options?: ReconnectingOptions & { resume?: false },
): AsyncGenerator<WebSocketConnection, void, undefined>;
/**
 * With `resume`: a {@link ResumingClient} for durable topics, on
 * connections made the same way (backoff, `onAttempt`, `signal`, every
 * `connect` option) with the `streamsock.resume.v1` subprotocol. It
 * subscribes again after each reconnect from the last message received, so
 * it yields each message of its topics once, in the log's order, or a gap
 * event where the log no longer has them; publishes are retried until
 * acknowledged and stored once (see docs/resume-protocol.md).
 *
 * @param url A `ws:` or `wss:` URL of a server that speaks the subprotocol.
 * @param options `resume: true` (or its options), and those of the loop.
 * @returns The client; it connects at once.
 *
 * @example
 * ```ts ignore
 * import { reconnecting } from "@streamsock/streamsock";
 *
 * const client = reconnecting("wss://chat.example/", { resume: true, maxDelay: 5000 });
 * client.subscribe("/lobby", { from: "start" });
 * void client.publish("/lobby", "hello, once");
 * for await (const event of client) console.log(event);
 * ```
 */
export function reconnecting(
  url: string | URL,
  options: ReconnectingOptions & { resume: true | ResumeOptions },
): ResumingClient;
export function reconnecting(
  url: string | URL,
  options: ReconnectingOptions = {},
): AsyncGenerator<WebSocketConnection, void, undefined> | ResumingClient {
  const { resume, ...rest } = options;
  if (resume === undefined || resume === false) return connections(url, rest);
  const { signal, ...loop } = rest;
  return new ResumingClient(
    (stop) => connections(url, { ...loop, protocol: RESUME_PROTOCOL, signal: stop }),
    resume === true ? {} : resume,
    signal,
  );
}

async function* connections(
  url: string | URL,
  options: ReconnectingOptions,
): AsyncGenerator<WebSocketConnection, void, undefined> {
  const {
    initialDelay = 1000,
    factor = 1.618,
    maxDelay = 60_000,
    resetAfter = 10_000,
    onAttempt,
    shouldRetry = isRetryable,
    signal,
    ...connectOptions
  } = options;
  if (!(initialDelay >= 0) || !(factor >= 1) || !(maxDelay >= 0) || !(resetAfter >= 0)) {
    throw new TypeError("initialDelay, maxDelay and resetAfter must be >= 0, factor >= 1");
  }
  // Delays and connection lifetimes on the connection's clock, which tests move by hand.
  const clock = connectOptions.clock ?? systemClock;
  let failures = 0;
  let delay = 0;
  let previous: Pick<ReconnectAttempt, "error" | "closed"> = {};
  while (!signal?.aborted) {
    onAttempt?.({ attempt: failures + 1, delay, ...previous });
    if (delay > 0 && !(await sleep(clock, delay, signal))) return;
    let ws: WebSocketConnection;
    try {
      ws = await connect(url, { ...connectOptions, signal });
    } catch (error) {
      if (signal?.aborted) return;
      if (!shouldRetry(error)) throw error;
      failures++;
      const ceiling = Math.min(maxDelay, initialDelay * factor ** (failures - 1));
      delay = Math.round(Math.max(Math.random() * ceiling, retryAfterOf(error)));
      previous = { error };
      continue;
    }
    endIterationOnAnyClose(ws);
    const opened = clock.now();
    const onAbort = () => void ws.close(1001, "Going away").catch(() => {});
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      yield ws;
    } finally {
      // Runs when the body moves on, breaks out of the loop or throws.
      signal?.removeEventListener("abort", onAbort);
      await ws.close().catch(() => {});
    }
    const closed = await ws.closed;
    if (clock.now() - opened >= resetAfter) {
      failures = 0;
      delay = 0;
    } else {
      failures++;
      delay = Math.round(Math.random() * Math.min(maxDelay, initialDelay * factor ** (failures - 1)));
    }
    previous = { closed };
  }
}

function retryAfterOf(error: unknown): number {
  if (error instanceof HandshakeError && (error.status === 429 || error.status === 503)) {
    return retryAfterDelay(error.headers.get("retry-after"));
  }
  return 0;
}

/** Waits `ms` on `clock`; resolves false at once when `signal` aborts, leaving no timer behind. */
function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const onAbort = () => {
      clock.clearTimeout(timer);
      resolve(false);
    };
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
