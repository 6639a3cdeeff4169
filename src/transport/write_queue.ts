/**
 * What every socket shim shares: the outgoing queue (one high-water mark,
 * one meaning of `bufferedAmount`) and the rule that closes the socket.
 *
 * @module
 */

/**
 * Writes beyond this many queued bytes (counted by {@link chunkCost}) make
 * `Transport.write` return false, asking the connection to wait for `drain`.
 */
export const HIGH_WATER_MARK = 64 * 1024;

/**
 * What one queued chunk costs beyond its bytes: the array slot, the
 * `Uint8Array` object and its backing store header. Counting it keeps a
 * queue of a million two-byte frames (an echo of a flood of empty frames to a
 * peer that never reads) from looking like 2 MB when it holds a hundred.
 */
const CHUNK_OVERHEAD = 96;

/** Queued chunks smaller than this are merged into one write. */
const COALESCE_LIMIT = 16 * 1024;

/** The cost of a queued chunk against {@link HIGH_WATER_MARK}. */
export function chunkCost(chunk: Uint8Array): number {
  return chunk.length + CHUNK_OVERHEAD;
}

/**
 * Writes one chunk to the socket: returns how many bytes it took (fewer than
 * asked only once it can take more, -1 when the socket is gone), or a promise
 * of that count.
 */
export type WriteSome = (chunk: Uint8Array) => number | Promise<number>;

/**
 * The outgoing byte queue of a socket shim. Chunks are written in order, one
 * write at a time; small chunks queued behind a pending write go out merged.
 * Synchronous writers (Bun) are driven synchronously, so a write the socket
 * takes at once costs no promise.
 */
export class WriteQueue {
  readonly #writeSome: WriteSome;
  readonly #onDrain: () => void;
  readonly #onError: (err: unknown) => void;
  #chunks: Uint8Array[] = [];
  #bytes = 0;
  #cost = 0;
  #blocked = false;
  #writing = false;
  #closed = false;
  #onEmpty: (() => void) | null = null;

  /**
   * @param writeSome Hands a chunk to the socket.
   * @param onDrain Called when the queue falls back under the high-water mark after `push` returned false.
   * @param onError Called once when a write fails; the queue is then dropped.
   */
  constructor(writeSome: WriteSome, onDrain: () => void, onError: (err: unknown) => void) {
    this.#writeSome = writeSome;
    this.#onDrain = onDrain;
    this.#onError = onError;
  }

  /** Bytes accepted but not yet taken by the socket. */
  get bufferedAmount(): number {
    return this.#bytes;
  }

  /** Whether nothing waits to be written. */
  get empty(): boolean {
    return this.#chunks.length === 0 && !this.#writing;
  }

  /**
   * Queues a chunk and starts writing.
   *
   * @returns False when the queue is over the high-water mark.
   */
  push(chunk: Uint8Array): boolean {
    if (this.#closed) return true;
    if (chunk.length === 0) return !this.#blocked;
    this.#chunks.push(chunk);
    this.#bytes += chunk.length;
    this.#cost += chunkCost(chunk);
    if (this.#cost > HIGH_WATER_MARK) this.#blocked = true;
    if (!this.#writing) this.#run();
    return !this.#blocked;
  }

  /** Calls `then` once everything queued so far has been written (at once if nothing is). */
  whenEmpty(then: () => void): void {
    if (this.#closed) return;
    if (this.empty) then();
    else this.#onEmpty = then;
  }

  /** Drops what is queued; nothing more is written. */
  close(): void {
    this.#closed = true;
    this.#chunks = [];
    this.#bytes = 0;
    this.#cost = 0;
    this.#onEmpty = null;
  }

  /** The next chunk to write: the head, merged with the small chunks behind it. */
  #take(): Uint8Array {
    const chunks = this.#chunks;
    const first = chunks[0];
    if (chunks.length === 1 || first.length >= COALESCE_LIMIT) return first;
    let count = 1;
    let size = first.length;
    while (count < chunks.length && size + chunks[count].length <= COALESCE_LIMIT) size += chunks[count++].length;
    if (count === 1) return first;
    const merged = new Uint8Array(size);
    let offset = 0;
    for (let i = 0; i < count; i++) {
      merged.set(chunks[i], offset);
      offset += chunks[i].length;
      this.#cost -= CHUNK_OVERHEAD;
    }
    this.#cost += CHUNK_OVERHEAD;
    chunks.splice(0, count, merged);
    return merged;
  }

  /** Consumes `n` bytes of the head chunk. */
  #wrote(chunk: Uint8Array, n: number): void {
    this.#bytes -= n;
    this.#cost -= n;
    if (n < chunk.length) {
      this.#chunks[0] = chunk.subarray(n);
    } else {
      this.#chunks.shift();
      this.#cost -= CHUNK_OVERHEAD;
    }
    if (this.#blocked && this.#cost <= HIGH_WATER_MARK) {
      this.#blocked = false;
      this.#onDrain();
    }
  }

  /** Writes synchronously while the socket takes chunks at once; awaits a pending write otherwise. */
  #run(): void {
    this.#writing = true;
    try {
      while (!this.#closed && this.#chunks.length > 0) {
        const chunk = this.#take();
        const result = this.#writeSome(chunk);
        if (typeof result !== "number") {
          result.then((n) => this.#afterAsync(chunk, n), (err) => this.#fail(err));
          return;
        }
        if (result < 0) return this.#fail(new Error("The socket is closed"));
        this.#wrote(chunk, result);
      }
    } catch (err) {
      return this.#fail(err);
    }
    this.#idle();
  }

  #afterAsync(chunk: Uint8Array, n: number): void {
    if (this.#closed) return;
    if (n < 0) return this.#fail(new Error("The socket is closed"));
    this.#wrote(chunk, n);
    this.#run();
  }

  #idle(): void {
    this.#writing = false;
    if (this.#closed || this.#chunks.length > 0) return;
    const onEmpty = this.#onEmpty;
    this.#onEmpty = null;
    onEmpty?.();
  }

  #fail(err: unknown): void {
    this.#writing = false;
    if (this.#closed) return;
    this.close();
    this.#onError(err);
  }
}

/**
 * The one rule for releasing a socket, shared by every shim: it is closed
 * exactly once, as soon as both directions are done (the peer's EOF was read
 * and our end was sent), or at once on an error or `destroy`.
 */
export class SocketLifecycle {
  readonly #close: () => void;
  #readDone = false;
  #writeDone = false;
  #closed = false;

  /** @param close Releases the socket; called at most once. */
  constructor(close: () => void) {
    this.#close = close;
  }

  /** Whether the socket has been released. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The peer's EOF was read. */
  readEnded(): void {
    this.#readDone = true;
    if (this.#writeDone) this.release();
  }

  /** Our end of the stream was sent. */
  writeEnded(): void {
    this.#writeDone = true;
    if (this.#readDone) this.release();
  }

  /** The runtime released the socket itself (it reported it closed). */
  gone(): void {
    this.#closed = true;
  }

  /** Releases the socket now (an error, or `destroy`). */
  release(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#close();
    } catch {
      // Already closed by the runtime.
    }
  }
}
