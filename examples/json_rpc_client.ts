// JSON-RPC-style request/response over WebSocket, the client side: `call`
// sends a request and resolves with the answer that carries its id, so many
// calls can be in flight on one connection (examples/json_rpc_server.ts).
//
//   deno run -A examples/json_rpc_client.ts ws://127.0.0.1:8080/   |   bun ...   |   npx tsx ...
import process from "node:process";
import { connect, type WebSocketConnection } from "../mod.ts";

class RpcClient {
  #ws: WebSocketConnection;
  #nextId = 1;
  #pending = new Map<number, { resolve(value: unknown): void; reject(err: Error): void }>();

  constructor(ws: WebSocketConnection) {
    this.#ws = ws;
    this.#receive();
  }

  call(method: string, ...params: unknown[]): Promise<unknown> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#ws.sendAll(JSON.stringify({ id, method, params })).catch(reject);
    });
  }

  async #receive(): Promise<void> {
    try {
      for await (const msg of this.#ws) {
        const { id, result, error } = JSON.parse(msg.data as string);
        const call = this.#pending.get(id);
        this.#pending.delete(id);
        if (error !== undefined) call?.reject(new Error(`${error.message} (${error.code})`));
        else call?.resolve(result);
      }
    } catch {
      // The connection failed; the calls below are rejected.
    }
    for (const call of this.#pending.values()) call.reject(new Error("Connection closed"));
    this.#pending.clear();
  }
}

const ws = await connect(process.argv[2] ?? "ws://127.0.0.1:8080/", { protocol: "jsonrpc", timeout: 5000 });
const rpc = new RpcClient(ws);

const order: string[] = [];
const slow = rpc.call("sleep", 100).then((r) => order.push(String(r)));
const fast = rpc.call("add", 2, 3).then((r) => order.push(`add(2, 3) = ${r}`));
await Promise.all([slow, fast]);
console.log(order.join("\n")); // the fast answer first: answers are matched by id, not by order
console.log(`echo -> ${JSON.stringify(await rpc.call("echo", { nested: [1, "two"] }))}`);
try {
  await rpc.call("divide", 1, 0);
} catch (err) {
  console.log(`divide -> error: ${(err as Error).message}`);
}
await ws.close();
