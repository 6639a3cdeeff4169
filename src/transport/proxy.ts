/**
 * Dialing through a proxy: TCP (or TLS, for an `https://` proxy) to the
 * proxy, the tunnel handshake of `src/client/proxy.ts`, then TLS to the
 * server inside the tunnel for `wss://`. Everything goes through `node:net`
 * and `node:tls`, which Deno and Bun provide too: TLS over an existing
 * socket (`tls.connect({ socket })`) is the one API all three runtimes share
 * for TLS inside a tunnel, and inside TLS for an `https://` proxy.
 *
 * @module
 */

import { connect as netConnect, isIP, type Socket } from "node:net";
import { lookup } from "node:dns/promises";
import { connect as tlsConnect } from "node:tls";
import type { Duplex } from "node:stream";
import { ProxyError } from "../errors.ts";
import { httpConnectHandshake, type ProxyRoute, socks5Handshake, type TunnelHandshake } from "../client/proxy.ts";
import { nodeSocketTransport, socketReady } from "./node.ts";
import type { DialOptions, DialTlsOptions, Transport } from "./types.ts";

/**
 * Opens a connection to `options.hostname:port` through a proxy and wraps
 * it as a transport. An abort (the caller's signal or `connect`'s timeout)
 * destroys every socket opened so far.
 *
 * @param options The target, its TLS settings and the abort signal.
 * @param route The proxy, its extra header fields and TLS settings.
 * @returns The connected transport, not yet started.
 * @throws {ProxyError} When the proxy cannot be reached or refuses the tunnel.
 */
export async function dialThroughProxy(options: DialOptions, route: ProxyRoute): Promise<Transport> {
  const { signal } = options;
  signal?.throwIfAborted();
  const proxy = route.address;
  let hostname = options.hostname;
  if (proxy.protocol === "socks5:" && isIP(hostname) === 0) {
    // socks5:// resolves names here; socks5h:// leaves them to the proxy.
    hostname = (await lookup(hostname)).address;
    signal?.throwIfAborted();
  }
  const sockets: Duplex[] = [];
  const onAbort = () => {
    for (const socket of sockets) socket.destroy();
  };
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const outer = await opened(
      proxy.protocol === "https:"
        ? secureSocket({ host: proxy.hostname, port: proxy.port }, proxy.hostname, route.tls)
        : netConnect({ host: proxy.hostname, port: proxy.port }),
      proxy.protocol === "https:" ? "secureConnect" : "connect",
      sockets,
      signal,
    ).catch((err) => {
      throw signal?.aborted ? err : new ProxyError(`Cannot reach proxy ${proxy.display}: ${messageOf(err)}`, {
        code: "ERR_PROXY_UNREACHABLE",
        proxy: proxy.display,
        cause: err,
      });
    });
    const target = { hostname, port: options.port };
    const handshake = proxy.protocol === "http:" || proxy.protocol === "https:"
      ? httpConnectHandshake(proxy, target, route.headers)
      : socks5Handshake(proxy, target);
    await tunnel(outer, handshake, proxy.display, signal);
    if (options.tls === undefined) return resumedOnStart(outer as Socket);
    // The server speaks TLS only after our ClientHello: nothing was put back.
    outer.resume();
    // The inner TLS socket reports failures; one of the tunnel below it must
    // not go unhandled (an "error" event without a listener ends the process).
    outer.on("error", () => {});
    const inner = await opened(
      secureSocket({ socket: outer }, options.hostname, options.tls),
      "secureConnect",
      sockets,
      signal,
    );
    // Closing the inner TLS session must release the tunnel under it.
    inner.once("close", () => outer.destroy());
    return nodeSocketTransport(inner);
  } catch (err) {
    onAbort();
    throw signal?.aborted ? signal.reason : err;
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

/**
 * The tunnel's socket was paused after its handshake so that no byte from
 * the server is emitted before anyone listens; reading resumes once the
 * transport is started.
 */
function resumedOnStart(socket: Socket): Transport {
  const transport = nodeSocketTransport(socket);
  return {
    mutableChunks: transport.mutableChunks,
    get bufferedAmount() {
      return transport.bufferedAmount;
    },
    remoteAddress: transport.remoteAddress,
    remotePort: transport.remotePort,
    start(sink) {
      transport.start(sink);
      socket.resume();
    },
    write: (chunk) => transport.write(chunk),
    pause: () => transport.pause(),
    resume: () => transport.resume(),
    end: () => transport.end(),
    destroy: () => transport.destroy(),
  };
}

function messageOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  return typeof code === "string" && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
}

function secureSocket(
  where: { host: string; port: number } | { socket: Duplex },
  hostname: string,
  tls: DialTlsOptions,
): Socket {
  return tlsConnect({
    ...where,
    ca: tls.ca,
    cert: tls.cert,
    key: tls.key,
    // SNI carries a host name, never an IP address (RFC 6066 §3).
    servername: tls.serverName ?? (isIP(hostname) === 0 ? hostname : undefined),
    rejectUnauthorized: tls.rejectUnauthorized ?? true,
  });
}

/** Remembers the socket (an abort destroys every socket of the dial) and waits until it is open. */
function opened<T extends Socket>(
  socket: T,
  ready: "connect" | "secureConnect",
  sockets: Duplex[],
  signal?: AbortSignal,
): Promise<T> {
  sockets.push(socket);
  return socketReady(socket, ready, signal);
}

/** Runs the tunnel handshake over `socket`; bytes past it are put back for the next reader. */
function tunnel(socket: Duplex, handshake: TunnelHandshake, display: string, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const settle = () => {
      socket.off("data", onData);
      socket.off("end", onEnd);
      socket.off("close", onEnd);
      socket.off("error", onError);
      signal?.removeEventListener("abort", onAbort);
    };
    const fail = (err: unknown) => {
      settle();
      reject(err);
    };
    const onData = (chunk: Uint8Array) => {
      try {
        const step = handshake.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        if (step.send !== null) socket.write(step.send);
        if (step.rest === null) return;
        settle();
        socket.pause();
        if (step.rest.length > 0) socket.unshift(step.rest);
        resolve();
      } catch (err) {
        fail(err);
      }
    };
    const onEnd = () => {
      fail(
        new ProxyError(`Proxy ${display} closed the connection before opening the tunnel`, {
          code: "ERR_PROXY_EOF",
          proxy: display,
        }),
      );
    };
    const onError = (err: Error) => {
      fail(
        new ProxyError(`Connection to proxy ${display} failed: ${messageOf(err)}`, {
          code: "ERR_PROXY_UNREACHABLE",
          proxy: display,
          cause: err,
        }),
      );
    };
    const onAbort = () => fail(signal!.reason);
    socket.on("data", onData);
    socket.once("end", onEnd);
    socket.once("close", onEnd);
    socket.once("error", onError);
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      socket.write(handshake.start());
    } catch (err) {
      fail(err);
    }
  });
}
