// Scenario (i), resume: how long 1,000 resuming subscribers take to get what
// they missed after their server was killed (SIGKILL) and restarted. A
// `streamsock serve --broadcast --redis` process on the runtime named by the
// first argument (node, deno or bun) serves N subscribers (this process, Node,
// `reconnecting(url, { resume: true })`, initialDelay 50 ms, maxDelay 500 ms);
// a second serve process takes the publishes. Each round: all subscribers are
// caught up; the first server is SIGKILLed; M messages are published through
// the second; the first is started again on its port; the clock runs from its
// "listening" line until every subscriber has received all M. Prints one JSON
// line: { seconds, subscribers, missed, reconnects }.
// Usage: node --import tsx bench/durable_resume.ts <runtime> <redis url> [subscribers] [missed]
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { reconnecting, type ResumingClient } from "../mod.ts";
import { freePort } from "../tests/_redis.ts";

const root = join(fileURLToPath(new URL(".", import.meta.url)), "..");
const [runtime, redisUrl, countArg, missedArg] = process.argv.slice(2);
const COUNT = Number(countArg ?? 1000);
const MISSED = Number(missedArg ?? 100);
const bin = (name: string) => join(root, "node_modules", ".bin", name);

function serveCommand(port: number): [string, string[]] {
  const args = ["src/cli/main.ts", "serve", "--port", String(port), "--broadcast", "--redis", redisUrl, "--max-len", "100000"];
  if (runtime === "deno") return [bin("deno"), ["run", "-A", ...args]];
  if (runtime === "bun") return [bin("bun"), args];
  return [process.execPath, ["--import", "tsx", ...args]];
}

function startServe(port: number): Promise<ChildProcess> {
  const [command, argv] = serveCommand(port);
  const child = spawn(command, argv, { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (chunk) => {
      out += chunk;
      if (out.includes("listening on")) resolve(child);
    });
    child.once("exit", (code) => reject(new Error(`serve exited with ${code}`)));
  });
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await exited;
}

const [port1, port2] = [await freePort(), await freePort()];
let first = await startServe(port1);
const second = await startServe(port2);
const topic = `/resume-${Math.random().toString(36).slice(2)}`;
const received = new Array<number>(COUNT).fill(0);
const clients: ResumingClient[] = [];
for (let i = 0; i < COUNT; i++) {
  const client = reconnecting(`ws://127.0.0.1:${port1}/`, { resume: true, initialDelay: 50, maxDelay: 500 });
  client.subscribe(topic, { from: "start" });
  clients.push(client);
  void (async () => {
    for await (const event of client) if (event.type === "message") received[i]++;
  })();
}
const publisher = reconnecting(`ws://127.0.0.1:${port2}/`, { resume: true });
const until = async (condition: () => boolean, ms: number, what: string) => {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};
await publisher.publish(topic, "warm-up");
await until(() => received.every((n) => n === 1), 60_000, "every subscriber got the warm-up");
const connectionsBefore = clients.reduce((sum, c) => sum + c.connections, 0);
await kill(first);
await Promise.all(Array.from({ length: MISSED }, (_, i) => publisher.publish(topic, `missed ${i}`)));
first = await startServe(port1);
const restarted = performance.now();
await until(() => received.every((n) => n === 1 + MISSED), 120_000, "every subscriber caught up");
const seconds = (performance.now() - restarted) / 1000;
const reconnects = clients.reduce((sum, c) => sum + c.connections, 0) - connectionsBefore;
console.log(JSON.stringify({ seconds, subscribers: COUNT, missed: MISSED, reconnects }));
await Promise.all([...clients, publisher].map((c) => c.close()));
await kill(first);
await kill(second);
