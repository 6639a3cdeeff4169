// connect() through real proxies: tinyproxy (HTTP CONNECT), dante (SOCKS5)
// and our own TLS-terminating https:// proxy, for ws:// and wss://, with and
// without credentials; refusals, timeout, abort, redirects and the
// environment variables. Plus the pure parts of proxy selection: proxy URLs
// and NO_PROXY (the tunnel handshakes' bytes are tested in tunnel.test.ts).
import { after, before, describe, type Owner, Releases, test, withTimeout } from "./_test.ts";
import assert from "node:assert/strict";
import { createServer as createNetServer, type Socket } from "node:net";
import process from "node:process";
import { connect } from "../src/client/connect.ts";
import { HandshakeError, ProxyError, TimeoutError } from "../src/errors.ts";
import { matchesNoProxy, parseProxyUrl, proxyFromEnvironment } from "../src/client/proxy.ts";
import { parseIp } from "../src/handshake/ip.ts";
import { requestHandler } from "../src/server/request_handler.ts";
import { serve, type Server } from "../src/server/serve.ts";
import { testCertificate } from "./_tls.ts";
import {
  DANTED,
  ensureSocksUser,
  freePort,
  type RunningProxy,
  SOCKS_USER,
  startDante,
  startHttpsProxy,
  startTinyproxy,
  TINYPROXY,
} from "./_proxies.ts";

const HTTP_AUTH = { user: "proxyuser", password: "proxy-pass" };

function env(vars: Record<string, string>) {
  return (name: string) => vars[name];
}

describe("proxy selection without I/O", () => {
  test("parses proxy URLs, default ports and credentials; a bare host:port is an HTTP proxy", () => {
    assert.deepEqual(parseProxyUrl("socks5h://a%40b:p%3Ass@proxy.test"), {
      protocol: "socks5h:",
      hostname: "proxy.test",
      port: 1080,
      username: "a@b",
      password: "p:ss",
      display: "socks5h://proxy.test",
    });
    assert.equal(parseProxyUrl("proxy.test:3128").protocol, "http:");
    assert.equal(parseProxyUrl("https://[::1]").port, 443);
    assert.equal(parseProxyUrl("https://[::1]").hostname, "::1");
    assert.throws(() => parseProxyUrl("ftp://proxy.test"), /Unsupported proxy scheme ftp:/);
  });

  test("the environment: NO_PROXY first, then WSS_PROXY/WS_PROXY, HTTPS_PROXY, HTTP_PROXY (ws only), ALL_PROXY", () => {
    const wss = new URL("wss://example.test/");
    const ws = new URL("ws://example.test/");
    const all = {
      WSS_PROXY: "http://wss:1",
      WS_PROXY: "http://ws:1",
      HTTPS_PROXY: "http://https:1",
      HTTP_PROXY: "http://http:1",
      ALL_PROXY: "socks5://all:1",
    };
    assert.equal(proxyFromEnvironment(wss, env(all)), "http://wss:1");
    assert.equal(proxyFromEnvironment(ws, env(all)), "http://ws:1");
    const { WSS_PROXY: _a, WS_PROXY: _b, ...noWs } = all;
    assert.equal(proxyFromEnvironment(wss, env(noWs)), "http://https:1");
    assert.equal(proxyFromEnvironment(ws, env(noWs)), "http://https:1");
    const { HTTPS_PROXY: _c, ...httpOnly } = noWs;
    assert.equal(proxyFromEnvironment(ws, env(httpOnly)), "http://http:1");
    assert.equal(proxyFromEnvironment(wss, env(httpOnly)), "socks5://all:1", "HTTP_PROXY is not for wss://");
    assert.equal(proxyFromEnvironment(wss, env({})), null);
    assert.equal(
      proxyFromEnvironment(wss, env({ https_proxy: "http://lower:1", HTTPS_PROXY: "http://upper:1" })),
      "http://lower:1",
    );
    assert.equal(proxyFromEnvironment(wss, env({ https_proxy: "", HTTPS_PROXY: "http://upper:1" })), "http://upper:1");
    assert.equal(proxyFromEnvironment(wss, env({ ...all, no_proxy: "example.test" })), null);
    assert.equal(proxyFromEnvironment(wss, env({ ...all, NO_PROXY: "*" })), null);
  });

  test("NO_PROXY: host, domain suffix, leading dot, *, ports and CIDR for IP literals", () => {
    assert.ok(matchesNoProxy("example.test", "example.test", 443));
    assert.ok(matchesNoProxy("example.test", "api.example.test", 443));
    assert.ok(matchesNoProxy(".example.test", "api.example.test", 443));
    assert.ok(matchesNoProxy("*.example.test", "api.example.test", 443));
    assert.ok(!matchesNoProxy("example.test", "badexample.test", 443));
    assert.ok(matchesNoProxy("EXAMPLE.test.", "example.TEST", 80));
    assert.ok(matchesNoProxy("other, example.test:8080", "example.test", 8080));
    assert.ok(!matchesNoProxy("example.test:8080", "example.test", 443));
    assert.ok(matchesNoProxy("10.0.0.0/8", "10.1.2.3", 80));
    assert.ok(!matchesNoProxy("10.0.0.0/8", "11.1.2.3", 80));
    assert.ok(matchesNoProxy("127.0.0.1", "127.0.0.1", 80));
    assert.ok(matchesNoProxy("192.168.1.0/24:9000", "192.168.1.77", 9000));
    assert.ok(!matchesNoProxy("192.168.1.0/24:9000", "192.168.1.77", 9001));
    assert.ok(matchesNoProxy("fd00::/8", "[fd12::1]", 80));
    assert.ok(matchesNoProxy("[::1]:8080", "[::1]", 8080));
    assert.ok(matchesNoProxy("::1", "::1", 1));
    assert.ok(!matchesNoProxy("10.0.0.0/8", "example.test", 80));
    assert.ok(matchesNoProxy(" a , * ", "anything", 1));
    assert.deepEqual([...parseIp("::ffff:1.2.3.4")!].slice(10), [0xff, 0xff, 1, 2, 3, 4]);
    assert.equal(parseIp("1::2::3"), null);
  });
});

