// The JSON-like texts of scenario (j) and its companions.

/**
 * The i-th JSON-like text: event records with pseudo-random ids, names,
 * timestamps and flags, like scenario (f)'s, but a different one per message
 * so that context takeover helps only as much as it does on real traffic.
 */
export function jsonMessageText(i: number, size = 1200): string {
  const events = ["click", "view", "scroll", "purchase", "login", "logout", "search", "share"];
  const names = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"];
  let x = 12345 + i * 7919;
  const rnd = () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return (x >>> 8) & 0xffffff;
  };
  let s = "[";
  while (s.length < size) {
    s += `${s.length > 1 ? "," : ""}{"id":${rnd() % 1000000},"user":"${names[rnd() % 10]}${rnd() % 1000}","event":"${
      events[rnd() % 8]
    }","ts":17000${String(rnd() % 100000000).padStart(8, "0")},"score":${rnd() % 1000}.${String(rnd() % 100).padStart(2, "0")},"ok":${
      rnd() % 2 ? "true" : "false"
    },"tags":["${events[rnd() % 8]}","t${rnd() % 50}"]}`;
  }
  return s.slice(0, size - 1) + "]";
}
