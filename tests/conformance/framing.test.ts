// RFC 6455 §5.2 framing (Autobahn category 1): text and binary messages at
// every payload-length boundary of the 7-, 16- and 64-bit length encodings,
// delivered whole and one byte per TCP write, echoed byte for byte.
import { randomBytes } from "../_helpers.ts";
import { type Case, suite, textOfBytes } from "./_wire.ts";

const LENGTHS = [0, 125, 126, 127, 128, 65535, 65536];

const cases: Case[] = [];
for (const [group, first, kind] of [[1, 0x81, "text"], [2, 0x82, "binary"]] as const) {
  let n = 0;
  for (const bytewise of [false, true]) {
    for (const length of LENGTHS) {
      const payload = kind === "text" ? new TextEncoder().encode(textOfBytes(length, length)) : randomBytes(length, length + 3);
      cases.push({
        id: `1.${group}.${++n}`,
        title: `${kind} message of ${length} bytes, ${bytewise ? "one byte per TCP write" : "whole"}, is echoed exactly`,
        // Over HTTP/2 each byte is a DATA frame: 65,536 of them take over 5 s on Deno's node:http2.
        http2Skip: bytewise && length > 128 ? "one-byte DATA frames by the 64 KiB are too slow on Deno" : undefined,
        async run({ peer }) {
          const frame = peer.frame(first, payload);
          await (bytewise ? peer.sendBytewise(frame) : peer.send(frame));
          await peer.expect(first, payload, `echo of the ${length}-byte ${kind} message`);
        },
      });
    }
  }
}

suite("1.x framing", cases, {}, true);