/** An echo server (ws:// or wss://) on 127.0.0.1, closed when `t` ends. */
async function echoServer(t: Owner, tls?: { cert: string; key: string }): Promise<Server> {
  const server = serve({ hostname: "127.0.0.1", port: 0, tls }, async (ws) => {
    for await (const message of ws) await ws.send(message.data);
  });
  t.after(() => server.close());
  await server.ready;
  return server;
}

async function echoesThrough(
  t: Owner,
  url: string,
  proxy: string | { url: string; tls?: { ca: string } } | undefined,
  ca: string,
) {
  const ws = await withTimeout(
    connect(url, { proxy, tls: { ca }, timeout: 10_000, pingInterval: 0 }),
    15_000,
    `connect ${url} via ${typeof proxy === "object" ? proxy.url : proxy}`,
  );
  t.after(() => ws.terminate());
  await ws.send("through the proxy");
  assert.equal((await withTimeout(ws.recvAll(), 5000, "echo")).data, "through the proxy");
  await ws.close();
}

const dante = DANTED === null ? "dante-server's danted is not installed (apt-get install dante-server)" : false;
const tinyproxy = TINYPROXY === null ? "tinyproxy is not installed (apt-get install tinyproxy)" : false;
if (dante) console.warn(`!!! SKIPPING the SOCKS5 proxy tests: ${dante}`);
if (tinyproxy) console.warn(`!!! SKIPPING the HTTP proxy tests: ${tinyproxy}`);
const socksUserProblem = DANTED === null ? null : ensureSocksUser();
if (socksUserProblem !== null) console.warn(`!!! SKIPPING the SOCKS5 username-auth tests: ${socksUserProblem}`);

