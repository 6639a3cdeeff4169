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
 * Runs `task` in a later turn of the event loop, after the I/O of other
 * sockets: what a connection does after taking apart a bounded number of
 * frames, so one peer's flood cannot starve the rest.
 *
 * `setImmediate` where it lets I/O in (Node, Bun). Deno polls its sockets
 * only when its event loop runs out of ready work or every few dozen turns,
 * so a busy connection that yields with setImmediate still held other
 * clients' handshakes back by seconds; a 1 ms timer leaves it idle long
 * enough for that poll.
 *
 * @param task What to run.
 */
export const nextTurn: (task: () => void) => void = currentRuntime() === "deno"
  ? (task) => void setTimeout(task, 1)
  : typeof globalThis.setImmediate === "function"
  ? (task) => void globalThis.setImmediate(task)
  : (task) => void setTimeout(task, 0);

/**
 * Runs `task` as a task of its own (a macrotask), after every microtask
 * queued so far: what the WHATWG `WebSocket` of `./web` dispatches each event
 * in, so that promise callbacks started by one event's listeners run before
 * the next event ("queue a task" in the WebSockets Standard).
 *
 * `setImmediate` on every runtime that has it (all three do): `setTimeout(0)`
 * waits at least 1 ms on Node and Bun and 4 ms once nested on Deno, which
 * would cap a socket at a few hundred events a second.
 *
 * @param task What to run.
 */
export const queueTask: (task: () => void) => void = typeof globalThis.setImmediate === "function"
  ? (task) => void globalThis.setImmediate(task)
  : (task) => void setTimeout(task, 0);

/**
 * Opens a TCP or TLS connection with the running runtime's fastest socket
 * API: `Deno.connect` on Deno, `Bun.connect` on Bun, `node:net` on Node;
 * TLS through `node:tls` on all three.
 *
 * TLS goes through `node:tls` on Deno and Bun too: it measured faster for
 * small messages (`scripts/bench_transports.ts --tls`; figures in
 * docs/performance.md, "Transport choices"), and on Deno it is the only way
 * to honour `rejectUnauthorized: false` and to abort a stalled TLS
 * handshake: Deno's own TLS connection waits for the handshake to finish
 * before it closes, so a silent server would keep the socket open.
 *
 * @param options Host, port, TLS settings and an abort signal.
 * @returns The connected transport, not yet started.
 */
export async function dial(options: DialOptions): Promise<Transport> {
  if (options.tls === undefined) {
    switch (currentRuntime()) {
      case "deno": {
        const { dialDeno } = await import("./deno.ts");
        return dialDeno(options);
      }
      case "bun": {
        const { dialBun } = await import("./bun.ts");
        return dialBun(options);
      }
    }
  }
  const { dialNode } = await import("./node.ts");
  return dialNode(options);
}

/**
 * Listens with `Bun.listen` on Bun and `node:net` / `node:tls` on Node and
 * Deno (`Deno.listen` / `Deno.listenTls` on Deno only for `reusePort`, which
 * Deno's `node:net` lacks), and hands each accepted connection to `onAccept`.
 *
 * `Bun.listen` rather than Bun's `node:net`: it measured faster and leaner.
 * Deno's `node:net` rather than `Deno.listen`: an idle connection costs a
 * third less memory, since a `Deno.Conn` needs a pending `read` and its
 * buffer per connection (docs/performance.md, "Transport choices").
 *
 * @param options Address, port and TLS certificate.
 * @param onAccept Receives each connection as a transport, not yet started.
 * @returns The listener, once bound.
 */
export async function listen(options: ListenOptions, onAccept: AcceptHandler): Promise<Listener> {
  switch (currentRuntime()) {
    case "deno": {
      if (options.reusePort !== true) break;
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
