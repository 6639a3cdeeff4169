// A horizontal bar chart as plain SVG, for the charts `npm run bench` writes
// next to docs/performance.md (docs/charts/<scenario>.svg). No dependency: the
// benchmark calls barChart() with its medians and writes the string it returns.

/** How a bar is drawn: what it measures decides its colour. */
export type BarKind = "streamsock" | "reference" | "other" | "ceiling";

/** One bar: a server or client of the scenario and its median. */
export interface Bar {
  /** The row's name, as in the table ("node streamsock serve"). */
  label: string;
  /** The median over rounds; NaN draws an empty row marked "no result". */
  value: number;
  kind: BarKind;
  /** Written after the value, e.g. "5.72x node ws" or "reference". */
  note?: string;
  /** Draws a thin rule above this row (a new runtime group starts). */
  groupStart?: boolean;
}

/** What barChart() draws. */
export interface Chart {
  title: string;
  /** The unit of the values ("msgs/s", "MB/s", "µs"). */
  unit: string;
  lowerIsBetter?: boolean;
  bars: Bar[];
  /** Small lines under the chart: the machine, the date, how it was measured. */
  caption: string[];
  /** Fraction digits of the value labels (default 0). */
  digits?: number;
}

const COLOURS: Record<BarKind, string> = {
  streamsock: "#2563eb",
  reference: "#475569",
  other: "#a8b3c2",
  ceiling: "#d97706",
};
const LEGEND: Record<BarKind, string> = {
  streamsock: "streamsock",
  reference: "reference of the ratios",
  other: "other",
  ceiling: "raw TCP ceiling (no WebSocket)",
};

const WIDTH = 960;
const LABEL_WIDTH = 250;
const NOTE_SPACE = 310;
const ROW = 24;
const BAR = 16;
const FONT = 'font-family="Helvetica, Arial, sans-serif"';

function escape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function format(x: number, digits: number): string {
  return x.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

/** A scale's step: 1, 2 or 5 times a power of ten, giving about five grid lines. */
function niceStep(max: number): number {
  const rough = max / 5;
  const power = 10 ** Math.floor(Math.log10(rough));
  const m = rough / power;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * power;
}

/** Short grid labels: 1,500,000 -> "1.5M", 20,000 -> "20k". */
function short(x: number): string {
  if (x >= 1e6) return `${+(x / 1e6).toFixed(2)}M`;
  if (x >= 1e4) return `${+(x / 1e3).toFixed(1)}k`;
  return `${+x.toFixed(2)}`;
}

/**
 * Renders `chart` as a standalone SVG document: a title, one horizontal bar
 * per row with its value and note, a value axis with grid lines, a legend of
 * the kinds present and the caption lines.
 *
 * @example
 * ```ts
 * const svg = barChart({
 *   title: "(c) 16 MiB echo",
 *   unit: "MB/s",
 *   bars: [
 *     { label: "node streamsock serve", value: 502, kind: "streamsock", note: "1.04x node ws" },
 *     { label: "node ws", value: 480, kind: "reference", note: "reference" },
 *   ],
 *   caption: ["2 x AMD EPYC; Node v20.20.2", "2026-12-02 04:00 UTC"],
 * });
 * ```
 */
export function barChart(chart: Chart): string {
  const digits = chart.digits ?? 0;
  const values = chart.bars.map((b) => b.value).filter((v) => Number.isFinite(v));
  const max = Math.max(0, ...values);
  const step = max > 0 ? niceStep(max) : 1;
  const top = Math.max(step, Math.ceil(max / step) * step);
  const plotWidth = WIDTH - LABEL_WIDTH - NOTE_SPACE - 20;
  const x0 = LABEL_WIDTH + 10;
  const scale = (v: number) => (v / top) * plotWidth;

  const out: string[] = [];
  let y = 28;
  out.push(
    `<text x="16" y="${y}" ${FONT} font-size="17" font-weight="bold" fill="#0f172a">${escape(chart.title)}</text>`,
  );
  y += 20;
  out.push(
    `<text x="16" y="${y}" ${FONT} font-size="12.5" fill="#334155">${
      escape(`${chart.unit}, median over rounds${chart.lowerIsBetter ? " (lower is better)" : " (higher is better)"}`)
    }</text>`,
  );
  y += 18;

  const plotTop = y;
  const plotHeight = chart.bars.length * ROW;
  // Grid lines and their labels.
  for (let v = 0; v <= top + step / 2; v += step) {
    const x = x0 + scale(v);
    out.push(
      `<line x1="${x}" y1="${plotTop}" x2="${x}" y2="${plotTop + plotHeight}" stroke="#e2e8f0" stroke-width="1"/>`,
    );
    out.push(
      `<text x="${x}" y="${plotTop + plotHeight + 14}" ${FONT} font-size="11" fill="#64748b" text-anchor="middle">${
        escape(short(v))
      }</text>`,
    );
  }
  chart.bars.forEach((bar, i) => {
    const rowTop = plotTop + i * ROW;
    const mid = rowTop + ROW / 2;
    if (bar.groupStart && i > 0) {
      out.push(
        `<line x1="16" y1="${rowTop}" x2="${WIDTH - 16}" y2="${rowTop}" stroke="#cbd5e1" stroke-dasharray="3 3"/>`,
      );
    }
    out.push(
      `<text x="${LABEL_WIDTH}" y="${mid + 4}" ${FONT} font-size="12.5" fill="#0f172a" text-anchor="end"${
        bar.kind === "streamsock" ? ' font-weight="bold"' : ""
      }>${escape(bar.label)}</text>`,
    );
    if (!Number.isFinite(bar.value)) {
      out.push(`<text x="${x0 + 4}" y="${mid + 4}" ${FONT} font-size="12" fill="#94a3b8">no result</text>`);
      return;
    }
    const w = Math.max(1, scale(bar.value));
    out.push(
      `<rect x="${x0}" y="${mid - BAR / 2}" width="${w.toFixed(1)}" height="${BAR}" rx="2" fill="${
        COLOURS[bar.kind]
      }"/>`,
    );
    const note = bar.note ? `<tspan dx="8" fill="#475569">${escape(bar.note)}</tspan>` : "";
    out.push(
      `<text x="${(x0 + w + 6).toFixed(1)}" y="${
        mid + 4
      }" ${FONT} font-size="12" fill="#0f172a"><tspan font-weight="bold">${
        escape(format(bar.value, digits))
      }</tspan>${note}</text>`,
    );
  });
  y = plotTop + plotHeight + 36;

  // Legend: only the kinds drawn.
  let lx = 16;
  for (const kind of Object.keys(COLOURS) as BarKind[]) {
    if (!chart.bars.some((b) => b.kind === kind)) continue;
    out.push(`<rect x="${lx}" y="${y - 10}" width="12" height="12" rx="2" fill="${COLOURS[kind]}"/>`);
    out.push(`<text x="${lx + 17}" y="${y}" ${FONT} font-size="12" fill="#334155">${escape(LEGEND[kind])}</text>`);
    lx += 17 + LEGEND[kind].length * 6.6 + 24;
  }
  y += 10;
  for (const line of chart.caption) {
    y += 16;
    out.push(`<text x="16" y="${y}" ${FONT} font-size="11.5" fill="#475569">${escape(line)}</text>`);
  }
  const height = y + 14;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}">`,
    `<title>${escape(chart.title)}</title>`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    ...out,
    "</svg>",
    "",
  ].join("\n");
}
