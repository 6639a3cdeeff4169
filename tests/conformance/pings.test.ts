// RFC 6455 §5.5.2-3 pings and pongs (Autobahn category 2): every ping payload
// from 0 to 125 bytes is answered by a pong with the same bytes, 126 bytes
// fail the connection, unsolicited pongs are ignored, and pings are answered
// in order, also between the fragments of a message.
import { randomBytes } from "../_helpers.ts";
import { type Case, suite } from "./_wire.ts";

const PING = 0x89;
const PONG = 0x8a;
const TEXT = 0x81;

const cases: Case[] = [
  {
    id: "2.1",
    title: "a ping with an empty payload is answered by an empty pong",
    async run({ peer }) {
      await peer.send(peer.frame(PING, []));
      await peer.expect(PONG, [], "pong");
    },
  },
  {
    id: "2.2",
    title: "pings of every payload length 0..125 are answered by pongs with the same bytes",
    async run({ peer }) {
      for (let length = 0; length <= 125; length++) {
        const payload = randomBytes(length, 200 + length);
        await peer.send(peer.frame(PING, payload));
        await peer.expect(PONG, payload, `pong to the ${length}-byte ping`);
      }
    },
  },
  {
    id: "2.3",
    title: "a ping with a 125-byte binary payload, one byte per TCP write, is answered",
    async run({ peer }) {
      const payload = randomBytes(125, 23);
      await peer.sendBytewise(peer.frame(PING, payload));
      await peer.expect(PONG, payload, "pong");
    },
  },
  {
    id: "2.4",
    title: "a ping with a 126-byte payload fails the connection with 1002",
    async run({ peer }) {
      await peer.send(peer.frame(PING, randomBytes(126, 24)));
      await peer.expectClose(1002);
    },
  },
  {
    id: "2.5",
    title: "a ping whose 5-byte payload is announced with a 16-bit length fails the connection with 1002",
    async run({ peer }) {
      const frame = peer.frame(PING, new Uint8Array(126)).slice(0, 4 + (peer.side === "server" ? 4 : 0) + 5);
      frame[2] = 0;
      frame[3] = 5;
      await peer.send(frame);
      await peer.expectClose(1002);
    },
  },
  {
    id: "2.6",
    title: "an unsolicited empty pong is ignored",
    async run({ peer }) {
      await peer.send(peer.frame(PONG, []), peer.frame(TEXT, "after"));
      await peer.expect(TEXT, "after", "the echo, with nothing before it");
    },
  },
  {
    id: "2.7",
    title: "an unsolicited pong with a payload is ignored",
    async run({ peer }) {
      await peer.send(peer.frame(PONG, "unsolicited"), peer.frame(TEXT, "after"));
      await peer.expect(TEXT, "after", "the echo, with nothing before it");
    },
  },
  {
    id: "2.8",
    title: "an unsolicited pong followed by a ping: only the ping is answered",
    async run({ peer }) {
      await peer.send(peer.frame(PONG, "unsolicited"), peer.frame(PING, "solicited"));
      await peer.expect(PONG, "solicited", "pong to the ping");
      await peer.send(peer.frame(TEXT, "after"));
      await peer.expect(TEXT, "after", "echo");
    },
  },
  {
    id: "2.9",
    title: "ten pings in one TCP write are answered by ten pongs in order",
    async run({ peer }) {
      const pings = Array.from({ length: 10 }, (_, i) => peer.frame(PING, `ping ${i}`));
      const all = new Uint8Array(pings.reduce((n, p) => n + p.length, 0));
      let at = 0;
      for (const ping of pings) {
        all.set(ping, at);
        at += ping.length;
      }
      await peer.send(all);
      for (let i = 0; i < 10; i++) await peer.expect(PONG, `ping ${i}`, `pong ${i}`);
    },
  },
  {
    id: "2.10",
    title: "ten pings, one byte per TCP write, are answered by ten pongs in order",
    async run({ peer }) {
      await peer.sendBytewise(...Array.from({ length: 10 }, (_, i) => peer.frame(PING, `ping ${i}`)));
      for (let i = 0; i < 10; i++) await peer.expect(PONG, `ping ${i}`, `pong ${i}`);
    },
  },
  {
    id: "2.11",
    title: "pings between the fragments of a text message are answered at once, then the message is echoed",
    async run({ peer }) {
      await peer.send(peer.frame(0x01, "frag"), peer.frame(PING, "one"));
      await peer.expect(PONG, "one", "pong between fragments");
      await peer.send(peer.frame(0x00, "men"), peer.frame(PING, "two"));
      await peer.expect(PONG, "two", "second pong between fragments");
      await peer.send(peer.frame(0x80, "ted ✓"));
      await peer.expect(TEXT, "fragmented ✓", "echo of the reassembled message");
    },
  },
];

suite("2.x pings and pongs", cases);