describe("connect through real proxies", () => {
  let plain: Server;
  let secure: Server;
  let ca: string;
  const proxies: Record<string, RunningProxy> = {};
  const releases = new Releases();
  before(async () => {
    const cert = await testCertificate();
    ca = cert.cert;
    plain = await echoServer(releases);
    secure = await echoServer(releases, cert);
    const starting: Promise<void>[] = [
      startHttpsProxy(releases, cert).then((p) => void (proxies.https = p)),
      startHttpsProxy(releases, cert, HTTP_AUTH).then((p) => void (proxies.httpsAuth = p)),
    ];
    if (!tinyproxy) {
      starting.push(startTinyproxy(releases).then((p) => void (proxies.http = p)));
      starting.push(startTinyproxy(releases, HTTP_AUTH).then((p) => void (proxies.httpAuth = p)));
    }
    if (!dante) {
      starting.push(startDante(releases).then((p) => void (proxies.socks5 = p)));
      starting.push(startDante(releases, { scheme: "socks5h" }).then((p) => void (proxies.socks5h = p)));
      if (socksUserProblem === null) {
        starting.push(startDante(releases, { auth: true }).then((p) => void (proxies.socksAuth = p)));
      }
    }
    await Promise.all(starting);
  });
  after(() => releases.release());

  const kinds = [
    { name: "http (tinyproxy)", key: "http", skip: tinyproxy },
    { name: "http with Basic auth (tinyproxy)", key: "httpAuth", skip: tinyproxy },
    { name: "https (TLS to the proxy)", key: "https", skip: false },
    { name: "https with Basic auth", key: "httpsAuth", skip: false },
    { name: "socks5 (dante)", key: "socks5", skip: dante },
    { name: "socks5h (dante)", key: "socks5h", skip: dante },
    { name: "socks5 with user/password (dante)", key: "socksAuth", skip: dante || socksUserProblem || false },
  ];
  for (const kind of kinds) {
    for (const scheme of ["ws", "wss"] as const) {
      test(`${scheme}:// through ${kind.name}`, { skip: kind.skip }, async (t) => {
        const proxy = proxies[kind.key];
        const port = scheme === "ws" ? plain.port : secure.port;
        // localhost, not 127.0.0.1: socks5h then sends a name for the proxy to resolve.
        const host = kind.key === "socks5h" ? "localhost" : "127.0.0.1";
        const url = `${scheme}://${host}:${port}/`;
        await echoesThrough(t, url, proxy.url.startsWith("https:") ? { url: proxy.url, tls: { ca } } : proxy.url, ca);
        if (kind.key === "httpsAuth") {
          assert.match(proxy.requests.at(-1)!, /^CONNECT 127\.0\.0\.1:\d+ HTTP\/1\.1\r\n/);
          assert.match(proxy.requests.at(-1)!, /\r\nProxy-Authorization: Basic cHJveHl1c2VyOnByb3h5LXBhc3M=/);
        }
      });
    }
  }

  test(
    "a 407 from tinyproxy without credentials is a ProxyError, not a HandshakeError",
    { skip: tinyproxy },
    async () => {
      const withoutCredentials = proxies.httpAuth.url.replace(/\/\/[^@]+@/, "//");
      const err = await connect(`ws://127.0.0.1:${plain.port}/`, { proxy: withoutCredentials, timeout: 10_000 })
        .then(() => assert.fail("connect resolved"), (e) => e);
      assert.ok(err instanceof ProxyError, String(err));
      assert.ok(!(err instanceof HandshakeError));
      assert.equal(err.status, 407);
      assert.equal(err.code, "ERR_PROXY_AUTH");
      assert.match(err.message, /407/);
      assert.equal(err.proxy, `http://127.0.0.1:${proxies.httpAuth.port}`);
    },
  );

  test("a 407 for wrong credentials from our https proxy, with extra proxy headers sent", async () => {
    const proxy = proxies.httpsAuth;
    const err = await connect(`wss://127.0.0.1:${secure.port}/`, {
      proxy: { url: proxy.url.replace("proxy-pass", "wrong"), tls: { ca }, headers: { "X-Proxy-Team": "dashboards" } },
      tls: { ca },
      timeout: 10_000,
    }).then(() => assert.fail("connect resolved"), (e) => e);
    assert.ok(err instanceof ProxyError, String(err));
    assert.equal(err.status, 407);
    assert.equal(err.headers.get("proxy-authenticate"), 'Basic realm="test"');
    assert.match(proxy.requests.at(-1)!, /\r\nX-Proxy-Team: dashboards/);
  });

  test(
    "a CONNECT tinyproxy cannot complete (nothing listens) is a ProxyError with its status",
    { skip: tinyproxy },
    async () => {
      const port = await freePort(); // nothing listens there
      const err = await connect(`ws://127.0.0.1:${port}/`, { proxy: proxies.http.url, timeout: 10_000 })
        .then(() => assert.fail("connect resolved"), (e) => e);
      assert.ok(err instanceof ProxyError, String(err));
      assert.ok(err.status >= 400, `status ${err.status}`);
      assert.match(err.message, new RegExp(String(err.status)));
    },
  );

  test("a SOCKS5 refusal from dante carries the reply code", { skip: dante }, async () => {
    const port = await freePort(); // nothing listens there
    const err = await connect(`ws://127.0.0.1:${port}/`, { proxy: proxies.socks5.url, timeout: 10_000 })
      .then(() => assert.fail("connect resolved"), (e) => e);
    assert.ok(err instanceof ProxyError, String(err));
    assert.equal(err.code, "ERR_PROXY_SOCKS");
    assert.ok(err.socksReply > 0, `reply ${err.socksReply}`);
  });

  test(
    "dante refuses a wrong SOCKS5 password with ERR_PROXY_AUTH",
    { skip: dante || socksUserProblem || false },
    async () => {
      const wrong = proxies.socksAuth.url.replace(SOCKS_USER.password, "wrong");
      const err = await connect(`ws://127.0.0.1:${plain.port}/`, { proxy: wrong, timeout: 10_000 })
        .then(() => assert.fail("connect resolved"), (e) => e);
      assert.ok(err instanceof ProxyError, String(err));
      assert.equal(err.code, "ERR_PROXY_AUTH");
    },
  );

  test("a redirect is followed through the proxy", { skip: tinyproxy }, async (t) => {
    const redirector = createNetServer((socket) => {
      socket.once("data", () => {
        socket.end(`HTTP/1.1 302 Found\r\nLocation: ws://127.0.0.1:${plain.port}/moved\r\nContent-Length: 0\r\n\r\n`);
      });
    });
    t.after(() => redirector.close());
    await new Promise<void>((resolve) => redirector.listen(0, "127.0.0.1", resolve));
    const port = (redirector.address() as { port: number }).port;
    const ws = await connect(`ws://127.0.0.1:${port}/`, { proxy: proxies.http.url, redirect: true, timeout: 10_000 });
    t.after(() => ws.terminate());
    await ws.send("after the redirect");
    assert.equal((await withTimeout(ws.recvAll(), 5000, "echo")).data, "after the redirect");
    await ws.close();
  });

  test("without the option the environment decides: WS_PROXY is used, NO_PROXY and proxy: null bypass it", {
    skip: dante,
  }, async (t) => {
    const saved = { ws_proxy: process.env.ws_proxy, no_proxy: process.env.no_proxy };
    t.after(() => {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    });
    delete process.env.no_proxy;
    // Works through the proxy the environment names; the next step proves
    // the environment is what connect consulted.
    process.env.ws_proxy = proxies.socks5h.url;
    await echoesThrough(t, `ws://localhost:${plain.port}/`, undefined, ca);
    process.env.ws_proxy = "socks5://127.0.0.1:9";
    await assert.rejects(
      connect(`ws://127.0.0.1:${plain.port}/`, { timeout: 5000 }),
      (err) => err instanceof ProxyError && err.proxy === "socks5://127.0.0.1:9",
    );
    const direct = await connect(`ws://127.0.0.1:${plain.port}/`, { proxy: null, timeout: 5000 });
    t.after(() => direct.terminate());
    await direct.close();
    process.env.no_proxy = "localhost,127.0.0.0/8";
    const exempt = await connect(`ws://127.0.0.1:${plain.port}/`, { timeout: 5000 });
    t.after(() => exempt.terminate());
    await exempt.close();
  });
});

