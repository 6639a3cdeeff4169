// An echo client: sends a text and a binary message, prints the echoes, and
// closes with 1000.
//
//   deno run -A examples/echo_client.ts ws://127.0.0.1:8080/
//   bun examples/echo_client.ts ws://127.0.0.1:8080/
//   npx tsx examples/echo_client.ts ws://127.0.0.1:8080/
import process from "node:process";
import { connect } from "../mod.ts";

const ws = await connect(process.argv[2] ?? "ws://127.0.0.1:8080/", { timeout: 5000 });

await ws.send("hello");
console.log("echo:", (await ws.recvAll()).data);

await ws.send(new Uint8Array([1, 2, 3]));
console.log("echo:", (await ws.recvAll()).data);

const { code, wasClean } = await ws.close(1000, "bye");
console.log("closed:", code, wasClean ? "cleanly" : "abnormally");
