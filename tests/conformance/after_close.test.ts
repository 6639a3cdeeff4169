// RFC 6455 §5.5.1: "After sending a Close frame, the endpoint MUST NOT send
// any further data frames." The violations of tests/conformance/_one_read.ts
// (bad RSV bits, reserved opcodes, orphan continuations, each in the same TCP
// read as valid messages) against every path our application can answer by:
// one frame per message (the README's `for await (const m of ws) await
// ws.send(m)`), the writable stream, a streamed message (`recvStream` and
// `sendAll(readable)`), a hub's shared frame (`publish`), with and without
// permessage-deflate, and over HTTP/2 streams (RFC 8441). Each reads our
// bytes back with the independent parser (tests/_frames.ts). These harnesses
// are labelled, so they stay out of docs/conformance.md's per-category tables.
import { oneReadCases } from "./_one_read.ts";
import {
  ClientUnderTest,
  type Harness,
  Http2ClientUnderTest,
  Http2ServerUnderTest,
  ServerUnderTest,
  suiteOn,
  type Variant,
} from "./_wire.ts";

const variants: Variant[] = [
  { label: "echo with send", echo: "send" },
  { label: "echo through writable", echo: "writable" },
  { label: "echo with recvStream", echo: "recvStream" },
  { label: "echo with send, permessage-deflate", echo: "send", deflate: true },
  { label: "echo with sendAll, permessage-deflate", echo: "sendAll", deflate: true },
];

const harnesses: Harness[] = [];
for (const variant of variants) harnesses.push(new ServerUnderTest({}, variant), new ClientUnderTest({}, variant));
// A hub's frame, encoded once for every subscriber, bypasses the connection's encoder.
harnesses.push(
  new ServerUnderTest({}, { label: "echo with publish", echo: "publish" }),
  new ServerUnderTest({}, { label: "echo with publish, permessage-deflate", echo: "publish", deflate: true }),
  new Http2ServerUnderTest({}, { label: "echo with send", echo: "send" }),
  new Http2ClientUnderTest({}, { label: "echo with send", echo: "send" }),
  new Http2ServerUnderTest({}, { label: "echo with sendAll", echo: "sendAll" }),
  new Http2ClientUnderTest({}, { label: "echo with sendAll", echo: "sendAll" }),
);

suiteOn("nothing after our close frame", oneReadCases, harnesses);
