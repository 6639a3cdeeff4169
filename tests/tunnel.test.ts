// The tunnel handshakes without I/O (src/handshake/http_connect.ts,
// src/handshake/socks5.ts): bytes in, bytes to send and the tunnel's opening
// out, every proxy answer fed whole, cut in two at every byte and one byte at a
// time, as the codec tests feed frames. The same handshakes against real
// proxies (tinyproxy, dante, our https:// proxy) are in proxy.test.ts.
import { assertBytesEqual, describe, test } from "./_test.ts";
import assert from "node:assert/strict";
import { ProxyError, TimeoutError } from "../src/errors.ts";
import { HttpHeadError } from "../src/handshake/http.ts";
import { httpConnectHandshake } from "../src/handshake/http_connect.ts";
import { parseIp } from "../src/handshake/ip.ts";
import { socks5Handshake } from "../src/handshake/socks5.ts";
import type { ProxyAddress, ProxyProtocol, TunnelHandshake } from "../src/handshake/tunnel.ts";

const text = (s: string) => new TextEncoder().encode(s);
const ascii = (b: Uint8Array) => new TextDecoder().decode(b);
const bytes = (...b: number[]) => new Uint8Array(b);
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
};

function proxyAt(protocol: ProxyProtocol, username = "", password = ""): ProxyAddress {
  return { protocol, hostname: "proxy.test", port: 3128, username, password, display: `${protocol}//proxy.test:3128` };
}

/** Every way to cut `input` in two, plus one byte at a time, plus whole. */
function splits(input: Uint8Array): Uint8Array[][] {
  const out: Uint8Array[][] = [[input.slice()]];
  for (let i = 1; i < input.length; i++) out.push([input.slice(0, i), input.slice(i)]);
  out.push(Array.from(input, (b) => bytes(b)));
  return out;
}

/** What feeding the proxy's bytes in `chunks` did, as a transport would: nothing is pushed once the tunnel is open. */
interface Run {
  /** Everything the handshake asked to send after `start()`, in order. */
  sent: Uint8Array;
  /** null while the tunnel is not open; else its bytes: the step's `rest`, then the chunks not pushed. */
  tunnel: Uint8Array | null;
  /** How many of the proxy's bytes had been pushed when the tunnel opened (or the handshake threw). */
  fed: number;
  /** What `push` threw, if it did. */
  error: unknown;
}

function feed(handshake: TunnelHandshake, chunks: Uint8Array[]): Run {
  const sent: Uint8Array[] = [];
  let fed = 0;
  for (let i = 0; i < chunks.length; i++) {
    fed += chunks[i].length;
    let step;
    try {
      step = handshake.push(chunks[i]);
    } catch (error) {
      return { sent: concat(...sent), tunnel: null, fed, error };
    }
    if (step.send !== null) sent.push(step.send);
    if (step.rest !== null) {
      return { sent: concat(...sent), tunnel: concat(step.rest, ...chunks.slice(i + 1)), fed, error: null };
    }
  }
  return { sent: concat(...sent), tunnel: null, fed, error: null };
}

/** Runs `make()`'s handshake over every split of `answer` and hands each run to `check`. */
function everySplit(
  make: () => TunnelHandshake,
  answer: Uint8Array,
  check: (run: Run, how: string, pieces: Uint8Array[]) => void,
): void {
  for (const pieces of splits(answer)) {
    const handshake = make();
    handshake.start();
    check(feed(handshake, pieces), `split as ${pieces.map((p) => p.length).join("+")}`, pieces);
  }
}

function proxyError(err: unknown, code: string, message: RegExp, what: string): ProxyError {
  assert.ok(err instanceof ProxyError, `${what}: expected a ProxyError, got ${err}`);
  assert.equal(err.code, code, `${what}: ${err.message}`);
  assert.match(err.message, message, what);
  assert.match(err.proxy, /^[a-z0-9]+:\/\/proxy\.test:3128$/, `${what}: the proxy is named`);
  return err;
}

