// Test-only plumbing for the server tests: the two ways to run a handler
// (serve, and requestHandler on a node:http server) behind one shape, and a
// raw TCP client that writes exact request bytes and reads exact answers.
// Both take the test context and are released when the test ends.
import { createServer as createHttpServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { connect as netConnect, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { type Owner, Releases } from "./_test.ts";
import { Wire } from "./_wire.ts";
import type { OnSocket, RequestHandlerOptions, SelectProtocol, ServeOptions } from "../src/server/options.ts";
import { requestHandler } from "../src/server/request_handler.ts";
import { serve, type Server } from "../src/server/serve.ts";

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

/**
 * Runs `onSocket` behind serve() or behind a node:http(s) server's "upgrade"
 * event, on 127.0.0.1, until `close()` or the end of the test (which also
 * drops the node:http server's upgraded connections).
 */
export async function start(t: Owner, kind: Kind, onSocket: OnSocket, options: StartOptions = {}): Promise<Running> {
  const { selectProtocol, serve: serveOptions, tls, ...handlerOptions } = options;
  const handler = requestHandler(onSocket, selectProtocol, handlerOptions);
  if (kind === "serve") {
    const server = serve({ hostname: "127.0.0.1", port: 0, tls, ...serveOptions }, handler);
    t.after(() => server.close());
    await server.ready;
    return { port: server.port, server, close: () => server.close() };
  }
  const http = tls === undefined ? createHttpServer() : createHttpsServer({ cert: tls.cert, key: tls.key });
  http.on("request", (_req, res) => {
    res.writeHead(426, { "Content-Type": "text/plain" });
    res.end("WebSocket only\n");
  });
  // Upgraded sockets are no longer the HTTP server's: closeAllConnections leaves them open.
  const upgraded = new Set<Duplex>();
  http.on("upgrade", (_request, socket: Duplex) => {
    upgraded.add(socket);
    socket.once("close", () => upgraded.delete(socket));
  });
  http.on("upgrade", handler);
  const close = () => {
    http.close();
    http.closeAllConnections?.();
    return Promise.resolve();
  };
  t.after(() => {
    close();
    for (const socket of upgraded) socket.destroy();
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  const port = (http.address() as { port: number }).port;
  return { port, close };
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
  startLine: string;
  headers: Headers;
  body: string;
}

/** A TCP client that speaks bytes: exact requests, exact answers, then frames (from the server: unmasked). */
export class RawClient extends Wire {
  private constructor(socket: Socket) {
    super(socket, false);
  }

  /** Connects to 127.0.0.1:`port`; the socket is destroyed when the test ends. */
  static async connect(t: Owner, port: number): Promise<RawClient> {
    const socket = netConnect(port, "127.0.0.1");
    t.after(() => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    return new RawClient(socket);
  }

  /** Reads a whole refusal: head, then the body up to the server's close. */
  async readResponse(ms = 5000): Promise<RawResponse> {
    const head = await this.readHead(ms);
    await this.waitEnded(ms);
    return { ...head, body: new TextDecoder().decode(this.takeRest()) };
  }
}

/** Sends one request and reads the whole answer (within 5 s); the connection is gone when it returns or throws. */
export async function exchange(port: number, request: string | Uint8Array): Promise<RawResponse> {
  const releases = new Releases();
  try {
    const client = await RawClient.connect(releases, port);
    client.write(request);
    return await client.readResponse();
  } finally {
    await releases.release();
  }
}

