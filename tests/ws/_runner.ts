// The side-by-side runner of streamsock/ws: a scenario is a sequence of API
// calls and peer actions written once against ws's API; it runs once with the
// real `ws` package and once with streamsock/ws, and what each endpoint
// observed (events, their order and arguments, and the frames on the wire read
// by the suite's independent parser, tests/_frames.ts) is logged per endpoint.
// The two logs must be equal, or the scenario names a deviation listed (with
// its reason) in tests/ws/_deviations.ts and the README.
import { createHash } from "node:crypto";
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import { connect as netConnect, createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { Buffer } from "node:buffer";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import * as ourWs from "../../src/ws/mod.ts";
import { readWireFrame } from "../_frames.ts";
import { rawFrame } from "../_helpers.ts";
import type { Owner } from "../_test.ts";
import { testCertificate } from "../_tls.ts";
import { Wire } from "../_wire.ts";

// deno-lint-ignore no-explicit-any
type Any = any;

const require = createRequire(import.meta.url);
/**
 * The ws package itself, loaded by its file: Bun answers `import "ws"` (and
 * `require("ws")`) with its own reimplementation of ws's API, which is not
 * what the scenarios compare with.
 */
const realWs = require(join(dirname(require.resolve("ws/package.json")), "index.js"));

/** The API a scenario drives: ws's, from either package. */
export interface Lib {
  name: "ws" | "streamsock";
  WebSocket: Any;
  WebSocketServer: Any;
  createWebSocketStream: Any;
}

export const LIBS: Lib[] = [
  {
    name: "ws",
    WebSocket: realWs.WebSocket,
    WebSocketServer: realWs.WebSocketServer,
    createWebSocketStream: realWs.createWebSocketStream,
  },
  {
    name: "streamsock",
    WebSocket: ourWs.WebSocket,
    WebSocketServer: ourWs.WebSocketServer,
    createWebSocketStream: ourWs.createWebSocketStream,
  },
];

/** A short, exact description of a payload: small ones in full, large ones by length and digest. */
export function describe(data: unknown): string {
  if (typeof data === "string") return data.length <= 64 ? `text:${JSON.stringify(data)}` : `text:${data.length}:${digest(Buffer.from(data))}`;
  if (Array.isArray(data)) return `fragments[${data.map(describe).join(",")}]`;
  let bytes: Uint8Array;
  let kind = "buf";
  if (data instanceof ArrayBuffer) {
    bytes = new Uint8Array(data);
    kind = "arraybuffer";
  } else if (ArrayBuffer.isView(data)) bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  else return `${typeof data}:${String(data)}`;
  if (bytes.length <= 32) return `${kind}:${Buffer.from(bytes).toString("hex")}`;
  return `${kind}:${bytes.length}:${digest(bytes)}`;
}

function digest(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex").slice(0, 12);
}

export function errorEntry(err: unknown): string {
  const e = err as { name?: string; message?: string; code?: string };
  return `${e?.constructor?.name ?? typeof err}:${e?.message}${e?.code === undefined ? "" : ` [${e.code}]`}`;
}

/** What one run of a scenario observed: entries per endpoint, in order. */
export type Logs = Record<string, unknown[][]>;

/** The helpers a scenario runs with. */
export class Ctx implements Owner {
  readonly lib: Lib;
  readonly logs: Logs = {};
  #cleanups: (() => unknown)[] = [];

  constructor(lib: Lib) {
    this.lib = lib;
  }

  log(endpoint: string, ...entry: unknown[]): void {
    // Ports are the system's choice in each run, not behaviour.
    const masked = entry.map((item) => (typeof item === "string" ? item.replace(/127\.0\.0\.1:\d+/g, "127.0.0.1:PORT") : item));
    (this.logs[endpoint] ??= []).push(masked);
  }

  defer(cleanup: () => unknown): void {
    this.#cleanups.push(cleanup);
  }

  /** The {@link Owner} side of a scenario's context: what a test helper opens is released with the scenario. */
  after(release: () => unknown): void {
    this.defer(release);
  }

  /** Releases what the scenario opened, latest first; what is deferred later is released by the next call. */
  async cleanup(): Promise<void> {
    const cleanups = this.#cleanups.reverse();
    this.#cleanups = [];
    for (const cleanup of cleanups) {
      try {
        await cleanup();
      } catch {
        // released anyway
      }
    }
  }

  /** Logs a socket's events under `endpoint`; resolves `closed` on its close event. */
  watch(ws: Any, endpoint: string, events: string[] = ["open", "message", "ping", "pong", "error", "close"]): Watched {
    const watched = new Watched();
    for (const event of events) {
      ws.on(event, (...args: unknown[]) => {
        switch (event) {
          case "message":
            this.log(endpoint, "message", describe(args[0]), args[1]);
            break;
          case "close":
            this.log(endpoint, "close", args[0], String(args[1]));
            break;
          case "error":
            this.log(endpoint, "error", errorEntry(args[0]));
            break;
          case "upgrade":
            this.log(endpoint, "upgrade", (args[0] as IncomingMessage).statusCode);
            break;
          case "unexpected-response":
            this.log(endpoint, "unexpected-response", (args[1] as IncomingMessage).statusCode);
            break;
          case "redirect":
            this.log(endpoint, "redirect", args[0]);
            break;
          default:
            this.log(endpoint, event, ...args.map((a) => (a instanceof Uint8Array ? describe(a) : a)));
        }
        watched.count(event);
      });
    }
    return watched;
  }

  /** A WebSocketServer on its own port (127.0.0.1), logged as "server" unless quiet. */
  async server(options: Record<string, unknown> = {}, endpoint = "server"): Promise<{ wss: Any; port: number; connections: Watched[] }> {
    const wss = new this.lib.WebSocketServer({ port: 0, host: "127.0.0.1", ...options });
    this.defer(() => closeServer(wss));
    await new Promise<void>((resolve, reject) => {
      wss.once("listening", resolve);
      wss.once("error", reject);
    });
    const connections: Watched[] = [];
    wss.on("connection", (ws: Any, req: IncomingMessage) => {
      this.log(endpoint, "connection", req.url, ws.protocol, ws.extensions, ws.readyState);
      connections.push(this.watch(ws, endpoint));
      this.defer(() => ws.terminate());
    });
    return { wss, port: (wss.address() as AddressInfo).port, connections };
  }

  /** A client of the library under test, its events logged as "client". */
  client(url: string, protocols?: unknown, options?: unknown, endpoint = "client"): { ws: Any; watched: Watched } {
    const ws = new this.lib.WebSocket(url, protocols, options);
    this.defer(() => ws.terminate());
    const watched = this.watch(ws, endpoint, ["upgrade", "open", "message", "ping", "pong", "error", "close", "redirect"]);
    return { ws, watched };
  }

  /** A TCP proxy to `port` that logs, per direction, the HTTP head and every frame. */
  async tap(port: number): Promise<number> {
    // Half-open on both legs, so that either end's FIN is passed on as it is
    // and the tap does not end a connection that neither end ended yet.
    const server: NetServer = createNetServer({ allowHalfOpen: true }, (inbound) => {
      const outbound = netConnect({ port, host: "127.0.0.1", allowHalfOpen: true });
      const up = new WireLog(this, "wire c>s", true);
      const down = new WireLog(this, "wire s>c", false);
      inbound.on("data", (chunk: Uint8Array) => {
        up.push(chunk);
        outbound.write(chunk);
      });
      outbound.on("data", (chunk: Uint8Array) => {
        down.push(chunk);
        inbound.write(chunk);
      });
      inbound.on("end", () => {
        up.end();
        outbound.end();
      });
      outbound.on("end", () => {
        down.end();
        inbound.end();
      });
      inbound.on("error", () => outbound.destroy());
      outbound.on("error", () => inbound.destroy());
      inbound.on("close", () => outbound.destroy());
      outbound.on("close", () => inbound.destroy());
      this.defer(() => {
        inbound.destroy();
        outbound.destroy();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    this.defer(() => new Promise((resolve) => server.close(resolve)));
    return (server.address() as AddressInfo).port;
  }

  /** A raw TCP client of the server on `port`: writes exact bytes, reads what the server sends. */
  async raw(port: number): Promise<Wire> {
    return await Wire.dial(this, port, false);
  }

  /** A raw TCP server for clients under test: `respond` scripts each connection. */
  async rawServer(respond: (socket: Socket, head: string, wire: Wire) => void | Promise<void>): Promise<number> {
    const server = createNetServer((socket) => {
      const wire = new Wire(socket, true);
      this.defer(() => socket.destroy());
      void (async () => {
        try {
          const { text } = await wire.readHead();
          await respond(socket, text, wire);
        } catch {
          socket.destroy();
        }
      })();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    this.defer(() => new Promise((resolve) => server.close(resolve)));
    return (server.address() as AddressInfo).port;
  }

  /** A node:https server on 127.0.0.1 with the suite's self-signed certificate (`ca` trusts it). */
  async httpsServer(): Promise<{ https: HttpsServer; port: number; ca: string }> {
    const { cert, key } = await testCertificate();
    const https = createHttpsServer({ cert, key }, (_req, res) => res.end("plain https\n"));
    await new Promise<void>((resolve) => https.listen(0, "127.0.0.1", resolve));
    this.defer(() => {
      https.closeAllConnections?.();
      return new Promise((resolve) => https.close(resolve));
    });
    return { https, port: (https.address() as AddressInfo).port, ca: cert };
  }

  /** A node:http server on 127.0.0.1 (for `server` and `noServer` modes). */
  async httpServer(handler?: (req: IncomingMessage, res: Any) => void): Promise<{ http: HttpServer; port: number }> {
    const http = createHttpServer(handler ?? ((_req, res) => res.end("plain http\n")));
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    this.defer(() => {
      http.closeAllConnections?.();
      return new Promise((resolve) => http.close(resolve));
    });
    return { http, port: (http.address() as AddressInfo).port };
  }
}

/** Counts a socket's events, to wait for them. */
export class Watched {
  readonly #counts = new Map<string, number>();
  readonly #waiters: { event: string; n: number; resolve: () => void }[] = [];

  count(event: string): void {
    const n = (this.#counts.get(event) ?? 0) + 1;
    this.#counts.set(event, n);
    for (const waiter of [...this.#waiters]) {
      if (waiter.event === event && n >= waiter.n) {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  }

  seen(event: string): number {
    return this.#counts.get(event) ?? 0;
  }

  /** Resolves once `event` happened `n` times (at most `ms` ms). */
  when(event: string, n = 1, ms = 10_000): Promise<void> {
    return this.whenAny([event], n, ms);
  }

  /** Resolves once one of `events` happened `n` times (at most `ms` ms). */
  whenAny(events: string[], n = 1, ms = 10_000): Promise<void> {
    if (events.some((event) => this.seen(event) >= n)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${n}× "${events.join('" or "')}" within ${ms} ms`)), ms);
      const waiters = events.map((event) => ({ event, n, resolve: () => done() }));
      const done = () => {
        clearTimeout(timer);
        for (const waiter of waiters) {
          const at = this.#waiters.indexOf(waiter);
          if (at >= 0) this.#waiters.splice(at, 1);
        }
        resolve();
      };
      this.#waiters.push(...waiters);
    });
  }
}

/** The frames of one direction of a tapped connection, after its HTTP head. */
class WireLog {
  readonly #ctx: Ctx;
  readonly #endpoint: string;
  readonly #masked: boolean;
  #buffer = new Uint8Array(0);
  #headDone = false;

  constructor(ctx: Ctx, endpoint: string, masked: boolean) {
    this.#ctx = ctx;
    this.#endpoint = endpoint;
    this.#masked = masked;
  }

  push(chunk: Uint8Array): void {
    const merged = new Uint8Array(this.#buffer.length + chunk.length);
    merged.set(this.#buffer);
    merged.set(chunk, this.#buffer.length);
    this.#buffer = merged;
    if (!this.#headDone) {
      const end = Buffer.from(this.#buffer).indexOf("\r\n\r\n");
      if (end < 0) return;
      this.#ctx.log(this.#endpoint, "head", ...headSummary(Buffer.from(this.#buffer.subarray(0, end)).toString("latin1")));
      this.#buffer = this.#buffer.slice(end + 4);
      this.#headDone = true;
    }
    for (;;) {
      let read;
      try {
        read = readWireFrame(this.#buffer, this.#masked);
      } catch (err) {
        this.#ctx.log(this.#endpoint, "unparseable", String(err));
        this.#buffer = new Uint8Array(0);
        return;
      }
      if (read === null) return;
      const { frame } = read;
      this.#ctx.log(this.#endpoint, "frame", frame.opcode, frame.fin, frame.rsv, describeFrame(frame.opcode, frame.payload, frame.rsv));
      this.#buffer = this.#buffer.slice(read.size);
    }
  }

  end(): void {
    // When each side ends TCP relative to the end of a scenario is timing, not behaviour: not logged.
  }
}

function describeFrame(opcode: number, payload: Uint8Array, rsv: number): string {
  if (opcode === 8 && payload.length >= 2) {
    return `close ${(payload[0] << 8) | payload[1]} ${JSON.stringify(Buffer.from(payload.subarray(2)).toString())}`;
  }
  // A compressed payload's bytes depend on zlib; its length and digest are still compared.
  return rsv === 0 ? describe(payload) : `deflated:${payload.length}:${digest(payload)}`;
}

/**
 * An HTTP head as comparable entries: the start line (with the request's port
 * masked) and the header fields, names lower-cased, sorted, without the random
 * key, its accept value, Date and Host.
 */
export function headSummary(text: string): string[] {
  const [start, ...lines] = text.split("\r\n");
  const fields = lines
    .map((line) => {
      const colon = line.indexOf(":");
      return `${line.slice(0, colon).toLowerCase()}: ${line.slice(colon + 1).trim()}`;
    })
    .filter((field) => !/^(sec-websocket-key|sec-websocket-accept|date|host|keep-alive): /.test(field))
    .sort();
  return [start, ...fields];
}

export async function closeServer(wss: Any): Promise<void> {
  for (const client of wss.clients ?? []) client.terminate();
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 2000);
    wss.close(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** A scenario: a name, what it covers, and its steps. */
export interface Scenario {
  name: string;
  run(ctx: Ctx): void | Promise<void>;
}

/**
 * Runs a scenario with one library and returns what it observed. What it
 * opened is released when it ends (before the other library's run starts),
 * or, should the test end first (its time bound), when the test does.
 */
export async function runWith(t: Owner, lib: Lib, scenario: Scenario): Promise<Logs> {
  const ctx = new Ctx(lib);
  t.after(() => ctx.cleanup());
  try {
    await scenario.run(ctx);
  } catch (err) {
    ctx.log("scenario", "threw", errorEntry(err));
  } finally {
    await ctx.cleanup();
  }
  return ctx.logs;
}

/** A client request head written by hand, with a fixed key. */
export function upgradeRequest(path = "/", extra: string[] = [], drop: string[] = []): string {
  const fields = [
    "Host: 127.0.0.1",
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version: 13",
  ].filter((field) => !drop.some((name) => field.toLowerCase().startsWith(name.toLowerCase() + ":")));
  return `GET ${path} HTTP/1.1\r\n${[...fields, ...extra].join("\r\n")}\r\n\r\n`;
}

/** The accept value of {@link upgradeRequest}'s key (RFC 6455 §1.3's example). */
export const SAMPLE_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/**
 * Reads what a raw client got back: the head (summarised) and, after a
 * refusal, its body: Content-Length bytes (a keep-alive answer does not end
 * the connection), or up to the server's end of it.
 */
export async function logResponse(ctx: Ctx, wire: Wire, endpoint = "peer"): Promise<void> {
  try {
    const { text, headers } = await wire.readHead(5000);
    const head = text.slice(0, -4);
    ctx.log(endpoint, "head", ...headSummary(head));
    if (!head.startsWith("HTTP/1.1 101")) {
      const length = headers.get("content-length");
      if (length !== null && /^\d+$/.test(length)) {
        ctx.log(endpoint, "body", Buffer.from(await wire.read(Number(length), 5000, "the response body")).toString());
      } else {
        await wire.waitEnded(5000).catch(() => {});
        ctx.log(endpoint, "body", Buffer.from(wire.takeRest()).toString());
      }
    }
  } catch (err) {
    ctx.log(endpoint, "no head", wire.ended ? "closed" : String(err));
  }
}

/**
 * Reads frames until the server ends the connection, logging each. With
 * `echoClose` the peer answers the server's close frame with its code, as
 * an RFC 6455 §5.5.1 endpoint does (what it sends is not logged).
 */
export async function logFrames(ctx: Ctx, wire: Wire, endpoint = "peer", ms = 5000, echoClose = false): Promise<void> {
  for (;;) {
    let frame;
    try {
      frame = await wire.readFrame(ms);
    } catch (err) {
      ctx.log(endpoint, "read failed", String(err));
      return;
    }
    if (frame === null) {
      ctx.log(endpoint, "end");
      return;
    }
    ctx.log(endpoint, "frame", frame.opcode, frame.fin, frame.rsv, describeFrame(frame.opcode, frame.payload, frame.rsv));
    if (echoClose && frame.opcode === 8) {
      echoClose = false;
      wire.write(rawFrame(0x88, frame.payload.subarray(0, 2)));
    }
  }
}
