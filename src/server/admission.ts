/**
 * Who may open a connection: the server's connection limits
 * (`maxConnections`, `maxConnectionsPerIp`), the drain, and which address a
 * client counts under (`X-Forwarded-For`, from trusted proxies only).
 *
 * @module
 */

import type { Telemetry } from "../connection/telemetry.ts";
import type { HandshakeRejection } from "../handshake/server.ts";

/** The connection limits of a server, resolved from its options. */
export interface Admission {
  maxConnections: number;
  maxConnectionsPerIp: number;
  /** The proxies whose `X-Forwarded-For` is believed (addresses, IPv4-mapped IPv6 written as IPv4). */
  trustProxy: ReadonlySet<string>;
  /** Seconds, for `Retry-After` on the 503 and 429 answers. */
  retryAfter: number;
}

/** The options that make an {@link Admission}. */
export interface AdmissionOptions {
  maxConnections?: number;
  maxConnectionsPerIp?: number;
  trustProxy?: readonly string[];
  retryAfter?: number;
}

/** The default `Retry-After`, in seconds, of a refusal by a limit or a drain. */
export const DEFAULT_RETRY_AFTER = 5;

function checkCount(name: string, value: number | undefined): number {
  if (value === undefined) return Infinity;
  if (!(typeof value === "number" && value >= 1 && (Number.isInteger(value) || value === Infinity))) {
    throw new RangeError(`${name} must be a positive integer, not ${value}`);
  }
  return value;
}

/**
 * Resolves the options once, when the handler or server is made.
 *
 * @throws {RangeError} For a limit that is not a positive integer, or a bad `retryAfter`.
 * @throws {TypeError} For a `trustProxy` that is not a list of addresses.
 */
export function admissionOf(options: AdmissionOptions, base?: Admission): Admission {
  const retryAfter = options.retryAfter ?? base?.retryAfter ?? DEFAULT_RETRY_AFTER;
  if (!(Number.isInteger(retryAfter) && retryAfter >= 0)) throw new RangeError(`retryAfter must be whole seconds, not ${retryAfter}`);
  const trust = options.trustProxy;
  if (trust !== undefined && (!Array.isArray(trust) || trust.some((a) => typeof a !== "string"))) {
    throw new TypeError("trustProxy must be a list of proxy addresses");
  }
  return {
    maxConnections: options.maxConnections === undefined
      ? base?.maxConnections ?? Infinity
      : checkCount("maxConnections", options.maxConnections),
    maxConnectionsPerIp: options.maxConnectionsPerIp === undefined
      ? base?.maxConnectionsPerIp ?? Infinity
      : checkCount("maxConnectionsPerIp", options.maxConnectionsPerIp),
    trustProxy: trust === undefined ? base?.trustProxy ?? new Set() : new Set(trust.map(normalizeAddress)),
    retryAfter,
  };
}

/** An address as compared: IPv4-mapped IPv6 (`::ffff:10.0.0.1`) as IPv4, without brackets. */
export function normalizeAddress(address: string): string {
  let a = address.trim();
  if (a.startsWith("[") && a.endsWith("]")) a = a.slice(1, -1);
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a);
  return mapped !== null ? mapped[1] : a.toLowerCase();
}

/**
 * The address a client counts under: the connection's peer, or, when that
 * peer is a trusted proxy, the nearest address in `X-Forwarded-For` that is
 * not one (the rightmost untrusted hop: the leftmost is whatever the client
 * wrote, and cannot be believed).
 */
export function clientAddress(remoteAddress: string | undefined, headers: Headers, trust: ReadonlySet<string>): string | undefined {
  if (remoteAddress === undefined) return undefined;
  const peer = normalizeAddress(remoteAddress);
  if (trust.size === 0 || !trust.has(peer)) return peer;
  const forwarded = headers.get("x-forwarded-for");
  if (forwarded === null) return peer;
  const hops = forwarded.split(",").map(normalizeAddress).filter((hop) => hop !== "");
  for (let i = hops.length - 1; i >= 0; i--) if (!trust.has(hops[i])) return hops[i];
  return hops[0] ?? peer;
}

/**
 * Whether a valid upgrade from `peer` may go on: null (it then holds a
 * place, see `Telemetry.admit`) or the refusal, counted as a limit hit. A
 * drain refuses with 503, `maxConnections` with 503, `maxConnectionsPerIp`
 * with 429; all with `Retry-After`.
 */
export function admit(admission: Admission, telemetry: Telemetry, peer: string | undefined): HandshakeRejection | null {
  const perIp = admission.maxConnectionsPerIp !== Infinity;
  const retry: [string, string][] = [["Retry-After", String(admission.retryAfter)]];
  if (telemetry.draining) {
    telemetry.limit("draining", { remoteAddress: peer, action: "refused 503" });
    return { status: 503, headers: retry, body: "The server is shutting down; try again shortly" };
  }
  if (telemetry.taken >= admission.maxConnections) {
    telemetry.limit("maxConnections", { remoteAddress: peer, action: "refused 503" });
    return { status: 503, headers: retry, body: "The server is at its connection limit; try again later" };
  }
  if (perIp && peer !== undefined && telemetry.fromPeer(peer) >= admission.maxConnectionsPerIp) {
    telemetry.limit("maxConnectionsPerIp", { remoteAddress: peer, action: "refused 429" });
    return { status: 429, headers: retry, body: "Too many connections from your address; try again later" };
  }
  telemetry.admit(perIp ? peer : undefined);
  return null;
}
