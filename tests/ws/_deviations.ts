// Where streamsock/ws deliberately observes something else than ws, scenario
// by scenario, with the reason (the README's "Coming from `ws`" table lists
// the same). A scenario listed here must still be equal once the listed
// difference is taken out.
import type { Logs } from "./_runner.ts";

export interface Deviation {
  reason: string;
  normalize(logs: Logs): Logs;
}

const LISTED: [RegExp, Deviation][] = [];

export function deviationOf(name: string): Deviation | undefined {
  return LISTED.find(([pattern]) => pattern.test(name))?.[1];
}
