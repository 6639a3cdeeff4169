/**
 * Proxies for the client, without I/O: which proxy a URL goes through
 * (the `proxy` option or the environment, `NO_PROXY` included), and the
 * two tunnel handshakes as byte-in, byte-out state machines: HTTP CONNECT
 * (RFC 9110 §9.3.6) and SOCKS5 (RFC 1928) with user/password
 * authentication (RFC 1929). `src/transport/proxy.ts` pumps the bytes.
 *
 * @module
 */

import { concatBytes } from "../codec/pool.ts";
import { ProxyError } from "../errors.ts";
import { basicAuthorization, headerFields } from "../handshake/client.ts";
import { type HeaderFields, HttpHeadError, HttpHeadParser } from "../handshake/http.ts";
import type { DialTlsOptions } from "../transport/types.ts";

/** The proxy kinds the client speaks. */
export type ProxyProtocol = "http:" | "https:" | "socks5:" | "socks5h:";

/** A parsed proxy URL. */
export interface ProxyAddress {
  /** `http:` and `https:` tunnel with CONNECT; `socks5h:` lets the proxy resolve names, `socks5:` resolves them here. */
  protocol: ProxyProtocol;
  /** Host name or IP address, IPv6 without brackets. */
  hostname: string;
  port: number;
  /** Decoded user name and password from the URL, if any. */
  username: string;
  password: string;
  /** The URL without credentials, for messages. */
  display: string;
}

const DEFAULT_PORTS: Record<ProxyProtocol, number> = { "http:": 80, "https:": 443, "socks5:": 1080, "socks5h:": 1080 };

/**
 * Parses a proxy URL. A bare `host:port` means an HTTP proxy, as in curl.
 *
 * @param input `http://`, `https://`, `socks5://` or `socks5h://` URL.
 * @returns The proxy's address and credentials.
 * @throws {TypeError} For another scheme or a malformed URL.
 */
export function parseProxyUrl(input: string | URL): ProxyAddress {
  let text = input instanceof URL ? input.href : input.trim();
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) text = `http://${text}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new TypeError(`Invalid proxy URL ${JSON.stringify(String(input))}`);
  }
  const protocol = url.protocol as ProxyProtocol;
  if (!(protocol in DEFAULT_PORTS)) {
    throw new TypeError(`Unsupported proxy scheme ${url.protocol} (use http:, https:, socks5: or socks5h:)`);
  }
  if (url.hostname === "") throw new TypeError(`Proxy URL ${JSON.stringify(String(input))} has no host`);
  const hostname = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  const port = url.port === "" ? DEFAULT_PORTS[protocol] : Number(url.port);
  return {
    protocol,
    hostname,
    port,
    username: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    display: `${protocol}//${url.host}`,
  };
}

/** Reads one environment variable; undefined when unset or not readable. */
export type EnvironmentReader = (name: string) => string | undefined;

function variable(env: EnvironmentReader, name: string): string | undefined {
  // Lower case first, as curl and Python's urllib do; empty means unset.
  for (const spelling of [name.toLowerCase(), name.toUpperCase()]) {
    const value = env(spelling)?.trim();
    if (value) return value;
  }
  return undefined;
}

/**
 * The proxy the environment chooses for a WebSocket URL: none when
 * `NO_PROXY` matches, else the first set of `WSS_PROXY` (wss:) or
 * `WS_PROXY` (ws:), `HTTPS_PROXY`, `HTTP_PROXY` (ws: only) and
 * `ALL_PROXY`, each read in lower case first.
 *
 * @param url The `ws:` or `wss:` URL to reach.
 * @param env Reads a variable.
 * @returns The proxy URL, or null for a direct connection.
 */
export function proxyFromEnvironment(url: URL, env: EnvironmentReader): string | null {
  const secure = url.protocol === "wss:";
  const port = url.port === "" ? (secure ? 443 : 80) : Number(url.port);
  const noProxy = variable(env, "no_proxy");
  if (noProxy !== undefined && matchesNoProxy(noProxy, url.hostname, port)) return null;
  const names = secure
    ? ["wss_proxy", "https_proxy", "all_proxy"]
    : ["ws_proxy", "https_proxy", "http_proxy", "all_proxy"];
  for (const name of names) {
    const value = variable(env, name);
    if (value !== undefined) return value;
  }
  return null;
}

