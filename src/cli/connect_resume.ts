/**
 * `streamsock connect --resume`: one durable topic over the
 * `streamsock.resume.v1` subprotocol, across reconnects. Every message of
 * the topic is printed once, in the log's order, gaps on stderr; each line
 * of stdin is published once, resent until the server acknowledged it.
 *
 * @module
 */

import process from "node:process";
import type { ConnectOptions } from "../client/options.ts";
import { reconnecting } from "../client/reconnecting.ts";
import { Message } from "../message.ts";
import {
  connectError,
  err,
  EXIT_CONNECT_FAILED,
  EXIT_OK,
  lines,
  printReceived,
  type ReceiveFormat,
  UsageError,
} from "./common.ts";

/** What `--resume` needs beyond connect's options. */
export interface ResumeFlags {
  topic: string;
  from: "start" | "now";
  format: ReceiveFormat;
  binary: boolean;
  wait: number;
}

export async function connectResuming(url: string, options: ConnectOptions, flags: ResumeFlags): Promise<number> {
  const stop = new AbortController();
  process.once("SIGINT", () => stop.abort());
  let lastReceived = Date.now();
  const client = reconnecting(url, {
    ...options,
    signal: stop.signal,
    resume: { onConnect: (ws) => err(`connected to ${url} (protocol: ${ws.protocol})`) },
    onAttempt: ({ attempt, delay, error, closed }) => {
      if (attempt === 1 && error === undefined && closed === undefined) return;
      const why = error === undefined ? "" : `: ${connectError(url, error).replace(/^streamsock: /, "")}`;
      err(`reconnecting in ${Math.round(delay)} ms (attempt ${attempt})${why}`);
    },
  });
  client.subscribe(flags.topic, { from: flags.from });
  const printing = (async () => {
    for await (const event of client) {
      lastReceived = Date.now();
      if (event.type === "message") {
        printReceived(new Message(event.data, typeof event.data === "string" ? "text" : "binary"), flags.format);
      } else if (event.type === "gap") {
        const range = event.to === null ? `${event.from} and after` : `${event.from}-${event.to}`;
        const why = event.reason === "epoch" ? "the log was lost (new epoch)" : `${event.reason} from the log`;
        err(`gap on ${event.topic}: messages ${range} of epoch ${event.epoch} are gone: ${why}`);
      } else {
        err(`streamsock: the server refused to subscribe to ${event.topic}: ${event.reason}`);
        stop.abort();
      }
    }
  })();
  const publishes: Promise<unknown>[] = [];
  for await (const line of lines(process.stdin)) {
    if (stop.signal.aborted) break;
    const text = new TextDecoder().decode(line);
    publishes.push(client.publish(flags.topic, flags.binary ? line : text).catch((error) => {
      err(`streamsock: not published: ${JSON.stringify(text)}: ${(error as Error).message}`);
    }));
  }
  // Every line is acknowledged (stored), then replies may still come: close after --wait of quiet.
  await Promise.race([Promise.all(publishes), client.done.catch(() => {})]);
  for (let quiet = Date.now() - lastReceived; !stop.signal.aborted && quiet < flags.wait; quiet = Date.now() - lastReceived) {
    await new Promise((resolve) => setTimeout(resolve, Math.min(flags.wait - quiet, 50)));
  }
  stop.abort();
  try {
    await client.done;
  } catch (error) {
    if (error instanceof TypeError && !(error as { code?: string }).code) throw new UsageError(error.message);
    err(connectError(url, error));
    return EXIT_CONNECT_FAILED;
  }
  await printing;
  return EXIT_OK;
}
