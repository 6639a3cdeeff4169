/**
 * Reading environment variables on every runtime, for the proxy variables
 * (`HTTPS_PROXY`, `NO_PROXY`...). On Deno a variable the program may not
 * read counts as unset: `connect` must never prompt for a permission.
 *
 * @module
 */

interface DenoEnvironment {
  env: { get(name: string): string | undefined };
  permissions: { querySync?(descriptor: { name: "env"; variable: string }): { state: string } };
}

/**
 * One environment variable's value.
 *
 * @param name The variable's name, as spelled.
 * @returns Its value, or undefined when unset or not readable.
 */
export function readEnvironment(name: string): string | undefined {
  const g = globalThis as { Deno?: DenoEnvironment; process?: { env?: Record<string, string | undefined> } };
  if (g.Deno !== undefined) {
    try {
      if (g.Deno.permissions.querySync?.({ name: "env", variable: name }).state !== "granted") return undefined;
      return g.Deno.env.get(name);
    } catch {
      return undefined;
    }
  }
  return g.process?.env?.[name];
}
