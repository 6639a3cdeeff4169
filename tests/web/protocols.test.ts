// Subprotocol negotiation, from the WebSockets Standard's "establish a
// WebSocket connection" (the Fetch-integrated handshake) and RFC 6455 §4.1
// (web-platform-tests websockets/Create-protocols-*, opening-handshake/*):
// the offer goes out as one Sec-WebSocket-Protocol list in order; `protocol`
// is the server's choice once open; a server that acknowledges none of the
// offered subprotocols (a 101 without the header, or a refusal), names one
// that was not offered, or names one when none was offered has the
// connection failed: error, then close 1006, and never open.
import assert from "node:assert/strict";
import { HandshakeError } from "../../src/errors.ts";
import { after, before, describe, Releases, test, withTimeout } from "../_test.ts";
import {
  catchingUncaught,
  EventLog,
  type Implementation,
  implementations,
  RawServer,
  type ScenarioServer,
  SERVERS,
  standard,
} from "./_web.ts";

/**
 * The opening must fail: the first event is `error` (check `id`, where a
 * runtime deviates), and then, as for every failed opening, `close` with 1006
 * and `protocol` still "". On Node, an exception the implementation throws
 * out of its own callbacks counts as the check failing, not as a crash of
 * the test run (Node 24's undici throws one for a subprotocol nobody offered).
 */
async function expectFailedOpening(impl: Implementation, log: EventLog, id: string): Promise<void> {
  let connectionFailed = false;
  await standard(impl, id, async () => {
    const uncaught = await catchingUncaught(impl, () => log.firstEvent(3000));
    assert.deepEqual(uncaught.errors, [], "nothing thrown out of the implementation");
    assert.match(uncaught.value ?? "", /^error /, "the first event is error");
    connectionFailed = true;
  });
  if (!connectionFailed) return; // the connection was not failed at all: the events that follow say nothing more
  await standard(impl, "a failed opening reports error, then close 1006", async () => {
    await log.closeEvent(3000);
    assert.deepEqual(log.entries, ["error 3", 'close 1006 "" false 3']);
    assert.equal(log.ws.protocol, "");
  });
}

for (const impl of implementations()) {
  for (const [serverName, startServer] of SERVERS) {
    describe(`subprotocols (${impl.name}, ${serverName})`, () => {
      let server: ScenarioServer;
      const releases = new Releases();
      before(async () => (server = await startServer(releases)));
      after(() => releases.release());

      test("protocol is the subprotocol the server chose (the first offered), \"\" before open", async (t) => {
        const log = new EventLog(t, new impl.WebSocket(`${server.origin}/echo`, ["chat.v2", "chat.v1"]));
        assert.equal(log.ws.protocol, "");
        await log.open();
        assert.equal(log.ws.protocol, "chat.v2");
      });

      test("a string is an offer of one subprotocol", async (t) => {
        const log = new EventLog(t, new impl.WebSocket(`${server.origin}/echo`, "chat.v1"));
        await log.open();
        assert.equal(log.ws.protocol, "chat.v1");
      });

      // Our server refuses the handshake (400) when selectProtocol picks none; ws answers 101 without
      // Sec-WebSocket-Protocol, which the standard's handshake treats as a failure as well.
      const none = noneChosen(serverName);
      test(`a server choosing none of the offered subprotocols (${none.how}): error, then close 1006, never open`, async (t) => {
        const log = new EventLog(t, new impl.WebSocket(`${server.origin}${none.path}`, none.offer));
        const error = new Promise<Event>((resolve) => log.ws.addEventListener("error", resolve));
        await expectFailedOpening(impl, log, none.id);
        if (!impl.native) {
          // streamsock's addition: the cause on the error event, the server's status or what its 101 lacked.
          const cause = ((await withTimeout(error, 10_000, "the error event")) as ErrorEvent).error as HandshakeError;
          assert.ok(cause instanceof HandshakeError, `event.error is a HandshakeError: ${cause}`);
          assert.deepEqual([cause.status, cause.code], none.how.includes("400") ? [400, "ERR_HANDSHAKE_STATUS"] : [101, "ERR_HANDSHAKE_PROTOCOL"]);
        }
      });
    });
  }

  describe(`subprotocols in the server's 101, from a raw server (${impl.name})`, () => {
    let raw: RawServer;
    const releases = new Releases();
    before(async () => (raw = await RawServer.start(releases)));
    after(() => releases.release());

    for (
      const [what, offer, answer, id] of [
        ["the offer is one header field, in order", ["b", "a", "c"], "a", null],
        ["a 101 without Sec-WebSocket-Protocol after an offer", ["chat"], "", "a server choosing none of the offered subprotocols fails the connection"],
        ["a 101 naming a subprotocol that was not offered", ["chat"], "other", "a subprotocol that was not offered fails the connection"],
        ["a 101 naming a subprotocol when none was offered", undefined, "chat", "a subprotocol when none was offered fails the connection"],
      ] as const
    ) {
      test(id === null ? what : `${what}: the connection fails`, async (t) => {
        raw.protocol = answer;
        const log = new EventLog(t, offer === undefined ? new impl.WebSocket(raw.url) : new impl.WebSocket(raw.url, [...offer]));
        const peer = await raw.next(t);
        assert.equal(peer.head.headers.get("sec-websocket-protocol"), offer === undefined ? null : offer.join(", "));
        if (id === null) {
          await log.open();
          assert.equal(log.ws.protocol, answer);
        } else {
          await expectFailedOpening(impl, log, id);
        }
      });
    }
  });
}

/** Where each scenario server chooses none of the offered subprotocols, and how it says so. */
function noneChosen(serverName: string): { path: string; offer: string[]; how: string; id: string } {
  return serverName === "our server"
    ? { path: "/echo", offer: ["unsupported.a", "unsupported.b"], how: "our server answers 400", id: "a refused handshake fails the connection" }
    : {
      path: "/protocol-none",
      offer: ["chat.v2", "chat.v1"],
      how: "ws answers 101 without Sec-WebSocket-Protocol",
      id: "a server choosing none of the offered subprotocols fails the connection",
    };
}
