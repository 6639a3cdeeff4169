// The WebSocket constructor and its attributes before the connection opens,
// from the WebSockets Standard's constructor steps (and the web-platform-tests
// websockets/Create-*, constructor, constants, eventhandlers tests): URL
// parsing and its SyntaxErrors, http(s) mapped to ws(s), the subprotocol
// rules, the readyState constants, the event handler attributes.
import assert from "node:assert/strict";
import { after, before, describe, type Owner, Releases, test, withTimeout } from "../_test.ts";
import { assertThrowsDom, EventLog, implementations, isDomException, RawServer, standard } from "./_web.ts";

for (const impl of implementations()) {
  describe(`WebSocket constructor (${impl.name})`, () => {
    let raw: RawServer;
    const releases = new Releases();
    /**
     * A socket to the raw server, closed when the test ends, right after the
     * raw server dropped its connections (nothing there answers a close).
     */
    const make = (t: Owner, url: string, protocols?: string | string[]) => {
      const log = new EventLog(t, protocols === undefined ? new impl.WebSocket(url) : new impl.WebSocket(url, protocols));
      t.after(() => raw.dropAll());
      return log.ws;
    };
    before(async () => (raw = await RawServer.start(releases)));
    after(() => releases.release());

    for (
      const [url, why] of [
        ["ws://foo bar.com/", "a space in the host"],
        ["wss://foo bar.com/", "a space in the host (wss)"],
        ["ftp://127.0.0.1/", "the ftp scheme"],
        ["mailto:example@example.org", "the mailto scheme"],
        ["about:blank", "the about scheme"],
        ["ws://127.0.0.1/#", "an empty fragment"],
        ["ws://127.0.0.1/#test", "a fragment"],
        ["#test", "a relative URL without a base URL"],
        ["127.0.0.1", "a URL without a scheme"],
        ["file:///tmp/x", "the file scheme"],
      ]
    ) {
      test(`a SyntaxError for ${why}: ${url}`, async () => {
        await assertThrowsDom(impl, "SyntaxError", () => new impl.WebSocket(url));
      });
    }

    test("no URL is a TypeError (a required argument), not a SyntaxError", async () => {
      await standard(impl, "new WebSocket() is a TypeError", () => {
        assert.throws(() => new (impl.WebSocket as unknown as new () => unknown)(), TypeError);
      });
    });

    test("http: and https: URLs are accepted and shown as ws: and wss:", (t) => {
      const http = make(t, `http://127.0.0.1:${raw.port}/path?q=1`);
      assert.equal(http.url, `ws://127.0.0.1:${raw.port}/path?q=1`);
      const https = make(t, `https://127.0.0.1:${raw.port}/`);
      assert.equal(https.url, `wss://127.0.0.1:${raw.port}/`);
    });

    test("url is the URL serialized (host lowercased, default port dropped, path added)", (t) => {
      assert.equal(make(t, `WS://127.0.0.1:${raw.port}`).url, `ws://127.0.0.1:${raw.port}/`);
      const url = make(t, new URL(`ws://127.0.0.1:${raw.port}/a b`) as unknown as string).url;
      assert.equal(url, `ws://127.0.0.1:${raw.port}/a%20b`);
    });

    test("extra constructor arguments are ignored", (t) => {
      const ws = (new (impl.WebSocket as unknown as new (...args: unknown[]) => WebSocket)(raw.url, "echo", "stray"));
      new EventLog(t, ws as never);
      t.after(() => raw.dropAll());
      assert.ok(ws instanceof impl.WebSocket);
    });

    for (
      const [protocols, why] of [
        [["echo", "echo"], "a repeated subprotocol"],
        [["echo", "eCho"], "a subprotocol repeated in another case"],
        ["/echo", "a separator character"],
        ["echo protocol", "a space"],
        ["\u0080echo", "a non-ASCII character"],
        ["", "an empty subprotocol"],
        [["chat", ""], "an empty subprotocol in a list"],
        ["a,b", "a comma"],
      ] as [string | string[], string][]
    ) {
      test(`a SyntaxError for ${why}`, async () => {
        await assertThrowsDom(impl, "SyntaxError", () => new impl.WebSocket(raw.url, protocols));
      });
    }

    test("a new socket is CONNECTING, with empty protocol and extensions and binaryType blob", async (t) => {
      const ws = make(t, raw.url, ["chat", "superchat"]);
      assert.equal(ws.readyState, 0);
      assert.equal(ws.protocol, "");
      assert.equal(ws.extensions, "");
      await standard(impl, "binaryType defaults to blob", () => assert.equal(ws.binaryType, "blob"));
      assert.equal(ws.bufferedAmount, 0);
      assert.ok(ws instanceof EventTarget);
    });

    test("the readyState constants are on the constructor and on every socket", (t) => {
      const ws = make(t, raw.url);
      for (const [name, value] of [["CONNECTING", 0], ["OPEN", 1], ["CLOSING", 2], ["CLOSED", 3]] as const) {
        assert.equal(impl.WebSocket[name], value, `WebSocket.${name}`);
        assert.equal(ws[name], value, `ws.${name}`);
      }
      // Constants are not writable.
      assert.throws(() => {
        "use strict";
        (impl.WebSocket as unknown as { OPEN: number }).OPEN = 5;
      });
      assert.equal(impl.WebSocket.OPEN, 1);
    });

    test("the readyState constants are data properties of the prototype (WebIDL constants)", async () => {
      await standard(impl, "constants on the prototype", () => {
        for (const [name, value] of [["CONNECTING", 0], ["OPEN", 1], ["CLOSING", 2], ["CLOSED", 3]] as const) {
          assert.equal(impl.WebSocket.prototype[name], value, `WebSocket.prototype.${name}`);
        }
      });
    });

    for (const type of ["open", "error", "close", "message"] as const) {
      test(`on${type} is null, holds a function or object, and treats anything else as null`, (t) => {
        const ws = make(t, raw.url) as unknown as Record<string, unknown>;
        assert.equal(ws[`on${type}`], null);
        const handler = () => {};
        ws[`on${type}`] = handler;
        assert.equal(ws[`on${type}`], handler);
        ws[`on${type}`] = 2;
        assert.equal(ws[`on${type}`], null);
        ws[`on${type}`] = handler;
        ws[`on${type}`] = "string";
        assert.equal(ws[`on${type}`], null);
      });

      test(`on${type} keeps an object as it is ([LegacyTreatNonObjectAsNull])`, async (t) => {
        const ws = make(t, raw.url) as unknown as Record<string, unknown>;
        // HTML's EventHandler is [LegacyTreatNonObjectAsNull]: an object is kept (and, not callable, never called).
        const object = { handleEvent() {} };
        ws[`on${type}`] = object;
        await standard(impl, "an event handler attribute holds an object", () => assert.equal(ws[`on${type}`], object));
      });
    }

    test("an event handler keeps the place it was first set at among the listeners", async (t) => {
      const order: string[] = [];
      const ws = make(t, raw.url);
      ws.addEventListener("open", () => order.push("listener 1"));
      ws.onopen = () => order.push("first handler");
      ws.addEventListener("open", () => order.push("listener 2"));
      ws.onopen = () => order.push("second handler");
      await raw.next(t);
      await withTimeout(new Promise<void>((resolve) => ws.addEventListener("open", () => resolve())), 10_000, "the open event");
      await standard(impl, "an event handler keeps its place among the listeners", () => {
        assert.deepEqual(order, ["listener 1", "second handler", "listener 2"]);
      });
    });
  });
}

describe("WebSocket constructor: streamsock's options object", () => {
  const [ours] = implementations().filter((impl) => !impl.native);
  test("the second argument may be { protocols, ...connect options }", { skip: ours === undefined }, async (t) => {
    const raw = await RawServer.start(t);
    raw.protocol = "chat.v2";
    const ws = new ours.WebSocket(raw.url, { protocols: ["chat.v2", "chat.v1"], headers: { "X-Team": "web" } });
    const log = new EventLog(t, ws);
    const peer = await raw.next(t);
    assert.equal(peer.head.headers.get("x-team"), "web");
    assert.equal(peer.head.headers.get("sec-websocket-protocol"), "chat.v2, chat.v1");
    await log.open();
    assert.equal(ws.protocol, "chat.v2");
    peer.wire.destroy();
    await log.closeEvent();
  });

  test("protocols in the options object are checked like the positional ones", { skip: ours === undefined }, () => {
    assert.throws(() => new ours.WebSocket("ws://127.0.0.1:1/", { protocols: ["a", "a"] }), isDomException("SyntaxError"));
    assert.throws(() => new ours.WebSocket("ws://127.0.0.1:1/", { protocols: "a b" }), isDomException("SyntaxError"));
  });
});
