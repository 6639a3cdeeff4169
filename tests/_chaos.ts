// The chaos run of durable topics, shared by tests/durable_chaos.test.ts (a
// bounded run in `npm test`) and scripts/durable_soak.ts (a longer one):
// `streamsock serve --broadcast --redis` processes on Node, Deno and Bun
// behind one real redis-server with `appendonly yes`, resuming publishers
// and subscribers in this process, and faults: servers SIGKILLed and
// restarted on their ports, client connections reset, Redis SIGKILLed and
// restarted. Then every subscriber's messages are checked against what the
// publishers' acknowledgements say the log holds.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { reconnecting } from "../mod.ts";
import type { PublishReceipt, ResumeEvent, ResumingClient } from "../mod.ts";
import { freePort, RedisServer } from "./_redis.ts";
import { root, Started } from "./_spawn.ts";
import { eventually, type Owner, withTimeout } from "./_test.ts";

export type Runtime = "node" | "deno" | "bun";

/** The command that runs the CLI on `runtime`, whichever runtime runs this. */
function cliCommand(runtime: Runtime, args: string[]): [string, string[]] {
  const bin = (name: string) => join(root, "node_modules", ".bin", name);
  switch (runtime) {
    case "deno":
      return [bin("deno"), ["run", "-A", "src/cli/main.ts", ...args]];
    case "bun":
      return [bin("bun"), ["src/cli/main.ts", ...args]];
    default:
      return ["node", ["--import", "tsx", "src/cli/main.ts", ...args]];
  }
}

/** One `serve --broadcast --redis` process, restartable on its port. */
class ServeProcess {
  readonly runtime: Runtime;
  readonly port: number;
  readonly #args: string[];
  #running: Started | null = null;

  constructor(runtime: Runtime, port: number, args: string[]) {
    this.runtime = runtime;
    this.port = port;
    this.#args = args;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}/`;
  }

