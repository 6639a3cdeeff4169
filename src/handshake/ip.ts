/**
 * IP address literals as bytes: for a SOCKS5 request's address type
 * (`socks5.ts`) and for `NO_PROXY`'s CIDR entries (`src/client/proxy.ts`).
 *
 * @module
 */

/**
 * The bytes of an IPv4 (4) or IPv6 (16) literal, or null for a name.
 *
 * @param text A dotted quad or an IPv6 address without brackets.
 * @returns Network-order bytes, or null.
 */
export function parseIp(text: string): Uint8Array | null {
  const v4 = parseIpv4(text);
  if (v4 !== null) return v4;
  if (!text.includes(":")) return null;
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const groups = (part: string): number[] | null => {
    if (part === "") return [];
    const out: number[] = [];
    const pieces = part.split(":");
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i];
      if (i === pieces.length - 1 && piece.includes(".")) {
        const tail = parseIpv4(piece);
        if (tail === null) return null;
        out.push((tail[0] << 8) | tail[1], (tail[2] << 8) | tail[3]);
      } else if (/^[0-9a-f]{1,4}$/i.test(piece)) {
        out.push(parseInt(piece, 16));
      } else {
        return null;
      }
    }
    return out;
  };
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  if (head === null || tail === null) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const all = [...head, ...new Array(missing).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  all.forEach((group, i) => {
    bytes[2 * i] = group >> 8;
    bytes[2 * i + 1] = group & 0xff;
  });
  return bytes;
}

function parseIpv4(text: string): Uint8Array | null {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return null;
  return new Uint8Array(parts.map(Number));
}
