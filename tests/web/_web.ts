// Plumbing for the `./web` suite: the WebSocket implementations under test
// (ours, and the runtime's own where it has one), the servers they talk to
// (our `serve` and the `ws` package's server, running the same scenarios, and
// a raw TCP server that reads the client's frames with tests/_frames.ts), the
// known deviations of the native implementations from the standard, and a
// recorder of the events a socket dispatches. Whatever these open (servers,
// raw connections, sockets) takes an Owner first and is released when it
// ends: a test's context, or a describe block's Releases (tests/_test.ts).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createServer, type Socket } from "node:net";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { Message } from "../../src/message.ts";
import { requestHandler, serve } from "../../mod.ts";
import { currentRuntime } from "../../src/transport/runtime.ts";
import * as web from "../../src/web/mod.ts";
import { type Owner, withTimeout } from "../_test.ts";
import { Wire } from "../_wire.ts";

// ------------------------------------------------------------ implementations

/** A constructor with the standard's shape. */
export type WebSocketClass = typeof web.WebSocket;

export interface Implementation {
  /** "streamsock", or "<runtime> native". */
  name: string;
  native: boolean;
  WebSocket: WebSocketClass;
}

/** Where this process runs: "deno", "bun", "node20", "node22", "node24" ... */
export const RUNTIME = currentRuntime() === "node" ? `node${process.versions.node.split(".")[0]}` : currentRuntime();

/**
 * The implementations to test: ours, and the runtime's global WebSocket when
 * it has one. `STREAMSOCK_WEB_IMPLS=native` (or `streamsock`) picks one; the
 * Node 22 and 24 runs of tests/web/node_native.test.ts use it.
 */
export function implementations(): Implementation[] {
  const only = process.env.STREAMSOCK_WEB_IMPLS;
  const found: Implementation[] = [{ name: "streamsock", native: false, WebSocket: web.WebSocket }];
  const global = (globalThis as unknown as { WebSocket?: WebSocketClass }).WebSocket;
  if (global !== undefined && global !== web.WebSocket) {
    found.push({ name: `${RUNTIME} native`, native: true, WebSocket: global });
  }
  return found.filter((impl) => only === undefined || (only === "native") === impl.native);
}

// ------------------------------------------------------------------ deviations

/**
 * Where a runtime's own WebSocket deviates from the WebSockets Standard, by
 * the id of the check (the README's table lists the same). A check with a
 * known deviation must still fail on that implementation: the table stays
 * true, and a runtime that fixes it makes the test say so.
 */
