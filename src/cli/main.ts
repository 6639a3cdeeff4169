#!/usr/bin/env node
/**
 * The `streamsock` command line: a WebSocket client (`streamsock connect`)
 * and an echo or broadcast server (`streamsock serve`), for trying out
 * servers by hand and in scripts.
 *
 * It runs unchanged on the three runtimes: `npx streamsock`, `bunx streamsock`
 * and `deno run -A jsr:@streamsock/streamsock/cli`. It touches no runtime's
 * own API: arguments come from `node:util`'s `parseArgs`, input and output go
 * through `node:process`'s streams, and files are read with `node:fs`, all of
 * which Deno and Bun provide.
 *
 * ```sh
 * streamsock serve --port 8080 --broadcast
 * echo hello | streamsock connect ws://127.0.0.1:8080/ --verbose
 * ```
 *
 * Exit codes: 0 after a clean close (1000, 1001 or no status code) or
 * `--help`; 1 when the connection closed abnormally or with another code,
 * or the server could not listen; 2 for a usage error; 3 when the
 * connection could not be opened (DNS, TCP, TLS or the opening handshake).
 *
 * @module
 */

import process from "node:process";
import { err, EXIT_OK, EXIT_USAGE, flushed, out, UsageError } from "./common.ts";
import { runConnect } from "./connect.ts";
import { CONNECT_HELP, MAIN_HELP, SERVE_HELP } from "./help.ts";
import { runServe } from "./serve.ts";
import { VERSION } from "../version.ts";

/**
 * parseArgs' complaint in our words: its own text ("Unknown option '--x'.
 * To specify a positional argument starting with a '-', place it at the end
 * of the command after '--', as in '-- \"--x\"") differs between runtimes
 * and talks about its own syntax.
 */
function parseArgsMessage(error: Error): string {
  const unknown = /Unknown option '([^']+)'/.exec(error.message);
  if (unknown) return `unknown option ${unknown[1]}`;
  const missing = /Option '(-\w, )?(--[\w-]+)[^']*' argument missing/.exec(error.message);
  if (missing) return `${missing[2]} needs a value`;
  const notString = /Option '(-\w, )?(--[\w-]+)[^']*' (?:does not take an argument|argument is ambiguous)/.exec(error.message);
  if (notString) return `${notString[2]} takes no value`;
  return error.message.split(/\.\s/)[0];
}

/** Runs the command line with the given arguments and resolves with the exit code. */
async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  try {
    switch (command) {
      case "connect":
        return await runConnect(rest);
      case "serve":
        return await runServe(rest);
      case "-V":
      case "--version":
      case "version":
        out(`streamsock ${VERSION}`);
        return EXIT_OK;
      case undefined:
      case "help":
      case "-h":
      case "--help":
        if (rest[0] === "connect") out(CONNECT_HELP);
        else if (rest[0] === "serve") out(SERVE_HELP);
        else out(MAIN_HELP);
        return command === undefined ? EXIT_USAGE : EXIT_OK;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    }
  } catch (error) {
    // parseArgs reports unknown options and missing values as TypeErrors with an ERR_PARSE_ARGS_ code.
    const code = (error as { code?: string }).code ?? "";
    if (error instanceof UsageError || code.startsWith("ERR_PARSE_ARGS")) {
      const known = command === "serve" || command === "connect";
      const message = error instanceof UsageError ? error.message : parseArgsMessage(error as Error);
      const usage = known ? `${(command === "serve" ? SERVE_HELP : CONNECT_HELP).split("\n")[0]}; run` : "Run";
      err(`streamsock: ${message}\n${usage} "streamsock ${known ? `${command} ` : ""}--help" for all options.`);
      return EXIT_USAGE;
    }
    throw error;
  }
}

process.exitCode = await main(process.argv.slice(2));
await flushed();
process.exit();
