// Where streamsock/ws deliberately observes something else than ws, scenario
// by scenario, with the reason (the README's "Coming from `ws`" table lists
// the same). A scenario listed here must still be equal once the listed
// difference is taken out.
import type { Logs } from "./_runner.ts";

export interface Deviation {
  reason: string;
  normalize(logs: Logs): Logs;
}

/** Maps every log entry of every endpoint. */
function mapEntries(logs: Logs, map: (entry: unknown[]) => unknown[]): Logs {
  return Object.fromEntries(Object.entries(logs).map(([endpoint, entries]) => [endpoint, entries.map(map)]));
}

/**
 * A close frame for a protocol failure, with its reason taken out, and the
 * reason a ws peer that echoes it reports in its close event.
 */
const failureCloseReason: Deviation = {
  reason: "A close frame sent because the peer broke the protocol (1002, 1007, 1009) carries a reason naming the violation; ws sends the code alone",
  normalize: (logs) =>
    mapEntries(logs, (entry) => {
      if (entry[0] === "frame" && entry[1] === 8 && typeof entry[4] === "string" && /^close 10(02|07|09) /.test(entry[4])) {
        return [...entry.slice(0, 4), (entry[4] as string).replace(/ ".*"$/, "")];
      }
      if (entry[0] === "close" && (entry[1] === 1002 || entry[1] === 1007 || entry[1] === 1009)) return [entry[0], entry[1], ""];
      return entry;
    }),
};

/** Both of the above, and the number ws's message names for an oversized control frame. */
const controlLength: Deviation = {
  reason: failureCloseReason.reason +
    "; for a control frame over 125 bytes ws's message names the announced length, ours does not",
  normalize: (logs) =>
    failureCloseReason.normalize(mapEntries(logs, (entry) =>
      entry.map((item) => typeof item === "string" ? item.replace(/invalid payload length \d+ /, "invalid payload length ") : item)
    )),
};

/** The subprotocols a client offers, listed as "a, b" (ws: "a,b"). */
const protocolList: Deviation = {
  reason: "The client's Sec-WebSocket-Protocol lists the subprotocols separated by \", \" (ws: \",\"); RFC 9110 §5.6.1 allows both",
  normalize: (logs) =>
    mapEntries(logs, (entry) =>
      entry.map((item) =>
        typeof item === "string" && item.startsWith("sec-websocket-protocol: ") ? item.replace(/, /g, ",") : item
      )),
};

/** ws's message for an unsupported protocolVersion lists 8, which streamsock refuses. */
const versionList: Deviation = {
  reason: "protocolVersion 8 (hybi-08) is refused: the RangeError lists 13 alone",
  normalize: (logs) =>
    mapEntries(logs, (entry) => entry.map((item) => typeof item === "string" ? item.replace("versions: 8, 13", "versions: 13") : item)),
};

/** A 64-bit length with its top bit set: the close code, with the reason taken out. */
const lengthMsb: Deviation = {
  reason: failureCloseReason.reason +
    "; a 64-bit frame length with its most significant bit set is a protocol error (RFC 6455 §5.2: the bit MUST be 0), closed with 1002; ws sends 1009",
  normalize: (logs) =>
    failureCloseReason.normalize(mapEntries(logs, (entry) =>
      entry[0] === "frame" && entry[1] === 8 && typeof entry[4] === "string"
        ? [...entry.slice(0, 4), (entry[4] as string).replace(/^close 1002\b/, "close 1009")]
        : entry
    )),
};

/**
 * Frames sent in one turn of the event loop go to the socket together, at
 * the turn's end: until then bufferedAmount counts them.
 */
const sameTurnBuffered: Deviation = {
  reason:
    "The frames sent in one turn of the event loop are written to the socket together at its end (one write rather than one per message); until then bufferedAmount counts them, where ws's is already back to 0",
  normalize: (logs) =>
    mapEntries(logs, (entry) =>
      entry[0] === "bufferedAmount in the same turn" && typeof entry[1] === "number" ? [entry[0], "counted or not"] : entry
    ),
};

