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

const LISTED: [RegExp, Deviation][] = [
  [/^bad frame from the peer: /, failureCloseReason],
  [/^maxPayload on the client: /, failureCloseReason],
];

export function deviationOf(name: string): Deviation | undefined {
  return LISTED.find(([pattern]) => pattern.test(name))?.[1];
}

/** The listed reasons, for the count in the report. */
export const DEVIATION_PATTERNS: readonly RegExp[] = LISTED.map(([pattern]) => pattern);