export const DEVIATIONS: Record<string, Record<string, string>> = {
  "bun native": {
    "SyntaxError is a DOMException": "the constructor throws JavaScript SyntaxErrors where the standard throws \"SyntaxError\" DOMExceptions",
    "binaryType defaults to blob": "binaryType starts as \"nodebuffer\" (a Bun extension), not \"blob\"",
    "bufferedAmount grows synchronously with send": "bufferedAmount stays 0 right after send(): the data is counted only while the socket's own buffer holds it",
    "send(blob) adds to bufferedAmount at once": "bufferedAmount stays 0 right after send(blob)",
    "bufferedAmount holds within a task": "bufferedAmount stays 0 right after send(), so it holds nothing sent in the task",
    "close(1001) throws InvalidAccessError": "close(1001) is accepted (and sent) where the standard throws InvalidAccessError",
  },
  "node22 native": {
    "bufferedAmount holds within a task": "bufferedAmount falls to 0 within the task that sent, once the socket took the bytes (a promise turn later)",
    "an invalid binaryType is ignored": "setting binaryType to another value sets it to \"blob\" instead of leaving it unchanged",
    "bufferedAmount grows after close": "sends after close() leave bufferedAmount at 0",
    "a reason alone is sent with 1000": "close(undefined, reason) sends a close frame without a body, dropping the reason",
    "close reasons keep a leading BOM": "a close reason starting with U+FEFF loses it (decoded with BOM stripping)",
    "each message event is a task of its own": "messages that arrive in one read are dispatched in one task: a listener's promise callbacks run after the next message's listeners",
    "a failed opening reports error, then close 1006": "close() while CONNECTING and a refused handshake dispatch no close event (and, refused, no error either) within 3 s",
    "an event handler attribute holds an object": "setting an on... attribute to an object with handleEvent sets it to null (only functions are kept)",
    "an event handler keeps its place among the listeners": "setting an on... handler again moves it after the listeners added since",
    "invalid UTF-8 fails the connection with 1007 on the wire": "invalid UTF-8 in a text message drops the TCP connection without a close frame",
    "a failed connection reports error, then close 1006": "a connection it fails (invalid UTF-8) dispatches error while readyState is still OPEN",
  },
  "node24 native": {
    "bufferedAmount holds within a task": "bufferedAmount falls to 0 within the task that sent, once the socket took the bytes (a promise turn later)",
    "an invalid binaryType is ignored": "setting binaryType to another value sets it to \"blob\" instead of leaving it unchanged",
    "bufferedAmount grows after close": "sends after close() leave bufferedAmount at 0",
    "close reasons keep a leading BOM": "a close reason starting with U+FEFF loses it (decoded with BOM stripping)",
    "shared buffers are refused": "send() takes a view on a SharedArrayBuffer (and sends it) where WebIDL's BufferSource throws a TypeError",
    "a subprotocol when none was offered fails the connection": "a 101 naming a subprotocol when none was offered throws a TypeError out of undici (uncaught: it ends the process)",
    "a lost connection reports close 1006": "a connection the server drops without a close frame reports error before close",
    "an event handler keeps its place among the listeners": "setting an on... handler again moves it after the listeners added since",
    "each message event is a task of its own": "messages that arrive in one read are dispatched in one task: a listener's promise callbacks run after the next message's listeners",
  },
  "deno native": {
    "constants on the prototype": "WebSocket.prototype.OPEN and the other constants are getters that throw (Illegal invocation) instead of WebIDL constants",
    "invalid UTF-8 fails the connection with 1007 on the wire": "invalid UTF-8 in a text message drops the TCP connection without a close frame",
    "send(blob) adds to bufferedAmount at once": "send(blob) adds nothing to bufferedAmount",
    "bufferedAmount grows after close": "sends after close() leave bufferedAmount at 0",
    "no message events after close()": "messages that arrive after close() was called are still dispatched",
    "the message event's origin is the URL's origin": "MessageEvent.origin is the whole URL, not its origin",
    "each message event is a task of its own": "messages that arrive in one read are dispatched in one task: a listener's promise callbacks run after the next message's listeners",
    "a reason alone is sent with 1000": "close(undefined, reason) sends the reason without a status code: a malformed close frame (RFC 6455 §5.5.1)",
    "a failed opening reports error, then close 1006": "a refused or abandoned opening reports close code 0 instead of 1006",
    "a lost connection reports close 1006": "a connection the server drops without a close frame reports error, then close with code 0 instead of 1006",
    "a failed connection reports error, then close 1006": "a connection it fails (invalid UTF-8) reports close code 0 instead of 1006",
    "a server choosing none of the offered subprotocols fails the connection": "a 101 without Sec-WebSocket-Protocol after an offer opens, with protocol \"\"",
    "a subprotocol that was not offered fails the connection": "a 101 naming a subprotocol that was not offered opens, with that protocol",
    "a subprotocol when none was offered fails the connection": "a 101 naming a subprotocol when none was offered opens, with that protocol",
  },
};

/**
 * Runs the standard's check `id` against `impl`: it must pass, or, where
 * {@link DEVIATIONS} lists it for that implementation, fail.
 */
export async function standard(impl: Implementation, id: string, check: () => unknown): Promise<void> {
  const deviation = DEVIATIONS[impl.name]?.[id];
  if (deviation === undefined) {
    await check();
    return;
  }
  let failed = false;
  try {
    await check();
  } catch {
    failed = true;
  }
  assert.ok(failed, `${impl.name} no longer deviates on "${id}" (${deviation}): update DEVIATIONS and the README`);
}

// --------------------------------------------------------------------- servers

export interface ScenarioServer {
  name: "streamsock" | "ws";
  /** ws://127.0.0.1:<port> */
  origin: string;
  /** Whether its answer to a client's close frame carries the client's reason (ws does; ours echoes the code only). */
  echoesCloseReason: boolean;
  stop(): Promise<void>;
}

/**
 * Our serve() running the scenarios of tests/web/fixtures/ws_scenarios.mjs;
 * where ws accepts "/protocol-none" without a subprotocol, ours refuses (400)
 * an offer whose subprotocols all start with "unsupported". Closed when
 * `owner` ends.
 */
