// Event order and timing, from the WebSockets Standard's "feedback from the
// protocol" (web-platform-tests websockets/interfaces/WebSocket/events/*,
// readyState/*): open, message, error and close are each dispatched as a task
// of their own, never inside the constructor, send() or close(); listeners
// added right after the constructor see open; microtasks queued by one
// event's listener run before the next event; messages that arrive after
// close() was called are not delivered; close comes last.
import assert from "node:assert/strict";
import { after, before, describe, Releases, test, withTimeout } from "../_test.ts";
import { HandshakeError } from "../../src/errors.ts";
import * as web from "../../src/web/mod.ts";
import {
  EventLog,
  implementations,
  opened,
  RawServer,
  type ScenarioServer,
  SERVERS,
  serverFrame,
  standard,
  startOurServer,
} from "./_web.ts";

for (const impl of implementations()) {
  for (const [serverName, startServer] of SERVERS) {
    describe(`event order and timing (${impl.name}, ${serverName})`, () => {
      let server: ScenarioServer;
      const releases = new Releases();
      before(async () => (server = await startServer(releases)));
      after(() => releases.release());

      test("open is dispatched later, not in the constructor: listeners added afterwards see it", async (t) => {
        const ws = new impl.WebSocket(`${server.origin}/echo`);
        let openedSynchronously = false;
        ws.addEventListener("open", () => (openedSynchronously = true));
        assert.equal(openedSynchronously, false);
        const log = new EventLog(t, ws);
        await log.open();
        assert.equal(ws.readyState, 1);
      });

      test("send() and close() never dispatch events synchronously", async (t) => {
        const log = await opened(t, impl, `${server.origin}/echo`);
        const before = log.entries.length;
        log.ws.send("a");
        log.ws.close(1000);
        assert.equal(log.entries.length, before, "nothing dispatched inside send() or close()");
        assert.equal(log.ws.readyState, 2);
        await log.closeEvent();
      });

      test("messages, then close, in the order the server sent them; readyState OPEN during messages", async (t) => {
        const log = await opened(t, impl, `${server.origin}/echo`);
        log.ws.send("burst-close:5");
        await log.closeEvent();
        assert.deepEqual(log.entries, [
          "open 1",
          "message 0 1",
          "message 1 1",
          "message 2 1",
          "message 3 1",
          "message 4 1",
          'close 1000 "done" true 3',
        ]);
      });

      test("messages that arrive after close() was called are not delivered", async (t) => {
        const log = await opened(t, impl, `${server.origin}/echo`);
        log.ws.send("burst:50");
        // close() in the first message's listener: the other 49 were sent before the server saw our close.
        log.ws.addEventListener("message", () => log.ws.close(), { once: true });
        await log.closeEvent();
        await standard(impl, "no message events after close()", () => assert.equal(log.messages.length, 1, log.entries.join(", ")));
      });

      test("onmessage and addEventListener listeners both run, in the order they were added", async (t) => {
        const ws = new impl.WebSocket(`${server.origin}/echo`);
        const order: string[] = [];
        ws.addEventListener("message", () => order.push("listener"));
        ws.onmessage = () => order.push("handler");
        const log = new EventLog(t, ws);
        await log.open();
        ws.send("x");
        await log.messagesCount(1);
        assert.deepEqual(order, ["listener", "handler"]);
      });

      test("a listener added with once runs once; a removed listener does not run", async (t) => {
        const log = await opened(t, impl, `${server.origin}/echo`);
        let once = 0;
        let removed = 0;
        const remove = () => removed++;
        log.ws.addEventListener("message", () => once++, { once: true });
        log.ws.addEventListener("message", remove);
        log.ws.removeEventListener("message", remove);
        log.ws.send("burst:2");
        await log.messagesCount(2);
        assert.deepEqual([once, removed], [1, 0]);
      });

      test("the message event has origin, empty lastEventId and the data", async (t) => {
        const log = await opened(t, impl, `${server.origin}/echo`);
        const event = new Promise<MessageEvent>((resolve) => log.ws.addEventListener("message", (e) => resolve(e as MessageEvent)));
        log.ws.send("hello");
        const message = await withTimeout(event, 10_000, "the message event");
        assert.equal(message.data, "hello");
        await standard(impl, "the message event's origin is the URL's origin", () => assert.equal(message.origin, server.origin));
        assert.equal(message.lastEventId, "");
        assert.equal(message.type, "message");
        assert.ok(message instanceof Event);
      });
    });
  }
}

