// The README's durable topics section, run as it is written (only the
// addresses rewritten): its server block as a program, twice on two ports
// behind one redis-server, and its client block as a program that must print
// every message once across a SIGKILL and restart of its server.
import assert from "node:assert/strict";
import { reconnecting } from "../mod.ts";
import { freePort, RedisServer, redisServerBinary } from "./_redis.ts";
import { codeBlocks, programOf, section, startProgram } from "./_readme.ts";
import type { Started } from "./_spawn.ts";
import { describe, type Owner, test } from "./_test.ts";

const HEADING = "Durable topics: resume without loss";
const binary = redisServerBinary();

function blocks(): string[] {
  return codeBlocks(section(HEADING)).filter((b) => b.lang === "ts").map((b) => b.code);
}

describe("the README's durable topics", () => {
  test("its two blocks are the server and the client", () => {
    const [server, client] = blocks();
    assert.match(server, /hub\.resume\(ws\)/);
    assert.match(client, /reconnecting\("ws:\/\/127\.0\.0\.1:8080\/", \{ resume: true/);
  });

  test(
    "the client block prints every message once across its server's SIGKILL and restart",
    { skip: binary === null ? "redis-server is not installed" : false, timeout: 90_000 },
    async (t) => {
      const redis = await RedisServer.startFor(t, binary!);
      const [serverCode, clientCode] = blocks();
      const startServer = async (owner: Owner, port: number): Promise<Started> => {
        const program = startProgram(
          owner,
          programOf(serverCode, [["redis://127.0.0.1:6379", redis.url], ["port: 8080,", `port: ${port}, hostname: "127.0.0.1",`]]) +
            `\nawait server.ready;\nconsole.log("listening");\n`,
        );
        await program.waitFor(/listening/, 30_000);
        return program;
      };
      const [port1, port2] = [await freePort(), await freePort()];
      let server1 = await startServer(t, port1);
      await startServer(t, port2);
      const client = startProgram(
        t,
        programOf(clientCode, [
          ["ws://127.0.0.1:8080/", `ws://127.0.0.1:${port1}/`],
          ["console.log(event.offset, event.data);", `console.log(event.offset, event.data); if (event.offset === 4) break;`],
        ]) + `\nawait client.close();\n`,
      );
      await client.waitFor(/^1 hello$/m, 30_000);
      await server1.kill(); // SIGKILL: a crash
      const other = reconnecting(`ws://127.0.0.1:${port2}/`, { resume: true });
      t.after(() => other.close());
      for (const text of ["two", "three"]) await other.publish("/lobby", text);
      server1 = await startServer(t, port1);
      await client.waitFor(/^3 three$/m, 30_000);
      await other.publish("/lobby", "four");
      const done = await client.finished(30_000);
      assert.equal(done.code, 0, done.stderr);
      assert.deepEqual(done.stdout.trim().split("\n"), ["1 hello", "2 two", "3 three", "4 four"]);
    },
  );
});
