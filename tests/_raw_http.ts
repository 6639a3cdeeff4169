// Test-only: a TCP (or TLS) server on 127.0.0.1 that records every HTTP
// request head it receives and answers with whatever the test scripts, so
// client tests can see exactly what connect() sent and feed it any response.
// It is closed, with every connection it accepted, when its owner ends.
import { createServer as createNetServer, type Server, type Socket } from "node:net";
import { createServer as createTlsServer, type TLSSocket } from "node:tls";
import { HttpHeadParser } from "../src/handshake/http.ts";
import { computeAccept } from "../src/handshake/key.ts";
import type { Owner } from "./_test.ts";

export interface RecordedRequest {
  method: string;
  target: string;
  headers: Headers;
  /** The client's socket, for the answer (and TLS details). */
  socket: Socket;
  /** Resolves when the client's socket is closed. */
  closed: Promise<void>;
}

export type Responder = (request: RecordedRequest) => void | Promise<void>;

export interface RawServer {
  port: number;
  /** `http://127.0.0.1:port` style origin for building URLs. */
  base(scheme?: "ws" | "wss"): string;
  requests: RecordedRequest[];
  /** Connections accepted, whether or not a whole head arrived. */
  connections: number;
  close(): Promise<void>;
}

export interface RawServerOptions {
  tls?: { cert: string; key: string; requestCert?: boolean; ca?: string; rejectUnauthorized?: boolean };
  hostname?: string;
}

/** Starts a server, closed when `t` ends; `respond` is called once per complete request head. */
export async function rawServer(t: Owner, respond: Responder, options: RawServerOptions = {}): Promise<RawServer> {
  const sockets = new Set<Socket>();
  const requests: RecordedRequest[] = [];
  let connections = 0;
  const onSocket = (socket: Socket) => {
    connections++;
    sockets.add(socket);
    const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    closed.then(() => sockets.delete(socket));
    socket.on("error", () => {});
    const parser = new HttpHeadParser();
    const onData = (chunk: Uint8Array) => {
      const head = parser.push(new Uint8Array(chunk));
      if (head === null) return;
      socket.off("data", onData);
      const request: RecordedRequest = {
        method: head.startLine[0],
        target: head.startLine[1],
        headers: head.headers,
        socket,
        closed,
      };
      requests.push(request);
      Promise.resolve(respond(request)).catch(() => socket.destroy());
    };
    socket.on("data", onData);
  };
  const server: Server = options.tls === undefined
    ? createNetServer(onSocket)
    : createTlsServer({ ...options.tls }, (socket: TLSSocket) => onSocket(socket));
  server.on("tlsClientError", () => {});
  const close = () => {
    for (const socket of sockets) socket.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  };
  t.after(close);
  const hostname = options.hostname ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, hostname, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  return {
    port,
    base: (scheme = options.tls ? "wss" : "ws") => `${scheme}://${host}:${port}`,
    requests,
    get connections() {
      return connections;
    },
    close,
  };
}

/** The head of a correct 101 answer to `request`, plus `extra` lines. */
export async function switchingProtocols(request: RecordedRequest, extra: string[] = []): Promise<string> {
  const accept = await computeAccept(request.headers.get("sec-websocket-key")!);
  return [
    "HTTP/1.1 101 Switching Protocols",
    "Upgrade: websocket",
    "Connection: Upgrade",
    `Sec-WebSocket-Accept: ${accept}`,
    ...extra,
    "",
    "",
  ].join("\r\n");
}

/** A responder that accepts every handshake (choosing `protocol` if given) and then leaves the socket alone. */
export function acceptAll(protocol?: (offered: string | null) => string | null): Responder {
  return async (request) => {
    const chosen = protocol?.(request.headers.get("sec-websocket-protocol")) ?? null;
    request.socket.write(await switchingProtocols(request, chosen ? [`Sec-WebSocket-Protocol: ${chosen}`] : []));
  };
}
