// RFC 6455 §5.2 and §10.4 sizes (Autobahn category 9): large messages, whole
// and in fragments from 64 bytes to 4 MiB, are echoed exactly when the limits
// allow them, and a frame or message over a limit fails the connection with
// 1009 (a frame as soon as its header announces the excess).
import { randomBytes } from "../_helpers.ts";
import { type Case, KiB, MiB, type Peer, suite, textOfBytes } from "./_wire.ts";

function payloadOf(kind: "text" | "binary", size: number): Uint8Array {
  return kind === "text" ? new TextEncoder().encode(textOfBytes(size, size)) : randomBytes(size, size);
}

/** Sends `payload` as one message in frames of `fragment` bytes, in TCP writes of about 1 MiB. */
async function sendFragmented(peer: Peer, opcode: number, payload: Uint8Array, fragment: number): Promise<void> {
  let batch: Uint8Array[] = [];
  let batchBytes = 0;
  for (let at = 0; at < payload.length; at += fragment) {
    const last = at + fragment >= payload.length;
    const frame = peer.frame((last ? 0x80 : 0) | (at === 0 ? opcode : 0), payload.subarray(at, at + fragment));
    batch.push(frame);
    batchBytes += frame.length;
    if (batchBytes >= MiB || last) {
      const joined = new Uint8Array(batchBytes);
      let offset = 0;
      for (const part of batch) {
        joined.set(part, offset);
        offset += part.length;
      }
      await peer.send(joined);
      batch = [];
      batchBytes = 0;
    }
  }
}

const sizeName = (n: number) => (n >= MiB ? `${n / MiB} MiB` : `${n / KiB} KiB`);
const fragmentName = (n: number) => (n >= KiB ? sizeName(n) : `${n} bytes`);

const WHOLE = [64 * KiB, MiB, 16 * MiB];
const FRAGMENTED: [size: number, fragment: number][] = [[MiB, 64], [4 * MiB, 64 * KiB], [16 * MiB, 4 * MiB]];

const large: Case[] = [];
for (const [group, kind, opcode] of [[1, "text", 1], [2, "binary", 2]] as const) {
  WHOLE.forEach((size, i) =>
    large.push({
      id: `9.${group}.${i + 1}`,
      title: `a ${sizeName(size)} ${kind} message in one frame is echoed exactly`,
      async run({ peer }) {
        const payload = payloadOf(kind, size);
        await peer.send(peer.frame(0x80 | opcode, payload));
        await peer.expect(0x80 | opcode, payload, "echo", 30_000);
      },
    })
  );
  FRAGMENTED.forEach(([size, fragment], i) =>
    large.push({
      id: `9.${group + 2}.${i + 1}`,
      title: `a ${sizeName(size)} ${kind} message in ${size / fragment} fragments of ${fragmentName(fragment)} is echoed exactly`,
      async run({ peer }) {
        const payload = payloadOf(kind, size);
        await sendFragmented(peer, opcode, payload, fragment);
        await peer.expect(0x80 | opcode, payload, "echo in one frame", 30_000);
      },
    })
  );
}

// With the limits raised far enough for 16 MiB messages in one frame.
suite("9.x sizes", large, { maxFrameSize: 16 * MiB, maxMessageSize: 32 * MiB });

const FRAME_LIMIT = 64 * KiB;
const MESSAGE_LIMIT = MiB;

const limits: Case[] = [
  {
    id: "9.7.1",
    title: `a frame header announcing maxFrameSize + 1 bytes fails the connection with 1009 before any payload`,
    async run({ peer }) {
      const frame = peer.frame(0x82, new Uint8Array(FRAME_LIMIT + 1));
      // Only the header (and the mask key towards a server): the answer must not wait for the payload.
      await peer.send(frame.subarray(0, frame.length - FRAME_LIMIT - 1));
      await peer.expectClose(1009);
    },
  },
  {
    id: "9.7.2",
    title: "a frame of exactly maxFrameSize bytes is echoed",
    async run({ peer }) {
      const payload = randomBytes(FRAME_LIMIT, 972);
      await peer.send(peer.frame(0x82, payload));
      await peer.expect(0x82, payload, "echo");
    },
  },
  {
    id: "9.7.3",
    title: "a message of exactly maxMessageSize bytes in 16 fragments is echoed in frames of maxFrameSize",
    async run({ peer }) {
      const payload = randomBytes(MESSAGE_LIMIT, 973);
      await sendFragmented(peer, 2, payload, FRAME_LIMIT);
      for (let at = 0; at < payload.length; at += FRAME_LIMIT) {
        const first = (at + FRAME_LIMIT >= payload.length ? 0x80 : 0) | (at === 0 ? 2 : 0);
        await peer.expect(first, payload.subarray(at, at + FRAME_LIMIT), `echo frame at ${at}`);
      }
    },
  },
  {
    id: "9.7.4",
    title: "a message one byte over maxMessageSize, in fragments, fails the connection with 1009",
    async run({ peer }) {
      await sendFragmented(peer, 1, new TextEncoder().encode(textOfBytes(MESSAGE_LIMIT + 1, 974)), FRAME_LIMIT);
      await peer.expectClose(1009);
    },
  },
  {
    id: "9.7.5",
    title: "a 64-bit length with its most significant bit set fails the connection with 1002",
    async run({ peer }) {
      const frame = peer.frame(0x82, new Uint8Array(0), 0x10000);
      frame[2] = 0x80;
      await peer.send(frame);
      await peer.expectClose(1002);
    },
  },
];

suite("9.x limits", limits, { maxFrameSize: FRAME_LIMIT, maxMessageSize: MESSAGE_LIMIT });
