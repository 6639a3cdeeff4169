/**
 * Negotiating permessage-deflate (RFC 7692 §7) in the opening handshake, as
 * pure code: the `Sec-WebSocket-Extensions` grammar (RFC 6455 §9.1), the
 * client's offer, the server's choice among offers, and the client's checks
 * of the server's answer. No zlib here: `src/extensions/` compresses.
 *
 * @module
 */

import type { DeflateParameters } from "../extensions/parameters.ts";

/** One element of a `Sec-WebSocket-Extensions` list: a name and its parameters in order. */
export interface ExtensionElement {
  /** The extension token, e.g. `"permessage-deflate"`. */
  name: string;
  /** Parameters as given: a value, or `true` for a parameter without one. */
  params: [name: string, value: string | true][];
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Parses a `Sec-WebSocket-Extensions` value (RFC 6455 §9.1): a
 * comma-separated list of `token *( ";" token [ "=" ( token / quoted-string ) ] )`.
 * A quoted value must itself be a token once unquoted (§9.1). Empty list
 * elements are skipped, as RFC 9110 §5.6.1 lets recipients do.
 *
 * @param value The field value (repeated fields joined with ", ").
 * @returns The elements in order.
 * @throws {SyntaxError} Naming what is malformed.
 */
export function parseExtensions(value: string): ExtensionElement[] {
  const out: ExtensionElement[] = [];
  let i = 0;
  const n = value.length;
  const skipSpace = () => {
    while (i < n && (value[i] === " " || value[i] === "\t")) i++;
  };
  const token = (what: string): string => {
    const start = i;
    while (i < n && TOKEN.test(value[i])) i++;
    if (i === start) {
      throw new SyntaxError(`Expected ${what} at offset ${start} of ${JSON.stringify(value)}`);
    }
    return value.slice(start, i);
  };
  while (i < n) {
    skipSpace();
    if (value[i] === ",") {
      i++;
      continue;
    }
    if (i >= n) break;
    const element: ExtensionElement = { name: token("an extension name"), params: [] };
    skipSpace();
    while (value[i] === ";") {
      i++;
      skipSpace();
      const name = token("a parameter name");
      skipSpace();
      let param: string | true = true;
      if (value[i] === "=") {
        i++;
        skipSpace();
        if (value[i] === '"') {
          i++;
          let unquoted = "";
          while (i < n && value[i] !== '"') {
            if (value[i] === "\\") i++;
            unquoted += value[i++] ?? "";
          }
          if (i >= n) throw new SyntaxError(`Unterminated quoted string in ${JSON.stringify(value)}`);
          i++;
          if (!TOKEN.test(unquoted)) {
            throw new SyntaxError(`Quoted value of ${name} must be a token (RFC 6455 §9.1): ${JSON.stringify(unquoted)}`);
          }
          param = unquoted;
        } else {
          param = token(`a value for ${name}`);
        }
        skipSpace();
      }
      element.params.push([name, param]);
    }
    if (i < n && value[i] !== ",") {
      throw new SyntaxError(`Unexpected ${JSON.stringify(value[i])} at offset ${i} of ${JSON.stringify(value)}`);
    }
    out.push(element);
  }
  return out;
}

/** What one side asks for; absent fields mean "no constraint". */
export interface DeflateNegotiationOptions {
  /** Ask (client) or require (server) that the server reset its window per message. */
  serverNoContextTakeover?: boolean;
  /** Ask (client) or require (server) that the client reset its window per message. */
  clientNoContextTakeover?: boolean;
  /** The largest window the server may use, 8-15. */
  serverMaxWindowBits?: number;
  /** The largest window the client may use, 8-15. */
  clientMaxWindowBits?: number;
}

/** The extension's registered name. */
export const PERMESSAGE_DEFLATE = "permessage-deflate";

/** Throws unless `bits` is an integer from 8 to 15 (or undefined). */
export function checkWindowBits(name: string, bits: number | undefined): void {
  if (bits !== undefined && !(Number.isInteger(bits) && bits >= 8 && bits <= 15)) {
    throw new RangeError(`${name} must be an integer from 8 to 15, not ${bits}`);
  }
}

/** Parameters of one offer or response, checked per RFC 7692 §7.1; null fields were absent. */
interface RawDeflateParams {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits: number | null;
  /** `true`: present without a value, allowed in an offer only (§7.1.2.1). */
  clientMaxWindowBits: number | true | null;
}

const WINDOW_VALUE = /^(?:8|9|1[0-5])$/;

/**
 * Reads the parameters of one permessage-deflate element. §7: an unknown
 * parameter, a repeated one, or an invalid value makes the element invalid.
 *
 * @throws {SyntaxError} Naming the offending parameter.
 */
function readDeflateParams(element: ExtensionElement, offer: boolean): RawDeflateParams {
  const params: RawDeflateParams = {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: null,
    clientMaxWindowBits: null,
  };
  const seen = new Set<string>();
  for (const [name, value] of element.params) {
    if (seen.has(name)) throw new SyntaxError(`permessage-deflate parameter ${name} appears twice`);
    seen.add(name);
    switch (name) {
      case "server_no_context_takeover":
      case "client_no_context_takeover":
        if (value !== true) throw new SyntaxError(`permessage-deflate parameter ${name} takes no value`);
        if (name === "server_no_context_takeover") params.serverNoContextTakeover = true;
        else params.clientNoContextTakeover = true;
        break;
      case "server_max_window_bits":
      case "client_max_window_bits": {
        if (value === true) {
          // §7.1.2.1: only an offer's client_max_window_bits may go without a value.
          if (name === "client_max_window_bits" && offer) {
            params.clientMaxWindowBits = true;
            break;
          }
          throw new SyntaxError(`permessage-deflate parameter ${name} needs a value from 8 to 15`);
        }
        if (!WINDOW_VALUE.test(value)) {
          throw new SyntaxError(`permessage-deflate parameter ${name}=${value} is not a number from 8 to 15`);
        }
        if (name === "server_max_window_bits") params.serverMaxWindowBits = Number(value);
        else params.clientMaxWindowBits = Number(value);
        break;
      }
      default:
        throw new SyntaxError(`Unknown permessage-deflate parameter ${name}`);
    }
  }
  return params;
}

/** Serialises agreed or requested parameters in the order RFC 7692's examples use. */
function formatDeflate(params: {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits: number | null;
  clientMaxWindowBits: number | true | null;
}): string {
  let out = PERMESSAGE_DEFLATE;
  if (params.serverNoContextTakeover) out += "; server_no_context_takeover";
  if (params.clientNoContextTakeover) out += "; client_no_context_takeover";
  if (params.serverMaxWindowBits !== null) out += `; server_max_window_bits=${params.serverMaxWindowBits}`;
  if (params.clientMaxWindowBits === true) out += "; client_max_window_bits";
  else if (params.clientMaxWindowBits !== null) out += `; client_max_window_bits=${params.clientMaxWindowBits}`;
  return out;
}

function checkOptions(options: DeflateNegotiationOptions): void {
  checkWindowBits("serverMaxWindowBits", options.serverMaxWindowBits);
  checkWindowBits("clientMaxWindowBits", options.clientMaxWindowBits);
}

/**
 * The client's offer. It always carries `client_max_window_bits` (§7.1.2.2:
 * the server may then pick the client's window), with a value when the
 * client wants a smaller window itself.
 *
 * @param options What to ask of the server.
 * @returns The `Sec-WebSocket-Extensions` value to send.
 * @throws {RangeError} For a window outside 8-15.
 */
export function deflateOffer(options: DeflateNegotiationOptions = {}): string {
  checkOptions(options);
  return formatDeflate({
    serverNoContextTakeover: options.serverNoContextTakeover ?? false,
    clientNoContextTakeover: options.clientNoContextTakeover ?? false,
    serverMaxWindowBits: options.serverMaxWindowBits ?? null,
    clientMaxWindowBits: options.clientMaxWindowBits ?? true,
  });
}

/** The server's acceptance: the response value and what it agreed to. */
export interface DeflateAcceptance {
  /** The `Sec-WebSocket-Extensions` value to answer with. */
  response: string;
  /** The agreed parameters. */
  params: DeflateParameters;
}

/**
 * The server's side of §7: accepts the first permessage-deflate offer it
 * can, or declines them all (null). As §7 requires, an offer with an unknown
 * parameter, a repeated parameter or an invalid value is declined, not
 * refused: the connection goes on uncompressed, or with a later valid offer.
 *
 * @param header The request's `Sec-WebSocket-Extensions`, or null.
 * @param options The server's own requirements.
 * @returns The acceptance, or null to answer without the extension.
 * @throws {SyntaxError} When the header breaks the RFC 6455 §9.1 grammar (answer 400).
 */
export function acceptDeflateOffer(header: string | null, options: DeflateNegotiationOptions = {}): DeflateAcceptance | null {
  if (header === null) return null;
  checkOptions(options);
  for (const element of parseExtensions(header)) {
    if (element.name.toLowerCase() !== PERMESSAGE_DEFLATE) continue;
    let offer: RawDeflateParams;
    try {
      offer = readDeflateParams(element, true);
    } catch {
      continue;
    }
    // §7.1.1.1 / §7.1.1.2: a requested no_context_takeover is honoured; the
    // server may also impose either on its own.
    const serverNoContextTakeover = offer.serverNoContextTakeover || (options.serverNoContextTakeover ?? false);
    const clientNoContextTakeover = offer.clientNoContextTakeover || (options.clientNoContextTakeover ?? false);
    // §7.1.2.1: the server compresses with at most what the client allows;
    // it may announce a smaller window even when none was asked for.
    let serverMaxWindowBits: number | null = offer.serverMaxWindowBits;
    if (options.serverMaxWindowBits !== undefined && (serverMaxWindowBits === null || options.serverMaxWindowBits < serverMaxWindowBits)) {
      serverMaxWindowBits = options.serverMaxWindowBits;
    }
    // §7.1.2.2: the server may limit the client's window only when the offer
    // has client_max_window_bits, and only to at most the offered value.
    let clientMaxWindowBits: number | null = null;
    if (offer.clientMaxWindowBits !== null) {
      const offered = offer.clientMaxWindowBits === true ? 15 : offer.clientMaxWindowBits;
      const wanted = options.clientMaxWindowBits ?? 15;
      if (wanted < offered) clientMaxWindowBits = wanted;
      else if (offer.clientMaxWindowBits !== true) clientMaxWindowBits = offered;
    }
    return {
      response: formatDeflate({ serverNoContextTakeover, clientNoContextTakeover, serverMaxWindowBits, clientMaxWindowBits }),
      params: {
        serverNoContextTakeover,
        clientNoContextTakeover,
        serverMaxWindowBits: serverMaxWindowBits ?? 15,
        clientMaxWindowBits: clientMaxWindowBits ?? 15,
      },
    };
  }
  return null;
}

/**
 * The client's checks of the server's answer (§7.1): one permessage-deflate
 * element at most, only known parameters, each once, with valid values;
 * `server_no_context_takeover` and `server_max_window_bits` present when they
 * were asked for, and no window larger than the one offered. §7.1 says the
 * client fails the connection otherwise.
 *
 * @param response The response's `Sec-WebSocket-Extensions` value.
 * @param options What the client offered.
 * @returns The agreed parameters, or null when the server declined.
 * @throws {SyntaxError} Saying what is wrong with the response.
 */
export function checkDeflateResponse(response: string, options: DeflateNegotiationOptions = {}): DeflateParameters | null {
  const elements = parseExtensions(response).filter((e) => e.name.toLowerCase() === PERMESSAGE_DEFLATE);
  if (elements.length === 0) return null;
  if (elements.length > 1) throw new SyntaxError("Server accepted permessage-deflate more than once");
  const params = readDeflateParams(elements[0], false);
  if (options.serverNoContextTakeover && !params.serverNoContextTakeover) {
    throw new SyntaxError("Server did not confirm the requested server_no_context_takeover");
  }
  if (options.serverMaxWindowBits !== undefined) {
    if (params.serverMaxWindowBits === null) {
      throw new SyntaxError("Server did not confirm the requested server_max_window_bits");
    }
    if (params.serverMaxWindowBits > options.serverMaxWindowBits) {
      throw new SyntaxError(
        `Server's server_max_window_bits=${params.serverMaxWindowBits} exceeds the ${options.serverMaxWindowBits} offered`,
      );
    }
  }
  const clientBits = params.clientMaxWindowBits as number | null;
  if (options.clientMaxWindowBits !== undefined && clientBits !== null && clientBits > options.clientMaxWindowBits) {
    throw new SyntaxError(`Server's client_max_window_bits=${clientBits} exceeds the ${options.clientMaxWindowBits} offered`);
  }
  return {
    serverNoContextTakeover: params.serverNoContextTakeover,
    clientNoContextTakeover: params.clientNoContextTakeover || (options.clientNoContextTakeover ?? false),
    serverMaxWindowBits: params.serverMaxWindowBits ?? 15,
    clientMaxWindowBits: Math.min(clientBits ?? 15, options.clientMaxWindowBits ?? 15),
  };
}
