import { describe, test } from "./_test.ts";
import assert from "node:assert/strict";
import { FrameDecoder } from "../src/codec/decoder.ts";
import { MessageTooBigError, ProtocolError } from "../src/errors.ts";
import { chunk, fuzz, mutate, validStream } from "./_fuzz.ts";
import { seededRandom } from "./_helpers.ts";

describe("fuzzing the receive path", () => {
  test("the decoder throws only typed errors on random and mutated input, however it is chunked", () => {
    for (let seed = 1; seed <= 3000; seed++) {
      const random = seededRandom(seed);
      const input = random() < 0.3
        ? Uint8Array.from({ length: Math.floor(random() * 300) }, () => Math.floor(random() * 256))
        : mutate(validStream(random), random);
      for (const masked of [true, false, undefined]) {
        const decoder = new FrameDecoder({ masked, maxFrameSize: 1 << 20 });
        try {
          for (const piece of chunk(input, random)) {
            decoder.push(piece);
            while (decoder.next() !== null);
          }
        } catch (err) {
          assert.ok(err instanceof ProtocolError || err instanceof MessageTooBigError, `seed ${seed}: ${err}`);
          assert.ok(err.closeCode === 1002 || err.closeCode === 1009, `seed ${seed}: close code ${err.closeCode}`);
        }
      }
    }
  });

  test("the connection agrees with ws's receiver on which streams are valid (3,000 seeded cases)", async () => {
    const { disagreements, invalid } = await fuzz(10_000, 3000);
    const shown = disagreements.slice(0, 3).map((d) =>
      `seed ${d.seed}: ours ${JSON.stringify(d.ours)} ws ${JSON.stringify(d.theirs)} bytes ${Array.from(d.input.subarray(0, 32))}`
    );
    assert.equal(disagreements.length, 0, shown.join("\n"));
    // The generator must exercise both outcomes, or the comparison proves little.
    assert.ok(invalid > 300 && invalid < 2900, `${invalid} of 3000 cases invalid`);
  });
});
