// Fan-out server on streamsock (any runtime): clients on /sub subscribe to
// topic "t"; every message from a client on /pub is published to "t" (framed
// once for all subscribers). With BENCH_REDIS=<url> the hub spans processes
// through the Redis backplane, and BENCH_ROLE=sub|pub says which clients this
// process serves (scenario h: publisher on one process, subscribers on another).
// With BENCH_DURABLE=1 the topic is durable (scenario i): every message goes
// through the log (Redis Streams with BENCH_REDIS, else in memory) first.
import process from "node:process";
import { serve } from "../../mod.ts";

const redisUrl = process.env.BENCH_REDIS;
const backplane = redisUrl === undefined
  ? undefined
  : new (await import("../../src/pubsub/redis.ts")).RedisBackplane({ url: redisUrl });
const durable = process.env.BENCH_DURABLE === "1" ? { prefix: "t", maxLen: 10_000 } : undefined;
const server = serve({ port: 0, hostname: "127.0.0.1", backplane, durable }, async (ws, request) => {
  if (request.url.startsWith("/sub")) {
    ws.subscribe("t");
    await ws.closed;
    return;
  }
  for await (const msg of ws) ws.publish("t", msg.data);
});
await server.ready;
await (backplane as { ready?: Promise<void> } | undefined)?.ready;
console.log(`ready ${server.port}`);
