// Real proxies for the proxy tests, each started on a free port of 127.0.0.1
// by the test that needs it and stopped by the PID it was given when that
// test (or describe block, through a Releases) ends: tinyproxy
// (HTTP CONNECT, optionally with Basic auth) and dante (SOCKS5, optionally
// with user/password auth against a system user) from Debian, and a small
// TLS-terminating CONNECT proxy of our own for https:// proxies.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect as netConnect, createServer as createNetServer, type Server, type Socket } from "node:net";
import { createServer as createTlsServer } from "node:tls";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { eventually, type Owner } from "./_test.ts";

export interface RunningProxy {
  /** The proxy URL, with credentials when it requires them. */
  url: string;
  port: number;
  /** CONNECT requests the proxy saw (ours only), for assertions. */
  requests: string[];
  stop(): Promise<void>;
}

/** The first of `paths` that exists, or null. */
export function binary(...paths: string[]): string | null {
  return paths.find((p) => existsSync(p)) ?? null;
}

export const TINYPROXY = binary("/usr/bin/tinyproxy", "/usr/sbin/tinyproxy");
export const DANTED = binary("/usr/sbin/danted", "/usr/bin/danted");

/** A port that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Waits until something accepts TCP on the port, for at most `ms`. */
async function accepting(port: number, child: ChildProcess, output: () => string, ms = 10_000): Promise<void> {
  const accepts = () => {
    if (child.exitCode !== null) throw new Error(`Proxy exited with ${child.exitCode}: ${output()}`);
    return new Promise<boolean>((resolve) => {
      const socket = netConnect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
  };
  await eventually(accepts, ms, `Proxy listening on ${port}`).catch((err) => {
    if ((err as Error).message.startsWith("Proxy exited")) throw err;
    throw new Error(`Proxy did not listen on ${port} within ${ms} ms: ${output()}`);
  });
}

function startDaemon(command: string, args: string[], port: number, dir: string): Promise<() => Promise<void>> {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (chunk) => (output += chunk));
  child.stderr!.on("data", (chunk) => (output += chunk));
  const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
  const running = () => child.exitCode === null && child.signalCode === null;
  const stop = async () => {
    if (running()) {
      process.kill(child.pid!, "SIGTERM");
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([exited, new Promise((resolve) => (timer = setTimeout(resolve, 3000)))]);
      clearTimeout(timer);
      if (running()) process.kill(child.pid!, "SIGKILL");
    }
    rmSync(dir, { recursive: true, force: true });
  };
  return accepting(port, child, () => output).then(() => stop, async (err) => {
    await stop();
    throw err;
  });
}

/** tinyproxy in the foreground on a free port; `auth` turns on BasicAuth. */
export async function startTinyproxy(t: Owner, auth?: { user: string; password: string }): Promise<RunningProxy> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "streamsock-tinyproxy-"));
  const config = [
    `Port ${port}`,
    "Listen 127.0.0.1",
    "Timeout 30",
    "MaxClients 50",
    "LogLevel Warning",
    "Allow 127.0.0.1",
    // Without any ConnectPort line tinyproxy allows CONNECT to every port;
    // the tests' servers sit on random ones.
    ...(auth ? [`BasicAuth ${auth.user} ${auth.password}`] : []),
    ...(process.getuid?.() === 0 ? ["User nobody", "Group nogroup"] : []),
  ];
  writeFileSync(join(dir, "tinyproxy.conf"), config.join("\n") + "\n");
  const stop = await startDaemon(TINYPROXY!, ["-d", "-c", join(dir, "tinyproxy.conf")], port, dir);
  t.after(stop);
  const credentials = auth ? `${auth.user}:${auth.password}@` : "";
  return { url: `http://${credentials}127.0.0.1:${port}`, port, requests: [], stop };
}

/** The system user dante checks SOCKS5 user/password auth against. */
export const SOCKS_USER = { user: "streamsock-socks", password: "socks-secret" };

/**
 * Creates {@link SOCKS_USER} when running as root; returns why not otherwise.
 *
 * @returns null when the user exists, else the reason it could not be made.
 */
