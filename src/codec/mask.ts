/**
 * RFC 6455 §5.3 masking. Hot path: XORs four bytes at a time.
 *
 * @module
 */

/**
 * Payloads shorter than this are XORed byte by byte: the word loop's
 * Int32Array view costs more than it saves on them, and on Bun (JSC) reading
 * `.buffer` of a small typed array moves its bytes out of the heap first.
 */
const WORDS_FROM = 128;

const keyBytes = new Uint8Array(4);
const keyWord = new Int32Array(keyBytes.buffer);
const rotatedKey = new Uint8Array(4);

/** The key rotated to payload position `at`, as one 32-bit word in native byte order. */
function keyWordAt(key: Uint8Array, at: number): number {
  keyBytes[0] = key[at & 3];
  keyBytes[1] = key[(at + 1) & 3];
  keyBytes[2] = key[(at + 2) & 3];
  keyBytes[3] = key[(at + 3) & 3];
  return keyWord[0];
}

/**
 * XORs `data` in place with the 4-byte masking `key`, starting at key index
 * `phase` (the position of `data` in the payload it belongs to; 0 for a
 * whole payload). Masking and unmasking are the same operation.
 */
export function maskInPlace(data: Uint8Array, key: Uint8Array, phase = 0): void {
  const n = data.length;
  let i = 0;
  if ((phase & 3) !== 0) {
    for (let k = 0; k < 4; k++) rotatedKey[k] = key[(phase + k) & 3];
    key = rotatedKey;
  }
  if (n >= WORDS_FROM) {
    // Reach a 4-byte aligned address byte by byte, then XOR whole 32-bit words
    // with the key rotated to that position (native byte order on both sides),
    // eight words per iteration. Int32 words and the unrolled loop doubled the
    // speed on Node against Uint32 one at a time (docs/performance.md).
    const lead = (4 - (data.byteOffset & 3)) & 3;
    for (; i < lead; i++) data[i] ^= key[i & 3];
    const word = keyWordAt(key, i);
    const count = (n - i) >>> 2;
    const words = new Int32Array(data.buffer, data.byteOffset + i, count);
    const unrolled = count - (count & 7);
    let j = 0;
    for (; j < unrolled; j += 8) {
      words[j] ^= word;
      words[j + 1] ^= word;
      words[j + 2] ^= word;
      words[j + 3] ^= word;
      words[j + 4] ^= word;
      words[j + 5] ^= word;
      words[j + 6] ^= word;
      words[j + 7] ^= word;
    }
    for (; j < count; j++) words[j] ^= word;
    i += count << 2;
  }
  for (; i < n; i++) data[i] ^= key[i & 3];
}

/**
 * Writes `src` XORed with the 4-byte masking `key` into `dst` at `at`: a
 * copy and the masking in one pass over memory, for a client's payloads
 * (RFC 6455 §5.3), which may not be masked in place. Word at a time when
 * both sides share an alignment; copy then mask otherwise.
 */
export function maskCopy(src: Uint8Array, dst: Uint8Array, at: number, key: Uint8Array): void {
  const n = src.length;
  const dstOffset = dst.byteOffset + at;
  if (n < WORDS_FROM || ((src.byteOffset ^ dstOffset) & 3) !== 0) {
    dst.set(src, at);
    maskInPlace(dst.subarray(at, at + n), key);
    return;
  }
  let i = 0;
  const lead = (4 - (dstOffset & 3)) & 3;
  for (; i < lead; i++) dst[at + i] = src[i] ^ key[i & 3];
  const word = keyWordAt(key, i);
  const count = (n - i) >>> 2;
  const from = new Int32Array(src.buffer, src.byteOffset + i, count);
  const to = new Int32Array(dst.buffer, dstOffset + i, count);
  const unrolled = count - (count & 7);
  let j = 0;
  for (; j < unrolled; j += 8) {
    to[j] = from[j] ^ word;
    to[j + 1] = from[j + 1] ^ word;
    to[j + 2] = from[j + 2] ^ word;
    to[j + 3] = from[j + 3] ^ word;
    to[j + 4] = from[j + 4] ^ word;
    to[j + 5] = from[j + 5] ^ word;
    to[j + 6] = from[j + 6] ^ word;
    to[j + 7] = from[j + 7] ^ word;
  }
  for (; j < count; j++) to[j] = from[j] ^ word;
  i += count << 2;
  for (; i < n; i++) dst[at + i] = src[i] ^ key[i & 3];
}

const POOL_SIZE = 4096;
let pool = new Uint8Array(0);
let poolOffset = 0;

/**
 * A fresh, unpredictable 4-byte masking key (RFC 6455 §5.3 requires one per
 * frame). Keys are cut from a pool filled by `crypto.getRandomValues` so that
 * small frames do not pay one random call each.
 */
export function randomMaskKey(): Uint8Array {
  if (poolOffset + 4 > pool.length) {
    pool = crypto.getRandomValues(new Uint8Array(POOL_SIZE));
    poolOffset = 0;
  }
  const key = pool.subarray(poolOffset, poolOffset + 4);
  poolOffset += 4;
  return key;
}