export async function startOurServer(owner: Owner): Promise<ScenarioServer> {
  const server = serve(
    { port: 0, hostname: "127.0.0.1" },
    requestHandler(
      async (ws, request) => {
        try {
          for await (const message of ws) {
            if (message.type === "text") {
              const text = message.data as string;
              if (text === "close") {
                await ws.send(new Message("", "close"));
                continue;
              }
              if (text.startsWith("close:")) {
                const [, code, ...reason] = text.split(":");
                await ws.close(Number(code), reason.join(":"));
                continue;
              }
              if (text === "drop") {
                await ws.terminate();
                return;
              }
              if (text.startsWith("burst:") || text.startsWith("burst-close:")) {
                const n = Number(text.split(":")[1]);
                for (let i = 0; i < n; i++) await ws.send(String(i));
                if (text.startsWith("burst-close:")) await ws.close(1000, "done");
                continue;
              }
              if (text === "headers") {
                await ws.send(JSON.stringify(Object.fromEntries(request.headers)));
                continue;
              }
            }
            await ws.sendAll(message);
          }
        } catch {
          // The client went away or broke the protocol: nothing to answer.
        }
      },
      // The first subprotocol offered; none (so a 400) when they all start with "unsupported".
      (offered) => offered.find((protocol) => !protocol.startsWith("unsupported")) ?? null,
      {
        maxFrameSize: 128 * 1024 * 1024,
        maxMessageSize: 128 * 1024 * 1024,
        compression: true,
        verify: (request) => !request.url.startsWith("/refuse") || 403,
      },
    ),
  );
  owner.after(() => server.close());
  await server.ready;
  return {
    name: "streamsock",
    origin: `ws://127.0.0.1:${server.port}`,
    echoesCloseReason: false,
    stop: () => server.close(),
  };
}

/** The `ws` package's server in a Node child process, running the same scenarios; stopped when `owner` ends. */
export async function startWsServer(owner: Owner): Promise<ScenarioServer> {
  const script = fileURLToPath(new URL("./fixtures/ws_scenarios.mjs", import.meta.url));
  const child = spawn("node", [script], { stdio: ["pipe", "pipe", "inherit"] });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  // It exits when its stdin closes; killed (by its PID) if it does not within 10 s.
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.stdin!.end();
    await withTimeout(exited, 10_000, "the ws server's exit").catch(() => child.kill("SIGKILL"));
  };
  owner.after(stop);
  const port = await withTimeout(
    new Promise<number>((resolve, reject) => {
      let out = "";
      child.stdout!.on("data", (chunk) => {
        out += String(chunk);
        if (out.includes("\n")) resolve(Number(out.split("\n")[0]));
      });
      child.once("error", reject);
      child.once("exit", (code) => reject(new Error(`ws_scenarios.mjs exited with ${code}`)));
    }),
    20_000,
    "starting the ws server",
  );
  return { name: "ws", origin: `ws://127.0.0.1:${port}`, echoesCloseReason: true, stop };
}

/** Both scenario servers, each started for one describe() block (its Releases) and stopped after it. */
export const SERVERS: [string, (owner: Owner) => Promise<ScenarioServer>][] = [
  ["our server", startOurServer],
  ["a ws server", startWsServer],
];

// ---------------------------------------------------------------- raw server

/** One client connection to the {@link RawServer}, after its 101. */
export interface RawConnection {
  wire: Wire;
  /** The request head the client sent. */
  head: { startLine: string; headers: Headers };
}

/**
 * A WebSocket server written with bytes: answers the handshake itself and
 * then reads the client's frames with the suite's own parser, so the frames
 * a WebSocket sends are checked by code that did not produce them.
 */
export class RawServer {
  readonly #server = createServer();
  readonly #sockets = new Set<Socket>();
  readonly #waiting: ((connection: RawConnection) => void)[] = [];
  readonly #ready: RawConnection[] = [];
  port = 0;
  /** The subprotocol the 101 names ("" for none). */
  protocol = "";

