// Every way a connection can end releases its socket, on the server and on
// the client: 2,000 connections through each path, counting the process's
// open descriptors before and after.
import assert from "node:assert/strict";
import { connect as netConnect, createServer as createNetServer, type Socket } from "node:net";
import { describe, eventually, type Owner, test, withTimeout } from "../_test.ts";
import { connect } from "../../src/client/connect.ts";
import { computeAccept } from "../../src/handshake/key.ts";
import { requestHandler } from "../../src/server/request_handler.ts";
import { serve, type Server } from "../../src/server/serve.ts";
import type { WebSocketConnection } from "../../src/connection/connection.ts";
import { CAN_COUNT_DESCRIPTORS, NO_DESCRIPTOR_COUNT, openDescriptors } from "../_descriptors.ts";
import { rawFrame } from "../_helpers.ts";
import { upgradeRequest } from "../_server.ts";

const CONNECTIONS = 2000;
const CONCURRENCY = 50;
/** Descriptors the runtime may open on its own meanwhile (timers, a worker, the module cache). */
const SLACK = 8;
/** The closing handshake's timeout where a path waits for it to run out; the clean paths wait 5 s. */
const CLOSE_TIMEOUT = 150;

/** Runs `once` CONNECTIONS times, CONCURRENCY at a time. */
async function churn(once: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < CONNECTIONS) await once(next++);
  };
  await withTimeout(Promise.all(Array.from({ length: CONCURRENCY }, worker)), 120_000, "the churn");
}

/** Fails unless the descriptor count falls back to within SLACK of `before`. */
async function assertReleased(before: number, what: string): Promise<void> {
  try {
    await eventually(() => openDescriptors() <= before + SLACK, 5000, "descriptors released");
  } catch {
    assert.fail(`${what}: ${openDescriptors() - before} descriptors more than before ${CONNECTIONS} connections`);
  }
}

/** A raw TCP socket to 127.0.0.1:port that swallows its errors, destroyed when `t` ends. */
function dial(t: Owner, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ port, host: "127.0.0.1" });
    t.after(() => socket.destroy());
    socket.on("error", () => {});
    socket.once("connect", () => resolve(socket));
    socket.once("close", () => reject(new Error("closed before connecting")));
  });
}

/** Waits for `socket` to be closed by the other side (EOF or reset), then lets it go. */
function untilClosed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve();
    socket.once("end", () => socket.destroy());
    socket.once("close", () => resolve());
    socket.resume();
  });
}

/** A raw client past a correct opening handshake, destroyed when `t` ends. */
async function rawClient(t: Owner, port: number, path = "/"): Promise<Socket> {
  const socket = await dial(t, port);
  socket.write(upgradeRequest({}, `GET ${path} HTTP/1.1`));
  await new Promise<void>((resolve, reject) => {
    let head = "";
    const onData = (chunk: Uint8Array) => {
      head += new TextDecoder().decode(chunk);
      if (!head.includes("\r\n\r\n")) return;
      socket.off("data", onData);
      socket.pause();
      if (head.startsWith("HTTP/1.1 101")) resolve();
      else reject(new Error(head.split("\r\n")[0]));
    };
    socket.on("data", onData);
    socket.once("close", () => reject(new Error("closed during the handshake")));
  });
  return socket;
}

/** serve() on 127.0.0.1, closed when `t` ends: `/close` closes at once, `/idle` waits, anything else echoes. */
async function startServer(
  t: Owner,
  options: { handshakeTimeout?: number; closeTimeout?: number; verify?: () => Promise<boolean> } = {},
): Promise<Server> {
  const handler = requestHandler(async (ws: WebSocketConnection, request) => {
    if (request.url === "/close") {
      await ws.close(1000).catch(() => {});
      return;
    }
    if (request.url === "/idle") {
      await ws.closed;
      return;
    }
    try {
      for await (const msg of ws) await ws.sendAll(msg);
    } catch {
      // How it ended is in ws.closed; these tests count descriptors.
    }
  }, undefined, {
    pingInterval: 0,
    closeTimeout: options.closeTimeout ?? 5000,
    handshakeTimeout: options.handshakeTimeout ?? 2000,
    verify: options.verify,
    onError: () => {},
  });
  const server = serve({ hostname: "127.0.0.1", port: 0, shutdownTimeout: 500 }, handler);
  t.after(() => server.close());
  await server.ready;
  return server;
}

/**
 * A raw server: reads each request head, and hands the socket to `then`
 * (with the 101 sent unless `answer` is false); closed, with the sockets it
 * accepted, when `t` ends.
 */
async function rawServer(t: Owner, then: (socket: Socket) => void, answer = true): Promise<{ port: number }> {
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    let head = "";
    const onData = async (chunk: Uint8Array) => {
      head += new TextDecoder().decode(chunk);
      if (!head.includes("\r\n\r\n")) return;
      socket.off("data", onData);
      if (answer) {
        const key = /sec-websocket-key: *(\S+)/i.exec(head)?.[1] ?? "";
        socket.write(
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            `Sec-WebSocket-Accept: ${await computeAccept(key)}\r\n\r\n`,
        );
      }
      then(socket);
    };
    socket.on("data", onData);
  });
  t.after(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as { port: number }).port };
}

const clientOptions = { pingInterval: 0, closeTimeout: 5000, timeout: 5000 };

