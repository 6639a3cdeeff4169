// A rolling restart of `streamsock serve --workers N` (issue #28): SIGHUP
// replaces the workers one by one (a new one listens on the shared port,
// then the old one drains: 503 + Retry-After to upgrades, 1001 to its
// clients) while `reconnecting` clients chat through Redis; every client
// comes back and the room still works. Real processes, a real redis-server,
// SO_REUSEPORT; on a Node older than 22.12 (no SO_REUSEPORT) the servers
// run on the Node 24 that `npm test` installs into tests/node-versions.
// A `streamsock connect --reconnect` client rides it out beside them.
import { describe, eventually, test, withTimeout } from "./_test.ts";
import assert from "node:assert/strict";
import process from "node:process";
import type { WebSocketConnection } from "../mod.ts";
import { reconnecting } from "../mod.ts";
import { freePort, RedisServer, redisServerBinary } from "./_redis.ts";
import { type CommandStart, type Started, workersCommand } from "./_spawn.ts";

const T = 60_000;

function loud(message: string): string {
  console.warn(`\n!!! rolling_restart.test.ts: SKIPPING: ${message}\n`);
  return message;
}

const workers = workersCommand();

/** False when the workers can share a port here and redis-server is here, else a loud reason. */
function support(): false | string {
  if (redisServerBinary() === null) return loud("redis-server is not installed (apt-get install redis-server)");
  return typeof workers === "string" ? loud(workers) : false;
}

/** The `streamsock` command, where `--workers` can share a port. */
function cli(t: Parameters<CommandStart>[0], args: string[]): Started {
  return (workers as CommandStart)(t, args);
}

interface Session {
  connections: number;
  current: WebSocketConnection | null;
  heard: string[];
}

describe("streamsock serve --workers: rolling restart", () => {
  test("SIGHUP restarts the workers one by one; every reconnecting client comes back and the room still works", {
    skip: support(),
    timeout: 120_000,
  }, async (t) => {
    const redis = await RedisServer.startFor(t, redisServerBinary()!);
    const port = await freePort();
    const primary = cli(t, [
      "serve",
      "--port",
      String(port),
      "--broadcast",
      "--redis",
      redis.url,
      "--workers",
      "2",
    ]);
    await primary.waitFor(/listening on[\s\S]*listening on/, T);
    const stop = new AbortController();
    const sessions: Session[] = Array.from({ length: 6 }, () => ({ connections: 0, current: null, heard: [] }));
    const loops = sessions.map(async (session) => {
      for await (const ws of reconnecting(`ws://127.0.0.1:${port}/room`, { signal: stop.signal, initialDelay: 100, maxDelay: 500 })) {
        session.connections++;
        session.current = ws;
        for await (const msg of ws) if (typeof msg.data === "string") session.heard.push(msg.data);
        session.current = null;
      }
    });
    t.after(async () => {
      stop.abort();
      await Promise.allSettled(loops);
    });
    const open = (s: Session) => s.current !== null && s.current.readyState === 1;
    await eventually(() => sessions.every(open), T, "every client connected");
    // The CLI's own reconnecting client, as a user would run it.
    const commandLine = cli(t, ["connect", "--reconnect", `ws://127.0.0.1:${port}/room`]);
    await commandLine.waitFor(/connected to/, T, "stderr");

    // By PID: Deno's ChildProcess.kill() records the signal as the child's end, and stop() would then not signal it.
    process.kill(primary.process.pid!, "SIGHUP");
    await primary.waitFor(/workers restarted/, T);
    assert.equal(primary.stdout.match(/listening on /g)?.length, 4, "two replacements listened");
    assert.equal(primary.stdout.match(/^stopped$/gm)?.length, 2, "both old workers drained and stopped");
    await eventually(() => sessions.every((s) => s.connections >= 2 && open(s)), T, "every client reconnected");

    // One room across the new workers: a probe from one client reaches every other.
    // Each probe is sent once the previous one went out; they stop once every listener heard one.
    const [speaker, ...listeners] = sessions;
    const heardAfter = (s: Session) => s.heard.some((text) => text.startsWith("after restart"));
    let probe = 0;
    await eventually(async () => {
      await speaker.current?.send(`after restart ${probe++}`).catch(() => {});
      return listeners.every(heardAfter) && /after restart/.test(commandLine.stdout);
    }, T, "every client, and the command's, heard the room after the restart");
    assert.match(commandLine.stderr, /reconnecting in/, "the command lost its worker and reconnected");
    stop.abort();
    await withTimeout(Promise.all(loops), T, "the clients' loops");
    const stopped = await primary.stop("SIGTERM", T);
    assert.equal(stopped.stdout.match(/^stopped$/gm)?.length, 4, `the new workers stopped too: ${stopped.stdout}`);
  });
});
