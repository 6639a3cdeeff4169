import { describe, test } from "./_test.ts";
import assert from "node:assert/strict";
import { isValidMessage, Message } from "../src/message.ts";

describe("Message", () => {
  test("defaults partial to false and keeps data and type", () => {
    const msg = new Message("hi", "text");
    assert.equal(msg.data, "hi");
    assert.equal(msg.type, "text");
    assert.equal(msg.partial, false);
    assert.equal(new Message(new Uint8Array(1), "binary", true).partial, true);
  });

  test("rejects data of the wrong type, naming the expected type (and does not type-check)", () => {
    // @ts-expect-error text data is a string
    assert.throws(() => new Message(new Uint8Array(1), "text"), { name: "TypeError", message: /string/ });
    // @ts-expect-error a close's data (the reason) is a string
    assert.throws(() => new Message(new Uint8Array(1), "close"), { name: "TypeError", message: /string/ });
    for (const type of ["binary", "ping", "pong"] as const) {
      // @ts-expect-error binary, ping and pong data are bytes
      assert.throws(() => new Message("x", type), { name: "TypeError", message: /Uint8Array/ });
    }
    assert.throws(() => new Message("x", "nonsense" as "text"), TypeError);
  });

  test("only a close message carries a code", () => {
    assert.equal(new Message("bye", "close", false, 4000).code, 4000);
    assert.throws(() => new Message("x", "text", false, 1000), TypeError);
  });

  test("isValidMessage follows Gerbil's valid-message?", () => {
    assert.ok(isValidMessage(new Message("x", "text")));
    assert.ok(isValidMessage({ data: new Uint8Array(0), type: "ping" }));
    assert.ok(!isValidMessage({ data: "x", type: "binary" }));
    assert.ok(!isValidMessage({ data: new Uint8Array(0), type: "text" }));
    assert.ok(!isValidMessage({ data: "x", type: "bogus" }));
    assert.ok(!isValidMessage({ data: "x", type: "text", partial: "yes" }));
    assert.ok(!isValidMessage(null));
    assert.ok(!isValidMessage("text"));
  });
});