/** What an empty fragment of a compressed message looks like on the wire. */
const emptyDeflateFragment: Deviation = {
  reason:
    "With permessage-deflate, an empty fragment of a message is sent with an empty payload; ws sends zlib's empty sync-flush block (5 bytes, or 1 on a message's last frame). Peers inflate both to nothing: only the frame bytes differ",
  normalize: (logs) =>
    mapEntries(logs, (entry) =>
      entry[0] === "frame" && (entry[4] === "buf:000000ffff" || entry[4] === "deflated:5:eb6ab504da0b")
        ? [...entry.slice(0, 4), entry[4] === "buf:000000ffff" ? "buf:" : "deflated:0:e3b0c44298fc"]
        : entry
    ),
};

/** A message longer than the sender's own maxPayload: its frames, merged into one. */
const sentInFrames: Deviation = {
  reason:
    "A message longer than the sending socket's own maxPayload goes out in frames of at most maxPayload bytes (streamsock's frame limit bounds what a connection sends as well as what it accepts); ws sends one frame. The peer's message is the same; a frame-level reader (binaryType \"fragments\") sees the frames",
  normalize: (logs) =>
    Object.fromEntries(Object.entries(logs).map(([endpoint, entries]) => {
      const merged: unknown[][] = [];
      for (const entry of entries) {
        const last = merged.at(-1);
        if (
          entry[0] === "frame" && entry[1] === 0 && last?.[0] === "frame" && last[2] === false &&
          typeof last[4] === "string" && typeof entry[4] === "string"
        ) {
          merged[merged.length - 1] = ["frame", last[1], entry[2], last[3], last[4] + (entry[4] as string).replace(/^buf:/, "")];
          continue;
        }
        merged.push(
          entry[0] === "message" && typeof entry[1] === "string"
            ? [entry[0], entry[1].replace(/,buf:/g, ""), ...entry.slice(2)]
            : entry,
        );
      }
      return [endpoint, merged];
    })),
};

const LISTED: [RegExp, Deviation][] = [
  [/^maxPayload on the sender: a longer message is still sent$/, sentInFrames],
  [/^binaryType \w+: a message in several frames, permessage-deflate$/, emptyDeflateFragment],
  [/^bad frame from the peer: a 64-bit length with its top bit set$/, lengthMsb],
  [/^bufferedAmount in the turn of a send, and after it$/, sameTurnBuffered],
  [/^new WebSocket with protocolVersion 12 throws$/, versionList],
  [/^bad frame from the peer: a ping of 126 bytes$/, controlLength],
  [/^bad frame from the peer: /, failureCloseReason],
  [/^subprotocols: /, protocolList],
  [/^handleProtocols chooses /, protocolList],
  [/^maxPayload on the client: /, failureCloseReason],
];

/** The runtime the suite runs on. */
const RUNTIME = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";

/**
 * Where the real ws itself observes something else on a runtime than on
 * Node, because of that runtime's node:http or node:net (not streamsock's
 * doing: streamsock/ws behaves as ws does on Node). The scenario is still
 * compared, with the runtime's part taken out of both logs.
 */
const RUNTIME_QUIRKS: [runtime: string, pattern: RegExp, quirk: Deviation][] = [
  ["deno", /^client handshake: 101 without Upgrade, unexpected-response listened to$/, {
    reason:
      "Deno's node:http fails a 101 without Upgrade with HPE_PAUSED_UPGRADE right after ws's unexpected-response, so ws reports that parse error (and closes) before the body ends; compared: the unexpected-response, the body and the close code",
    normalize: (logs) =>
      Object.fromEntries(Object.entries(logs).map(([endpoint, entries]) => {
        const kept = entries.filter((entry) => entry[0] !== "error");
        return [endpoint, [...kept.filter((entry) => entry[0] !== "close"), ...kept.filter((entry) => entry[0] === "close")]];
      })),
  }],
];

export function deviationOf(name: string): Deviation | undefined {
  const listed = LISTED.find(([pattern]) => pattern.test(name))?.[1];
  const quirk = RUNTIME_QUIRKS.find(([runtime, pattern]) => runtime === RUNTIME && pattern.test(name))?.[2];
  if (quirk === undefined) return listed;
  if (listed === undefined) return quirk;
  return { reason: `${listed.reason}; ${quirk.reason}`, normalize: (logs) => quirk.normalize(listed.normalize(logs)) };
}
