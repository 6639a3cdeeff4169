/**
 * `streamsock connect`: a WebSocket client for the terminal and scripts
 * (stdin lines out, received messages to stdout), with `--execute`,
 * `--reconnect` and the `/ping`, `/binary`, `/close` commands.
 *
 * @module
 */

import process from "node:process";
import { parseArgs } from "node:util";
import { connect } from "../client/connect.ts";
import type { CloseInfo } from "../protocol/types.ts";
import type { ConnectOptions } from "../client/options.ts";
import { Message } from "../message.ts";
import { reconnecting } from "../client/reconnecting.ts";
import type { WebSocketConnection } from "../connection/connection.ts";
import {
  CLEAN_CODES,
  connectError,
  describeError,
  describeFrame,
  err,
  EXIT_CLOSED_ABNORMALLY,
  EXIT_CONNECT_FAILED,
  EXIT_OK,
  lines,
  list,
  out,
  parseDuration,
  parseHeaders,
  parseSize,
  printReceived,
  type ReceiveFormat,
  readPem,
  UsageError,
} from "./common.ts";
import { CONNECT_HELP } from "./help.ts";

/**
 * The URL to connect to: without a scheme, ws:// as in wscat; a port out of
 * range is named rather than reported as an unparsable URL.
 */
function connectUrl(text: string): string {
  const url = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `ws://${text}`;
  const port = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/?#]*@)?(?:\[[^\]]*\]|[^:/?#]*):(\d+)(?:[/?#]|$)/i.exec(url)?.[1];
  if (port !== undefined && Number(port) > 65535) throw new UsageError(`port ${port} in ${JSON.stringify(text)} is out of range (0-65535)`);
  if (!URL.canParse(url) || !/^(wss?|https?):$/.test(new URL(url).protocol)) {
    throw new UsageError(`connect needs a ws:// or wss:// URL, not ${JSON.stringify(text)}`);
  }
  return url;
}

export async function runConnect(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      protocol: { type: "string", short: "p", multiple: true },
      header: { type: "string", short: "H", multiple: true },
      auth: { type: "string" },
      origin: { type: "string" },
      ca: { type: "string" },
      cert: { type: "string" },
      key: { type: "string" },
      insecure: { type: "boolean", short: "k" },
      "max-frame-size": { type: "string" },
      ping: { type: "string" },
      timeout: { type: "string" },
      wait: { type: "string" },
      binary: { type: "boolean", short: "b" },
      execute: { type: "string", short: "x" },
      reconnect: { type: "boolean" },
      resume: { type: "boolean" },
      topic: { type: "string" },
      from: { type: "string" },
      proxy: { type: "string" },
      timestamps: { type: "boolean" },
      json: { type: "boolean" },
      verbose: { type: "boolean", short: "v" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    out(CONNECT_HELP);
    return EXIT_OK;
  }
  if (positionals.length !== 1) throw new UsageError("connect needs exactly one URL");
  const url = connectUrl(positionals[0]);
  if ((values.cert === undefined) !== (values.key === undefined)) throw new UsageError("--cert and --key go together");
  if (values.execute !== undefined && (values.reconnect || values.resume)) {
    throw new UsageError(`--execute and --${values.resume ? "resume" : "reconnect"} exclude each other`);
  }
  if ((values.topic !== undefined || values.from !== undefined) && !values.resume) throw new UsageError("--topic and --from go with --resume");
  if (values.from !== undefined && values.from !== "start" && values.from !== "now") {
    throw new UsageError(`--from expects start or now, not ${JSON.stringify(values.from)}`);
  }

  const options: ConnectOptions = { headers: parseHeaders(values.header) };
  const protocols = list(values.protocol);
  if (protocols.length > 0) options.protocol = protocols;
  if (values.auth !== undefined) {
    const colon = values.auth.indexOf(":");
    options.auth = colon > 0 && !values.auth.includes(" ")
      ? { basic: [values.auth.slice(0, colon), values.auth.slice(colon + 1)] }
      : values.auth;
  }
  if (values.origin !== undefined) options.origin = values.origin;
  const ca = await readPem(values.ca, "--ca");
  const cert = await readPem(values.cert, "--cert");
  const key = await readPem(values.key, "--key");
  const rejectUnauthorized = values.insecure ? false : undefined;
  options.tls = { ca, cert, key, rejectUnauthorized };
  // An https:// proxy's certificate is checked against --ca too (and not at all with --insecure).
  if (values.proxy !== undefined) options.proxy = { url: values.proxy, tls: { ca, rejectUnauthorized } };
  if (values["max-frame-size"] !== undefined) options.maxFrameSize = parseSize(values["max-frame-size"], "--max-frame-size");
  if (values.ping !== undefined) {
    // A peer that stays silent for as long again after a ping is taken for dead.
    options.pingInterval = parseDuration(values.ping, "--ping");
    if (options.pingInterval > 0) options.pingTimeout = options.pingInterval;
  }
  if (values.timeout !== undefined) options.timeout = parseDuration(values.timeout, "--timeout") || Infinity;
  const wait = parseDuration(values.wait ?? "1s", "--wait");
  if (values.verbose) options.trace = (frame) => err(describeFrame(frame));
  const format: ReceiveFormat = { timestamps: values.timestamps === true, json: values.json === true };
  if (values.resume) {
    const topic = values.topic ?? new URL(url).pathname;
    const { connectResuming } = await import("./connect_resume.ts");
    return await connectResuming(url, options, { topic, from: values.from === "start" ? "start" : "now", format, binary: values.binary === true, wait });
  }
  if (values.reconnect) return await connectAgain(url, options, format, values.binary === true, wait);

  let ws: WebSocketConnection;
  try {
    ws = await connect(url, options);
  } catch (error) {
    if (error instanceof TypeError && !(error as { code?: string }).code) throw new UsageError(error.message);
    err(connectError(url, error));
    return EXIT_CONNECT_FAILED;
  }
  err(`connected to ${url}${ws.protocol === null ? "" : ` (protocol: ${ws.protocol})`}`);
  if (values.execute !== undefined) return await executeOnce(ws, values.execute, format, options.timeout ?? 30_000);

  const receiving = receiveAll(ws, format);
  const sending = sendStdin(() => Promise.resolve(ws), values.binary === true, wait);
  process.once("SIGINT", () => void ws.close(1000, "").catch(() => {}));
  // Whichever side ends first decides: the peer's close ends the program
  // even while stdin stays open.
  await Promise.race([receiving, sending.then(() => receiving)]);
  return exitCodeOf(await ws.closed);
}

