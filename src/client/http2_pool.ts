/**
 * {@link Http2Pool}: HTTP/2 sessions shared between `connect` calls.
 *
 * @module
 */

import type { ClientHttp2Session } from "node:http2";

/**
 * Shares HTTP/2 sessions between `connect` calls (opt-in, with
 * `connect(url, { http2: "auto", http2Pool })`): a WebSocket to an origin
 * that already has an open session from this pool becomes one more stream
 * of it, with no new TCP or TLS handshake. Sessions are keyed by origin and
 * TLS options, stay open when their WebSockets close, and are closed by
 * {@link Http2Pool.close} (gracefully: open WebSockets carry on). Connects
 * that start together before any session exists each open their own; the
 * first to be ready joins the pool.
 *
 * @example Two WebSockets, one TLS connection
 * ```ts ignore
 * import { connect, Http2Pool } from "@streamsock/streamsock";
 *
 * const http2Pool = new Http2Pool();
 * const a = await connect("wss://example.com/feed", { http2: "auto", http2Pool });
 * const b = await connect("wss://example.com/chat", { http2: "auto", http2Pool });
 * await Promise.all([a.close(), b.close()]);
 * http2Pool.close();
 * ```
 */
export class Http2Pool {
  readonly #sessions = new Map<string, ClientHttp2Session>();

  /** How many sessions are open in the pool. */
  get size(): number {
    return this.#sessions.size;
  }

  /**
   * The pool's open session for `key`, if any.
   *
   * @param key Origin and TLS options.
   * @returns The session, or undefined.
   */
  get(key: string): ClientHttp2Session | undefined {
    const session = this.#sessions.get(key);
    if (session === undefined || !(session.closed || session.destroyed)) return session;
    this.#sessions.delete(key);
    return undefined;
  }

  /**
   * Keeps `session` for `key` unless the pool has one already.
   *
   * @param key Origin and TLS options.
   * @param session A session with extended CONNECT enabled.
   * @returns Whether the pool took it (and now owns it).
   */
  add(key: string, session: ClientHttp2Session): boolean {
    if (this.get(key) !== undefined) return false;
    this.#sessions.set(key, session);
    session.once("close", () => {
      if (this.#sessions.get(key) === session) this.#sessions.delete(key);
    });
    return true;
  }

  /** Closes every session gracefully (GOAWAY): their open WebSockets carry on until they close. */
  close(): void {
    for (const session of this.#sessions.values()) session.close();
    this.#sessions.clear();
  }
}