/**
 * Whether a `NO_PROXY` list exempts a host: `*` exempts all; `example.com`
 * and `.example.com` exempt that domain and its subdomains; an entry may
 * end in `:port`; IP literals match exactly or by CIDR (`10.0.0.0/8`,
 * `fd00::/8`).
 *
 * @param list The variable's value: entries separated by commas or spaces.
 * @param hostname The host to reach (IPv6 with or without brackets).
 * @param port The port to reach.
 * @returns True when the host must be reached directly.
 */
export function matchesNoProxy(list: string, hostname: string, port: number): boolean {
  const host = normalizeHost(hostname);
  const hostIp = parseIp(host);
  for (let entry of list.split(/[\s,]+/)) {
    entry = entry.trim().toLowerCase();
    if (entry === "") continue;
    if (entry === "*") return true;
    let entryPort: number | null = null;
    const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
    if (bracketed) {
      entry = bracketed[1];
      if (bracketed[2] !== undefined) entryPort = Number(bracketed[2]);
    } else {
      const withPort = /^([^:]+):(\d+)$/.exec(entry);
      if (withPort) {
        entry = withPort[1];
        entryPort = Number(withPort[2]);
      }
    }
    if (entryPort !== null && entryPort !== port) continue;
    const slash = entry.indexOf("/");
    if (hostIp !== null) {
      const network = parseIp(slash < 0 ? entry : entry.slice(0, slash));
      if (network === null || network.length !== hostIp.length) continue;
      const bits = slash < 0 ? network.length * 8 : Number(entry.slice(slash + 1));
      if (Number.isInteger(bits) && bits >= 0 && bits <= network.length * 8 && samePrefix(hostIp, network, bits)) {
        return true;
      }
      continue;
    }
    const domain = normalizeHost(entry.replace(/^\*?\./, ""));
    if (domain !== "" && (host === domain || host.endsWith(`.${domain}`))) return true;
  }
  return false;
}

function normalizeHost(host: string): string {
  let h = host.toLowerCase();
  if (h.startsWith("[") && h.endsWith("]")) h = h.slice(1, -1);
  return h.endsWith(".") ? h.slice(0, -1) : h;
}

function samePrefix(a: Uint8Array, b: Uint8Array, bits: number): boolean {
  for (let i = 0; i < a.length && bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((a[i] & mask) !== (b[i] & mask)) return false;
  }
  return true;
}

/**
 * The bytes of an IPv4 (4) or IPv6 (16) literal, or null for a name.
 *
 * @param text A dotted quad or an IPv6 address without brackets.
 * @returns Network-order bytes, or null.
 */
export function parseIp(text: string): Uint8Array | null {
  const v4 = parseIpv4(text);
  if (v4 !== null) return v4;
  if (!text.includes(":")) return null;
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const groups = (part: string): number[] | null => {
    if (part === "") return [];
    const out: number[] = [];
    const pieces = part.split(":");
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i];
      if (i === pieces.length - 1 && piece.includes(".")) {
        const tail = parseIpv4(piece);
        if (tail === null) return null;
        out.push((tail[0] << 8) | tail[1], (tail[2] << 8) | tail[3]);
      } else if (/^[0-9a-f]{1,4}$/i.test(piece)) {
        out.push(parseInt(piece, 16));
      } else {
        return null;
      }
    }
    return out;
  };
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  if (head === null || tail === null) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const all = [...head, ...new Array(missing).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  all.forEach((group, i) => {
    bytes[2 * i] = group >> 8;
    bytes[2 * i + 1] = group & 0xff;
  });
  return bytes;
}

function parseIpv4(text: string): Uint8Array | null {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return null;
  return new Uint8Array(parts.map(Number));
}

/** What a tunnel handshake wants after a chunk of the proxy's bytes. */
export interface TunnelStep {
  /** Bytes to send to the proxy now, if any. */
  send: Uint8Array | null;
  /** Set once the tunnel is open: bytes that already came from the target. */
  rest: Uint8Array | null;
}

/**
 * A proxy tunnel's handshake as a state machine: `start` gives the first
 * bytes to send, `push` takes what the proxy sent and says what to send
 * next and whether the tunnel is open. A refusal throws {@link ProxyError}.
 */
export interface TunnelHandshake {
  /** The first bytes to send. */
  start(): Uint8Array;
  /** Feeds the proxy's bytes. */
  push(chunk: Uint8Array): TunnelStep;
}

/** Where the tunnel leads: the WebSocket server. */
export interface TunnelTarget {
  /** Host name or IP literal (IPv6 without brackets). */
  hostname: string;
  port: number;
}