function exitCodeOf(info: CloseInfo): number {
  if (info.wasClean && CLEAN_CODES.has(info.code)) {
    err(`closed ${info.code}${info.reason === "" ? "" : ` ${info.reason}`}`);
    return EXIT_OK;
  }
  const why = info.error?.message ?? (info.wasClean ? "" : "no closing handshake");
  err(
    `streamsock: the connection closed ${info.wasClean ? "" : "abnormally "}with code ${info.code}` +
      `${info.reason === "" ? "" : ` (${info.reason})`}${why === "" || why === info.reason ? "" : `: ${why}`}`,
  );
  return EXIT_CLOSED_ABNORMALLY;
}

/** `--execute`: sends one message, prints the first message that comes back, closes. */
async function executeOnce(ws: WebSocketConnection, text: string, format: ReceiveFormat, timeout: number): Promise<number> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    if (timeout !== Infinity) timer = setTimeout(() => resolve("timeout"), timeout);
  });
  try {
    await ws.sendAll(text);
    for (;;) {
      const msg = await Promise.race([ws.recvAll(), timedOut]);
      if (msg === "timeout") {
        err(`streamsock: no answer within ${timeout} ms`);
        await ws.close(1000, "").catch(() => {});
        return EXIT_CLOSED_ABNORMALLY;
      }
      if (msg.type === "ping" || msg.type === "pong") continue;
      printReceived(msg, format);
      if (msg.type === "close") break;
      await ws.close(1000, "");
      break;
    }
  } catch {
    // Closed before an answer: `closed` tells how.
  } finally {
    clearTimeout(timer);
  }
  return exitCodeOf(await ws.closed);
}

/**
 * `--reconnect`: one stdin for a succession of connections, each made by
 * `reconnecting`. Ends once stdin has ended and --wait passed quietly, or on
 * Ctrl-C; an error retrying cannot fix ends it with exit 3.
 */
async function connectAgain(
  url: string,
  options: ConnectOptions,
  format: ReceiveFormat,
  binary: boolean,
  wait: number,
): Promise<number> {
  const stop = new AbortController();
  process.once("SIGINT", () => stop.abort());
  // The open connection, for stdin; waiters are woken when it changes.
  let open: WebSocketConnection | null = null;
  const wake: (() => void)[] = [];
  const changed = () => {
    for (const resolve of wake.splice(0)) resolve();
  };
  stop.signal.addEventListener("abort", changed, { once: true });
  const current = async () => {
    while (open === null && !stop.signal.aborted) await new Promise<void>((resolve) => wake.push(resolve));
    return stop.signal.aborted ? null : open;
  };
  void sendStdin(current, binary, wait, true).then(() => stop.abort());
  try {
    for await (
      const ws of reconnecting(url, {
        ...options,
        signal: stop.signal,
        onAttempt: ({ attempt, delay, error }) => {
          if (attempt === 1 && error === undefined) return;
          const why = error === undefined ? "" : `: ${connectError(url, error).replace(/^streamsock: /, "")}`;
          err(`reconnecting in ${Math.round(delay)} ms (attempt ${attempt})${why}`);
        },
      })
    ) {
      err(`connected to ${url}${ws.protocol === null ? "" : ` (protocol: ${ws.protocol})`}`);
      open = ws;
      changed();
      void ws.closed.then(() => {
        if (open === ws) open = null;
      });
      await receiveAll(ws, format);
      const info = await ws.closed;
      if (!stop.signal.aborted) err(`closed ${info.code}${info.reason === "" ? "" : ` ${info.reason}`}`);
    }
  } catch (error) {
    if (error instanceof TypeError && !(error as { code?: string }).code) throw new UsageError(error.message);
    err(connectError(url, error));
    return EXIT_CONNECT_FAILED;
  } finally {
    stop.abort();
  }
  return EXIT_OK;
}

