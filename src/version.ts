/**
 * The release's version, as `streamsock --version` prints it. Kept equal to
 * deno.json's `version` (tests/cli_daily.test.ts checks), which the JSR and
 * npm builds publish.
 *
 * @module
 */

/** The version of this release. */
export const VERSION = "0.1.0";
