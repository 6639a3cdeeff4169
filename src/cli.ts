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

import { readFile } from "node:fs/promises";
import process from "node:process";
import { parseArgs } from "node:util";
import {
  connect,
  type ConnectOptions,
  HandshakeError,
  type Message,
  Opcode,
  requestHandler,
  serve,
  type TracedFrame,
  type WebSocketConnection,
} from "../mod.ts";

/** Exit codes; the module doc lists what each means. */
const EXIT_OK = 0;
const EXIT_CLOSED_ABNORMALLY = 1;
const EXIT_USAGE = 2;
const EXIT_CONNECT_FAILED = 3;

/** Close codes a script may take for success: normal, going away, none given. */
const CLEAN_CODES = new Set([1000, 1001, 1005]);

const MAIN_HELP = `streamsock: a WebSocket client and server on Deno, Bun and Node

Usage:
  streamsock connect <url> [options]   talk to a WebSocket server (stdin -> messages -> stdout)
  streamsock serve [options]           run an echo or broadcast (chat) server
  streamsock <command> --help          the options of a command

Exit codes:
  0  the connection closed cleanly (1000, 1001 or no status code)
  1  it closed abnormally or with another code; the server could not listen
  2  usage error
  3  could not connect: DNS, TCP, TLS or the opening handshake failed
`;

const CONNECT_HELP = `Usage: streamsock connect <url> [options]

Connects to a ws:// or wss:// URL. Each line of stdin is sent as a text message
(--binary: as a binary message of the line's bytes); once stdin has ended and
nothing arrived for --wait (1s), the connection is closed with 1000. Received
messages are printed to stdout, one per line, with their type:
  < text: hello
  < binary (3 bytes): 010203
  < ping (0 bytes)
  < close 1000: bye
Pongs (answers to keepalive pings) are not printed. Status lines, errors and
the --verbose trace go to stderr.

Options:
  -p, --protocol <name>     subprotocol to offer; repeat or comma-separate for several
  -H, --header <name: value>
                            extra request header field (repeatable)
      --auth <user:password | value>
                            Authorization: basic auth from user:password, otherwise the raw value
                            (e.g. "Bearer abc")
      --origin <origin>     the Origin header field
      --ca <file>           PEM certificate(s) to trust for wss:// instead of the system's
      --cert <file>         PEM client certificate for wss:// (needs --key)
      --key <file>          PEM private key of --cert
  -k, --insecure            accept any server certificate (testing only)
      --max-frame-size <bytes>
                            largest frame sent or accepted (default 1048576; k/m suffixes allowed)
      --ping <duration>     keepalive: ping after this much silence; no answer within as long
                            again closes with 1011 (exit 1); 0 for none (default 20s, 20s)
      --timeout <duration>  limit for connecting and the opening handshake (default 30s)
      --wait <duration>     after stdin ends, close once nothing arrived for this long (default 1s;
                            0 closes at once, and a server may then drop its last replies)
  -b, --binary              send stdin lines as binary messages
  -v, --verbose             trace every frame on stderr: direction, opcode, FIN, RSV, length,
                            masking key and a payload preview
  -h, --help                this help

Durations: 500ms, 2s, 1m; a bare number means seconds.

Exit codes: 0 clean close (1000, 1001, none), 1 abnormal close or another code,
2 usage error, 3 could not connect (the message says what the server answered).
`;

const SERVE_HELP = `Usage: streamsock serve [options]

Runs a WebSocket server until Ctrl-C (SIGINT) or SIGTERM, then closes every
connection with 1001. Prints its address, then connections as they come and go
and the messages they send:
  listening on ws://127.0.0.1:8080/ (echo)
  [#1] open from 127.0.0.1: GET /chat
  [#1] < text: hello
  [#1] closed 1000

Options:
      --port <port>         port to listen on; 0 picks a free one (default 8080)
      --host <address>      address to bind (default 127.0.0.1; 0.0.0.0 for every interface)
      --echo                send every message back to its sender (the default)
      --broadcast           send every message to every other client (a chat room)
      --cert <file>         PEM certificate chain: serve wss:// (needs --key)
      --key <file>          PEM private key of --cert
  -p, --protocol <name>     subprotocol to accept when a client offers it; repeat or
                            comma-separate for several, in order of preference
      --max-frame-size <bytes>
                            largest frame accepted or sent (default 1048576)
  -h, --help                this help

Exit codes: 0 after a shutdown by signal, 1 when it cannot listen, 2 usage error.
`;