describe("HTTP CONNECT without I/O (RFC 9110 §9.3.6)", () => {
  test("the request names the target, its Host, Basic credentials from the proxy URL and extra fields", () => {
    const handshake = httpConnectHandshake(proxyAt("http:", "me", "pw"), { hostname: "ws.test", port: 8080 }, [
      ["X-Team", "dashboards"],
    ]);
    assertBytesEqual(
      ascii(handshake.start()),
      "CONNECT ws.test:8080 HTTP/1.1\r\nHost: ws.test:8080\r\nProxy-Authorization: Basic bWU6cHc=\r\n" +
        "X-Team: dashboards\r\n\r\n",
      "the CONNECT request",
    );
    const v6 = httpConnectHandshake(proxyAt("https:"), { hostname: "::1", port: 443 });
    assertBytesEqual(
      ascii(v6.start()),
      "CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n",
      "an IPv6 target, bracketed",
    );
  });

  test("a Proxy-Authorization of the caller replaces the URL's; a Host among the extra fields is not sent twice", () => {
    const handshake = httpConnectHandshake(proxyAt("http:", "me", "pw"), { hostname: "ws.test", port: 80 }, [
      ["proxy-authorization", "Bearer t"],
      ["Host", "elsewhere.test"],
    ]);
    assertBytesEqual(
      ascii(handshake.start()),
      "CONNECT ws.test:80 HTTP/1.1\r\nHost: ws.test:80\r\nproxy-authorization: Bearer t\r\n\r\n",
      "the CONNECT request",
    );
  });

  test("a field that would split the request (CR, LF) or a name that is not a token is refused before anything is sent", () => {
    for (const field of [["X-A", "1\r\nX-B: 2"], ["X-A\n", "1"], ["X A", "1"], ["", "1"]] as const) {
      const handshake = httpConnectHandshake(proxyAt("http:"), { hostname: "ws.test", port: 80 }, [field]);
      assert.throws(() => handshake.start(), TypeError, `the field ${JSON.stringify(field)}`);
    }
  });

  test("a 200 opens the tunnel once its head is whole, however it is split; the bytes behind the head are the tunnel's", () => {
    const head = text("HTTP/1.1 200 Connection established\r\nProxy-Agent: test\r\n\r\n");
    const frame = bytes(0x81, 0x02, 0x68, 0x69);
    everySplit(
      () => httpConnectHandshake(proxyAt("http:"), { hostname: "ws.test", port: 80 }),
      concat(head, frame),
      (run, how) => {
        assert.equal(run.error, null, how);
        assert.equal(run.sent.length, 0, `${how}: CONNECT needs nothing sent after the request`);
        assert.ok(run.tunnel !== null, `${how}: the tunnel did not open`);
        assert.ok(run.fed >= head.length, `${how}: opened after ${run.fed} bytes, before the head's last byte`);
        assertBytesEqual(run.tunnel, frame, `${how}: the tunnel's first bytes`);
      },
    );
  });

  test("any 2xx opens the tunnel, and HTTP/1.0 answers too", () => {
    for (const answer of ["HTTP/1.0 200 OK\r\n\r\n", "HTTP/1.1 204 No Content\r\n\r\n", "HTTP/1.1 299 Fine\r\n\r\n"]) {
      const handshake = httpConnectHandshake(proxyAt("http:"), { hostname: "ws.test", port: 80 });
      handshake.start();
      assertBytesEqual(handshake.push(text(answer)).rest, new Uint8Array(0), answer);
    }
  });

  test("a refusal is a ProxyError with the status and header fields, 407 coded ERR_PROXY_AUTH, however it is split", () => {
    for (
      const [status, code] of [
        ["407 Proxy Authentication Required", "ERR_PROXY_AUTH"],
        ["403 Forbidden", "ERR_PROXY_STATUS"],
        ["502 Bad Gateway", "ERR_PROXY_STATUS"],
        ["101 Switching Protocols", "ERR_PROXY_STATUS"],
      ]
    ) {
      const answer = text(`HTTP/1.1 ${status}\r\nProxy-Authenticate: Basic realm="p"\r\nContent-Length: 0\r\n\r\n`);
      everySplit(
        () => httpConnectHandshake(proxyAt("http:"), { hostname: "ws.test", port: 8080 }),
        answer,
        (run, how) => {
          const err = proxyError(
            run.error,
            code,
            new RegExp(`refused CONNECT ws\\.test:8080: ${status}$`),
            `${status}, ${how}`,
          );
          assert.equal(run.fed, answer.length, `${how}: refused before the head was whole`);
          assert.equal(err.status, Number(status.slice(0, 3)));
          assert.equal(err.headers.get("proxy-authenticate"), 'Basic realm="p"');
        },
      );
    }
  });

  test("an answer that is not HTTP is named from its first bytes: a SOCKS proxy's binary, a TLS alert", () => {
    const answers = [
      [bytes(0x05, 0x00), /a SOCKS proxy\? \(then use socks5:\/\/\)$/],
      [bytes(0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28), /a TLS proxy\? \(then use https:\/\/\)$/],
    ] as const;
    for (const [answer, hint] of answers) {
      everySplit(
        () => httpConnectHandshake(proxyAt("http:"), { hostname: "ws.test", port: 80 }),
        answer,
        (run, how, pieces) => {
          proxyError(run.error, "ERR_PROXY_MALFORMED", hint, how);
          // Known from the first byte, which is not "H": nothing more is awaited.
          assert.equal(run.fed, pieces[0].length, `${how}: read ${run.fed} bytes before saying so`);
        },
      );
    }
    // An answer that starts like HTTP is refused at its first byte that is not "HTTP/".
    const almost = text("HTTX/1.1 200 OK\r\n\r\n");
    everySplit(() => httpConnectHandshake(proxyAt("http:"), { hostname: "ws.test", port: 80 }), almost, (run, how) => {
      proxyError(run.error, "ERR_PROXY_MALFORMED", /did not answer CONNECT in HTTP/, how);
    });
    const oneByOne = httpConnectHandshake(proxyAt("http:"), { hostname: "ws.test", port: 80 });
    oneByOne.start();
    assert.equal(feed(oneByOne, Array.from(almost, (b) => bytes(b))).fed, 4, "refused at the fourth byte, X");
  });

  test("an HTTP answer that is not HTTP/1.x, or whose head is malformed or endless, is ERR_PROXY_MALFORMED", () => {
    const statusLines = [
      ["HTTP/2.0 200 OK", /did not answer CONNECT with an HTTP\/1\.x status line$/],
      ["HTTP/1.1 2000 OK", /did not answer CONNECT with an HTTP\/1\.x status line$/],
      ["HTTP/1.1 abc def", /did not answer CONNECT with an HTTP\/1\.x status line$/],
      ["HTTP/2 200", /sent a malformed answer to CONNECT: /],
    ] as const;
    for (const [line, message] of statusLines) {
      const handshake = httpConnectHandshake(proxyAt("http:"), { hostname: "ws.test", port: 80 });
      handshake.start();
      proxyError(feed(handshake, [text(`${line}\r\n\r\n`)]).error, "ERR_PROXY_MALFORMED", message, line);
    }
    const folded = httpConnectHandshake(proxyAt("http:"), { hostname: "ws.test", port: 80 });
    folded.start();
    const err = proxyError(
      feed(folded, [text("HTTP/1.1 200 OK\r\nno colon here\r\n\r\n")]).error,
      "ERR_PROXY_MALFORMED",
      /sent a malformed answer to CONNECT/,
      "a field without a colon",
    );
    assert.ok(err.cause instanceof HttpHeadError, "the parser's error is the cause");
    // A head that never ends is refused at the parser's bound, not buffered without limit.
    const endless = httpConnectHandshake(proxyAt("http:"), { hostname: "ws.test", port: 80 });
    endless.start();
    const filler = text(`X-Filler: ${"a".repeat(1000)}\r\n`);
    let thrown: unknown = null;
    let fed = 0;
    try {
      endless.push(text("HTTP/1.1 200 OK\r\n"));
      for (; fed < 1000; fed++) endless.push(filler);
    } catch (error) {
      thrown = error;
    }
    proxyError(thrown, "ERR_PROXY_MALFORMED", /malformed answer/, "an endless head");
    assert.ok(fed * filler.length < 64 * 1024, `refused only after ${fed * filler.length} bytes of head`);
  });

  test("closed() and stalled() say what an HTTP proxy's silence may mean", () => {
    const handshake = httpConnectHandshake(proxyAt("http:"), { hostname: "ws.test", port: 80 });
    proxyError(
      handshake.closed(),
      "ERR_PROXY_EOF",
      /closed the connection before opening the tunnel \(a SOCKS proxy\? then use socks5:\/\/\)$/,
      "closed",
    );
    const timeout = new TimeoutError("Opening handshake with ws.test did not finish within 50 ms");
    const stalled = proxyError(
      handshake.stalled("within 50 ms", timeout),
      "ERR_PROXY_TIMEOUT",
      /^Proxy http:\/\/proxy\.test:3128 did not answer CONNECT within 50 ms: is it an HTTP proxy\?$/,
      "stalled",
    );
    assert.equal(stalled.cause, timeout);
  });
});

