// streamsock/ws side by side with ws: every scenario of _scenarios.ts runs
// with both packages, and what each endpoint observed must be equal, or the
// scenario's difference is one listed in _deviations.ts (and the README).
import assert from "node:assert/strict";
import { describe, test } from "../_test.ts";
import { LIBS, runWith } from "./_runner.ts";
import { scenarios } from "./_scenarios.ts";
import { deviationOf } from "./_deviations.ts";

/**
 * Scenarios where streamsock/ws still observes something else than ws and the
 * difference is neither fixed nor listed yet (issue #27): they run and report,
 * without failing the suite.
 */
const OPEN_DIFFERENCES: Record<string, string> = {
  "send after close: the callback gets ws's error, bufferedAmount counts it":
    "bufferedAmount also counts our close frame while it is queued",
  "createWebSocketStream: echo through a Duplex": "the Duplex is not destroyed by the time the socket's close event ran",
  "createWebSocketStream: the socket's error destroys the stream": "to be examined",
  "bad frame from the peer: a text frame inside a fragmented message": "to be examined",
  "bad frame from the peer: a 64-bit length with its top bit set": "to be examined",
  "frames from the peer: a fragmented text with a ping between the fragments": "to be examined",
  "client handshake: 101 without Upgrade": "ws reports a 101 without Upgrade as an unexpected response",
  "client handshake: 101 without Upgrade, unexpected-response listened to":
    "ws reports a 101 without Upgrade as an unexpected response",
  "client handshake: 101 with an extension nobody asked for": "to be examined",
  "client handshake: 101 with an extension nobody asked for, unexpected-response listened to": "to be examined",
  "client redirect: over maxRedirects": "to be examined",
  "maxPayload on the client: a message over it fails with 1009": "to be examined",
};

describe("streamsock/ws beside ws", () => {
  for (const scenario of scenarios) {
    const todo = OPEN_DIFFERENCES[scenario.name];
    test(scenario.name, todo === undefined ? {} : { todo: `#27: ${todo}` }, async () => {
      const expected = await runWith(LIBS[0], scenario);
      const actual = await runWith(LIBS[1], scenario);
      const deviation = deviationOf(scenario.name);
      if (deviation === undefined) {
        assert.deepEqual(actual, expected, `streamsock/ws observed something else than ws in "${scenario.name}"`);
        return;
      }
      assert.deepEqual(deviation.normalize(actual), deviation.normalize(expected), `beyond the listed deviation "${deviation.reason}"`);
    });
  }
});