  async start(): Promise<void> {
    const [command, argv] = cliCommand(this.runtime, ["serve", "--port", String(this.port), "--broadcast", ...this.#args]);
    const child: ChildProcess = spawn(command, argv, { cwd: root, env: { ...process.env, NO_COLOR: "1" }, stdio: ["ignore", "pipe", "pipe"] });
    this.#running = new Started(child);
    await this.#running.waitFor(/listening on ws:\/\//, 60_000);
  }

  /** SIGKILL, by PID: a crash. */
  async kill(): Promise<void> {
    const running = this.#running;
    this.#running = null;
    await running?.kill();
  }
}

export interface ChaosOptions {
  redisBinary: string;
  /** One server per entry. */
  runtimes: Runtime[];
  subscribers: number;
  topics: number;
  /** Each subscribes to this many topics (spread evenly). */
  topicsPerSubscriber: number;
  publishers: number;
  /** Messages each publisher publishes to each topic. */
  messages: number;
  /** Milliseconds between two rounds of publishes (one per topic). */
  interval: number;
  /** The topics' window (`--max-len`). */
  maxLen: number;
  /**
   * "faults": servers killed and restarted, connections reset, Redis
   * restarted, publishers everywhere. "outage": the first server stays
   * down through most of the publishing (publishers on the others only),
   * longer than the window lasts.
   */
  scenario: "faults" | "outage";
  log?: (line: string) => void;
}

export interface ChaosReport {
  scenario: string;
  published: number;
  subscribers: number;
  /** Messages each subscriber should have got, summed. */
  expected: number;
  delivered: number;
  lost: number;
  duplicated: number;
  reordered: number;
  /** Gap notices received, and the messages they covered. */
  gaps: number;
  gapMessages: number;
  /** Messages neither delivered nor announced by a gap (must be 0 in both scenarios). */
  silentlyLost: number;
  /** Publishes never acknowledged. */
  unacknowledged: number;
  serverKills: number;
  connectionResets: number;
  redisRestarts: number;
  seconds: number;
}

interface Received {
  offsets: number[];
  payloads: string[];
  gaps: { from: number; to: number | null; reason: string }[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function describeReport(report: ChaosReport, runtime: string): string {
  return `durable chaos (${report.scenario}, clients on ${runtime}): published ${report.published}, ` +
    `${report.subscribers} subscribers, delivered ${report.delivered} of ${report.expected}: ` +
    `lost ${report.lost}, duplicated ${report.duplicated}, reordered ${report.reordered}, ` +
    `gap notices ${report.gaps} (covering ${report.gapMessages}), silently lost ${report.silentlyLost}, ` +
    `unacknowledged ${report.unacknowledged}; faults: ${report.serverKills} server kills, ` +
    `${report.connectionResets} connection resets, ${report.redisRestarts} Redis restarts; ${report.seconds.toFixed(1)} s`;
}

export async function runChaos(t: Owner, options: ChaosOptions): Promise<ChaosReport> {
  const log = options.log ?? (() => {});
  const began = Date.now();
  const dir = mkdtempSync(join(tmpdir(), "streamsock-chaos-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const redis = await RedisServer.startFor(t, options.redisBinary, { appendOnlyDir: dir });
  const servers: ServeProcess[] = [];
  for (const runtime of options.runtimes) {
    const server = new ServeProcess(runtime, await freePort(), ["--redis", redis.url, "--max-len", String(options.maxLen)]);
    t.after(() => server.kill());
    servers.push(server);
  }
  await Promise.all(servers.map((server) => server.start()));
  log(`servers up: ${servers.map((s) => `${s.runtime} :${s.port}`).join(", ")}`);

  const run = Math.random().toString(36).slice(2, 8);
  const topics = Array.from({ length: options.topics }, (_, i) => `/chaos-${run}/t${i}`);
  const clients: ResumingClient[] = [];
  const open = (server: ServeProcess) => {
    const client = reconnecting(server.url, { resume: true, initialDelay: 100, maxDelay: 1000, timeout: 5000 });
    t.after(() => client.close());
    clients.push(client);
    return client;
  };

  // Subscribers: from the start of fresh topics, so each must get every message.
  const subscribers: { client: ResumingClient; server: number; topics: string[]; got: Map<string, Received> }[] = [];
  for (let i = 0; i < options.subscribers; i++) {
    const server = i % servers.length;
    const client = open(servers[server]);
    const mine = Array.from({ length: options.topicsPerSubscriber }, (_, k) => topics[(i + k) % topics.length]);
    const got = new Map(mine.map((topic) => [topic, { offsets: [], payloads: [], gaps: [] } as Received]));
    for (const topic of mine) client.subscribe(topic, { from: "start" });
    void (async () => {
      for await (const event of client as AsyncIterable<ResumeEvent>) {
        const received = got.get(event.topic);
        if (received === undefined) continue;
        if (event.type === "message") {
          received.offsets.push(event.offset);
          received.payloads.push(event.data as string);
        } else if (event.type === "gap") received.gaps.push({ from: event.from, to: event.to, reason: event.reason });
      }
    })();
    subscribers.push({ client, server, topics: mine, got });
  }

  // Publishers: one message per topic per round; not awaited one by one.
  const publisherServers = options.scenario === "outage" ? servers.slice(1) : servers;
  // Where the log holds what (from acknowledgements; a retry's may not know its offset) and what was acknowledged.
  const receipts = new Map<string, Map<number, string>>(topics.map((topic) => [topic, new Map()]));
  const acknowledged = new Map<string, Set<string>>(topics.map((topic) => [topic, new Set()]));
  const acks: Promise<void>[] = [];
  let published = 0;
  let unacknowledged = 0;
  // The rounds published so far: the faults are placed in rounds, not in time.
  let round = 0;
  let publishingDone = false;
  const roundWaiters = new Set<() => void>();
  const roundPassed = () => {
    for (const check of [...roundWaiters]) check();
  };
  const untilRound = (target: number) =>
    new Promise<void>((resolve) => {
      const check = () => {
        if (round < target && !publishingDone) return;
        roundWaiters.delete(check);
        resolve();
      };
      roundWaiters.add(check);
      check();
    });
  const publishing = (async () => {
    const publishers = Array.from({ length: options.publishers }, (_, i) => open(publisherServers[i % publisherServers.length]));
    for (let n = 1; n <= options.messages; n++) {
      for (const [p, publisher] of publishers.entries()) {
        for (const topic of topics) {
          const payload = `${p}:${n}`;
          published++;
          acks.push(
            publisher.publish(topic, payload).then((receipt: PublishReceipt) => {
              acknowledged.get(topic)!.add(payload);
              if (receipt.offset !== undefined) receipts.get(topic)!.set(receipt.offset, payload);
            }, () => {
              unacknowledged++;
            }),
          );
        }
      }
      // A sleep, because it must be: publishing at a steady rate, through the faults, is the scenario's load.
      await sleep(options.interval);
      round = n;
      roundPassed();
    }
  })().finally(() => {
    publishingDone = true;
    roundPassed();
  });

  // Faults, at fractions of the publishing time.
  const span = options.messages * options.interval;
  let serverKills = 0;
  let connectionResets = 0;
  let redisRestarts = 0;
  /** As many rounds as publishing for `ms` takes. */
  const rounds = (ms: number) => untilRound(round + Math.ceil(ms / options.interval));
  const at = (fraction: number) => rounds(span * fraction);
  const crash = async (server: ServeProcess, downFor: number) => {
    await server.kill();
    serverKills++;
    log(`killed the ${server.runtime} server (SIGKILL)`);
    await rounds(downFor);
    await server.start();
    log(`restarted the ${server.runtime} server`);
  };
  const faults = (async () => {
    if (options.scenario === "outage") {
      await at(0.1);
      await crash(servers[0], span * 0.75);
      return;
    }
    await at(0.12);
    await crash(servers[0], 1500);
    await at(0.1);
    for (const [i, subscriber] of subscribers.entries()) {
      if (i % 3 !== 0) continue;
      subscriber.client.connection?.terminate();
      connectionResets++;
    }
    log(`reset ${connectionResets} client connections`);
    await at(0.1);
    await redis.kill();
    redisRestarts++;
    log("killed redis-server (SIGKILL)");
    await rounds(1000);
    await redis.restart();
    log("restarted redis-server (appendonly yes)");
    await at(0.1);
    await crash(servers[1 % servers.length], 1500);
    await crash(servers[2 % servers.length], 1000);
  })();
  await Promise.all([publishing, faults]);
  await withTimeout(Promise.all(acks), 60_000, "the acknowledgements").catch(() => {});
  // A last message on every topic: a subscriber that has it has had every
  // earlier one, and anything delivered twice would have come before it.
  const closer = open(publisherServers[0]);
  await withTimeout(
    Promise.all(topics.map((topic) =>
      closer.publish(topic, "last:1").then((receipt: PublishReceipt) => {
        published++;
        acknowledged.get(topic)!.add("last:1");
        if (receipt.offset !== undefined) receipts.get(topic)!.set(receipt.offset, "last:1");
      }, () => {
        published++;
        unacknowledged++;
      })
    )),
    60_000,
    "the last messages",
  ).catch(() => {});
  log(`published ${published}; every publish acknowledged: ${unacknowledged === 0}`);

  // Everything acknowledged has an offset; each subscriber must reach the last of each of its topics.
  const lastOffset = new Map(topics.map((topic) => [topic, Math.max(0, ...receipts.get(topic)!.keys())]));
  const reached = (received: Received, topic: string) => {
    const last = lastOffset.get(topic)!;
    const top = Math.max(0, received.offsets[received.offsets.length - 1] ?? 0, ...received.gaps.map((g) => g.to ?? 0));
    return top >= last;
  };
  const allReached = () => subscribers.every((s) => [...s.got].every(([topic, r]) => reached(r, topic)));
  // What did not arrive within the minute is reported below, not thrown.
  await eventually(allReached, 60_000, "every subscriber at the last offset of its topics").catch(() => {});

  let expected = 0;
  let delivered = 0;
  let lost = 0;
  let duplicated = 0;
  let reordered = 0;
  let gaps = 0;
  let gapMessages = 0;
  let silentlyLost = 0;
  // The log as the subscribers saw it, where no acknowledgement said (they must all agree).
  for (const topic of topics) {
    const log = receipts.get(topic)!;
    for (const subscriber of subscribers) {
      const received = subscriber.got.get(topic);
      if (received === undefined) continue;
      for (const [i, offset] of received.offsets.entries()) {
        if (!log.has(offset)) log.set(offset, received.payloads[i]);
      }
      lastOffset.set(topic, Math.max(lastOffset.get(topic)!, ...received.offsets, ...received.gaps.map((g) => g.to ?? 0)));
    }
  }
  for (const subscriber of subscribers) {
    duplicated += subscriber.client.skipped;
    for (const [topic, received] of subscriber.got) {
      const log = receipts.get(topic)!;
      const last = lastOffset.get(topic)!;
      const wanted = acknowledged.get(topic)!;
      expected += wanted.size;
      delivered += received.payloads.length;
      const seen = new Set<string>();
      for (const payload of received.payloads) {
        if (seen.has(payload)) duplicated++;
        seen.add(payload);
      }
      for (const payload of wanted) if (!seen.has(payload)) lost++;
      // The log's order: offsets increase, each offset holds what its publisher was told.
      const covered = new Set<number>();
      for (const [i, offset] of received.offsets.entries()) {
        if (i > 0 && offset <= received.offsets[i - 1]) reordered++;
        else if (log.get(offset) !== received.payloads[i]) reordered++;
        covered.add(offset);
      }
      // Each publisher's messages in the order it published them.
      const lastSeq = new Map<string, number>();
      for (const payload of received.payloads) {
        const [p, n] = payload.split(":");
        if (Number(n) <= (lastSeq.get(p) ?? 0)) reordered++;
        lastSeq.set(p, Number(n));
      }
      for (const gap of received.gaps) {
        gaps++;
        const to = gap.to ?? last;
        gapMessages += to - gap.from + 1;
        for (let o = gap.from; o <= to; o++) covered.add(o);
      }
      for (let o = 1; o <= last; o++) if (!covered.has(o)) silentlyLost++;
    }
  }
  await Promise.all(clients.map((client) => client.close()));
  return {
    scenario: options.scenario,
    published,
    subscribers: subscribers.length,
    expected,
    delivered,
    lost,
    duplicated,
    reordered,
    gaps,
    gapMessages,
    silentlyLost,
    unacknowledged,
    serverKills,
    connectionResets,
    redisRestarts,
    seconds: (Date.now() - began) / 1000,
  };
}
