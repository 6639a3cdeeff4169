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

/** A close frame for a protocol failure, with its reason taken out. */
const failureCloseReason: Deviation = {
  reason: "A close frame sent because the peer broke the protocol (1002, 1007, 1009) carries a reason naming the violation; ws sends the code alone",
  normalize: (logs) =>
    mapEntries(logs, (entry) =>
      entry[0] === "frame" && entry[1] === 8 && typeof entry[4] === "string" && /^close 10(02|07|09) /.test(entry[4])
        ? [...entry.slice(0, 4), (entry[4] as string).replace(/ ".*"$/, "")]
        : entry),
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

const LISTED: [RegExp, Deviation][] = [
  [/^new WebSocket with protocolVersion 12 throws$/, versionList],
  [/^bad frame from the peer: a ping of 126 bytes$/, controlLength],
  [/^bad frame from the peer: /, failureCloseReason],
  [/^subprotocols: /, protocolList],
  [/^handleProtocols chooses /, protocolList],
  [/^maxPayload on the client: /, failureCloseReason],
];

export function deviationOf(name: string): Deviation | undefined {
  return LISTED.find(([pattern]) => pattern.test(name))?.[1];
}

/** The listed reasons, for the count in the report. */
export const DEVIATION_PATTERNS: readonly RegExp[] = LISTED.map(([pattern]) => pattern);
