/**
 * Per-connection rate limits: `maxMessagesPerSecond` and `maxBytesPerSecond`
 * as token buckets that hold `rateLimitBurst` seconds' worth (the burst a
 * quiet connection may send at once). Bytes are charged as they are read
 * from the transport; whole messages as they are decoded, and the shell
 * decodes no more frames at a time than there are message tokens, so the
 * message limit holds to the frame even within one read.
 *
 * @module
 */

/** A connection's rate limits, resolved from its options. */
export interface RateLimits {
  messagesPerSecond: number;
  bytesPerSecond: number;
  burst: number;
  action: "pause" | "close";
}

/**
 * The rate limits of the options, or null when there are none (the common
 * case: no limiter, not even its fields).
 *
 * @throws {RangeError} For a rate or burst that is not a positive number.
 */
export function rateLimitsOf(options: {
  maxMessagesPerSecond?: number;
  maxBytesPerSecond?: number;
  rateLimitBurst?: number;
  rateLimitAction?: "pause" | "close";
}): RateLimits | null {
  const { maxMessagesPerSecond, maxBytesPerSecond, rateLimitBurst, rateLimitAction } = options;
  if (maxMessagesPerSecond === undefined && maxBytesPerSecond === undefined) return null;
  for (const [name, value] of [["maxMessagesPerSecond", maxMessagesPerSecond], ["maxBytesPerSecond", maxBytesPerSecond], [
    "rateLimitBurst",
    rateLimitBurst,
  ]] as const) {
    if (value !== undefined && !(typeof value === "number" && value > 0)) {
      throw new RangeError(`${name} must be a positive number, not ${value}`);
    }
  }
  if (rateLimitAction !== undefined && rateLimitAction !== "pause" && rateLimitAction !== "close") {
    throw new RangeError(`rateLimitAction must be "pause" or "close", not ${rateLimitAction}`);
  }
  return {
    messagesPerSecond: maxMessagesPerSecond ?? Infinity,
    bytesPerSecond: maxBytesPerSecond ?? Infinity,
    burst: rateLimitBurst ?? 1,
    action: rateLimitAction ?? "pause",
  };
}

/** Two token buckets, refilled lazily from the clock. */
export class RateLimiter {
  readonly limits: RateLimits;
  #messages: number;
  #bytes: number;
  #last: number;

  constructor(limits: RateLimits, now: number) {
    this.limits = limits;
    this.#messages = limits.messagesPerSecond * limits.burst;
    this.#bytes = limits.bytesPerSecond * limits.burst;
    this.#last = now;
  }

  #refill(now: number): void {
    const elapsed = (now - this.#last) / 1000;
    if (elapsed <= 0) return;
    this.#last = now;
    const { messagesPerSecond, bytesPerSecond, burst } = this.limits;
    this.#messages = Math.min(messagesPerSecond * burst, this.#messages + elapsed * messagesPerSecond);
    this.#bytes = Math.min(bytesPerSecond * burst, this.#bytes + elapsed * bytesPerSecond);
  }

  /** Charges bytes read; true when the byte bucket ran dry (reading must wait). */
  read(bytes: number, now: number): boolean {
    if (this.limits.bytesPerSecond === Infinity) return false;
    this.#refill(now);
    this.#bytes -= bytes;
    return this.#bytes < 0;
  }

  /** Charges one whole message. */
  message(): void {
    this.#messages--;
  }

  /** How many frames may be decoded now: as many as there are whole message tokens, at most `max`. */
  frames(now: number, max: number): number {
    if (this.limits.messagesPerSecond === Infinity) return max;
    this.#refill(now);
    return Math.max(0, Math.min(max, Math.floor(this.#messages)));
  }

  /** Whether the byte bucket is dry. */
  get bytesExhausted(): boolean {
    return this.#bytes < 0;
  }

  /** Milliseconds until a message token and a non-negative byte bucket are both back (at least 1). */
  wait(now: number): number {
    this.#refill(now);
    const { messagesPerSecond, bytesPerSecond } = this.limits;
    const forMessages = this.#messages >= 1 ? 0 : (1 - this.#messages) / messagesPerSecond;
    const forBytes = this.#bytes >= 0 ? 0 : -this.#bytes / bytesPerSecond;
    return Math.max(1, Math.ceil(Math.max(forMessages, forBytes) * 1000));
  }
}
