// A violation that arrives in the SAME TCP read as valid messages before it:
// the shape that put a data frame after our own close frame (RFC 6455
// §5.5.1: "After sending a Close frame, the endpoint MUST NOT send any further
// data frames"). The valid message reaches the application, which answers it
// while the connection is already failing; the answer must be refused. The
// side under test may echo what came before the violation (Autobahn's
// "non-strict") or not, but after its close frame nothing may follow.
import { concatBytes } from "../../src/codec/pool.ts";
import type { Case, Peer } from "./_wire.ts";

const VALID = "Hello, world!";

/** The valid messages, the bad frame and a ping (never answered) in one TCP write; then the close and silence. */
async function inOneRead(peer: Peer, valid: string[], bad: Uint8Array): Promise<void> {
  const frames = valid.map((text) => peer.frame(0x81, text));
  await peer.send(concatBytes([...frames, bad, peer.frame(0x89, "never answered")]));
  await peer.expectCloseAfterEchoes(1002, valid);
}

const SAME_READ = "in the same TCP read as a valid text message";

/** 3.x: RSV bits no extension defines (RSV2 and RSV3 are undefined under permessage-deflate too). */
export const oneReadRsvCases: Case[] = [
  {
    id: "3.9",
    title: `RSV2 on a text frame ${SAME_READ} (81 0d, a1 0d): 1002, and no echo after the close`,
    run: ({ peer }) => inOneRead(peer, [VALID], peer.frame(0xa1, VALID)),
  },
  {
    id: "3.10",
    title: `RSV3 on a binary frame ${SAME_READ}: 1002, and no echo after the close`,
    run: ({ peer }) => inOneRead(peer, [VALID], peer.frame(0x92, [1, 2, 3])),
  },
  {
    id: "3.11",
    title: `RSV1 on a ping ${SAME_READ}: 1002, and no echo after the close`,
    run: ({ peer }) => inOneRead(peer, [VALID], peer.frame(0xc9, "ping")),
  },
  {
    id: "3.12",
    title: "RSV2+RSV3 on a text frame in the same TCP read as two valid text messages: 1002, no echo after the close",
    run: ({ peer }) => inOneRead(peer, ["first", "second"], peer.frame(0xb1, "bad")),
  },
];

/** 4.x: reserved opcodes, data (3-7) and control (0xb-0xf). */
export const oneReadOpcodeCases: Case[] = [[3, ""], [7, "reserved"], [0xb, ""], [0xf, "reserved"]].map((
  [opcode, payload],
  i,
) => ({
  id: `4.3.${i + 1}`,
  title: `reserved ${(opcode as number) < 8 ? "data" : "control"} opcode ${opcode}${
    payload === "" ? "" : " with a payload"
  } ${SAME_READ}: 1002, and no echo after the close`,
  run: ({ peer }) => inOneRead(peer, [VALID], peer.frame(0x80 | (opcode as number), payload as string)),
}));

/** 5.x: a continuation frame with no message to continue. */
export const oneReadContinuationCases: Case[] = [
  {
    id: "5.19",
    title: `a continuation with FIN set and nothing to continue ${SAME_READ}: 1002, and no echo after the close`,
    run: ({ peer }) => inOneRead(peer, [VALID], peer.frame(0x80, "orphan")),
  },
  {
    id: "5.20",
    title: `a continuation with FIN clear and nothing to continue ${SAME_READ}: 1002, and no echo after the close`,
    run: ({ peer }) => inOneRead(peer, [VALID], peer.frame(0x00, "orphan")),
  },
];

/** Every case above. */
export const oneReadCases: Case[] = [...oneReadRsvCases, ...oneReadOpcodeCases, ...oneReadContinuationCases];
