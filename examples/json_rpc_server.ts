// JSON-RPC-style request/response over WebSocket, the server side: each text
// message is a request `{ "id": 1, "method": "add", "params": [2, 3] }`,
// answered with `{ "id": 1, "result": 5 }` or `{ "id": 1, "error": { code, message } }`.
// Requests are handled concurrently, so answers may come back in any order:
// the id pairs them up (examples/json_rpc_client.ts).
//
//   deno run -A examples/json_rpc_server.ts   |   bun ...   |   npx tsx ...
import process from "node:process";
import { requestHandler, serve, type WebSocketConnection } from "../mod.ts";

const methods: Record<string, (...params: never[]) => unknown> = {
  add: (a: number, b: number) => a + b,
  echo: (value: unknown) => value,
  // Slow on purpose: later requests overtake it.
  sleep: async (ms: number) => {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return `slept ${ms} ms`;
  },
};

interface Request {
  id: number | string;
  method: string;
  params?: unknown[];
}

async function answer(ws: WebSocketConnection, text: string): Promise<void> {
  let request: Request;
  try {
    request = JSON.parse(text);
  } catch {
    return ws.send(JSON.stringify({ id: null, error: { code: -32700, message: "Parse error" } }));
  }
  const method = methods[request.method];
  if (method === undefined) {
    return ws.send(JSON.stringify({ id: request.id, error: { code: -32601, message: `No method ${request.method}` } }));
  }
  try {
    const result = await method(...(request.params ?? []) as never[]);
    await ws.sendAll(JSON.stringify({ id: request.id, result })); // a result may exceed one frame
  } catch (err) {
    await ws.send(JSON.stringify({ id: request.id, error: { code: -32000, message: String(err) } }));
  }
}

async function session(ws: WebSocketConnection): Promise<void> {
  const pending = new Set<Promise<void>>();
  for await (const msg of ws) {
    if (msg.type !== "text") continue;
    const reply = answer(ws, msg.data as string).catch(() => {}); // the client left meanwhile
    pending.add(reply);
    reply.finally(() => pending.delete(reply));
  }
  await Promise.all(pending);
}

// The subprotocol tells clients what they are talking to; others are refused with 400.
// selectProtocol is only called when the client offers some (as in Gerbil), so
// verify refuses a client that offers none.
const handler = requestHandler(session, (offered) => offered.includes("jsonrpc") ? "jsonrpc" : null, {
  verify: (request) => request.protocols.length > 0 || { status: 400, body: "Offer the jsonrpc subprotocol" },
});
const server = serve({ port: Number(process.env.PORT ?? 8080), hostname: process.env.HOST ?? "127.0.0.1" }, handler);
await server.ready;
console.log(`JSON-RPC on ws://${server.addr.hostname}:${server.port}/ (subprotocol "jsonrpc")`);
const stop = () => void server.close();
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
await server.finished;
