/**
 * The plot `npm run bench` writes beside its text lines: each benchmark's figures line
 * (`bench:NAME key=value ...`) as one panel of horizontal bars, one bar per numeric figure,
 * its value printed at its end. Figures of one kind share a scale within a panel (ratios,
 * with a mark at 1.0; milliseconds; rates per second; counts), so bars of different units are
 * never drawn against each other. Pure functions: no I/O.
 */

/** At most this many figures lines plotted, and this many figures per line. */
export const PLOT_LINES_MAX = 64;
export const PLOT_FIGURES_PER_LINE_MAX = 32;

/** One benchmark's figures line. */
export interface BenchLine {
  bench: string;
  figures: { name: string; value: number }[];
}

/**
 * The figures lines of benchmark output: one for each `bench:NAME k=v ...` line with at least
 * one numeric figure (caption lines have none).
 */
export function parseBenchLines(text: string): BenchLine[] {
  const out: BenchLine[] = [];
  for (const line of text.split('\n')) {
    const m = /^bench:(\S+) (.*)$/.exec(line.trim());
    if (!m) continue;
    const figures: BenchLine['figures'] = [];
    for (const f of m[2]!.matchAll(/(?:^|\s)([A-Za-z][\w.]*)=(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)(?=\s|$)/g)) {
      if (figures.length < PLOT_FIGURES_PER_LINE_MAX) figures.push({ name: f[1]!, value: Number(f[2]) });
    }
    if (figures.length > 0 && out.length < PLOT_LINES_MAX) out.push({ bench: m[1]!, figures });
  }
  return out;
}

/** What a figure measures, which decides the scale its bar shares. */
export type FigureKind = 'ratio' | 'ms' | 'per second' | 'count';

/** The kind of a figure, by its name: bars share a scale only within a kind. */
export function figureKind(name: string): FigureKind {
  if (/((^|_)vs_|ratio|overhead|_rate$)/.test(name)) return 'ratio';
  if (/_ms(_|$)/.test(name)) return 'ms';
  if (/per_s|_ops_\d|^ops_/.test(name)) return 'per second';
  return 'count';
}

const XML_ESCAPES: Record<string, string> = { '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' };
const escapeXml = (s: string | number): string => String(s).replace(/[<>&"]/g, (c) => XML_ESCAPES[c]!);

const ROW_PX = 18;
const LABEL_PX = 260;
const BAR_PX = 360;
const WIDTH_PX = LABEL_PX + BAR_PX + 110;
const COLORS: Record<FigureKind, string> = { ratio: '#3b6ea8', ms: '#b5651d', 'per second': '#2e8b57', count: '#777' };

/** The SVG document for `lines` (from `parseBenchLines`), titled `title`. */
export function benchSvg(lines: readonly BenchLine[], title: string): string {
  const parts: string[] = [];
  let y = 28;
  parts.push(`<text x="8" y="18" font-weight="bold">${escapeXml(title)}</text>`);
  for (const { bench, figures } of lines) {
    y += 10;
    parts.push(`<text x="8" y="${y + 12}" font-weight="bold">bench:${escapeXml(bench)}</text>`);
    y += ROW_PX;
    const maxOf = new Map<FigureKind, number>();
    for (const f of figures) {
      const k = figureKind(f.name);
      maxOf.set(k, Math.max(maxOf.get(k) ?? (k === 'ratio' ? 1 : 0), Math.abs(f.value)));
    }
    for (const f of figures) {
      const kind = figureKind(f.name);
      const max = maxOf.get(kind) || 1;
      const w = Math.max(1, Math.round((Math.abs(f.value) / max) * BAR_PX));
      parts.push(`<text x="${LABEL_PX - 6}" y="${y + 12}" text-anchor="end">${escapeXml(f.name)}</text>`);
      parts.push(`<rect x="${LABEL_PX}" y="${y + 2}" width="${w}" height="${ROW_PX - 5}" fill="${COLORS[kind]}"><title>${escapeXml(`${f.name}=${f.value} (${kind})`)}</title></rect>`);
      parts.push(`<text x="${LABEL_PX + w + 4}" y="${y + 12}">${escapeXml(f.value)}</text>`);
      if (kind === 'ratio') {
        const one = LABEL_PX + Math.round(BAR_PX / max);
        parts.push(`<line x1="${one}" x2="${one}" y1="${y}" y2="${y + ROW_PX}" stroke="#000" stroke-dasharray="2,2"/>`);
      }
      y += ROW_PX;
    }
  }
  const legend = Object.entries(COLORS).map(([k, c], i) => `<rect x="${8 + i * 120}" y="${y + 10}" width="10" height="10" fill="${c}"/><text x="${22 + i * 120}" y="${y + 19}">${k}</text>`);
  y += 30;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH_PX}" height="${y}" font-family="sans-serif" font-size="12">\n<rect width="100%" height="100%" fill="#fff"/>\n${[...parts, ...legend].join('\n')}\n</svg>\n`;
}
