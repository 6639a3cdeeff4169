// RFC 6455 §8.1 and RFC 3629 (Autobahn category 6): text messages must be
// UTF-8. Valid text is echoed however it is split into fragments; invalid
// sequences (overlong forms, surrogates, code points above U+10FFFF, stray
// and missing continuation bytes) fail the connection with 1007 as soon as
// the offending byte arrives, even when the message is far from finished.
import assert from "node:assert/strict";
import { type Case, type Peer, suite } from "./_wire.ts";

const TEXT = 0x81;

const utf8 = (text: string) => Array.from(new TextEncoder().encode(text));
const KOSME = utf8("κόσμε");

/**
 * A reference validator written from RFC 3629's table, independent of the
 * TextDecoder the library uses: the index of the first byte after which the
 * input can no longer be valid UTF-8, the length when only the end of input
 * makes it invalid (a truncated sequence), or -1 when it is valid.
 */
export function firstInvalidByte(bytes: number[]): number {
  let need = 0;
  let lower = 0x80;
  let upper = 0xbf;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (need === 0) {
      if (b <= 0x7f) continue;
      if (b >= 0xc2 && b <= 0xdf) need = 1;
      else if (b === 0xe0) [need, lower] = [2, 0xa0];
      else if ((b >= 0xe1 && b <= 0xec) || b === 0xee || b === 0xef) need = 2;
      else if (b === 0xed) [need, upper] = [2, 0x9f];
      else if (b === 0xf0) [need, lower] = [3, 0x90];
      else if (b >= 0xf1 && b <= 0xf3) need = 3;
      else if (b === 0xf4) [need, upper] = [3, 0x8f];
      else return i;
      continue;
    }
    if (b < lower || b > upper) return i;
    [need, lower, upper] = [need - 1, 0x80, 0xbf];
  }
  return need === 0 ? -1 : bytes.length;
}

/** [what, bytes]: each is sent after "κόσμε" and before "-end", so the fault sits inside a message. */
const SEQUENCES: [string, number[]][] = [
  // Valid.
  ["ASCII and Latin-1 text", utf8("Hello-µ@ßöäüàá-UTF-8!!")],
  ["U+0000", [0x00]],
  ["U+0080, the first 2-byte character", [0xc2, 0x80]],
  ["U+0800, the first 3-byte character", [0xe0, 0xa0, 0x80]],
  ["U+10000, the first 4-byte character", [0xf0, 0x90, 0x80, 0x80]],
  ["U+007F", [0x7f]],
  ["U+07FF, the last 2-byte character", [0xdf, 0xbf]],
  ["U+FFFF, the last 3-byte character", [0xef, 0xbf, 0xbf]],
  ["U+10FFFF, the last code point", [0xf4, 0x8f, 0xbf, 0xbf]],
  ["U+D7FF, just below the surrogates", [0xed, 0x9f, 0xbf]],
  ["U+E000, just above the surrogates", [0xee, 0x80, 0x80]],
  ["U+FFFD", [0xef, 0xbf, 0xbd]],
  ["U+FEFF, kept as content rather than eaten as a byte order mark", [0xef, 0xbb, 0xbf]],
  ["the noncharacters U+FFFE and U+FDD0", [0xef, 0xbf, 0xbe, 0xef, 0xb7, 0x90]],
  ["emoji and CJK", utf8("😀語𝄞")],
  // Above U+10FFFF and obsolete long forms.
  ["U+110000 (F4 90 80 80)", [0xf4, 0x90, 0x80, 0x80]],
  ["F5 80 80 80", [0xf5, 0x80, 0x80, 0x80]],
  ["F7 BF BF BF", [0xf7, 0xbf, 0xbf, 0xbf]],
  ["a 5-byte form (F8 88 80 80 80)", [0xf8, 0x88, 0x80, 0x80, 0x80]],
  ["a 6-byte form (FC 84 80 80 80 80)", [0xfc, 0x84, 0x80, 0x80, 0x80, 0x80]],
  // Stray and missing continuation bytes.
  ["a lone continuation byte 80", [0x80]],
  ["a lone continuation byte BF", [0xbf]],
  ["continuation bytes 80 BF 80", [0x80, 0xbf, 0x80]],
  ["a 2-byte start followed by a space (C2 20)", [0xc2, 0x20]],
  ["a 3-byte start followed by a space (E1 20)", [0xe1, 0x20]],
  ["a 4-byte start followed by a space (F1 20)", [0xf1, 0x20]],
  ["a 3-byte sequence missing its last byte, then ASCII (E1 80 41)", [0xe1, 0x80, 0x41]],
  ["a 4-byte sequence missing its last byte, then ASCII (F0 90 80 41)", [0xf0, 0x90, 0x80, 0x41]],
  ["the impossible bytes FE and FF", [0xfe, 0xfe, 0xff, 0xff]],
  // Overlong forms.
  ["overlong '/' in 2 bytes (C0 AF)", [0xc0, 0xaf]],
  ["overlong '/' in 3 bytes (E0 80 AF)", [0xe0, 0x80, 0xaf]],
  ["overlong '/' in 4 bytes (F0 80 80 AF)", [0xf0, 0x80, 0x80, 0xaf]],
  ["the largest overlong 2-byte form (C1 BF)", [0xc1, 0xbf]],
  ["the largest overlong 3-byte form (E0 9F BF)", [0xe0, 0x9f, 0xbf]],
  ["the largest overlong 4-byte form (F0 8F BF BF)", [0xf0, 0x8f, 0xbf, 0xbf]],
  ["overlong NUL (C0 80)", [0xc0, 0x80]],
  ["overlong NUL in 3 bytes (E0 80 80)", [0xe0, 0x80, 0x80]],
  // Surrogates.
  ["the surrogate U+D800 (ED A0 80)", [0xed, 0xa0, 0x80]],
  ["the surrogate U+DBFF (ED AF BF)", [0xed, 0xaf, 0xbf]],
  ["the surrogate U+DC00 (ED B0 80)", [0xed, 0xb0, 0x80]],
  ["the surrogate U+DFFF (ED BF BF)", [0xed, 0xbf, 0xbf]],
  ["the surrogate pair U+D800 U+DC00 encoded separately", [0xed, 0xa0, 0x80, 0xed, 0xb0, 0x80]],
];

