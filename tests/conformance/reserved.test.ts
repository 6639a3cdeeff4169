// RFC 6455 §5.2 reserved bits and opcodes (Autobahn categories 3 and 4):
// with no extension negotiated, any RSV bit and any reserved opcode, data or
// control, fails the connection with 1002, and nothing after the bad frame
// (here a ping, which would otherwise be answered) is processed. Also with
// valid messages in the same read as the bad frame: their echoes may never
// follow our close frame (§5.5.1).
import { oneReadOpcodeCases, oneReadRsvCases } from "./_one_read.ts";
import { type Case, type Peer, suite } from "./_wire.ts";

const TEXT = 0x81;

/**
 * Sends a valid text and waits for its echo, then sends the bad frame and a
 * ping in one TCP write (or byte by byte). Waiting for the echo first keeps
 * the case deterministic: with all three in one write, failing before the
 * application echoed the first message is just as conformant (Autobahn calls
 * that outcome non-strict).
 */
async function violate(peer: Peer, bad: Uint8Array, bytewise: boolean): Promise<void> {
  await peer.send(peer.frame(TEXT, "valid first"));
  await peer.expect(TEXT, "valid first", "echo of the valid message before the bad frame");
  const frames = [bad, peer.frame(0x89, "never answered")];
  await (bytewise ? peer.sendBytewise(...frames) : peer.send(...frames));
  await peer.expectClose(1002);
}

const rsvCases: Case[] = [
  { rsv: 4, first: 0x81, payload: "hello", what: "a text frame" },
  { rsv: 2, first: 0x81, payload: "hello", what: "a text frame" },
  { rsv: 1, first: 0x81, payload: "hello", what: "a text frame", bytewise: true },
  { rsv: 6, first: 0x82, payload: "\x00\xff", what: "a binary frame" },
  { rsv: 5, first: 0x89, payload: "ping", what: "a ping" },
  { rsv: 3, first: 0x8a, payload: "pong", what: "a pong" },
  { rsv: 7, first: 0x88, payload: "\x03\xe8", what: "a close frame" },
  { rsv: 4, first: 0x80, payload: "end", what: "a continuation frame", fragmented: true },
].map(({ rsv, first, payload, what, bytewise = false, fragmented = false }, i) => ({
  id: `3.${i + 1}`,
  title: `RSV bits ${rsv.toString(2).padStart(3, "0")} on ${what}${bytewise ? ", one byte per TCP write," : ""} fail the connection with 1002`,
  async run({ peer }) {
    const bad = peer.frame(first | (rsv << 4), payload);
    if (!fragmented) return violate(peer, bad, bytewise);
    await peer.send(peer.frame(0x01, "start "), bad);
    await peer.expectClose(1002);
  },
}));

const opcodeCases: Case[] = [];
for (const [group, opcodes, kind] of [[1, [3, 4, 5, 6, 7], "data"], [2, [0xb, 0xc, 0xd, 0xe, 0xf], "control"]] as const) {
  opcodes.forEach((opcode, i) => {
    const withPayload = i % 2 === 1;
    const bytewise = i === 2;
    opcodeCases.push({
      id: `4.${group}.${i + 1}`,
      title: `reserved ${kind} opcode ${opcode}${withPayload ? " with a payload" : ", empty"}${
        bytewise ? ", one byte per TCP write," : ""
      } fails the connection with 1002`,
      run: ({ peer }) => violate(peer, peer.frame(0x80 | opcode, withPayload ? "reserved" : ""), bytewise),
    });
  });
}

// 3.9-3.12 and 4.3.x: the violation in the same read as valid messages (tests/conformance/_one_read.ts).
suite("3.x reserved bits", [...rsvCases, ...oneReadRsvCases]);
suite("4.x reserved opcodes", [...opcodeCases, ...oneReadOpcodeCases]);
