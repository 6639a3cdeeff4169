// Scenario (j)'s compression settings, as BENCH_COMPRESSION names them: "W/M"
// (a W-bit LZ77 window both ways, zlib memLevel M), "default" (the
// library's defaults) or "off".

/** One setting of scenario (j). */
export type CompressionSetting = { windowBits: number; memLevel: number } | "default" | "off";

/** Reads BENCH_COMPRESSION; undefined when it is not set. */
export function compressionSetting(value: string | undefined): CompressionSetting | undefined {
  if (value === undefined || value === "") return undefined;
  if (value === "default" || value === "off") return value;
  const m = /^(\d+)\/(\d+)$/.exec(value);
  if (m === null) throw new Error(`BENCH_COMPRESSION=${value}: expected W/M, "default" or "off"`);
  return { windowBits: Number(m[1]), memLevel: Number(m[2]) };
}