function authority(target: TunnelTarget): string {
  return target.hostname.includes(":") ? `[${target.hostname}]:${target.port}` : `${target.hostname}:${target.port}`;
}

/**
 * The HTTP CONNECT handshake (RFC 9110 §9.3.6): any 2xx opens the tunnel;
 * anything else is the proxy's refusal.
 *
 * @param proxy The proxy, whose credentials become `Proxy-Authorization: Basic`.
 * @param target The server to tunnel to.
 * @param headers Extra header fields for the proxy.
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
  return {
    start() {
      const hostPort = authority(target);
      const lines = [`CONNECT ${hostPort} HTTP/1.1`, `Host: ${hostPort}`];
      const names = new Set(headers.map(([name]) => name.toLowerCase()));
      if ((proxy.username !== "" || proxy.password !== "") && !names.has("proxy-authorization")) {
        lines.push(`Proxy-Authorization: ${basicAuthorization(proxy.username, proxy.password)}`);
      }
      for (const [name, value] of headers) {
        if (/[\r\n]/.test(name + value) || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)) {
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
          throw new ProxyError(`Proxy ${proxy.display} did not answer CONNECT in HTTP: is it ${kind}`, {
            code: "ERR_PROXY_MALFORMED",
            proxy: proxy.display,
          });
        }
      }
      let head;
      try {
        head = parser.push(chunk);
      } catch (err) {
        if (!(err instanceof HttpHeadError)) throw err;
        throw new ProxyError(`Proxy ${proxy.display} sent a malformed answer to CONNECT: ${err.message}`, {
          code: "ERR_PROXY_MALFORMED",
          proxy: proxy.display,
          cause: err,
        });
      }
      if (head === null) return { send: null, rest: null };
      const [version, code, reason] = head.startLine;
      if (!/^HTTP\/1\.\d$/.test(version) || !/^[1-5]\d\d$/.test(code)) {
        throw new ProxyError(`Proxy ${proxy.display} did not answer CONNECT with an HTTP/1.x status line`, {
          code: "ERR_PROXY_MALFORMED",
          proxy: proxy.display,
          headers: head.headers,
        });
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
  };
}

/** RFC 1928 §6 reply codes, for messages. */
const SOCKS_REPLIES: Record<number, string> = {
  1: "general SOCKS server failure",
  2: "connection not allowed by ruleset",
  3: "network unreachable",
  4: "host unreachable",
  5: "connection refused",
  6: "TTL expired",
  7: "command not supported",
  8: "address type not supported",
};

/**
 * The SOCKS5 handshake (RFC 1928) with user/password authentication (RFC
 * 1929) when the proxy URL carries credentials. `target.hostname` is sent
 * as an IP address when it is a literal, else as a domain name for the
 * proxy to resolve (`socks5h:`; for `socks5:` the caller resolves first).
 *
 * @param proxy The proxy and its credentials.
 * @param target The server to tunnel to.
 * @returns The handshake.
 */
