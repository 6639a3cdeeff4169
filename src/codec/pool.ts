/**
 * Small buffers cut from shared slabs, as Node's `Buffer.allocUnsafe` does,
 * and chunks joined into one buffer.
 *
 * Each `new Uint8Array` gets its own backing store, and on some runtimes
 * that is expensive for tiny sizes (on Deno about ten times Node's cost, see
 * docs/performance.md): a flood of empty frames spent most of its time, and
 * most of its memory growth, allocating two-byte frames and four-byte keys.
 * Frames up to {@link POOLED_LIMIT} bytes are views into a slab instead. A
 * slab is never rewound, so a view stays valid for as long as it is held,
 * and a slab is collected once no view of it is.
 *
 * @module
 */

/** Frames up to this size come from a slab. */
export const POOLED_LIMIT = 512;
const SLAB_SIZE = 16 * 1024;

let slab = new Uint8Array(0);
let slabOffset = 0;

/**
 * A zero-filled buffer of `size` bytes: a view into a shared slab when small.
 *
 * @param size Bytes wanted.
 * @param packed Place the view right after the previous one instead of at
 *   the next 8-byte boundary. Frames nobody masks are packed, so the replies
 *   to one read lie back to back and the writer sends them as one view
 *   instead of copying them together ({@link joinChunks}).
 * @returns A buffer of exactly `size` bytes.
 */
export function allocate(size: number, packed = false): Uint8Array {
  if (size > POOLED_LIMIT) return new Uint8Array(size);
  // Unpacked views (masked frames) start 8-byte aligned, so word-at-a-time masking stays on its fast path.
  let start = packed ? slabOffset : (slabOffset + 7) & ~7;
  // A slab whose buffer someone transferred reads as length 0: start a new one.
  if (start + size > slab.length) {
    slab = new Uint8Array(SLAB_SIZE);
    start = 0;
  }
  slabOffset = start + size;
  return slab.subarray(start, start + size);
}

/**
 * The bytes of `chunks` (`total` in all) in one buffer: a view over them when
 * they lie back to back in one buffer (packed frames), else a copy.
 */
export function joinChunks(chunks: Uint8Array[], total: number): Uint8Array {
  const first = chunks[0];
  const buffer = first.buffer;
  let end = first.byteOffset + first.length;
  for (let i = 1; i < chunks.length; i++) {
    const chunk = chunks[i];
    if (chunk.byteOffset !== end || chunk.buffer !== buffer) return concatBytes(chunks, total);
    end += chunk.length;
  }
  return new Uint8Array(buffer, first.byteOffset, total);
}

/**
 * A new buffer holding `chunks` one after another.
 *
 * @param total Their length in all, when the caller already counted it.
 */
export function concatBytes(chunks: Uint8Array[], total?: number): Uint8Array {
  if (total === undefined) {
    total = 0;
    for (const chunk of chunks) total += chunk.length;
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}
