// One contract for every socket shim in src/transport/, run against each shim
// this runtime has (node:net everywhere, Deno's and Bun's own sockets on
// their runtimes, and the Web Streams shim): bytes in order, the end reported
// once, the shared high-water mark and drain, and the socket released
// exactly once however the connection ends.
import assert from "node:assert/strict";
import { createServer, type Socket } from "node:net";
import { describe, eventually, type Owner, test, withTimeout } from "./_test.ts";
import { currentRuntime } from "../src/transport/runtime.ts";
import { streamTransport } from "../src/transport/streams.ts";
import type { Transport, TransportSink } from "../src/transport/types.ts";
import { HIGH_WATER_MARK } from "../src/transport/write_queue.ts";
import { CAN_COUNT_DESCRIPTORS, NO_DESCRIPTOR_COUNT, openDescriptors } from "./_descriptors.ts";

/** What a sink heard, in order. */
class Recorder implements TransportSink {
  chunks: Uint8Array[] = [];
  ends = 0;
  errors: unknown[] = [];
  drains = 0;
  data(chunk: Uint8Array): void {
    this.chunks.push(chunk);
  }
  end(): void {
    this.ends++;
  }
  error(err: unknown): void {
    this.errors.push(err);
  }
  drain(): void {
    this.drains++;
  }
  get bytes(): number {
    return this.chunks.reduce((n, c) => n + c.length, 0);
  }
  get finished(): boolean {
    return this.ends + this.errors.length > 0;
  }
}

type Dial = (port: number) => Promise<Transport>;

/** The socket shims this runtime has; each is imported only where it runs. */
function socketShims(): [string, Dial][] {
  const shims: [string, Dial][] = [["node:net", async (port) => {
    const { dialNode } = await import("../src/transport/node.ts");
    return dialNode({ hostname: "127.0.0.1", port });
  }]];
  if (currentRuntime() === "deno") {
    shims.push(["Deno.connect", async (port) => {
      const { dialDeno } = await import("../src/transport/deno.ts");
      return dialDeno({ hostname: "127.0.0.1", port });
    }]);
  }
  if (currentRuntime() === "bun") {
    shims.push(["Bun.connect", async (port) => {
      const { dialBun } = await import("../src/transport/bun.ts");
      return dialBun({ hostname: "127.0.0.1", port });
    }]);
  }
  return shims;
}

/** A raw server whose accepted sockets come out of `next()`; closed, with them, when the test ends. */
async function peerServer(t: Owner): Promise<{ port: number; next(): Promise<Socket> }> {
  const waiting: ((socket: Socket) => void)[] = [];
  const ready: Socket[] = [];
  const all = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    socket.on("error", () => {});
    all.add(socket);
    const take = waiting.shift();
    if (take) take(socket);
    else ready.push(socket);
  });
  t.after(() => {
    for (const socket of all) socket.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as { port: number }).port,
    next: () => {
      const socket = ready.shift();
      if (socket) return Promise.resolve(socket);
      return withTimeout(new Promise((resolve) => waiting.push(resolve)), 5000, "The shim's connection to the peer server");
    },
  };
}

const ROUNDS = 50;

