// Message is a union discriminated by `type`: checking msg.type narrows
// msg.data, with Gerbil's constructor kept. The type checker holds this file
// to it (`npm run check` runs `deno check tests/`): every assignment below
// compiles only while narrowing works, and every @ts-expect-error line fails
// the check if a wrong type starts to compile (data decaying to
// string | Uint8Array, or to any). The runtime runs it too, over a real pair.
import assert from "node:assert/strict";
import { Message, type MessageOf, type MessageType, type WebSocketConnection } from "../mod.ts";
import { tcpPair } from "./_helpers.ts";
import { describe, test, withTimeout } from "./_test.ts";

/** What a handler does with each kind of message, using `data` without a cast. */
function describeMessage(msg: Message): string {
  switch (msg.type) {
    case "text": {
      const text: string = msg.data;
      // @ts-expect-error text data is not bytes
      const bytes: Uint8Array = msg.data;
      void bytes;
      return `text ${text.toUpperCase()}`;
    }
    case "binary":
    case "ping":
    case "pong": {
      const bytes: Uint8Array = msg.data;
      // @ts-expect-error binary, ping and pong data are not strings
      const text: string = msg.data;
      void text;
      return `${msg.type} ${bytes.byteLength}`;
    }
    case "close": {
      const reason: string = msg.data;
      const code: number | undefined = msg.code;
      return `close ${code} ${reason}`;
    }
    default: {
      // Every type is handled: msg is never here.
      const unreachable: never = msg;
      return unreachable;
    }
  }
}

describe("Message narrows data by type", () => {
  test("the constructor's result carries its literal type, and data of the wrong type does not compile", () => {
    const text: MessageOf<"text"> = new Message("hi", "text");
    const bytes: MessageOf<"binary"> = new Message(new Uint8Array([1, 2]), "binary", true);
    const close = new Message("bye", "close", false, 4000);
    const reason: string = close.data;
    const data: Uint8Array = bytes.data;
    assert.equal(text.data.length + reason.length + data.length, 7);
    // @ts-expect-error "text" takes a string
    assert.throws(() => new Message(new Uint8Array(1), "text"), TypeError);
    // @ts-expect-error "binary" takes bytes
    assert.throws(() => new Message("x", "binary"), TypeError);
    // @ts-expect-error a text message is not a binary one
    const wrong: MessageOf<"binary"> = new Message("x", "text");
    void wrong;
    // A type known only at run time still works, as in Gerbil: the result is the union.
    const make = (data: string | Uint8Array, type: MessageType): Message => new Message(data, type);
    assert.equal(make("x", "text").type, "text");
    // instanceof narrows to the union too.
    const unknown: unknown = text;
    assert.ok(unknown instanceof Message);
    if (unknown instanceof Message && unknown.type === "text") assert.equal(unknown.data.toUpperCase(), "HI");
  });

  test("messages received from a connection narrow in a switch and in for await", async (t) => {
    const { client, server } = await tcpPair(t, { pingInterval: 0 });
    await client.send("hello");
    await client.send(new Uint8Array([1, 2, 3]));
    await client.ping("p");
    const seen: string[] = [];
    for (let i = 0; i < 3; i++) seen.push(describeMessage(await withTimeout(server.recv(), 5000, `message ${i + 1} of 3`)));
    assert.deepEqual(seen, ["text HELLO", "binary 3", "ping 1"]);
    await client.send("again");
    const again = (async () => {
      for await (const msg of server) {
        if (msg.type === "text") {
          const upper: string = msg.data.toUpperCase();
          assert.equal(upper, "AGAIN");
          break;
        }
      }
    })();
    await withTimeout(again, 5000, "the text message \"again\" in for await");
    const ws: WebSocketConnection = client;
    const closing = ws.close(4000, "done");
    const close = await withTimeout(server.recv(), 5000, "the close message");
    assert.equal(describeMessage(close), "close 4000 done");
    await withTimeout(closing, 5000, "close()");
  });
});
