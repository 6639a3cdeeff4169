// How much a fresh 16 MiB buffer costs on this machine before it holds a
// byte: each round allocates one, writes it once (the kernel maps and zeroes
// every page on this first touch) and again (pages already there). On the
// benchmark machine the first pass took 45 ms and the second under 1 ms,
// which is why the 16 MiB echoes of scenario (c) swing so much from round to
// round (docs/performance.md, "Big messages: third round").
//
//   node --import tsx bench/first_touch.ts | deno run bench/first_touch.ts | bun bench/first_touch.ts
const SIZE = 16 * 1024 * 1024;
const ROUNDS = 10;

const first: number[] = [];
const second: number[] = [];
const held: Uint8Array[] = [];
for (let round = 0; round < ROUNDS; round++) {
  const buffer = new Uint8Array(SIZE);
  let t = performance.now();
  buffer.fill(1);
  first.push(performance.now() - t);
  t = performance.now();
  buffer.fill(2);
  second.push(performance.now() - t);
  // Two stay alive, as an echo's received and sent message may.
  held.push(buffer);
  if (held.length > 2) held.shift();
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(
  `16 MiB, ${ROUNDS} fresh buffers: first touch median ${median(first).toFixed(2)} ms ` +
    `(${first.map((x) => x.toFixed(1)).join(", ")}), second pass median ${median(second).toFixed(2)} ms`,
);
