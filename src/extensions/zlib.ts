/**
 * The zlib a permessage-deflate stage is given: raw DEFLATE streams with a
 * sync flush and a window that carries over between messages (context
 * takeover), plus a way to let the event loop turn between slices of work.
 * Runtime-neutral types only: the binding, node:zlib (present on Deno, Bun
 * and Node alike), lives in `src/transport/zlib.ts` with the other
 * runtime-specific code, and the connection injects it.
 *
 * @module
 */

/** One raw DEFLATE stream, the parts of a node:zlib stream the stage uses. */
export interface ZlibStream {
  write(chunk: Uint8Array, callback?: (error?: Error | null) => void): boolean;
  flush(kind: number, callback: () => void): void;
  reset(): void;
  close(callback?: () => void): void;
  on(event: "data", listener: (chunk: Uint8Array) => void): this;
  on(event: "error", listener: (error: Error) => void): this;
  on(event: "end", listener: () => void): this;
  readonly destroyed: boolean;
  readonly errored: Error | null;
}

/** How a compressor is made: zlib's parameters and, optionally, the history it starts from. */
export interface DeflateOptions {
  windowBits: number;
  level: number;
  memLevel: number;
  /**
   * Bytes the compressor may refer back to as if it had just compressed them
   * (zlib's preset dictionary): the end of what the peer already inflated.
   * Honoured only where {@link Zlib.dictionaries} is true.
   */
  dictionary?: Uint8Array;
}

/** What a permessage-deflate stage needs of zlib. */
export interface Zlib {
  /** A raw DEFLATE compressor (no zlib header, as RFC 7692 §7.2.1 requires). */
  rawDeflate(options: DeflateOptions): ZlibStream;
  /**
   * Compresses one whole message at once on the calling thread, ending with
   * a sync flush (its `00 00 ff ff` included): for messages small enough
   * that a round trip through a zlib stream costs more than the work.
   */
  deflateSync(payload: Uint8Array, options: DeflateOptions): Uint8Array;
  /**
   * Inflates one whole message at once on the calling thread (`payload`
   * with the `00 00 ff ff` put back), starting from `dictionary` as the
   * window; null when the output would exceed `limit` bytes.
   */
  inflateSync(payload: Uint8Array, options: { windowBits: number; dictionary?: Uint8Array; limit: number }): Uint8Array | null;
  /** Whether `dictionary` is honoured, by compressors and decompressors (Deno's node:zlib ignores it for raw streams). */
  readonly dictionaries: boolean;
  /** A raw DEFLATE decompressor, its window preset to `dictionary` where {@link Zlib.dictionaries} is true. */
  rawInflate(options: { windowBits: number; dictionary?: Uint8Array }): ZlibStream;
  /** `Z_SYNC_FLUSH`: end the output on a byte boundary with an empty stored block (RFC 7692 §7.2.1). */
  readonly syncFlush: number;
  /** Resolves after pending I/O events: a real turn of the event loop. */
  yieldToEventLoop(): Promise<void>;
}
