// Libraries built on ws, unmodified, over streamsock/ws, each with its own
// client: Socket.IO (engine.io's `wsEngine`) with socket.io-client over the
// websocket transport, rooms and acknowledgements; graphql-ws (`useServer`)
// with the graphql-ws client, a query and a subscription.
import assert from "node:assert/strict";
import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Server as SocketIoServer } from "socket.io";
import { io as ioClient, type Socket as IoClientSocket } from "socket.io-client";
import { GraphQLInt, GraphQLObjectType, GraphQLSchema, GraphQLString } from "graphql";
import { createClient } from "graphql-ws";
import { useServer } from "graphql-ws/use/ws";
import { WebSocket, WebSocketServer } from "../../src/ws/mod.ts";
import { describe, type Owner, test, withTimeout } from "../_test.ts";

/** A node:http server on 127.0.0.1, closed with its connections when `t` ends. */
async function httpServer(t: Owner): Promise<{ http: HttpServer; port: number }> {
  const http = createServer();
  t.after(() => {
    http.closeAllConnections?.();
    return new Promise<void>((resolve) => http.close(() => resolve()));
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  return { http, port: (http.address() as AddressInfo).port };
}

/** A Socket.IO server on streamsock/ws's WebSocketServer (websocket transport only), closed when `t` ends. */
async function socketIoServer(t: Owner): Promise<{ io: SocketIoServer; port: number }> {
  const { http, port } = await httpServer(t);
  const io = new SocketIoServer(http, { wsEngine: WebSocketServer, transports: ["websocket"] });
  t.after(() => new Promise<void>((resolve) => io.close(() => resolve())));
  return { io, port };
}

/** A socket.io-client socket over the websocket transport, disconnected when `t` ends. */
function socketIoClient(t: Owner, port: number): IoClientSocket {
  const client = ioClient(`http://127.0.0.1:${port}`, { transports: ["websocket"], reconnection: false, forceNew: true });
  t.after(() => client.disconnect());
  return client;
}

describe("Socket.IO over streamsock/ws", () => {
  test("socket.io-client joins rooms, gets room broadcasts and acknowledgements over the websocket transport", async (t) => {
    const { io, port } = await socketIoServer(t);
    io.on("connection", (socket) => {
      socket.on("join", (room: string, ack: (reply: string) => void) => {
        void socket.join(room);
        ack(`joined ${room}`);
      });
      socket.on("say", (room: string, text: string) => io.to(room).emit("said", `someone: ${text}`));
      socket.on("sum", (a: number, b: number, ack: (total: number) => void) => ack(a + b));
    });
    const connect = () => {
      const client = socketIoClient(t, port);
      return withTimeout(new Promise<IoClientSocket>((resolve, reject) => {
        client.once("connect", () => resolve(client));
        client.once("connect_error", reject);
      }), 10_000, "socket.io-client connecting");
    };
    const [alice, bob, carol] = await Promise.all([connect(), connect(), connect()]);
    assert.equal(alice.io.engine.transport.name, "websocket", "the client must be on the websocket transport");
    assert.equal(await withTimeout(alice.emitWithAck("join", "lobby"), 5000, "alice's join ack"), "joined lobby");
    assert.equal(await withTimeout(bob.emitWithAck("join", "lobby"), 5000, "bob's join ack"), "joined lobby");
    assert.equal(await withTimeout(carol.emitWithAck("join", "elsewhere"), 5000, "carol's join ack"), "joined elsewhere");
    const heard: string[] = [];
    carol.on("said", (text: string) => heard.push(`carol ${text}`));
    const bobHears = new Promise<string>((resolve) => bob.once("said", resolve));
    const aliceHears = new Promise<string>((resolve) => alice.once("said", resolve));
    alice.emit("say", "lobby", "hello room");
    assert.equal(await withTimeout(bobHears, 5000, "bob hearing the room"), "someone: hello room");
    assert.equal(await withTimeout(aliceHears, 5000, "alice hearing the room"), "someone: hello room");
    assert.equal(await withTimeout(alice.emitWithAck("sum", 2, 40), 5000, "the sum's ack"), 42);
    assert.deepEqual(heard, [], "carol is in another room");
  });

  test("the server acknowledges, and asks the client for an acknowledgement", async (t) => {
    const { io, port } = await socketIoServer(t);
    const asked = new Promise<string>((resolve) => {
      io.on("connection", async (socket) => {
        resolve(await socket.timeout(5000).emitWithAck("question", "name?"));
      });
    });
    const client = socketIoClient(t, port);
    client.on("question", (_q: string, ack: (answer: string) => void) => ack("streamsock"));
    assert.equal(await withTimeout(asked, 10_000, "the client's ack"), "streamsock");
  });
});

const schema = new GraphQLSchema({
  query: new GraphQLObjectType({
    name: "Query",
    fields: { hello: { type: GraphQLString, resolve: () => "world" } },
  }),
  subscription: new GraphQLObjectType({
    name: "Subscription",
    fields: {
      countdown: {
        type: GraphQLInt,
        args: { from: { type: GraphQLInt } },
        subscribe: async function* (_root: unknown, args: { from: number }) {
          for (let i = args.from; i >= 0; i--) yield { countdown: i };
        },
      },
    },
  }),
});

describe("graphql-ws over streamsock/ws", () => {
  for (const clientImpl of [["streamsock/ws", WebSocket], ["the runtime's WebSocket", globalThis.WebSocket]] as const) {
    if (clientImpl[1] === undefined) continue;
    test(`useServer with the graphql-ws client (${clientImpl[0]}): a query and a subscription`, async (t) => {
      const { http, port } = await httpServer(t);
      const wss = new WebSocketServer({ server: http, path: "/graphql" });
      // graphql-ws types its argument with @types/ws's WebSocketServer: ours fits it, with no cast.
      const server = useServer({ schema }, wss);
      t.after(() => server.dispose());
      const client = createClient({ url: `ws://127.0.0.1:${port}/graphql`, webSocketImpl: clientImpl[1], retryAttempts: 0, lazy: true });
      t.after(() => client.dispose());
      const query = await withTimeout(
        new Promise<unknown>((resolve, reject) => {
          let result: unknown;
          client.subscribe({ query: "{ hello }" }, { next: (r) => (result = r), error: reject, complete: () => resolve(result) });
        }),
        10_000,
        "the query",
      );
      assert.deepEqual(query, { data: { hello: "world" } });
      const counts = await withTimeout(
        (async () => {
          const counts: unknown[] = [];
          for await (const result of client.iterate({ query: "subscription { countdown(from: 3) }" })) counts.push(result);
          return counts;
        })(),
        10_000,
        "the subscription's four results and its end",
      );
      assert.deepEqual(counts, [3, 2, 1, 0].map((n) => ({ data: { countdown: n } })));
    });
  }
});