class UsageError extends Error {}

function write(stream: { write(text: string, done?: () => void): boolean }, text: string): void {
  stream.write(text.endsWith("\n") ? text : text + "\n");
}

const out = (text: string) => write(process.stdout, text);
const err = (text: string) => write(process.stderr, text);

/** Waits until what was written to stdout and stderr has been handed to the OS. */
function flushed(): Promise<void> {
  const drain = (stream: { write(text: string, done?: () => void): boolean }) => new Promise<void>((resolve) => stream.write("", () => resolve()));
  return Promise.all([drain(process.stdout), drain(process.stderr)]).then(() => {});
}

function parseDuration(text: string, flag: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (match === null) throw new UsageError(`${flag} expects a duration such as 500ms, 2s or 1m, not ${JSON.stringify(text)}`);
  const value = Number(match[1]);
  return Math.round(match[2] === "ms" ? value : match[2] === "m" ? value * 60_000 : value * 1000);
}

function parseSize(text: string, flag: string): number {
  const match = /^(\d+)([km])?$/i.exec(text.trim());
  if (match === null) throw new UsageError(`${flag} expects a number of bytes such as 65536 or 64k, not ${JSON.stringify(text)}`);
  const unit = match[2]?.toLowerCase();
  const size = Number(match[1]) * (unit === "k" ? 1024 : unit === "m" ? 1024 * 1024 : 1);
  if (size < 1) throw new UsageError(`${flag} must be at least 1`);
  return size;
}

function parsePort(text: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) throw new UsageError(`--port expects 0-65535, not ${JSON.stringify(text)}`);
  return port;
}

function list(values: string[] | undefined): string[] {
  return (values ?? []).flatMap((value) => value.split(",")).map((value) => value.trim()).filter((v) => v !== "");
}

function parseHeaders(values: string[] | undefined): [string, string][] {
  return (values ?? []).map((field) => {
    const colon = field.indexOf(":");
    if (colon <= 0) throw new UsageError(`--header expects "Name: value", not ${JSON.stringify(field)}`);
    return [field.slice(0, colon).trim(), field.slice(colon + 1).trim()];
  });
}

async function readPem(path: string | undefined, flag: string): Promise<string | undefined> {
  if (path === undefined) return undefined;
  try {
    return await readFile(path, "utf8");
  } catch (cause) {
    throw new UsageError(`${flag}: cannot read ${path}: ${(cause as Error).message}`);
  }
}

function hex(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) text += byte.toString(16).padStart(2, "0");
  return text;
}

/** One line describing a received message, as `connect` and `serve` print it. */
function describeMessage(msg: Message): string {
  switch (msg.type) {
    case "text":
      return `text: ${msg.data}`;
    case "close":
      return `close ${msg.code ?? 1005}${msg.data === "" ? "" : `: ${msg.data}`}`;
    default: {
      const data = msg.data as Uint8Array;
      return `${msg.type} (${data.length} bytes)${data.length === 0 ? "" : `: ${hex(data)}`}`;
    }
  }
}

const OPCODE_NAMES: Record<number, string> = {
  [Opcode.Continuation]: "continuation",
  [Opcode.Text]: "text",
  [Opcode.Binary]: "binary",
  [Opcode.Close]: "close",
  [Opcode.Ping]: "ping",
  [Opcode.Pong]: "pong",
};

/**
 * One trace line: `> text fin=1 rsv=0 len=5 mask=1a2b3c4d "hello"`, with `>`
 * for frames sent and `<` for frames received.
 */
