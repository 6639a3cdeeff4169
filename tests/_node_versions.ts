// Paths to the Node 22 and 24 binaries that `npm test`'s pretest installs into
// tests/node-versions/ (kept out of the root node_modules/.bin, where their
// `node` bin would shadow the machine's Node in npm scripts).
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** The Node binary of the given major version, or null (and a loud message) when it is not installed. */
export function nodeBinary(major: 22 | 24): string | null {
  const path = fileURLToPath(new URL(`./node-versions/node_modules/node${major}/bin/node`, import.meta.url));
  if (existsSync(path)) return path;
  console.warn(
    `SKIPPING: Node ${major} is not installed at ${path}; run \`npm install --prefix tests/node-versions\` (npm test does).`,
  );
  return null;
}
