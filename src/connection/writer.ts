/**
 * The writer: frame bytes queued for the transport, coalesced into as few
 * writes as possible (the cork), and outbound backpressure (drain). The
 * queue and the drain waiters are created on first use.
 *
 * @module
 */

import { joinChunks } from "../codec/pool.ts";
import type { Transport } from "../transport/types.ts";

/** Writes accumulated in one tick are coalesced into one transport write; past this size they go at once. */
export const FLUSH_THRESHOLD = 64 * 1024;
// Chunks this large are written as they are rather than copied together.
const LARGE_CHUNK = 16 * 1024;
// Microtask rounds without progress after which a corked flush goes out (see #flushStep).
const CORK_ROUNDS = 16;
// Microtask rounds a corked flush waits after the last message was taken.
const CORK_TAIL_ROUNDS = 4;

/** What `ready()` returns while the transport takes more: one shared promise, no allocation per send. */
export const RESOLVED: Promise<void> = Promise.resolve();

/** What the cork watches: how many received frames the application took, and how many wait. */
export interface ReadProgress {
  readonly taken: number;
  readonly length: number;
}

/** What the writer tells its connection. */
export interface WriterHost {
  /** The transport refused more, or drained: reading pauses or resumes. */
  congestionChanged(): void;
}

/** Queues frame bytes for one transport and hands them over in coalesced writes. */
export class Writer {
  readonly #transport: Transport;
  readonly #reads: ReadProgress;
  readonly #host: WriterHost;
  #out: Uint8Array[] | null = null;
  #outBytes = 0;
  #flushScheduled = false;
  #corkTaken = 0;
  #corkRounds = 0;
  #drainWaiters: { resolve(): void; reject(err: unknown): void }[] | null = null;
  /** The transport refused more: senders wait for drain, and reading pauses. */
  congested = false;
  #closedError: Error | null = null;
  /** Our side of the transport is ended: later writes are dropped. */
  ended = false;

  /**
   * @param transport Where the bytes go.
   * @param reads The inbox, watched by the cork.
   * @param host Told when congestion starts or ends (reading pauses or resumes).
   */
  constructor(transport: Transport, reads: ReadProgress, host: WriterHost) {
    this.#transport = transport;
    this.#reads = reads;
    this.#host = host;
  }

  /** Bytes queued here, not yet handed to the transport. */
  get bufferedAmount(): number {
    return this.#outBytes;
  }