describe("SOCKS5 without I/O (RFC 1928, RFC 1929)", () => {
  const reply = (atyp: number[]) => bytes(0x05, 0x00, 0x00, ...atyp, 0x1f, 0x90);
  const IPV4_REPLY = reply([0x01, 127, 0, 0, 1]);

  test("the greeting offers no authentication, and user/password when the proxy URL has credentials", () => {
    assertBytesEqual(socks5Handshake(proxyAt("socks5h:"), { hostname: "ws.test", port: 80 }).start(), bytes(5, 1, 0));
    assertBytesEqual(
      socks5Handshake(proxyAt("socks5h:", "me", "pw"), { hostname: "ws.test", port: 80 }).start(),
      bytes(5, 2, 0, 2),
    );
  });

  test("CONNECT names the target by domain name, IPv4 or IPv6 address, and port", () => {
    const cases: [string, number[]][] = [
      ["ws.test", [0x03, 7, ...text("ws.test")]],
      ["10.1.2.3", [0x01, 10, 1, 2, 3]],
      ["::1", [0x04, ...new Array(15).fill(0), 1]],
    ];
    for (const [hostname, address] of cases) {
      const handshake = socks5Handshake(proxyAt("socks5h:"), { hostname, port: 8080 });
      handshake.start();
      assertBytesEqual(handshake.push(bytes(5, 0)).send, bytes(5, 1, 0, ...address, 0x1f, 0x90), hostname);
    }
  });

  test("user/password, then CONNECT, then the reply: the proxy's bytes split at every byte; what follows is the tunnel's", () => {
    const auth = bytes(1, 2, ...text("me"), 2, ...text("pw"));
    const request = bytes(5, 1, 0, 0x03, 7, ...text("ws.test"), 0x1f, 0x90);
    const answer = concat(bytes(5, 2), bytes(1, 0), IPV4_REPLY, bytes(42, 43));
    everySplit(
      () => socks5Handshake(proxyAt("socks5h:", "me", "pw"), { hostname: "ws.test", port: 8080 }),
      answer,
      (run, how) => {
        assert.equal(run.error, null, how);
        assertBytesEqual(run.sent, concat(auth, request), `${how}: what was sent after the greeting`);
        assert.ok(run.tunnel !== null, `${how}: the tunnel did not open`);
        assert.ok(run.fed >= answer.length - 2, `${how}: opened after ${run.fed} bytes, before the reply was whole`);
        assertBytesEqual(run.tunnel, bytes(42, 43), `${how}: the tunnel's first bytes`);
      },
    );
  });

  test("a reply binding an IPv4, IPv6 or domain address is read whole before the tunnel opens", () => {
    const replies = [IPV4_REPLY, reply([0x04, ...new Array(16).fill(0xfe)]), reply([0x03, 11, ...text("bound.proxy")])];
    for (const bound of replies) {
      everySplit(
        () => socks5Handshake(proxyAt("socks5h:"), { hostname: "ws.test", port: 80 }),
        concat(bytes(5, 0), bound, bytes(7)),
        (run, how) => {
          assert.equal(run.error, null, how);
          assert.ok(run.tunnel !== null && run.fed >= 2 + bound.length, `${how}: opened before the reply was whole`);
          assertBytesEqual(run.tunnel, bytes(7), `${how}: the tunnel's first byte`);
        },
      );
    }
  });

  test("a refused CONNECT names the reply code (RFC 1928 §6) and carries it in socksReply", () => {
    const names = [
      "general SOCKS server failure",
      "connection not allowed by ruleset",
      "network unreachable",
      "host unreachable",
      "connection refused",
      "TTL expired",
      "command not supported",
      "address type not supported",
      "unknown failure",
    ];
    names.forEach((name, i) => {
      const code = i + 1;
      everySplit(
        () => socks5Handshake(proxyAt("socks5:"), { hostname: "10.0.0.1", port: 80 }),
        bytes(5, 0, 5, code, 0, 1, 0, 0, 0, 0, 0, 0),
        (run, how) => {
          const err = proxyError(
            run.error,
            "ERR_PROXY_SOCKS",
            new RegExp(`refused CONNECT 10\\.0\\.0\\.1:80: ${name} \\(reply ${code}\\)$`),
            how,
          );
          assert.equal(err.socksReply, code);
        },
      );
    });
  });

  test("authentication: required without credentials, none accepted with them, or the user/password refused", () => {
    const none = socks5Handshake(proxyAt("socks5h:"), { hostname: "ws.test", port: 80 });
    none.start();
    proxyError(
      feed(none, [bytes(5, 0xff)]).error,
      "ERR_PROXY_AUTH",
      /requires authentication: put user:password in the proxy URL$/,
      "no credentials",
    );
    const withCredentials = () => socks5Handshake(proxyAt("socks5h:", "me", "pw"), { hostname: "ws.test", port: 80 });
    const rejected = withCredentials();
    rejected.start();
    proxyError(
      feed(rejected, [bytes(5, 0xff)]).error,
      "ERR_PROXY_AUTH",
      /accepts none of our authentication methods$/,
      "with credentials",
    );
    everySplit(withCredentials, bytes(5, 2, 1, 1), (run, how) => {
      proxyError(run.error, "ERR_PROXY_AUTH", /refused the user name and password \(status 1\)$/, how);
    });
  });

  test("malformed answers: an HTTP proxy's page, another version, a method not offered, an unknown address type", () => {
    const cases: [Uint8Array, RegExp][] = [
      [
        text("HTTP/1.1 400 Bad Request\r\n\r\n"),
        /answered in HTTP, not SOCKS5: is it an HTTP proxy\? \(then use http:\/\/\)$/,
      ],
      [bytes(4, 0), /answered with version 4, not 5$/],
      [bytes(5, 2), /chose authentication method 2, which was not offered$/],
      [bytes(5, 0, 4, 0, 0, 1, 0), /answered with version 4, not 5$/],
      [bytes(5, 0, 5, 0, 0, 9, 0), /answered with address type 9$/],
    ];
    for (const [answer, message] of cases) {
      everySplit(() => socks5Handshake(proxyAt("socks5h:"), { hostname: "ws.test", port: 80 }), answer, (run, how) => {
        proxyError(run.error, "ERR_PROXY_MALFORMED", message, `${JSON.stringify([...answer])}, ${how}`);
      });
    }
  });

  test("a host name or credentials longer than SOCKS5 can carry (255 bytes) are refused with a TypeError", () => {
    const long = socks5Handshake(proxyAt("socks5h:"), { hostname: `${"a".repeat(252)}.test`, port: 80 });
    long.start();
    assert.throws(() => long.push(bytes(5, 0)), TypeError);
    const longUser = socks5Handshake(proxyAt("socks5h:", "u".repeat(256), "pw"), { hostname: "ws.test", port: 80 });
    longUser.start();
    assert.throws(() => longUser.push(bytes(5, 2)), TypeError);
  });

  test("closed() and stalled() say what a SOCKS proxy's silence may mean", () => {
    const handshake = socks5Handshake(proxyAt("socks5:"), { hostname: "ws.test", port: 80 });
    proxyError(
      handshake.closed(),
      "ERR_PROXY_EOF",
      /^Proxy socks5:\/\/proxy\.test:3128 closed the connection before opening the tunnel$/,
      "closed",
    );
    const timeout = new TimeoutError("x");
    const stalled = proxyError(
      handshake.stalled("in time", timeout),
      "ERR_PROXY_TIMEOUT",
      /did not answer the SOCKS5 handshake in time: is it a SOCKS5 proxy\? \(an HTTP proxy never answers it\)$/,
      "stalled",
    );
    assert.equal(stalled.cause, timeout);
  });
});

describe("IP literals as bytes", () => {
  test("IPv4, IPv6 with :: and an embedded IPv4; names and malformed literals are null", () => {
    assertBytesEqual(parseIp("192.168.0.255"), bytes(192, 168, 0, 255));
    assertBytesEqual(parseIp("fd00::1"), bytes(0xfd, 0, ...new Array(13).fill(0), 1));
    assertBytesEqual(parseIp("::ffff:1.2.3.4"), bytes(...new Array(10).fill(0), 0xff, 0xff, 1, 2, 3, 4));
    for (const notIp of ["ws.test", "1.2.3", "256.0.0.1", "1::2::3", "1:2:3:4:5:6:7:8:9", "12345::"]) {
      assert.equal(parseIp(notIp), null, notIp);
    }
  });
});
