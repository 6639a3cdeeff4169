/**
 * What a client request carries beyond the handshake's own fields: the URL
 * (with query parameters), `Origin`, `Authorization`, `Cookie` and the
 * caller's headers, and which of them a redirect may carry to another
 * origin. Pure: `connect` sends what this builds.
 *
 * @module
 */

import { basicAuthorization } from "../handshake/client.ts";

/** The URL to connect to, checked: `http(s):` mapped to `ws(s):`, the fragment dropped. */
export function webSocketUrl(input: string | URL): URL {
  const url = new URL(input instanceof URL ? input.href : input);
  // As the WHATWG WebSocket constructor does: http(s) URLs name the same endpoint.
  if (url.protocol === "http:") url.protocol = "ws:";
  else if (url.protocol === "https:") url.protocol = "wss:";
  if (url.protocol !== "ws:" && url.protocol !== "wss:") {
    throw new TypeError(`connect needs a ws: or wss: URL, not ${url.protocol}`);
  }
  url.hash = "";
  return url;
}

/** Appends query parameters to the URL's query. */
export function appendParams(url: URL, params: Record<string, string> | URLSearchParams | undefined): void {
  if (params === undefined) return;
  const extra = new URLSearchParams(params as Record<string, string>).toString();
  if (extra === "") return;
  // Appending to the serialized query keeps the existing one byte for byte;
  // url.searchParams.append would re-encode it.
  const query = url.search.slice(1);
  url.search = query === "" ? extra : query.endsWith("&") ? query + extra : `${query}&${extra}`;
}

/** The one `Cookie` field of the `cookies` option, or null; checks names and values. */
export function cookieField(cookies: Record<string, string> | readonly (readonly [string, string])[] | undefined): string | null {
  if (cookies === undefined) return null;
  const pairs = Array.isArray(cookies) ? cookies : Object.entries(cookies);
  if (pairs.length === 0) return null;
  return pairs.map(([name, value]: readonly [string, string]) => {
    // RFC 6265 §4.1.1: a cookie name is a token; a value has no ; , or controls.
    if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)) throw new TypeError(`Invalid cookie name ${JSON.stringify(name)}`);
    // deno-lint-ignore no-control-regex
    if (/[\x00-\x1f\x7f;,]/.test(value)) throw new TypeError(`Invalid value for cookie ${name}`);
    return `${name}=${value}`;
  }).join("; ");
}

/** The `Authorization` value the `auth` option asks for. */
export function authorizationField(auth: { basic: readonly [user: string, password: string] } | { bearer: string } | string): string {
  if (typeof auth === "string") return auth;
  if ("basic" in auth) return basicAuthorization(auth.basic[0], auth.basic[1]);
  if ("bearer" in auth) return `Bearer ${auth.bearer}`;
  throw new TypeError("auth must be { basic: [user, password] }, { bearer: token } or a string");
}

/** Basic auth from the credentials in a URL, or null. */
export function credentialsOf(url: URL): string | null {
  if (url.username === "" && url.password === "") return null;
  return basicAuthorization(decodeURIComponent(url.username), decodeURIComponent(url.password));
}

/** The header fields given to `connect`, checked once for every hop. */
export interface GivenFields {
  /** The `Origin` field. */
  origin: string | undefined;
  /** The `auth` option's `Authorization` value, or null. */
  authorization: string | null;
  /** The `cookies` option's `Cookie` value, or null. */
  cookie: string | null;
  /** The caller's own header fields. */
  headers: readonly (readonly [string, string])[];
}

/**
 * The header fields of one request of `connect` (the first, or one after a
 * redirect). `Authorization` and cookies go to the first URL's origin only,
 * as fetch does on redirects, so a redirect cannot leak them; credentials
 * in the URL mean basic auth when `auth` is not given.
 *
 * @param first The URL `connect` was given.
 * @param current The URL this request goes to.
 * @param given The checked options.
 * @returns The fields, in order.
 */
export function requestFields(first: URL, current: URL, given: GivenFields): [string, string][] {
  const sameOrigin = current.origin === first.origin;
  const fields: [string, string][] = [];
  if (given.origin !== undefined) fields.push(["Origin", given.origin]);
  const auth = given.authorization;
  let authorization = sameOrigin ? auth : null;
  if (auth === null) authorization = credentialsOf(current) ?? (sameOrigin ? credentialsOf(first) : null);
  let cookie = sameOrigin ? given.cookie : null;
  for (const [name, value] of given.headers) {
    const lower = name.toLowerCase();
    if (lower === "cookie") {
      if (sameOrigin) cookie = cookie === null ? value : `${value}; ${cookie}`;
    } else if (lower === "authorization") {
      if (sameOrigin && authorization === null) authorization = value;
    } else if (lower !== "host" || sameOrigin) {
      fields.push([name, value]);
    }
  }
  if (authorization !== null) fields.push(["Authorization", authorization]);
  if (cookie !== null) fields.push(["Cookie", cookie]);
  return fields;
}