for (const [name, dial] of socketShims()) {
  describe(`the ${name} shim`, () => {
    async function open(t: Owner, server: Awaited<ReturnType<typeof peerServer>>) {
      const transport = await dial(server.port);
      t.after(() => transport.destroy());
      const peer = await server.next();
      // node:net ends its side by itself once it read the other's end, so listen from the start.
      const peerEnded = new Promise<void>((resolve) => peer.once("end", () => resolve()));
      peer.resume();
      const sink = new Recorder();
      transport.start(sink);
      return { transport, peer, sink, peerEnded };
    }

    test("delivers bytes in order both ways and reports the peer's end once", async (t) => {
      const server = await peerServer(t);
      const { transport, peer, sink } = await open(t, server);
      const received: Uint8Array[] = [];
      peer.on("data", (chunk: Uint8Array) => received.push(chunk));
      for (let i = 0; i < 100; i++) peer.write(new Uint8Array([i]));
      peer.end();
      for (let i = 0; i < 100; i++) transport.write(new Uint8Array([i, i]));
      await withTimeout(eventually(() => sink.finished, 5000, "ended"), 5000, "the end");
      assert.equal(sink.ends, 1);
      assert.deepEqual([...sink.chunks.flatMap((c) => [...c])], Array.from({ length: 100 }, (_, i) => i));
      transport.end();
      await eventually(() => received.reduce((n, c) => n + c.length, 0) === 200, 5000, "the peer read everything");
      assert.ok(sink.chunks.every((c) => c.constructor === Uint8Array), "plain Uint8Arrays, never Buffers");
    });

    test("write returns false past the shared high-water mark, and drain follows once the peer reads", async (t) => {
      const server = await peerServer(t);
      const { transport, peer, sink } = await open(t, server);
      peer.pause();
      let accepted = true;
      let written = 0;
      while (accepted && written < 64 * 1024 * 1024) {
        accepted = transport.write(new Uint8Array(16 * 1024));
        written += 16 * 1024;
      }
      assert.equal(accepted, false, "write never asked to wait");
      assert.ok(transport.bufferedAmount > HIGH_WATER_MARK / 2, `bufferedAmount ${transport.bufferedAmount}`);
      peer.resume();
      await withTimeout(eventually(() => sink.drains > 0, 10_000, "drained"), 10_000, "drain");
      transport.destroy();
      peer.destroy();
    });

    const endings: [string, (t: Transport, peer: Socket, sink: Recorder, peerEnded: Promise<void>) => Promise<void>][] = [
      ["our end, then the peer's", async (t, peer, sink, peerEnded) => {
        t.end();
        await peerEnded;
        peer.end();
        await eventually(() => sink.finished, 5000, "the end");
      }],
      ["the peer's end, then ours", async (t, peer, sink, peerEnded) => {
        peer.end();
        await eventually(() => sink.finished, 5000, "the end");
        t.end();
        await peerEnded;
      }],
      ["destroy, twice", (t) => {
        t.destroy();
        t.destroy();
        return Promise.resolve();
      }],
      ["a reset by the peer", async (_t, peer, sink) => {
        peer.resetAndDestroy();
        await eventually(() => sink.finished, 5000, "the end");
      }],
    ];
    for (const [how, end] of endings) {
      test(`releases the socket once both directions are done: ${how}`, {
        skip: CAN_COUNT_DESCRIPTORS ? false : NO_DESCRIPTOR_COUNT,
      }, async (t) => {
        const server = await peerServer(t);
        const before = openDescriptors();
        const peers: Socket[] = [];
        for (let i = 0; i < ROUNDS; i++) {
          const { transport, peer, sink, peerEnded } = await open(t, server);
          peers.push(peer);
          await withTimeout(end(transport, peer, sink, peerEnded), 5000, how);
          assert.ok(sink.ends + sink.errors.length <= 1, "the end was reported once");
        }
        for (const peer of peers) peer.destroy();
        await eventually(() => openDescriptors() <= before + 4, 5000, `descriptors released after ${ROUNDS} rounds of ${how}`);
      });
    }
  });
}

describe("the Web Streams shim", () => {
  function pipe() {
    const inbound = new TransformStream<Uint8Array, Uint8Array>();
    const outbound = new TransformStream<Uint8Array, Uint8Array>();
    let closes = 0;
    const transport = streamTransport({ readable: inbound.readable, writable: outbound.writable, close: () => closes++ });
    const sink = new Recorder();
    transport.start(sink);
    return { transport, sink, peerIn: inbound.writable.getWriter(), peerOut: outbound.readable.getReader(), closes: () => closes };
  }

  test("closes the pair once, after both directions are done", async () => {
    const { transport, sink, peerIn, peerOut, closes } = pipe();
    await peerIn.write(new Uint8Array([1, 2, 3]));
    transport.write(new Uint8Array([4, 5]));
    assert.deepEqual([...(await peerOut.read()).value!], [4, 5]);
    await peerIn.close();
    await eventually(() => sink.finished, 1000, "the end");
    assert.equal(closes(), 0, "closed while our side was still open");
    transport.end();
    assert.equal((await peerOut.read()).done, true);
    await eventually(() => closes() === 1, 1000, "released");
    transport.destroy();
    assert.equal(closes(), 1, "released twice");
    assert.deepEqual([...sink.chunks[0]], [1, 2, 3]);
  });

  test("destroy releases at once, exactly once", () => {
    const { transport, closes } = pipe();
    transport.destroy();
    transport.destroy();
    assert.equal(closes(), 1);
  });

  test("write returns false past the shared high-water mark and drain follows", async () => {
    const { transport, sink, peerOut } = pipe();
    let accepted = true;
    let written = 0;
    while (accepted) {
      accepted = transport.write(new Uint8Array(16 * 1024));
      written += 16 * 1024;
    }
    assert.ok(written >= HIGH_WATER_MARK, `asked to wait after ${written} bytes`);
    let read = 0;
    while (read < written) read += (await peerOut.read()).value!.length;
    await eventually(() => sink.drains > 0, 1000, "drain");
    await eventually(() => transport.bufferedAmount === 0, 1000, "nothing buffered once all was read");
    transport.destroy();
  });
});
