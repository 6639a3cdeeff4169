/**
 * RFC 6455 §5.3 masking. Hot path: XORs four bytes at a time.
 *
 * @module
 */

const keyBytes = new Uint8Array(4);
const keyWord = new Uint32Array(keyBytes.buffer);

/**
 * XORs `data` in place with the 4-byte masking `key`, starting at key index 0.
 * Masking and unmasking are the same operation.
 */
export function maskInPlace(data: Uint8Array, key: Uint8Array): void {
  const n = data.length;
  let i = 0;
  if (n >= 16) {
    // Reach a 4-byte aligned address byte by byte, then XOR whole 32-bit words
    // with the key rotated to that position (native byte order on both sides).
    const lead = (4 - (data.byteOffset & 3)) & 3;
    for (; i < lead; i++) data[i] ^= key[i & 3];
    keyBytes[0] = key[i & 3];
    keyBytes[1] = key[(i + 1) & 3];
    keyBytes[2] = key[(i + 2) & 3];
    keyBytes[3] = key[(i + 3) & 3];
    const word = keyWord[0];
    const count = (n - i) >>> 2;
    const words = new Uint32Array(data.buffer, data.byteOffset + i, count);
    for (let j = 0; j < count; j++) words[j] ^= word;
    i += count << 2;
  }
  for (; i < n; i++) data[i] ^= key[i & 3];
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