for (const impl of implementations()) {
  describe(`the events' classes (${impl.name})`, () => {
    let server: ScenarioServer;
    const releases = new Releases();
    before(async () => (server = await startOurServer(releases)));
    after(() => releases.release());

    test("open is an Event; message a MessageEvent; close a CloseEvent; none bubbles or can be cancelled", async (t) => {
      const ws = new impl.WebSocket(`${server.origin}/echo`);
      const events: Event[] = [];
      for (const type of ["open", "message", "close"]) ws.addEventListener(type, (event) => events.push(event as Event));
      const log = new EventLog(t, ws);
      await log.open();
      ws.send("x");
      await log.messagesCount(1);
      ws.close();
      await log.closeEvent();
      const [open, message, close] = events;
      assert.deepEqual(events.map((event) => event.type), ["open", "message", "close"]);
      for (const event of events) {
        assert.ok(event instanceof Event);
        assert.deepEqual([event.bubbles, event.cancelable], [false, false], `${event.type} neither bubbles nor can be cancelled`);
      }
      assert.equal(Object.getPrototypeOf(open), Event.prototype, "open is a plain Event");
      if (!impl.native) {
        // Ours: the classes ./web exports (the runtime's own where it has them).
        assert.ok(message instanceof web.MessageEvent, "message is a MessageEvent");
        assert.ok(close instanceof web.CloseEvent, "close is a CloseEvent");
      }
      for (const [event, name] of [[message, "MessageEvent"], [close, "CloseEvent"]] as const) {
        const global = (globalThis as Record<string, unknown>)[name] as (new () => Event) | undefined;
        if (global !== undefined) assert.ok(event instanceof global, `${name} is the runtime's own class`);
        assert.equal(event.constructor.name, name);
      }
    });

    test("error is an Event of type error (ours: an ErrorEvent with the cause, a superset of the standard's Event)", async (t) => {
      const ws = new impl.WebSocket(`${server.origin}/refuse`);
      new EventLog(t, ws);
      const event = await withTimeout(new Promise<Event>((resolve) => ws.addEventListener("error", resolve)), 10_000, "the error event");
      assert.ok(event instanceof Event);
      assert.equal(event.type, "error");
      assert.deepEqual([event.bubbles, event.cancelable, event.defaultPrevented], [false, false, false]);
      if (!impl.native) {
        assert.ok(event instanceof web.ErrorEvent);
        assert.equal(event.constructor.name, "ErrorEvent");
        const { message, error: cause } = event as ErrorEvent;
        assert.ok(cause instanceof HandshakeError, `event.error is the HandshakeError: ${cause}`);
        assert.equal(cause.status, 403);
        assert.match(message, /^WebSocket connection to 'ws:\/\/127\.0\.0\.1:\d+\/refuse' failed: /);
      }
    });

    test("an on... attribute holding an object (not callable) is not called and throws nothing", async (t) => {
      const ws = new impl.WebSocket(`${server.origin}/echo`);
      let called = 0;
      (ws as unknown as Record<string, unknown>).onmessage = { handleEvent: () => called++ };
      const log = new EventLog(t, ws);
      await log.open();
      ws.send("x");
      await log.messagesCount(1);
      // Every event up to the close event is dispatched by then.
      ws.close();
      await log.closeEvent();
      assert.equal(called, 0, "handleEvent of an event handler attribute is never called");
    });
  });

  describe(`each message is a task of its own (${impl.name})`, () => {
    let raw: RawServer;
    const releases = new Releases();
    before(async () => (raw = await RawServer.start(releases)));
    after(() => releases.release());

    test("three messages in one TCP read: a listener's microtasks run before the next message event", async (t) => {
      const log = new EventLog(t, new impl.WebSocket(raw.url));
      const peer = await raw.next(t);
      await log.open();
      const order: string[] = [];
      log.ws.addEventListener("message", (event) => {
        const data = (event as MessageEvent).data;
        order.push(`message ${data}`);
        void Promise.resolve().then(() => Promise.resolve()).then(() => order.push(`microtasks of ${data}`));
      });
      const frames = ["0", "1", "2"].map((text) => serverFrame(0x1, text));
      peer.wire.write(new Uint8Array(frames.flatMap((frame) => Array.from(frame))));
      await log.messagesCount(3);
      // The last message's microtasks, whenever they run, have run by the next task.
      await new Promise((resolve) => setTimeout(resolve, 0));
      await standard(impl, "each message event is a task of its own", () => {
        assert.deepEqual(order, ["message 0", "microtasks of 0", "message 1", "microtasks of 1", "message 2", "microtasks of 2"]);
      });
    });
  });
}
