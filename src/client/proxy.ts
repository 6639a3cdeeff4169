/**
 * Proxy selection, without I/O: which proxy a URL goes through (the `proxy`
 * option or the environment, `NO_PROXY` included). The tunnel handshakes
 * are `src/handshake/http_connect.ts` and `src/handshake/socks5.ts`;
 * `src/transport/proxy.ts` dials the proxy and runs them.
 *
 * @module
 */

import { headerFields } from "../handshake/client.ts";
import type { HeaderFields } from "../handshake/http.ts";
import { parseIp } from "../handshake/ip.ts";
import type { ProxyAddress, ProxyProtocol } from "../handshake/tunnel.ts";
import type { DialTlsOptions, ProxyRoute } from "../transport/types.ts";

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

/** The long form of `connect`'s `proxy` option (`ProxyOptions` in `options.ts`). */
export interface ProxyConfig {
  url: string | URL;
  headers?: HeaderFields;
  tls?: DialTlsOptions;
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
