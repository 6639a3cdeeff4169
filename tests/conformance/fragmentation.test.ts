// RFC 6455 §5.4 fragmentation (Autobahn category 5): fragmented messages are
// reassembled, control frames may come between fragments but may not be
// fragmented themselves, and a continuation needs a message in progress while
// a new data frame may not start inside one; all violations fail with 1002.
import { randomBytes } from "../_helpers.ts";
import { oneReadContinuationCases } from "./_one_read.ts";
import { type Case, type Peer, suite } from "./_wire.ts";

const TEXT = 0x81;
const BINARY = 0x82;
const PING = 0x89;
const PONG = 0x8a;

async function send(peer: Peer, bytewise: boolean, frames: Uint8Array[]): Promise<void> {
  await (bytewise ? peer.sendBytewise(...frames) : peer.send(...frames));
}

const cases: Case[] = [
  {
    id: "5.1",
    title: "a ping with FIN clear (a fragmented control frame) fails the connection with 1002",
    async run({ peer }) {
      await peer.send(peer.frame(0x09, "frag"), peer.frame(0x80, "ment"));
      await peer.expectClose(1002);
    },
  },
  {
    id: "5.2",
    title: "a pong with FIN clear fails the connection with 1002",
    async run({ peer }) {
      await peer.send(peer.frame(0x0a, "frag"), peer.frame(0x80, "ment"));
      await peer.expectClose(1002);
    },
  },
  {
    id: "5.3",
    title: "a close frame with FIN clear fails the connection with 1002",
    async run({ peer }) {
      await peer.send(peer.frame(0x08, [0x03, 0xe8]));
      await peer.expectClose(1002);
    },
  },
];

for (const bytewise of [false, true]) {
  const how = bytewise ? ", one byte per TCP write" : "";
  const n = bytewise ? 1 : 0;
  cases.push(
    {
      id: `5.${4 + n}`,
      title: `a text message in two fragments${how} is echoed whole`,
      async run({ peer }) {
        await send(peer, bytewise, [peer.frame(0x01, "fragment1"), peer.frame(0x80, "fragment2")]);
        await peer.expect(TEXT, "fragment1fragment2", "echo");
      },
    },
    {
      id: `5.${6 + n}`,
      title: `a ping between two text fragments${how} is answered first, then the message is echoed`,
      async run({ peer }) {
        await send(peer, bytewise, [peer.frame(0x01, "fragment1"), peer.frame(PING, "between"), peer.frame(0x80, "fragment2")]);
        await peer.expect(PONG, "between", "pong");
        await peer.expect(TEXT, "fragment1fragment2", "echo");
      },
    },
    {
      id: `5.${8 + n}`,
      title: `a continuation with FIN set and no message in progress${how} fails the connection with 1002`,
      async run({ peer }) {
        await send(peer, bytewise, [peer.frame(0x80, "orphan"), peer.frame(TEXT, "never echoed")]);
        await peer.expectClose(1002);
      },
    },
    {
      id: `5.${10 + n}`,
      title: `a continuation with FIN clear and no message in progress${how} fails the connection with 1002`,
      async run({ peer }) {
        await send(peer, bytewise, [peer.frame(0x00, "orphan"), peer.frame(0x80, "end")]);
        await peer.expectClose(1002);
      },
    },
  );
}

cases.push(
  {
    id: "5.12",
    title: "a continuation after a complete fragmented message fails the connection with 1002",
    async run({ peer }) {
      await peer.send(peer.frame(0x01, "a"), peer.frame(0x00, "b"), peer.frame(0x80, "c"));
      await peer.expect(TEXT, "abc", "echo of the complete message");
      await peer.send(peer.frame(0x80, "d"));
      await peer.expectClose(1002);
    },
  },
  {
    id: "5.13",
    title: "a new text frame inside a fragmented text message fails the connection with 1002",
    async run({ peer }) {
      await peer.send(peer.frame(0x01, "start"), peer.frame(TEXT, "intruder"));
      await peer.expectClose(1002);
    },
  },
  {
    id: "5.14",
    title: "a new binary frame (FIN clear) inside a fragmented text message fails the connection with 1002",
    async run({ peer }) {
      await peer.send(peer.frame(0x01, "start"), peer.frame(0x02, [1, 2]));
      await peer.expectClose(1002);
    },
  },
  {
    id: "5.15",
    title: "a text message in five fragments with two pings and a pong between them is echoed whole after two pongs",
    async run({ peer }) {
      await peer.send(
        peer.frame(0x01, "one "),
        peer.frame(PING, "p1"),
        peer.frame(0x00, "two "),
        peer.frame(PONG, "unsolicited"),
        peer.frame(0x00, "three "),
        peer.frame(PING, "p2"),
        peer.frame(0x00, "four "),
        peer.frame(0x80, "five"),
      );
      await peer.expect(PONG, "p1", "first pong");
      await peer.expect(PONG, "p2", "second pong");
      await peer.expect(TEXT, "one two three four five", "echo");
    },
  },
  {
    id: "5.16",
    title: "a binary message of 200 one-byte fragments is echoed whole",
    async run({ peer }) {
      const payload = randomBytes(200, 516);
      const frames = Array.from(payload, (b, i) => peer.frame(i === 0 ? 0x02 : i === 199 ? 0x80 : 0x00, [b]));
      await peer.send(...frames);
      await peer.expect(BINARY, payload, "echo");
    },
  },
  {
    id: "5.17",
    title: "a text message with empty first, middle and final fragments is echoed whole",
    async run({ peer }) {
      await peer.send(peer.frame(0x01, ""), peer.frame(0x00, "middle"), peer.frame(0x00, ""), peer.frame(0x80, ""));
      await peer.expect(TEXT, "middle", "echo");
    },
  },
  {
    id: "5.18",
    title: "a close between fragments is echoed and the unfinished message is dropped",
    async run({ peer, ws }) {
      await peer.send(peer.frame(0x01, "unfinished"), peer.frame(0x88, [0x03, 0xe8]), peer.frame(0x80, " never"));
      await peer.expect(0x88, [0x03, 0xe8], "close echo");
      if (ws === undefined) return peer.expectEnd();
      peer.wire.end();
      await ws.closed;
    },
  },
);

// 5.19 and 5.20: an orphan continuation in the same read as a valid message (tests/conformance/_one_read.ts).
suite("5.x fragmentation", [...cases, ...oneReadContinuationCases]);