function describeFrame(frame: TracedFrame): string {
  const arrow = frame.direction === "send" ? ">" : "<";
  const name = OPCODE_NAMES[frame.opcode] ?? `reserved(${frame.opcode})`;
  const mask = frame.mask === null ? "none" : hex(frame.mask);
  let preview = "";
  const bytes = frame.preview;
  const cut = bytes.length < frame.length ? "…" : "";
  if (frame.opcode === Opcode.Close && bytes.length >= 2) {
    preview = ` code=${(bytes[0] << 8) | bytes[1]} ${JSON.stringify(new TextDecoder().decode(bytes.subarray(2)))}`;
  } else if (frame.opcode === Opcode.Text && frame.rsv === 0) {
    preview = ` ${JSON.stringify(new TextDecoder().decode(bytes))}${cut}`;
  } else if (bytes.length > 0) {
    preview = ` ${hex(bytes.subarray(0, 32))}${bytes.length > 32 ? "…" : cut}`;
  }
  return `${arrow} ${name} fin=${frame.fin ? 1 : 0} rsv=${frame.rsv} len=${frame.length} mask=${mask}${preview}`;
}

/** The lines of a byte stream, as they complete; a last line without a newline counts too. */
async function* lines(input: AsyncIterable<Uint8Array | string>): AsyncGenerator<Uint8Array> {
  let pending = new Uint8Array(0);
  for await (const chunk of input) {
    const bytes = typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk;
    let data = bytes;
    if (pending.length > 0) {
      data = new Uint8Array(pending.length + bytes.length);
      data.set(pending);
      data.set(bytes, pending.length);
    }
    let start = 0;
    for (let newline = data.indexOf(10); newline !== -1; newline = data.indexOf(10, start)) {
      yield data.slice(start, newline > start && data[newline - 1] === 13 ? newline - 1 : newline);
      start = newline + 1;
    }
    pending = data.slice(start);
  }
  if (pending.length > 0) yield pending;
}

function connectError(url: string, error: unknown): string {
  if (error instanceof HandshakeError) {
    const body = new TextDecoder().decode(error.body).trim();
    return `streamsock: the handshake with ${url} failed: ${error.message}${body === "" ? "" : ` (${body.split("\n")[0]})`}`;
  }
  return `streamsock: cannot connect to ${url}: ${(error as Error)?.message ?? String(error)}`;
}

async function runConnect(args: string[]): Promise<number> {
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
      verbose: { type: "boolean", short: "v" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    out(CONNECT_HELP);
    return EXIT_OK;
  }
  if (positionals.length !== 1) throw new UsageError("connect needs exactly one URL");
  const url = positionals[0];
  if (!URL.canParse(url) || !/^(wss?|https?):$/.test(new URL(url).protocol)) {
    throw new UsageError(`connect needs a ws:// or wss:// URL, not ${JSON.stringify(url)}`);
  }
  if ((values.cert === undefined) !== (values.key === undefined)) throw new UsageError("--cert and --key go together");

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
  options.tls = { ca, cert, key, rejectUnauthorized: values.insecure ? false : undefined };
  if (values["max-frame-size"] !== undefined) options.maxFrameSize = parseSize(values["max-frame-size"], "--max-frame-size");
  if (values.ping !== undefined) {
    // A peer that stays silent for as long again after a ping is taken for dead.
    options.pingInterval = parseDuration(values.ping, "--ping");
    if (options.pingInterval > 0) options.pingTimeout = options.pingInterval;
  }
  if (values.timeout !== undefined) options.timeout = parseDuration(values.timeout, "--timeout") || Infinity;
  const wait = parseDuration(values.wait ?? "1s", "--wait");
  if (values.verbose) options.trace = (frame) => err(describeFrame(frame));

  let ws: WebSocketConnection;
  try {
    ws = await connect(url, options);
  } catch (error) {
    if (error instanceof TypeError && !(error as { code?: string }).code) throw new UsageError(error.message);
    err(connectError(url, error));
    return EXIT_CONNECT_FAILED;
  }
  err(`connected to ${url}${ws.protocol === null ? "" : ` (protocol: ${ws.protocol})`}`);

  const receiving = receiveAll(ws);
  const sending = sendStdin(ws, values.binary === true, wait);
  process.once("SIGINT", () => void ws.close(1000, "").catch(() => {}));
  // Whichever side ends first decides: the peer's close ends the program
  // even while stdin stays open.
  await Promise.race([receiving, sending.then(() => receiving)]);
  const info = await ws.closed;
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

/** When the last message arrived (or the connection opened): `--wait` measures quiet from it. */
let lastReceived = Date.now();

async function receiveAll(ws: WebSocketConnection): Promise<void> {
  for (;;) {
    let msg: Message;
    try {
      msg = await ws.recvAll();
    } catch {
      return; // closed: `closed` tells how
    }
    lastReceived = Date.now();
    // Pongs answer our keepalive pings; --verbose shows them in the trace.
    if (msg.type !== "pong") out(`< ${describeMessage(msg)}`);
    if (msg.type === "close") return;
  }
}

async function sendStdin(ws: WebSocketConnection, binary: boolean, wait: number): Promise<void> {
  try {
    for await (const line of lines(process.stdin)) {
      // sendAll: a line longer than --max-frame-size goes out in several frames.
      if (binary) await ws.sendAll(line);
      else await ws.sendAll(new TextDecoder().decode(line));
    }
    // Replies to the last lines may still be on their way, and a server stops
    // sending once our close arrives: close only after `wait` ms of quiet.
    let closed = false;
    void ws.closed.then(() => (closed = true));
    for (let quiet = Date.now() - lastReceived; !closed && quiet < wait; quiet = Date.now() - lastReceived) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(wait - quiet, 50)));
    }
    await ws.close(1000, "");
  } catch {
    // The connection closed while stdin was being sent: `closed` tells how.
  }
}