describe("a proxy that goes away", () => {
  for (const scheme of ["ws", "wss"] as const) {
    test(`${scheme}:// through an https:// proxy: the tunnel dropping closes the connection with 1006`, async (t) => {
      const cert = await testCertificate();
      const server = await echoServer(t, scheme === "wss" ? cert : undefined);
      const proxy = await startHttpsProxy(t, cert);
      const ws = await connect(`${scheme}://127.0.0.1:${server.port}/`, {
        proxy: { url: proxy.url, tls: { ca: cert.cert } },
        tls: { ca: cert.cert },
        timeout: 10_000,
        pingInterval: 0,
      });
      t.after(() => ws.terminate());
      await ws.send("before");
      assert.equal((await withTimeout(ws.recvAll(), 5000, "echo")).data, "before");
      await proxy.stop();
      const info = await withTimeout(ws.closed, 5000, "the connection noticing");
      assert.equal(info.code, 1006);
      assert.equal(info.wasClean, false);
    });
  }
});

describe("the proxy leg is bounded", () => {
  /** A proxy that accepts TCP and never answers; resolves `closed` when our socket goes away. Stopped when `t` ends. */
  async function silentProxy(t: Owner) {
    let socket: Socket | null = null;
    let onClosed: () => void;
    const closed = new Promise<void>((resolve) => (onClosed = resolve));
    let onReceived: () => void;
    const received = new Promise<void>((resolve) => (onReceived = resolve));
    const server = createNetServer((s) => {
      socket = s;
      s.on("error", () => {});
      s.once("data", () => onReceived());
      s.once("close", () => onClosed());
      // Reading is what lets the socket see our FIN and emit "close".
      s.resume();
    });
    t.after(() => {
      (socket as Socket | null)?.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    return { url: `http://127.0.0.1:${port}`, closed, received };
  }

  // A silent http:// proxy stalls CONNECT, a silent https:// one the TLS
  // handshake with the proxy, a silent socks5:// one the greeting: the
  // timeout names the proxy, not the server that was never reached.
  for (const scheme of ["http", "https", "socks5"]) {
    test(`timeout covers a silent ${scheme}:// proxy: a ProxyError naming it, and the socket closed`, async (t) => {
      const proxy = await silentProxy(t);
      const url = proxy.url.replace("http", scheme);
      const err = await connect("wss://127.0.0.1:9/", { proxy: url, timeout: 300 })
        .then(
          () => assert.fail("connect resolved"),
          (e) => e,
        );
      assert.ok(err instanceof ProxyError, String(err));
      assert.equal(err.code, "ERR_PROXY_TIMEOUT");
      assert.equal(err.proxy, url);
      assert.ok(err.message.startsWith(`Proxy ${url} `) && err.message.includes("within 300 ms"), err.message);
      assert.ok(err.cause instanceof TimeoutError);
      await withTimeout(proxy.closed, 5000, "the proxy seeing our socket close");
    });
  }

  test("signal aborts the proxy leg and closes the socket", async (t) => {
    const proxy = await silentProxy(t);
    const controller = new AbortController();
    const pending = connect("wss://127.0.0.1:9/", { proxy: proxy.url, signal: controller.signal });
    await withTimeout(proxy.received, 5000, "our request reaching the proxy");
    controller.abort(new Error("user gave up"));
    await assert.rejects(pending, /user gave up/);
    await withTimeout(proxy.closed, 5000, "the proxy seeing our socket close");
  });

  test("an unreachable proxy is a ProxyError naming the proxy", async () => {
    const port = await freePort(); // nothing listens there
    const err = await connect("ws://127.0.0.1:9/", { proxy: `socks5://127.0.0.1:${port}`, timeout: 5000 }).then(
      () => assert.fail("connect resolved"),
      (e) => e,
    );
    assert.ok(err instanceof ProxyError, String(err));
    assert.equal(err.code, "ERR_PROXY_UNREACHABLE");
    assert.match(err.message, new RegExp(`socks5://127\\.0\\.0\\.1:${port}`));
  });
});

describe("the wrong kind of proxy is named at once, or within timeout", () => {
  test("socks5:// pointed at tinyproxy (HTTP): a ProxyError naming the proxy within timeout", { skip: tinyproxy }, async (t) => {
    const server = await echoServer(t);
    const proxy = await startTinyproxy(t);
    const url = `socks5://127.0.0.1:${proxy.port}`;
    const started = Date.now();
    const err = await withTimeout(
      connect(`ws://127.0.0.1:${server.port}/`, { proxy: url, timeout: 1000 }).then(() => null, (e) => e),
      10_000,
      "connect through the wrong kind of proxy",
    );
    const took = Date.now() - started;
    assert.ok(err instanceof ProxyError, String(err));
    assert.equal(err.code, "ERR_PROXY_TIMEOUT");
    assert.equal(err.proxy, url);
    assert.equal(
      err.message,
      `Proxy ${url} did not answer the SOCKS5 handshake within 1000 ms: is it a SOCKS5 proxy? (an HTTP proxy never answers it)`,
    );
    assert.ok(took < 5000, `took ${took} ms (tinyproxy's own timeout is 30 s)`);
  });

  test("socks5:// at a proxy that answers in HTTP: ERR_PROXY_MALFORMED at once, saying so", async (t) => {
    const sockets = new Set<Socket>();
    const http = createNetServer((socket) => {
      sockets.add(socket);
      socket.on("error", () => {});
      socket.once("data", () => socket.end("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"));
    });
    t.after(() => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => http.close(() => resolve()));
    });
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    const url = `socks5://127.0.0.1:${(http.address() as { port: number }).port}`;
    const err = await withTimeout(
      connect("ws://127.0.0.1:9/", { proxy: url, timeout: 10_000 }).then(() => null, (e) => e),
      10_000,
      "connect through a proxy that answers in HTTP",
    );
    assert.ok(err instanceof ProxyError, String(err));
    assert.equal(err.code, "ERR_PROXY_MALFORMED");
    assert.equal(err.message, `SOCKS5 proxy ${url} answered in HTTP, not SOCKS5: is it an HTTP proxy? (then use http://)`);
  });

  test("http:// pointed at dante (SOCKS5): a ProxyError that suggests socks5://", { skip: dante }, async (t) => {
    const proxy = await startDante(t);
    const url = `http://127.0.0.1:${proxy.port}`;
    const err = await withTimeout(
      connect("ws://127.0.0.1:9/", { proxy: url, timeout: 10_000 }).then(() => null, (e) => e),
      10_000,
      "connect through the wrong kind of proxy",
    );
    assert.ok(err instanceof ProxyError, String(err));
    assert.equal(err.proxy, url);
    assert.match(err.message, /socks5:\/\//);
  });
});

describe("HTTP/2 (RFC 8441) never goes around a proxy", () => {
  /** Our HTTP/2 servers (h2 over TLS, h2c), closed when `t` ends, noting the HTTP version each WebSocket came over. */
  async function http2Servers(t: Owner) {
    const cert = await testCertificate();
    const versions: string[] = [];
    const handler = requestHandler(async (ws, request) => {
      versions.push(request.httpVersion ?? "1.1");
      for await (const msg of ws) await ws.sendAll(msg);
    });
    const tls = serve({ hostname: "127.0.0.1", port: 0, http2: true, tls: cert }, handler);
    t.after(() => tls.close());
    const clear = serve({ hostname: "127.0.0.1", port: 0, http2: true }, handler);
    t.after(() => clear.close());
    await Promise.all([tls.ready, clear.ready]);
    return {
      ca: cert.cert,
      versions,
      urls: [[`wss://127.0.0.1:${tls.port}/`, true], [`wss://127.0.0.1:${tls.port}/`, "auto"], [
        `ws://127.0.0.1:${clear.port}/`,
        true,
      ]] as [string, true | "auto"][],
    };
  }

  test("http2: true and \"auto\" tunnel through tinyproxy (CONNECT, then ALPN h2 or h2c inside)", { skip: tinyproxy }, async (t) => {
    const servers = await http2Servers(t);
    const proxy = await startTinyproxy(t, HTTP_AUTH);
    for (const [url, http2] of servers.urls) {
      // Wrong credentials: refused by the proxy, so the proxy is in the path.
      const wrong = proxy.url.replace(HTTP_AUTH.password, "wrong");
      const err = await withTimeout(
        connect(url, { http2, proxy: wrong, tls: { ca: servers.ca }, timeout: 10_000 }).then(() => null, (e) => e),
        15_000,
        `connect ${url} (http2 ${http2}) with the wrong proxy credentials`,
      );
      assert.ok(err instanceof ProxyError, `${url} http2 ${http2}: ${err}`);
      const before = servers.versions.length;
      const ws = await connect(url, { http2, proxy: proxy.url, tls: { ca: servers.ca }, timeout: 10_000 });
      t.after(() => ws.terminate());
      await ws.send("through the tunnel");
      assert.equal((await withTimeout(ws.recvAll(), 5000, "echo")).data, "through the tunnel");
      await withTimeout(ws.close(), 5000, "close()");
      assert.deepEqual(servers.versions.slice(before), ["2"], `${url} http2 ${http2}: a stream of an HTTP/2 session`);
    }
  });

  test("the environment's proxy (HTTPS_PROXY, WS_PROXY) is used for HTTP/2 too", { skip: tinyproxy }, async (t) => {
    const servers = await http2Servers(t);
    const proxy = await startTinyproxy(t, HTTP_AUTH);
    const names = ["https_proxy", "ws_proxy", "wss_proxy", "all_proxy", "no_proxy", "HTTPS_PROXY", "NO_PROXY"];
    const saved = Object.fromEntries(names.map((name) => [name, process.env[name]]));
    t.after(() => {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    });
    for (const name of names) delete process.env[name];
    for (const [url, http2] of servers.urls) {
      process.env.https_proxy = proxy.url.replace(HTTP_AUTH.password, "wrong");
      const err = await withTimeout(
        connect(url, { http2, tls: { ca: servers.ca }, timeout: 10_000 }).then(() => null, (e) => e),
        15_000,
        `connect ${url} (http2 ${http2}) through https_proxy with the wrong credentials`,
      );
      assert.ok(err instanceof ProxyError, `${url} http2 ${http2}: ${err}`);
      process.env.https_proxy = proxy.url;
      const ws = await connect(url, { http2, tls: { ca: servers.ca }, timeout: 10_000 });
      t.after(() => ws.terminate());
      await withTimeout(ws.close(), 5000, "close()");
      assert.equal(servers.versions.at(-1), "2");
    }
  });
});