export function ensureSocksUser(): string | null {
  if (process.getuid?.() !== 0) return "not running as root, so no system user for dante's username auth";
  try {
    execFileSync("id", [SOCKS_USER.user], { stdio: "ignore" });
  } catch {
    try {
      execFileSync("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SOCKS_USER.user]);
    } catch (err) {
      return `useradd failed: ${(err as Error).message}`;
    }
  }
  try {
    execFileSync("chpasswd", [], { input: `${SOCKS_USER.user}:${SOCKS_USER.password}\n` });
  } catch (err) {
    return `chpasswd failed: ${(err as Error).message}`;
  }
  return null;
}

/** dante's danted in the foreground on a free port; `auth` requires the system user's name and password. */
export async function startDante(
  t: Owner,
  options: { auth?: boolean; scheme?: "socks5" | "socks5h" } = {},
): Promise<RunningProxy> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "streamsock-dante-"));
  const config = [
    "logoutput: stderr",
    `internal: 127.0.0.1 port = ${port}`,
    "external: 127.0.0.1",
    `socksmethod: ${options.auth ? "username" : "none"}`,
    "clientmethod: none",
    "user.privileged: root",
    "user.unprivileged: nobody",
    "client pass { from: 127.0.0.1/32 to: 0.0.0.0/0 }",
    "socks pass { from: 127.0.0.1/32 to: 0.0.0.0/0 command: connect }",
  ];
  writeFileSync(join(dir, "danted.conf"), config.join("\n") + "\n");
  const stop = await startDaemon(
    DANTED!,
    ["-f", join(dir, "danted.conf"), "-p", join(dir, "danted.pid"), "-N", "1"],
    port,
    dir,
  );
  t.after(stop);
  const credentials = options.auth ? `${SOCKS_USER.user}:${SOCKS_USER.password}@` : "";
  return { url: `${options.scheme ?? "socks5"}://${credentials}127.0.0.1:${port}`, port, requests: [], stop };
}

/**
 * Our own https:// proxy: TLS with the test certificate (or plain TCP when
 * `tls` is null: an http:// proxy), then CONNECT, optionally requiring
 * `Proxy-Authorization`. Records each request head.
 */
export async function startHttpsProxy(
  t: Owner,
  tls: { cert: string; key: string } | null,
  auth?: { user: string; password: string },
): Promise<RunningProxy> {
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  const expected = auth ? "Basic " + btoa(`${auth.user}:${auth.password}`) : null;
  const onClient = (client: Socket) => {
    sockets.add(client);
    client.once("close", () => sockets.delete(client));
    client.on("error", () => {});
    let head = "";
    const onData = (chunk: Uint8Array) => {
      head += new TextDecoder("latin1").decode(chunk);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      client.off("data", onData);
      requests.push(head.slice(0, end));
      const lines = head.slice(0, end).split("\r\n");
      const [method, target] = lines[0].split(" ");
      const authorization = lines.find((l) => /^proxy-authorization:/i.test(l))?.replace(/^[^:]+:\s*/, "");
      if (method !== "CONNECT") return void client.end("HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n");
      if (expected !== null && authorization !== expected) {
        return void client.end(
          'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n',
        );
      }
      const colon = target.lastIndexOf(":");
      const upstream = netConnect(Number(target.slice(colon + 1)), target.slice(0, colon).replace(/^\[|\]$/g, ""));
      sockets.add(upstream);
      upstream.once("close", () => {
        sockets.delete(upstream);
        client.destroy();
      });
      client.once("close", () => upstream.destroy());
      upstream.once("error", () => client.end("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n"));
      upstream.once("connect", () => {
        client.write("HTTP/1.1 200 Connection established\r\n\r\n");
        const rest = head.slice(end + 4);
        if (rest !== "") upstream.write(new Uint8Array([...rest].map((c) => c.charCodeAt(0))));
        client.pipe(upstream);
        upstream.pipe(client);
      });
    };
    client.on("data", onData);
  };
  const server: Server = tls === null
    ? createNetServer(onClient)
    : createTlsServer({ cert: tls.cert, key: tls.key }, onClient);
  const stop = async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  t.after(stop);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  const credentials = auth ? `${auth.user}:${auth.password}@` : "";
  return { url: `${tls === null ? "http" : "https"}://${credentials}127.0.0.1:${port}`, port, requests, stop };
}
