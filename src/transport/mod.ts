/**
 * The one place that knows which runtime is running and picks its socket
 * shim. The shims are loaded with dynamic `import()`, so a runtime only ever
 * loads its own: Node (and the npm build's import graph) never evaluates the
 * Deno or Bun files.
 *
 * @module
 */

import type { AcceptHandler, DialOptions, Listener, ListenOptions, Transport } from "./types.ts";

/** The runtimes streamsock has a socket shim for. */
export type Runtime = "deno" | "bun" | "node";

/**
 * The running runtime. Deno and Bun both provide `process` for Node
 * compatibility, so their own globals are checked first.
 *
 * @returns `"deno"`, `"bun"` or `"node"`.
 */
export function currentRuntime(): Runtime {
  const g = globalThis as { Deno?: { version?: { deno?: string } }; Bun?: { version?: string } };
  if (typeof g.Deno?.version?.deno === "string") return "deno";
  if (typeof g.Bun?.version === "string") return "bun";
  return "node";
}

/**
 * Opens a TCP or TLS connection with the running runtime's fastest socket
 * API: `Deno.connect`/`Deno.startTls` on Deno, `Bun.connect` on Bun,
 * `node:net`/`node:tls` on Node. On Deno, TLS settings its native API cannot
 * express (`rejectUnauthorized: false`, a server name together with a client
 * certificate) go through Deno's `node:tls` instead.
 *
 * @param options Host, port, TLS settings and an abort signal.
 * @returns The connected transport, not yet started.
 */
export async function dial(options: DialOptions): Promise<Transport> {
  switch (currentRuntime()) {
    case "deno": {
      const { dialDeno, denoSupportsTls } = await import("./deno.ts");
      if (denoSupportsTls(options.tls)) return dialDeno(options);
      break;
    }
    case "bun": {
      const { dialBun } = await import("./bun.ts");
      return dialBun(options);
    }
  }
  const { dialNode } = await import("./node.ts");
  return dialNode(options);
}

/**
 * Listens with the running runtime's own listener: `Deno.listen` /
 * `Deno.listenTls` on Deno, `Bun.listen` on Bun, `node:net` / `node:tls` on
 * Node, and hands each accepted connection to `onAccept`.
 *
 * @param options Address, port and TLS certificate.
 * @param onAccept Receives each connection as a transport, not yet started.
 * @returns The listener, once bound.
 */
export async function listen(options: ListenOptions, onAccept: AcceptHandler): Promise<Listener> {
  switch (currentRuntime()) {
    case "deno": {
      const { listenDeno } = await import("./deno.ts");
      return listenDeno(options, onAccept);
    }
    case "bun": {
      const { listenBun } = await import("./bun.ts");
      return listenBun(options, onAccept);
    }
  }
  const { listenNode } = await import("./node.ts");
  return listenNode(options, onAccept);
}