export function socks5Handshake(proxy: ProxyAddress, target: TunnelTarget): TunnelHandshake {
  const withAuth = proxy.username !== "" || proxy.password !== "";
  const encoder = new TextEncoder();
  let state: "method" | "auth" | "reply" | "open" = "method";
  let buffer = new Uint8Array(0);
  const fail = (message: string, code: string, socksReply?: number): never => {
    throw new ProxyError(`SOCKS5 proxy ${proxy.display} ${message}`, { code, proxy: proxy.display, socksReply });
  };
  const connectRequest = (): Uint8Array => {
    const ip = parseIp(target.hostname);
    let address: number[];
    if (ip !== null) address = [ip.length === 4 ? 0x01 : 0x04, ...ip];
    else {
      const name = encoder.encode(target.hostname);
      if (name.length > 255) throw new TypeError("Host name too long for SOCKS5");
      address = [0x03, name.length, ...name];
    }
    return new Uint8Array([0x05, 0x01, 0x00, ...address, target.port >> 8, target.port & 0xff]);
  };
  const take = (n: number): Uint8Array | null => {
    if (buffer.length < n) return null;
    const head = buffer.subarray(0, n);
    buffer = buffer.subarray(n);
    return head;
  };
  return {
    start() {
      // VER, NMETHODS, METHODS: 0x00 no authentication, 0x02 user/password.
      return new Uint8Array(withAuth ? [0x05, 0x02, 0x00, 0x02] : [0x05, 0x01, 0x00]);
    },
    push(chunk) {
      const merged = new Uint8Array(buffer.length + chunk.length);
      merged.set(buffer);
      merged.set(chunk, buffer.length);
      buffer = merged;
      const send: Uint8Array[] = [];
      for (;;) {
        if (state === "method") {
          const reply = take(2);
          if (reply === null) break;
          if (reply[0] !== 0x05) {
            // "HT": an HTTP proxy answering our greeting with an error page.
            if (reply[0] === 0x48 && reply[1] === 0x54) {
              fail("answered in HTTP, not SOCKS5: is it an HTTP proxy? (then use http://)", "ERR_PROXY_MALFORMED");
            }
            fail(`answered with version ${reply[0]}, not 5`, "ERR_PROXY_MALFORMED");
          }
          if (reply[1] === 0x00) {
            state = "reply";
            send.push(connectRequest());
          } else if (reply[1] === 0x02 && withAuth) {
            const user = encoder.encode(proxy.username);
            const pass = encoder.encode(proxy.password);
            if (user.length > 255 || pass.length > 255) {
              throw new TypeError("SOCKS5 user name and password are at most 255 bytes");
            }
            state = "auth";
            send.push(new Uint8Array([0x01, user.length, ...user, pass.length, ...pass]));
          } else if (reply[1] === 0xff) {
            fail(
              withAuth
                ? "accepts none of our authentication methods"
                : "requires authentication: put user:password in the proxy URL",
              "ERR_PROXY_AUTH",
            );
          } else {
            fail(`chose authentication method ${reply[1]}, which was not offered`, "ERR_PROXY_MALFORMED");
          }
        } else if (state === "auth") {
          const reply = take(2);
          if (reply === null) break;
          if (reply[1] !== 0x00) fail(`refused the user name and password (status ${reply[1]})`, "ERR_PROXY_AUTH");
          state = "reply";
          send.push(connectRequest());
        } else if (state === "reply") {
          if (buffer.length < 5) break;
          if (buffer[0] !== 0x05) fail(`answered with version ${buffer[0]}, not 5`, "ERR_PROXY_MALFORMED");
          const rep = buffer[1];
          if (rep !== 0x00) {
            fail(
              `refused CONNECT ${authority(target)}: ${SOCKS_REPLIES[rep] ?? "unknown failure"} (reply ${rep})`,
              "ERR_PROXY_SOCKS",
              rep,
            );
          }
          const atyp = buffer[3];
          const addressLength = atyp === 0x01 ? 4 : atyp === 0x04 ? 16 : atyp === 0x03 ? 1 + buffer[4] : -1;
          if (addressLength < 0) fail(`answered with address type ${atyp}`, "ERR_PROXY_MALFORMED");
          if (take(4 + addressLength + 2) === null) break;
          state = "open";
        } else {
          break;
        }
      }
      const out = send.length === 0 ? null : send.length === 1 ? send[0] : concatBytes(send);
      return { send: out, rest: state === "open" ? buffer.slice() : null };
    },
  };
}

/** The long form of `connect`'s `proxy` option (`ProxyOptions` in `src/client.ts`). */
export interface ProxyConfig {
  url: string | URL;
  headers?: HeaderFields;
  tls?: DialTlsOptions;
}

/** The proxy one connection goes through, resolved. */
export interface ProxyRoute {
  address: ProxyAddress;
  headers: [string, string][];
  tls: DialTlsOptions;
}

/**
 * The proxy for one URL: the `proxy` option when given (`null` for none),
 * else the environment's choice.
 *
 * @param url The `ws:` or `wss:` URL to reach.
 * @param option `connect`'s `proxy` option.
 * @param env Reads an environment variable.
 * @returns The route, or null for a direct connection.
 * @throws {TypeError} For a malformed proxy URL.
 */
export function resolveProxy(
  url: URL,
  option: string | URL | ProxyConfig | null | undefined,
  env: EnvironmentReader,
): ProxyRoute | null {
  if (option === null) return null;
  if (option === undefined) {
    const fromEnv = proxyFromEnvironment(url, env);
    return fromEnv === null ? null : { address: parseProxyUrl(fromEnv), headers: [], tls: {} };
  }
  if (typeof option === "string" || option instanceof URL) {
    return { address: parseProxyUrl(option), headers: [], tls: {} };
  }
  return { address: parseProxyUrl(option.url), headers: headerFields(option.headers), tls: option.tls ?? {} };
}
