/**
 * RFC 6455 §4.1-4.2: `Sec-WebSocket-Key` and `Sec-WebSocket-Accept`.
 *
 * @module
 */

/** The GUID every server appends to the client's key (RFC 6455 §1.3). */
export const WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
  return btoa(binary);
}

/** A fresh `Sec-WebSocket-Key`: 16 random bytes, base64-encoded. */
export function generateKey(): string {
  return toBase64(crypto.getRandomValues(new Uint8Array(16)));
}

/** Whether `key` is the base64 encoding of exactly 16 bytes (RFC 6455 §4.1, item 7). */
export function isValidKey(key: string): boolean {
  return /^[A-Za-z0-9+/]{22}==$/.test(key);
}

/** The `Sec-WebSocket-Accept` value for `key`: base64(SHA-1(key + GUID)). */
export async function computeAccept(key: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-1", new TextEncoder().encode(key + WEBSOCKET_GUID));
  return toBase64(new Uint8Array(digest));
}
