/**
 * Dialing through a proxy: TCP (or TLS, for an `https://` proxy) to the
 * proxy, the tunnel handshake (`src/handshake/http_connect.ts` or
 * `src/handshake/socks5.ts`) over it, then TLS to the
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
import { connectErrorOf, ProxyError, TimeoutError } from "../errors.ts";
import { httpConnectHandshake } from "../handshake/http_connect.ts";
import { socks5Handshake } from "../handshake/socks5.ts";
import type { TunnelHandshake } from "../handshake/tunnel.ts";
import { nodeSocketTransport, socketReady } from "./node.ts";
import type { DialOptions, DialTlsOptions, ProxyRoute, Transport } from "./types.ts";

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
  const socket = await tunnelSocket(options, route);
  // Through TLS, the server speaks only after our ClientHello: nothing was put back.
  return options.tls === undefined ? resumedOnStart(socket) : nodeSocketTransport(socket);
}

/**
 * Opens a tunnel through the proxy to `options.hostname:port` and returns
 * its socket, open: for `wss://` the TLS socket to the server inside the
 * tunnel (offering `alpn`, for HTTP/2), else the tunnel's own socket,
 * paused, with any bytes that followed the proxy's answer put back.
 *
 * @param options The target, its TLS settings and the abort signal.
 * @param route The proxy, its extra header fields and TLS settings.
 * @param alpn Protocols to offer the server by ALPN (TLS only).
 * @returns The open socket.
 * @throws {ProxyError} When the proxy cannot be reached, refuses the tunnel or does not answer within the timeout.
 */
export async function tunnelSocket(options: DialOptions, route: ProxyRoute, alpn?: string[]): Promise<Socket> {
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
  /** Which leg `connect`'s timeout would cut: the proxy's, or the server's TLS inside the tunnel. */
  let leg: "proxy" | "handshake" | "server" = "proxy";
  let handshake: TunnelHandshake | null = null;
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
    handshake = proxy.protocol === "http:" || proxy.protocol === "https:"
      ? httpConnectHandshake(proxy, target, route.headers)
      : socks5Handshake(proxy, target);
    leg = "handshake";
    await tunnel(outer, handshake, proxy.display, signal);
    leg = "server";
    if (options.tls === undefined) return outer as Socket;
    // The server speaks TLS only after our ClientHello: nothing was put back.
    outer.resume();
    // The inner TLS socket reports failures; one of the tunnel below it must
    // not go unhandled (an "error" event without a listener ends the process).
    outer.on("error", () => {});
    const inner = await opened(
      secureSocket({ socket: outer }, options.hostname, options.tls, alpn),
      "secureConnect",
      sockets,
      signal,
    ).catch((err) => {
      // The server's TLS, inside the tunnel: the same errors as without a proxy.
      throw signal?.aborted ? err : connectErrorOf(err, options.hostname, options.port);
    });
    // Closing the inner TLS session must release the tunnel under it.
    inner.once("close", () => outer.destroy());
    return inner;
  } catch (err) {
    onAbort();
    if (!signal?.aborted) throw err;
    // connect's timeout in the proxy's leg is the proxy's failure, and says
    // so: a stalled or wrong kind of proxy (socks5:// at an HTTP proxy never
    // gets an answer) must not read as a server that did not answer.
    if (signal.reason instanceof TimeoutError && leg !== "server") {
      const within = signal.reason.message.match(/within \d+ ms/)?.[0] ?? "in time";
      if (leg === "handshake" && handshake !== null) throw handshake.stalled(within, signal.reason);
      throw proxyTimeout(proxy, within, signal.reason);
    }
    throw signal.reason;
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

/** A ProxyError for connect's timeout while the proxy's own TCP or TLS connection opened. */
function proxyTimeout(proxy: ProxyRoute["address"], within: string, timeout: TimeoutError): ProxyError {
  const step = proxy.protocol === "https:"
    ? `did not finish its TLS handshake ${within}`
    : `did not accept the connection ${within}`;
  return new ProxyError(`Proxy ${proxy.display} ${step}`, {
    code: "ERR_PROXY_TIMEOUT",
    proxy: proxy.display,
    cause: timeout,
  });
}

/**
 * The tunnel's socket was paused after its handshake so that no byte from
 * the server is emitted before anyone listens; reading resumes once the
 * transport is started.
 */
function resumedOnStart(socket: Socket): Transport {
  const transport = nodeSocketTransport(socket);
  const resumed: Transport = {
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
  if (transport.writev !== undefined) resumed.writev = (chunks) => transport.writev!(chunks);
  return resumed;
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
  alpn?: string[],
): Socket {
  return tlsConnect({
    ...where,
    ...(alpn === undefined ? {} : { ALPNProtocols: alpn }),
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
    const onEnd = () => fail(handshake.closed());
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
