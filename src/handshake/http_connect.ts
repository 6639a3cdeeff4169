/**
 * The HTTP CONNECT tunnel handshake (RFC 9110 §9.3.6) without I/O: the
 * request to an `http://` or `https://` proxy, and its answer read from
 * bytes, however they are split.
 *
 * @module
 */

import { ProxyError } from "../errors.ts";
import { basicAuthorization } from "./client.ts";
import { HttpHeadError, HttpHeadParser } from "./http.ts";
import { authority, type ProxyAddress, type TunnelHandshake, type TunnelTarget } from "./tunnel.ts";

/** A header field name (RFC 9110 §5.1: a token). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * The HTTP CONNECT handshake (RFC 9110 §9.3.6): any 2xx opens the tunnel;
 * anything else is the proxy's refusal.
 *
 * @param proxy The proxy, whose credentials become `Proxy-Authorization: Basic`.
 * @param target The server to tunnel to.
 * @param headers Extra header fields for the proxy (a `Host` among them is ignored).
 * @returns The handshake.
 */
export function httpConnectHandshake(
  proxy: ProxyAddress,
  target: TunnelTarget,
  headers: readonly (readonly [string, string])[] = [],
): TunnelHandshake {
  const parser = new HttpHeadParser();
  /** The answer's first bytes, until they show it is HTTP: a SOCKS proxy answers in binary, and never ends a head. */
  let seen = "";
  const malformed = (message: string, extra: { headers?: Headers; cause?: unknown } = {}): ProxyError =>
    new ProxyError(`Proxy ${proxy.display} ${message}`, {
      code: "ERR_PROXY_MALFORMED",
      proxy: proxy.display,
      ...extra,
    });
  return {
    start() {
      const hostPort = authority(target);
      const lines = [`CONNECT ${hostPort} HTTP/1.1`, `Host: ${hostPort}`];
      const names = new Set(headers.map(([name]) => name.toLowerCase()));
      if ((proxy.username !== "" || proxy.password !== "") && !names.has("proxy-authorization")) {
        lines.push(`Proxy-Authorization: ${basicAuthorization(proxy.username, proxy.password)}`);
      }
      for (const [name, value] of headers) {
        if (/[\r\n]/.test(name + value) || !TOKEN.test(name)) {
          throw new TypeError(`Invalid proxy header ${JSON.stringify(name)}`);
        }
        if (name.toLowerCase() !== "host") lines.push(`${name}: ${value}`);
      }
      return new TextEncoder().encode(lines.join("\r\n") + "\r\n\r\n");
    },
    push(chunk) {
      if (seen.length < 5) {
        seen += String.fromCharCode(...chunk.subarray(0, 5 - seen.length));
        if (!"HTTP/".startsWith(seen)) {
          // A TLS record (an alert) from an https:// proxy, else binary from a SOCKS one.
          const tls = seen.charCodeAt(0) >= 0x14 && seen.charCodeAt(0) <= 0x17;
          const kind = tls ? "a TLS proxy? (then use https://)" : "a SOCKS proxy? (then use socks5://)";
          throw malformed(`did not answer CONNECT in HTTP: is it ${kind}`);
        }
      }
      let head;
      try {
        head = parser.push(chunk);
      } catch (err) {
        if (!(err instanceof HttpHeadError)) throw err;
        throw malformed(`sent a malformed answer to CONNECT: ${err.message}`, { cause: err });
      }
      if (head === null) return { send: null, rest: null };
      const [version, code, reason] = head.startLine;
      if (!/^HTTP\/1\.\d$/.test(version) || !/^[1-5]\d\d$/.test(code)) {
        throw malformed("did not answer CONNECT with an HTTP/1.x status line", { headers: head.headers });
      }
      const status = Number(code);
      if (status < 200 || status > 299) {
        throw new ProxyError(
          `Proxy ${proxy.display} refused CONNECT ${authority(target)}: ${code} ${reason}`.trimEnd(),
          {
            code: status === 407 ? "ERR_PROXY_AUTH" : "ERR_PROXY_STATUS",
            proxy: proxy.display,
            status,
            headers: head.headers,
          },
        );
      }
      return { send: null, rest: head.rest };
    },
    closed() {
      // A SOCKS proxy hangs up on the HTTP request line it cannot read.
      return new ProxyError(
        `Proxy ${proxy.display} closed the connection before opening the tunnel (a SOCKS proxy? then use socks5://)`,
        { code: "ERR_PROXY_EOF", proxy: proxy.display },
      );
    },
    stalled(within, cause) {
      return new ProxyError(`Proxy ${proxy.display} did not answer CONNECT ${within}: is it an HTTP proxy?`, {
        code: "ERR_PROXY_TIMEOUT",
        proxy: proxy.display,
        cause,
      });
    },
  };
}
