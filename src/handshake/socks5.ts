/**
 * The SOCKS5 tunnel handshake (RFC 1928) with user/password authentication
 * (RFC 1929), without I/O: the greeting, the credentials and the CONNECT
 * request to send, and the proxy's binary replies read from bytes, however
 * they are split.
 *
 * @module
 */

import { concatBytes } from "../codec/pool.ts";
import { ProxyError } from "../errors.ts";
import { parseIp } from "./ip.ts";
import { authority, type ProxyAddress, type TunnelHandshake, type TunnelTarget } from "./tunnel.ts";

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
    closed() {
      return new ProxyError(`Proxy ${proxy.display} closed the connection before opening the tunnel`, {
        code: "ERR_PROXY_EOF",
        proxy: proxy.display,
      });
    },
    stalled(within, cause) {
      return new ProxyError(
        `Proxy ${proxy.display} did not answer the SOCKS5 handshake ${within}: is it a SOCKS5 proxy? (an HTTP proxy never answers it)`,
        { code: "ERR_PROXY_TIMEOUT", proxy: proxy.display, cause },
      );
    },
  };
}