/** When the last message arrived (or the connection opened): `--wait` measures quiet from it. */
let lastReceived = Date.now();

/** Pongs are printed only after a /ping: keepalive pongs are noise. */
let pongsWanted = 0;

async function receiveAll(ws: WebSocketConnection, format: ReceiveFormat): Promise<void> {
  for (;;) {
    let msg: Message;
    try {
      msg = await ws.recvAll();
    } catch {
      return; // closed: `closed` tells how
    }
    if (msg.type === "pong") {
      // Pongs answer pings and say nothing of the server's messages: they
      // must not hold off --wait, or --ping would keep the program alive.
      if (pongsWanted === 0) continue;
      pongsWanted--;
    } else if (msg.type !== "ping") {
      lastReceived = Date.now();
    }
    printReceived(msg, format);
    if (msg.type === "close") return;
  }
}

/**
 * Sends each line of stdin to the connection `current` gives (a command
 * runs instead), then closes after `wait` ms of quiet. With `retry`
 * (--reconnect) a line the connection could not take goes to the next one.
 * Resolves once stdin ended (or /quit) and the close was sent, or when there
 * is no connection any more.
 */
async function sendStdin(
  current: () => Promise<WebSocketConnection | null>,
  binary: boolean,
  wait: number,
  retry = false,
): Promise<void> {
  for await (const line of lines(process.stdin)) {
    for (;;) {
      const ws = await current();
      if (ws === null) return;
      let action: Awaited<ReturnType<typeof runCommand>>;
      try {
        action = await runCommand(ws, line, binary);
      } catch {
        // The connection closed under the line: `closed` tells how.
        if (!retry) return;
        await ws.closed;
        continue;
      }
      if (action === "quit") {
        await ws.close(1000, "").catch(() => {});
        return;
      }
      if (action === "closing" && !retry) return;
      break;
    }
  }
  const ws = await current();
  if (ws === null) return;
  // Replies to the last lines may still be on their way, and a server stops
  // sending once our close arrives: close only after `wait` ms of quiet.
  let closed = false;
  void ws.closed.then(() => (closed = true));
  for (let quiet = Date.now() - lastReceived; !closed && quiet < wait; quiet = Date.now() - lastReceived) {
    await new Promise((resolve) => setTimeout(resolve, Math.min(wait - quiet, 50)));
  }
  await ws.close(1000, "").catch(() => {});
}

/** Sends one line of stdin, or runs it when it is a command. */
async function runCommand(ws: WebSocketConnection, line: Uint8Array, binary: boolean): Promise<"sent" | "closing" | "quit"> {
  const text = new TextDecoder().decode(line);
  const match = /^\/(ping|close|binary|quit)(?:\s+(.*))?$/.exec(text);
  if (match === null) {
    // "//..." sends a line that starts with "/".
    const literal = text.startsWith("//") ? text.slice(1) : null;
    if (binary) await ws.sendAll(literal === null ? line : new TextEncoder().encode(literal));
    else await ws.sendAll(literal ?? text);
    return "sent";
  }
  const [, command, rest = ""] = match;
  switch (command) {
    case "ping": {
      const data = new TextEncoder().encode(rest);
      if (data.length > 125) {
        err("streamsock: /ping data is at most 125 bytes");
        return "sent";
      }
      pongsWanted++;
      await ws.send(new Message(data, "ping"));
      return "sent";
    }
    case "binary": {
      const hexText = rest.replace(/\s+/g, "");
      if (!/^(?:[0-9a-f]{2})*$/i.test(hexText)) {
        err(`streamsock: /binary expects hex bytes such as 01ff, not ${JSON.stringify(rest)}`);
        return "sent";
      }
      await ws.sendAll(new Uint8Array(hexText.match(/../g)?.map((byte) => parseInt(byte, 16)) ?? []));
      return "sent";
    }
    case "close": {
      const closeMatch = /^(?:(\d+)(?:\s+(.*))?)?$/.exec(rest.trim());
      const code = closeMatch?.[1] === undefined ? 1000 : Number(closeMatch[1]);
      try {
        await ws.close(code, closeMatch?.[2] ?? "");
      } catch (error) {
        err(`streamsock: /close: ${describeError(error)}`);
        return "sent";
      }
      return "closing";
    }
    default:
      return "quit";
  }
}