  /** Listens on 127.0.0.1; stopped, with every connection it accepted, when `owner` ends. */
  static async start(owner: Owner): Promise<RawServer> {
    const raw = new RawServer();
    owner.after(() => raw.stop());
    raw.#server.on("connection", (socket) => void raw.#accept(socket));
    await new Promise<void>((resolve) => raw.#server.listen(0, "127.0.0.1", resolve));
    raw.port = (raw.#server.address() as { port: number }).port;
    return raw;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}/`;
  }

  async #accept(socket: Socket): Promise<void> {
    this.#sockets.add(socket);
    socket.once("close", () => this.#sockets.delete(socket));
    const wire = new Wire(socket, true);
    try {
      const head = await wire.readHead();
      const key = head.headers.get("sec-websocket-key") ?? "";
      const accept = createHash("sha1").update(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest("base64");
      wire.write(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          `Sec-WebSocket-Accept: ${accept}\r\n` +
          (this.protocol === "" ? "" : `Sec-WebSocket-Protocol: ${this.protocol}\r\n`) + "\r\n",
      );
      const connection = { wire, head };
      const waiter = this.#waiting.shift();
      if (waiter !== undefined) waiter(connection);
      else this.#ready.push(connection);
    } catch {
      socket.destroy();
    }
  }

  /** The next client connection, once its 101 is written; dropped when `t` ends. */
  async next(t: Owner, ms = 10_000): Promise<RawConnection> {
    const connection = this.#ready.shift() ??
      await withTimeout(new Promise<RawConnection>((resolve) => this.#waiting.push(resolve)), ms, "a client connection to the raw server");
    t.after(() => connection.wire.destroy());
    return connection;
  }

  /**
   * Drops every client connection accepted so far, those no test took with
   * `next` among them (a client's close then ends at once instead of waiting
   * for an answer from a peer nobody reads).
   */
  dropAll(): void {
    for (const socket of this.#sockets) socket.destroy();
    this.#ready.length = 0;
  }

  async stop(): Promise<void> {
    this.dropAll();
    if (!this.#server.listening) return;
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** A server frame (unmasked, FIN set): opcode and payload. */
export function serverFrame(opcode: number, payload: Uint8Array | string = new Uint8Array(0)): Uint8Array {
  const bytes = typeof payload === "string" ? new TextEncoder().encode(payload) : payload;
  assert.ok(bytes.length < 126, "serverFrame builds short frames only");
  const frame = new Uint8Array(2 + bytes.length);
  frame[0] = 0x80 | opcode;
  frame[1] = bytes.length;
  frame.set(bytes, 2);
  return frame;
}

/** A close frame's payload: the code, then the reason's UTF-8. */
export function closePayload(code: number, reason = ""): Uint8Array {
  const text = new TextEncoder().encode(reason);
  const payload = new Uint8Array(2 + text.length);
  payload[0] = code >> 8;
  payload[1] = code & 0xff;
  payload.set(text, 2);
  return payload;
}

// -------------------------------------------------------------------- events

/** A WebSocket as the tests use it: the standard's members only. */
export type AnyWebSocket = InstanceType<WebSocketClass>;

/**
 * Records what a socket dispatches, in order, each entry with the readyState
 * at the time: "open", "message <data>", "error", "close <code> <reason> <wasClean>".
 * The socket is closed (and its close event awaited) when `t` ends.
 */
export class EventLog {
  readonly entries: string[] = [];
  readonly messages: unknown[] = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<CloseEvent>;
  #waiters: (() => void)[] = [];

  constructor(t: Owner, readonly ws: AnyWebSocket) {
    t.after(() => release(this));
    this.opened = new Promise((resolve, reject) => {
      ws.addEventListener("open", () => resolve());
      ws.addEventListener("close", () => reject(new Error(`closed without opening: ${this.entries.join(", ")}`)));
    });
    this.opened.catch(() => {});
    this.closed = new Promise((resolve) => ws.addEventListener("close", (event) => resolve(event as CloseEvent)));
    ws.addEventListener("open", () => this.#add(`open ${ws.readyState}`));
    ws.addEventListener("message", (event) => {
      const data = (event as MessageEvent).data;
      this.messages.push(data);
      this.#add(`message ${typeof data === "string" ? data : Object.prototype.toString.call(data)} ${ws.readyState}`);
    });
    ws.addEventListener("error", () => this.#add(`error ${ws.readyState}`));
    ws.addEventListener("close", (event) => {
      const { code, reason, wasClean } = event as CloseEvent;
      this.#add(`close ${code} ${JSON.stringify(reason)} ${wasClean} ${ws.readyState}`);
    });
  }

  #add(entry: string): void {
    this.entries.push(entry);
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  /** Waits until `count` messages arrived. */
  async messagesCount(count: number, ms = 10_000): Promise<unknown[]> {
    const deadline = Date.now() + ms;
    while (this.messages.length < count) {
      if (Date.now() > deadline) throw new Error(`only ${this.messages.length} of ${count} messages: ${this.entries.join(", ")}`);
      await withTimeout(new Promise<void>((resolve) => this.#waiters.push(resolve)), ms, `message ${count}`);
    }
    return this.messages.slice(0, count);
  }

  /** Waits for the first event of any kind and returns its entry, bounded. */
  async firstEvent(ms = 10_000): Promise<string> {
    if (this.entries.length === 0) {
      await withTimeout(new Promise<void>((resolve) => this.#waiters.push(resolve)), ms, "the first event");
    }
    return this.entries[0];
  }

  /** Waits for the close event, bounded. */
  closeEvent(ms = 10_000): Promise<CloseEvent> {
    return withTimeout(this.closed, ms, `the close event (so far: ${this.entries.join(", ")})`);
  }

  /** Waits for the open event, bounded. */
  open(ms = 10_000): Promise<void> {
    return withTimeout(this.opened, ms, "the open event");
  }
}

/** Opens a socket (closed when `t` ends) and waits for `open`. */
export async function opened(t: Owner, impl: Implementation, url: string, protocols?: string | string[]): Promise<EventLog> {
  const ws = protocols === undefined ? new impl.WebSocket(url) : new impl.WebSocket(url, protocols);
  const log = new EventLog(t, ws);
  await log.open();
  return log;
}

/**
 * Closes the socket if it is still open, and waits (5 s at most) for its
 * close event: nothing to wait for once it is CLOSED, nor after an abandoned
 * opening on an implementation that never reports one (DEVIATIONS).
 */
export async function release(log: EventLog): Promise<void> {
  const { ws } = log;
  if (ws.readyState === 3) return;
  const opening = ws.readyState === 0 || !log.entries.some((entry) => entry.startsWith("open"));
  if (ws.readyState === 0 || ws.readyState === 1) ws.close();
  const name = ws instanceof web.WebSocket ? "streamsock" : `${RUNTIME} native`;
  if (opening && DEVIATIONS[name]?.["a failed opening reports error, then close 1006"] !== undefined) return;
  await log.closeEvent(5000).catch(() => {});
}

/**
 * Runs `fn` and returns its value with the exceptions thrown out of the
 * implementation's own callbacks meanwhile (uncaught, they would end the
 * process): for a native implementation on Node, where undici has thrown
 * such; elsewhere `fn` runs as it is and any such exception fails the run.
 */
export async function catchingUncaught<T>(
  impl: Implementation,
  fn: () => Promise<T>,
): Promise<{ value: T | undefined; errors: unknown[] }> {
  const errors: unknown[] = [];
  if (!impl.native || !RUNTIME.startsWith("node")) return { value: await fn(), errors };
  const saved = process.listeners("uncaughtException");
  process.removeAllListeners("uncaughtException");
  let thrown!: () => void;
  // The first such exception ends the wait: what fn waits for will not come.
  const ended = new Promise<undefined>((resolve) => (thrown = () => resolve(undefined)));
  process.on("uncaughtException", (err) => {
    errors.push(err);
    thrown();
  });
  try {
    const running = fn();
    running.catch(() => {});
    return { value: await Promise.race([running, ended]), errors };
  } finally {
    process.removeAllListeners("uncaughtException");
    for (const listener of saved) process.on("uncaughtException", listener);
  }
}

/**
 * `fn` throws the standard's exception `name`: an error of that name, and
 * (the check "<name> is a DOMException", where a runtime deviates) a DOMException.
 */
export async function assertThrowsDom(impl: Implementation, name: string, fn: () => unknown): Promise<void> {
  let thrown: unknown = undefined;
  assert.throws(() => fn(), (err) => {
    thrown = err;
    return true;
  }, `expected ${name} to be thrown`);
  assert.equal((thrown as Error).name, name);
  await standard(impl, `${name} is a DOMException`, () => assert.ok(thrown instanceof DOMException, `${thrown} is a DOMException`));
}

/** A DOMException with that name (what the standard's exceptions are). */
export function isDomException(name: string): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof DOMException, `expected a DOMException ${name}, got ${err}`);
    assert.equal(err.name, name);
    return true;
  };
}
