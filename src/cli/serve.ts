/**
 * `streamsock serve`: an echo or broadcast server for trying clients out,
 * with topics spanning workers through Redis.
 *
 * @module
 */

import process from "node:process";
import { parseArgs } from "node:util";
import { Message } from "../message.ts";
import { RESUME_PROTOCOL } from "../pubsub/resume_protocol.ts";
import { requestHandler } from "../server/request_handler.ts";
import { serve } from "../server/serve.ts";
import type { WebSocketConnection } from "../connection/connection.ts";
import {
  describeFrame,
  describeMessage,
  err,
  EXIT_CLOSED_ABNORMALLY,
  EXIT_OK,
  list,
  out,
  parseDuration,
  parsePort,
  parseSize,
  readPem,
  UsageError,
} from "./common.ts";
import { SERVE_HELP } from "./help.ts";

export async function runServe(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      port: { type: "string", default: "8080" },
      host: { type: "string", default: "127.0.0.1" },
      echo: { type: "boolean" },
      broadcast: { type: "boolean" },
      cert: { type: "string" },
      key: { type: "string" },
      protocol: { type: "string", short: "p", multiple: true },
      "max-frame-size": { type: "string" },
      verbose: { type: "boolean", short: "v" },
      help: { type: "boolean", short: "h" },
      // Topics and scale-out (issue 16): see src/cli/broadcast.ts.
      redis: { type: "string" },
      workers: { type: "string" },
      "reuse-port": { type: "boolean" },
      // Durable rooms (issue 30): see docs/resume-protocol.md.
      "max-len": { type: "string" },
      "max-age": { type: "string" },
      metrics: { type: "boolean" },
    },
  });
  if (values.help) {
    out(SERVE_HELP);
    return EXIT_OK;
  }
  if (positionals.length > 0) throw new UsageError(`serve takes no arguments, only options (got ${positionals[0]})`);
  if (values.echo && values.broadcast) throw new UsageError("--echo and --broadcast exclude each other");
  if ((values.cert === undefined) !== (values.key === undefined)) throw new UsageError("--cert and --key go together");
  const port = parsePort(values.port);
  const cert = await readPem(values.cert, "--cert");
  const key = await readPem(values.key, "--key");
  const protocols = list(values.protocol);
  const maxFrameSize = values["max-frame-size"] === undefined
    ? undefined
    : parseSize(values["max-frame-size"], "--max-frame-size");
  const broadcast = values.broadcast === true;
  if ((values.redis !== undefined || values.workers !== undefined) && !broadcast) {
    throw new UsageError("--redis and --workers go with --broadcast");
  }
  if ((values["max-len"] !== undefined || values["max-age"] !== undefined) && !broadcast) {
    throw new UsageError("--max-len and --max-age go with --broadcast");
  }
  const maxLen = values["max-len"] === undefined ? 1000 : Number(values["max-len"]);
  if (!Number.isSafeInteger(maxLen) || maxLen < 0) throw new UsageError(`--max-len expects a count of messages, not ${values["max-len"]}`);
  const maxAge = values["max-age"] === undefined ? 0 : parseDuration(values["max-age"], "--max-age");
  const workers = values.workers === undefined ? 1 : Number(values.workers);
  if (!Number.isInteger(workers) || workers < 1) throw new UsageError(`--workers expects a count, not ${values.workers}`);
  if (workers > 1) {
    if (values.redis === undefined) throw new UsageError("--workers needs --redis: the workers' rooms meet there");
    if (port === 0) throw new UsageError("--workers needs a fixed --port to share");
    const { runWorkers } = await import("./broadcast.ts");
    const workerArgs = args.filter((arg, i) => arg !== "--workers" && args[i - 1] !== "--workers" && !arg.startsWith("--workers="));
    return await runWorkers(workers, ["serve", ...workerArgs, "--reuse-port"]);
  }
  // Loaded only when asked for: the redis package is an optional peer dependency.
  const backplane = values.redis === undefined
    ? undefined
    : new (await import("../pubsub/redis.ts")).RedisBackplane({
      url: values.redis,
      onError: (error) => err(`streamsock: redis: ${(error as Error)?.message ?? error}`),
    });
  const page = broadcast ? (await import("./broadcast.ts")).BROADCAST_PAGE : undefined;
  const resumeModule = broadcast ? await import("./resume_browser.ts") : undefined;
  // Every room is durable unless --max-len 0: resuming clients and the chat page lose no line.
  const durable = broadcast && maxLen > 0 ? { prefix: "", maxLen, maxAge } : undefined;

  let next = 1;
  // Connection numbers for the trace, which starts before onSocket runs.
  const ids = new WeakMap<object, string>();
  const idOf = (request: object) => {
    let id = ids.get(request);
    if (id === undefined) ids.set(request, id = `[#${next++}]`);
    return id;
  };
  const onSocket = async (ws: WebSocketConnection, request: { url: string; remoteAddress?: string }) => {
    const id = idOf(request);
    out(`${id} open from ${request.remoteAddress ?? "?"}: GET ${request.url}${ws.protocol === null ? "" : ` (protocol: ${ws.protocol})`}`);
    if (broadcast && ws.protocol === RESUME_PROTOCOL) {
      // Topics are named in the subprotocol's frames, not by the URL.
      await server.hub.resume(ws, {
        onPublish: (topic, data) => out(`${id} < ${describeMessage(new Message(data, typeof data === "string" ? "text" : "binary"))} (to ${topic})`),
      });
      const info = await ws.closed;
      out(`${id} closed ${info.code}${info.reason === "" ? "" : ` ${info.reason}`}${info.wasClean ? "" : " (abnormal)"}`);
      return;
    }
    const topic = new URL(request.url, "ws://x").pathname;
    if (broadcast) ws.subscribe(topic);
    try {
      for await (const msg of ws) {
        out(`${id} < ${describeMessage(msg)}`);
        if (!broadcast) await ws.sendAll(msg);
        else ws.publish(topic, msg.data);
      }
    } catch {
      // Failed connections report through `closed`.
    }
    const info = await ws.closed;
    out(`${id} closed ${info.code}${info.reason === "" ? "" : ` ${info.reason}`}${info.wasClean ? "" : " (abnormal)"}`);
  };
  const handler = requestHandler(
    onSocket,
    (offered) => {
      if (durable !== undefined && offered.includes(RESUME_PROTOCOL)) return RESUME_PROTOCOL;
      // Without -p, as before: no subprotocol, whatever was offered.
      return protocols.length === 0 ? "" : protocols.find((p) => offered.includes(p)) ?? null;
    },
    {
      maxFrameSize,
      onError: (error) => err(`streamsock: ${(error as Error)?.message ?? error}`),
      trace: values.verbose ? (frame, request) => out(`${idOf(request)} ${describeFrame(frame)}`) : undefined,
    },
  );
  const server = serve({
    port,
    hostname: values.host,
    tls: cert && key ? { cert, key } : undefined,
    backplane,
    durable,
    reusePort: values["reuse-port"],
    metrics: values.metrics === true,
    onRequest: page === undefined ? undefined : (request) => {
      if (request.method !== "GET") return undefined;
      if (resumeModule !== undefined && new URL(request.url, "http://x").pathname === resumeModule.RESUME_MODULE_PATH) {
        return { status: 200, body: resumeModule.RESUME_BROWSER_MODULE, contentType: "text/javascript; charset=utf-8" };
      }
      return { status: 200, body: page, contentType: "text/html; charset=utf-8" };
    },
  }, handler);
  try {
    await server.ready;
  } catch (error) {
    err(`streamsock: cannot listen on ${values.host}:${port}: ${(error as Error).message}`);
    return EXIT_CLOSED_ABNORMALLY;
  }
  const host = server.addr.hostname.includes(":") ? `[${server.addr.hostname}]` : server.addr.hostname;
  const mode = broadcast ? `broadcast${backplane === undefined ? "" : ` through ${values.redis}`}` : "echo";
  out(`listening on ${cert ? "wss" : "ws"}://${host}:${server.port}/ (${mode})`);
  if (durable !== undefined) {
    const age = maxAge > 0 ? `, for ${maxAge} ms` : "";
    out(`rooms are durable: the last ${maxLen} messages${age}, ${backplane === undefined ? "in memory" : "in Redis Streams"} (${RESUME_PROTOCOL})`);
  }
  if (values.metrics) out(`metrics at ${cert ? "https" : "http"}://${host}:${server.port}/metrics`);
  // SIGTERM (a supervisor's restart) drains: upgrades get 503 + Retry-After while the connections close.
  const drain = await new Promise<boolean>((resolve) => {
    process.once("SIGINT", () => resolve(false));
    process.once("SIGTERM", () => resolve(true));
  });
  await server.close({ drain });
  out("stopped");
  return EXIT_OK;
}
