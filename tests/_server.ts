// Test-only plumbing for the server tests: the two ways to run a handler
// (serve, and requestHandler on a node:http server) behind one shape, and a
// raw TCP client that writes exact request bytes and reads exact answers.
import { createServer as createHttpServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { connect as netConnect, type Socket } from "node:net";
import {
  type OnSocket,
  requestHandler,
  type RequestHandlerOptions,
  type SelectProtocol,
  serve,
  type ServeOptions,
  type Server,
} from "../src/server.ts";
import { FrameDecoder } from "../src/codec/decoder.ts";
import type { Frame } from "../src/codec/frame.ts";

export type Kind = "serve" | "node:http";
export const KINDS: Kind[] = ["serve", "node:http"];

export interface Running {
  port: number;
  /** The serve() server, for the "serve" kind. */
  server?: Server;
  close(): Promise<void>;
}

export interface StartOptions extends RequestHandlerOptions {
  selectProtocol?: SelectProtocol;
  serve?: ServeOptions;
  tls?: { cert: string; key: string };
}

/** Runs `onSocket` behind serve() or behind a node:http(s) server's "upgrade" event, on 127.0.0.1. */
export async function start(kind: Kind, onSocket: OnSocket, options: StartOptions = {}): Promise<Running> {
  const { selectProtocol, serve: serveOptions, tls, ...handlerOptions } = options;
  const handler = requestHandler(onSocket, selectProtocol, handlerOptions);
  if (kind === "serve") {
    const server = serve({ hostname: "127.0.0.1", port: 0, tls, ...serveOptions }, handler);
    await server.ready;
    return { port: server.port, server, close: () => server.close() };
  }
  const http = tls === undefined ? createHttpServer() : createHttpsServer({ cert: tls.cert, key: tls.key });
  http.on("request", (_req, res) => {
    res.writeHead(426, { "Content-Type": "text/plain" });
    res.end("WebSocket only\n");
  });
  http.on("upgrade", handler);
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  const port = (http.address() as { port: number }).port;
  return {
    port,
    close: () => {
      http.close();
      http.closeAllConnections?.();
      return Promise.resolve();
    },
  };
}

export const SAMPLE_KEY = "dGhlIHNhbXBsZSBub25jZQ==";
export const SAMPLE_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/** A valid upgrade request head; a field set to null is left out. */
export function upgradeRequest(fields: Record<string, string | null> = {}, startLine = "GET /chat HTTP/1.1"): string {
  const all: Record<string, string | null> = {
    Host: "127.0.0.1",
    Upgrade: "websocket",
    Connection: "Upgrade",
    "Sec-WebSocket-Key": SAMPLE_KEY,
    "Sec-WebSocket-Version": "13",
    ...fields,
  };
  let head = startLine + "\r\n";
  for (const [name, value] of Object.entries(all)) if (value !== null) head += `${name}: ${value}\r\n`;
  return head + "\r\n";
}

export interface RawResponse {
  statusLine: string;
  headers: Headers;
  body: string;
}

function parseHead(text: string): { statusLine: string; headers: Headers } {
  const [statusLine, ...lines] = text.split("\r\n");
  const headers = new Headers();
  for (const line of lines) {
    const colon = line.indexOf(":");
    headers.append(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  return { statusLine, headers };
}

/** A TCP client that speaks bytes: exact requests, exact answers, then frames. */
export class RawClient {
  readonly socket: Socket;
  #buffered = new Uint8Array(0);
  #ended = false;
  #wake: (() => void) | null = null;
  readonly #decoder = new FrameDecoder({ masked: false, maxFrameSize: 1 << 30 });

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on("data", (chunk: Uint8Array) => {
      const merged = new Uint8Array(this.#buffered.length + chunk.length);
      merged.set(this.#buffered);
      merged.set(chunk, this.#buffered.length);
      this.#buffered = merged;
      this.#notify();
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on("error", () => {});
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  static async connect(port: number): Promise<RawClient> {
    const socket = netConnect(port, "127.0.0.1");
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    return new RawClient(socket);
  }

  write(data: string | Uint8Array): void {
    this.socket.write(typeof data === "string" ? new TextEncoder().encode(data) : data);
  }

  async #waitFor(ready: () => boolean, ms: number, what: string): Promise<void> {
    const deadline = Date.now() + ms;
    while (!ready()) {
      if (this.#ended) throw new Error(`Connection closed while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`No ${what} within ${ms} ms`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
  }

  #headEnd(): number {
    const b = this.#buffered;
    for (let i = 0; i + 3 < b.length; i++) {
      if (b[i] === 13 && b[i + 1] === 10 && b[i + 2] === 13 && b[i + 3] === 10) return i;
    }
    return -1;
  }

  /** Reads the response head; the bytes after it stay for readFrame. */
  async readHead(ms = 5000): Promise<{ statusLine: string; headers: Headers }> {
    await this.#waitFor(() => this.#headEnd() >= 0, ms, "response head");
    const end = this.#headEnd();
    const head = parseHead(new TextDecoder().decode(this.#buffered.subarray(0, end)));
    this.#buffered = this.#buffered.slice(end + 4);
    return head;
  }

  /** Reads a whole refusal: head, then the body up to the server's close. */
  async readResponse(ms = 5000): Promise<RawResponse> {
    const head = await this.readHead(ms);
    await this.waitClosed(ms);
    return { ...head, body: new TextDecoder().decode(this.#buffered) };
  }

  /** Resolves once the server closed the connection. */
  async waitClosed(ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.#ended) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`Server did not close the connection within ${ms} ms`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
  }

  /** The next frame from the server, or null once it closed. */
  async readFrame(ms = 5000): Promise<Frame | null> {
    for (;;) {
      const frame = this.#decoder.next();
      if (frame !== null) return frame;
      if (this.#buffered.length > 0) {
        this.#decoder.push(this.#buffered);
        this.#buffered = new Uint8Array(0);
        continue;
      }
      if (this.#ended) return null;
      await this.#waitFor(() => this.#buffered.length > 0 || this.#ended, ms, "frame").catch((err) => {
        if (!this.#ended) throw err;
      });
    }
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Sends one request and reads the whole answer. */
export async function exchange(port: number, request: string | Uint8Array): Promise<RawResponse> {
  const client = await RawClient.connect(port);
  try {
    client.write(request);
    return await client.readResponse();
  } finally {
    client.destroy();
  }
}

/** Rejects when `promise` takes longer than `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms))),
  ]);
}