async function runServe(args: string[]): Promise<number> {
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
      help: { type: "boolean", short: "h" },
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

  const clients = new Set<WebSocketConnection>();
  let next = 1;
  const onSocket = async (ws: WebSocketConnection, request: { url: string; remoteAddress?: string }) => {
    const id = `[#${next++}]`;
    out(`${id} open from ${request.remoteAddress ?? "?"}: GET ${request.url}${ws.protocol === null ? "" : ` (protocol: ${ws.protocol})`}`);
    clients.add(ws);
    try {
      for await (const msg of ws) {
        out(`${id} < ${describeMessage(msg)}`);
        if (!broadcast) await ws.sendAll(msg);
        else {
          for (const other of clients) if (other !== ws) other.sendAll(msg).catch(() => {});
        }
      }
    } catch {
      // Failed connections report through `closed`.
    } finally {
      clients.delete(ws);
    }
    const info = await ws.closed;
    out(`${id} closed ${info.code}${info.reason === "" ? "" : ` ${info.reason}`}${info.wasClean ? "" : " (abnormal)"}`);
  };
  const handler = requestHandler(
    onSocket,
    protocols.length === 0 ? undefined : (offered) => protocols.find((p) => offered.includes(p)) ?? null,
    { maxFrameSize, onError: (error) => err(`streamsock: ${(error as Error)?.message ?? error}`) },
  );
  const server = serve({ port, hostname: values.host, tls: cert && key ? { cert, key } : undefined }, handler);
  try {
    await server.ready;
  } catch (error) {
    err(`streamsock: cannot listen on ${values.host}:${port}: ${(error as Error).message}`);
    return EXIT_CLOSED_ABNORMALLY;
  }
  const host = server.addr.hostname.includes(":") ? `[${server.addr.hostname}]` : server.addr.hostname;
  out(`listening on ${cert ? "wss" : "ws"}://${host}:${server.port}/ (${broadcast ? "broadcast" : "echo"})`);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await server.close();
  out("stopped");
  return EXIT_OK;
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
      err(`streamsock: ${(error as Error).message}\nRun "streamsock ${command === "serve" || command === "connect" ? `${command} ` : ""}--help" for usage.`);
      return EXIT_USAGE;
    }
    throw error;
  }
}

process.exitCode = await main(process.argv.slice(2));
await flushed();
process.exit();