describe(`${CONNECTIONS} connections through each way a connection ends leave no descriptor behind`, {
  skip: CAN_COUNT_DESCRIPTORS ? false : NO_DESCRIPTOR_COUNT,
}, () => {
  describe("with our client and our server at both ends", () => {
    test("a clean close started by the client", async (t) => {
      const server = await startServer(t);
      const before = openDescriptors();
      await churn(async () => {
        const ws = await connect(`ws://127.0.0.1:${server.port}/`, clientOptions);
        await ws.send("hello");
        await ws.recv();
        const info = await ws.close(1000);
        assert.equal(info.code, 1000, String(info.error?.cause ?? info.error));
      });
      await assertReleased(before, "clean closes started by the client");
    });

    test("a clean close started by the server", async (t) => {
      const server = await startServer(t);
      const before = openDescriptors();
      await churn(async () => {
        const ws = await connect(`ws://127.0.0.1:${server.port}/close`, clientOptions);
        const info = await ws.closed;
        assert.equal(info.code, 1000);
      });
      await assertReleased(before, "clean closes started by the server");
    });

    test("server.close() with connections open", async (t) => {
      const before = openDescriptors();
      for (let round = 0; round < CONNECTIONS / 200; round++) {
        const server = await startServer(t);
        const clients = await Promise.all(
          Array.from({ length: 200 }, () => connect(`ws://127.0.0.1:${server.port}/idle`, clientOptions)),
        );
        await server.close();
        const infos = await withTimeout(Promise.all(clients.map((ws) => ws.closed)), 5000, "the clients' ends");
        assert.deepEqual(infos.filter((info) => info.code !== 1001), [], "every client heard 1001");
      }
      await assertReleased(before, "server.close()");
    });

    test("connect() aborted by its signal, and by its timeout, mid-handshake", async (t) => {
      // verify() never answers: the server's handshakeTimeout releases its end.
      const server = await startServer(t, { handshakeTimeout: 300, verify: () => new Promise<boolean>(() => {}) });
      const before = openDescriptors();
      await churn(async (i) => {
        const url = `ws://127.0.0.1:${server.port}/`;
        const attempt = i % 2 === 0
          ? connect(url, { ...clientOptions, signal: AbortSignal.timeout(20) })
          : connect(url, { ...clientOptions, timeout: 20 });
        await assert.rejects(attempt);
      });
      await assertReleased(before, "aborted handshakes");
    });
  });

  describe("on the server, against raw clients", () => {
    const serverPaths: [string, string, (socket: Socket) => Promise<void>][] = [
      ["a close timeout: the client never answers the close", "/close", (socket) => untilClosed(socket)],
      ["a protocol failure: a frame with RSV bits", "/", (socket) => {
        socket.write(rawFrame(0xf1, "x"));
        return untilClosed(socket);
      }],
      ["a reset mid-frame", "/", (socket) => {
        socket.write(rawFrame(0x82, new Uint8Array(100)).subarray(0, 20));
        socket.resetAndDestroy();
        return Promise.resolve();
      }],
      ["the client vanishing mid-frame", "/", (socket) => {
        socket.end(rawFrame(0x82, new Uint8Array(100)).subarray(0, 20));
        return untilClosed(socket);
      }],
    ];
    for (const [name, path, body] of serverPaths) {
      test(name, async (t) => {
        const server = await startServer(t, { closeTimeout: CLOSE_TIMEOUT });
        const before = openDescriptors();
        await churn(async () => body(await rawClient(t, server.port, path)));
        await eventually(() => server.connections === 0, 5000, "every connection gone");
        await assertReleased(before, name);
      });
    }

    test("the client vanishing, or resetting, mid-handshake", async (t) => {
      const server = await startServer(t);
      const before = openDescriptors();
      await churn(async (i) => {
        const socket = await dial(t, server.port);
        const half = upgradeRequest().slice(0, 40);
        if (i % 2 === 0) {
          socket.end(half);
          await untilClosed(socket);
        } else {
          // Reset once the kernel took the half request.
          await new Promise((resolve) => socket.write(half, resolve));
          socket.resetAndDestroy();
        }
      });
      await assertReleased(before, "handshakes cut short");
    });
  });

  describe("on the client, against raw servers", () => {
    const clientPaths: [string, (socket: Socket) => void, (ws: WebSocketConnection) => Promise<unknown>][] = [
      ["a close timeout: the server never answers the close", (socket) => socket.resume(), (ws) => ws.close(1000)],
      ["a protocol failure: a masked frame from the server", (socket) => {
        socket.write(rawFrame(0x82, "x", [1, 2, 3, 4]));
        socket.resume();
      }, (ws) => ws.closed],
      ["a reset mid-frame", (socket) => {
        // Reset once the kernel took the first 20 bytes of the frame.
        socket.write(rawFrame(0x82, new Uint8Array(100), null).subarray(0, 20), () => socket.resetAndDestroy());
      }, (ws) => ws.closed],
      ["the server vanishing mid-frame", (socket) => {
        socket.end(rawFrame(0x82, new Uint8Array(100), null).subarray(0, 20));
      }, (ws) => ws.closed],
    ];
    for (const [name, serve, use] of clientPaths) {
      test(name, async (t) => {
        const sockets = new Set<Socket>();
        const raw = await rawServer(t, (socket) => {
          sockets.add(socket);
          socket.once("close", () => sockets.delete(socket));
          serve(socket);
        });
        const before = openDescriptors();
        await churn(async () => {
          const ws = await connect(`ws://127.0.0.1:${raw.port}/`, { ...clientOptions, closeTimeout: CLOSE_TIMEOUT });
          await withTimeout(use(ws), 5000, "the end");
          await ws.closed;
        });
        for (const socket of sockets) socket.destroy();
        await assertReleased(before, name);
      });
    }

    test("the server vanishing mid-handshake", async (t) => {
      const raw = await rawServer(t, (socket) => socket.end("HTTP/1.1 101 Switching"), false);
      const before = openDescriptors();
      await churn(async () => {
        await assert.rejects(connect(`ws://127.0.0.1:${raw.port}/`, clientOptions));
      });
      await assertReleased(before, "handshakes cut short by the server");
    });
  });
});