  /** Queues bytes; everything written in one tick goes out in one transport write. */
  write(bytes: Uint8Array): void {
    if (this.ended || bytes.length === 0) return;
    (this.#out ??= []).push(bytes);
    this.#outBytes += bytes.length;
    if (this.#outBytes >= FLUSH_THRESHOLD) {
      this.flush();
    } else if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      this.#corkRounds = 0;
      this.#corkTaken = this.#reads.taken;
      RESOLVED.then(this.#flushTask ??= () => this.#flushStep());
    }
  }

  /**
   * Cork: the scheduled flush waits while the application is still taking
   * messages that arrived in the same read, so an echo loop's replies go out
   * in one write rather than one write syscall per message (figures in
   * docs/performance.md). A microtask round in which no message was taken
   * counts, and after CORK_ROUNDS of those the flush happens anyway, so an
   * application that stops reading only delays it by a few microtasks.
   */
  #flushTask: (() => void) | null = null;

  #flushStep(): void {
    if (!this.#flushScheduled) return;
    if (this.#outBytes < FLUSH_THRESHOLD) {
      const taken = this.#reads.taken;
      if (taken !== this.#corkTaken) {
        this.#corkTaken = taken;
        this.#corkRounds = 0;
      }
      // With the inbox empty, the message taken last is still on its way to
      // its reply: wait a few rounds more (2 writes per read -> 1 on Bun).
      if (++this.#corkRounds <= (this.#reads.length > 0 ? CORK_ROUNDS : CORK_TAIL_ROUNDS)) {
        RESOLVED.then(this.#flushTask!);
        return;
      }
    }
    this.flush();
  }

  /**
   * Counts as progress for the cork: writes arriving back to back (a burst
   * of publishes) keep the flush waiting until the burst ends, so it costs
   * one write instead of one per message.
   */
  keepCorked(): void {
    this.#corkRounds = 0;
  }

  /** Hands everything queued to the transport now. */
  flush(): void {
    this.#flushScheduled = false;
    const out = this.#out;
    if (out === null || this.ended) return;
    this.#out = null;
    this.#outBytes = 0;
    const transport = this.#transport;
    let accepted = true;
    if (out.length === 1) {
      accepted = transport.write(out[0]);
    } else if (transport.writev !== undefined) {
      accepted = this.#writev(transport, out);
    } else {
      let small: Uint8Array[] = [];
      let smallBytes = 0;
      const writeSmall = () => {
        if (smallBytes === 0) return;
        accepted = transport.write(small.length === 1 ? small[0] : joinChunks(small, smallBytes)) && accepted;
        small = [];
        smallBytes = 0;
      };
      for (const chunk of out) {
        if (chunk.length >= LARGE_CHUNK) {
          writeSmall();
          accepted = transport.write(chunk) && accepted;
        } else {
          small.push(chunk);
          smallBytes += chunk.length;
        }
      }
      writeSmall();
    }
    if (!accepted && !this.congested) {
      this.congested = true;
      this.#host.congestionChanged();
    }
  }

  /** Small chunks merged (one allocation for many tiny frames), large ones as they are, in one vectored write. */
  #writev(transport: Transport, out: Uint8Array[]): boolean {
    const parts: Uint8Array[] = [];
    let small: Uint8Array[] = [];
    let smallBytes = 0;
    for (const chunk of out) {
      if (chunk.length >= LARGE_CHUNK) {
        if (smallBytes > 0) parts.push(small.length === 1 ? small[0] : joinChunks(small, smallBytes));
        small = [];
        smallBytes = 0;
        parts.push(chunk);
      } else {
        small.push(chunk);
        smallBytes += chunk.length;
      }
    }
    if (smallBytes > 0) parts.push(small.length === 1 ? small[0] : joinChunks(small, smallBytes));
    return parts.length === 1 ? transport.write(parts[0]) : transport.writev!(parts);
  }

  /**
   * Resolves when the transport can take more: at once unless it is
   * congested; rejects once the connection is gone.
   */
  ready(): Promise<void> {
    if (!this.congested && this.#outBytes < FLUSH_THRESHOLD) return RESOLVED;
    if (this.#closedError !== null) return Promise.reject(this.#closedError);
    const waiting = new Promise<void>((resolve, reject) => (this.#drainWaiters ??= []).push({ resolve, reject }));
    // A sender now waits: reading may have to go on (see `senderWaiting`).
    if (this.#drainWaiters!.length === 1) this.#host.congestionChanged();
    return waiting;
  }

  /**
   * Whether the application waits for drain: the congestion is then its own
   * sending, which it paces, and the connection must keep reading, or two
   * peers that both send large messages while reading each other's would
   * each wait for the other to read.
   */
  get senderWaiting(): boolean {
    return this.#drainWaiters !== null && this.#drainWaiters.length > 0;
  }

  /** The transport can take more. */
  drain(): void {
    this.congested = false;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = null;
    if (waiters !== null) for (const waiter of waiters) waiter.resolve();
    this.#host.congestionChanged();
  }

  /** The connection is gone: queued bytes are dropped and waiting senders rejected. */
  close(error: Error): void {
    this.ended = true;
    this.#closedError = error;
    this.#out = null;
    this.#outBytes = 0;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = null;
    if (waiters !== null) for (const waiter of waiters) waiter.reject(error);
  }
}