/** Sequences whose only fault is that the message ends inside a character. */
const TRUNCATED: [string, number[]][] = [
  ["C2", [0xc2]],
  ["E0 A0", [0xe0, 0xa0]],
  ["F0 90 80", [0xf0, 0x90, 0x80]],
  ["F4 8F BF", [0xf4, 0x8f, 0xbf]],
];

/** Sends the message one byte per frame; a ping before the first bad byte proves nothing failed early. */
async function byteFragments(peer: Peer, bytes: number[], bad: number): Promise<void> {
  const first = (i: number, fin: boolean) => (fin ? 0x80 : 0) | (i === 0 ? 0x01 : 0x00);
  const upTo = bad < 0 ? bytes.length : Math.min(bad, bytes.length);
  // Everything before the first bad byte is a valid prefix and must be accepted.
  for (let i = 0; i < upTo; i++) await peer.send(peer.frame(first(i, bad < 0 && i === bytes.length - 1), [bytes[i]]));
  if (bad < 0) return;
  await peer.send(peer.frame(0x89, "probe"));
  await peer.expect(0x8a, "probe", "pong: the valid prefix must not fail the connection");
  // The bad byte, in a frame that does not end the message: failing must not wait for the end.
  if (bad < bytes.length) await peer.send(peer.frame(first(bad, false), [bytes[bad]]));
  else await peer.send(peer.frame(first(bytes.length, true), []));
}

const cases: Case[] = [];
SEQUENCES.forEach(([what, sequence], i) => {
  const bytes = [...KOSME, ...sequence, ...utf8("-end")];
  const bad = firstInvalidByte(bytes);
  const outcome = bad < 0 ? "is echoed" : "fails the connection with 1007";
  cases.push(
    {
      id: `6.${i + 1}.1`,
      title: `${what}, in one frame, ${outcome}`,
      async run({ peer }) {
        await peer.send(peer.frame(TEXT, bytes));
        if (bad < 0) await peer.expect(TEXT, bytes, "echo");
        else await peer.expectClose(1007);
      },
    },
    {
      id: `6.${i + 1}.2`,
      title: `${what}, one byte per fragment, ${bad < 0 ? "is echoed" : "fails with 1007 at its first invalid byte"}`,
      async run({ peer }) {
        await byteFragments(peer, bytes, bad);
        if (bad < 0) await peer.expect(TEXT, bytes, "echo");
        else await peer.expectClose(1007);
      },
    },
  );
});

const base = SEQUENCES.length;
TRUNCATED.forEach(([what, sequence], i) => {
  const bytes = [...KOSME, ...sequence];
  cases.push({
    id: `6.${base + i + 1}.1`,
    title: `a message ending inside a character (${what}), one byte per fragment, fails with 1007 at its final frame`,
    async run({ peer }) {
      assert.equal(firstInvalidByte(bytes), bytes.length);
      await byteFragments(peer, bytes, bytes.length);
      await peer.expectClose(1007);
    },
  }, {
    id: `6.${base + i + 1}.2`,
    title: `a message ending inside a character (${what}), in one frame, fails with 1007`,
    async run({ peer }) {
      await peer.send(peer.frame(TEXT, bytes));
      await peer.expectClose(1007);
    },
  });
});

// Valid text split at every byte: each cut gives a two-fragment message,
// often with a character split across the fragments.
const SPLIT_TEXTS: [string, string][] = [
  ["Latin-1 text", "Hello-µ@ßöäüàá-UTF-8!!"],
  ["Greek text", "κόσμε"],
  ["4-byte characters, U+10FFFF, NUL and U+FEFF", "😀語𝄞\u{10FFFF}\u0000\uFEFF"],
];
SPLIT_TEXTS.forEach(([what, text], i) => {
  const bytes = new TextEncoder().encode(text);
  cases.push({
    id: `6.${base + TRUNCATED.length + i + 1}`,
    title: `${what} split into two fragments at each of its ${bytes.length - 1} inner bytes is echoed every time`,
    async run({ peer }) {
      for (let cut = 1; cut < bytes.length; cut++) {
        await peer.send(peer.frame(0x01, bytes.subarray(0, cut)), peer.frame(0x80, bytes.subarray(cut)));
        await peer.expect(TEXT, bytes, `echo of the message cut at byte ${cut}`);
      }
    },
  });
});

suite("6.x UTF-8", cases);
