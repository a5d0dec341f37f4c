/**
 * `npm run bench`'s plot (scripts/bench-plot.ts): which output lines become figures, the
 * scale each bar shares, and the SVG drawn from them.
 */
import { describe, expect, it } from 'vitest';
import { benchSvg, figureKind, parseBenchLines, PLOT_FIGURES_PER_LINE_MAX } from '../../scripts/bench-plot.ts';

const OUTPUT = [
  'bench:raft 10000 proposals of 64 B, window 256, 1 tick per 4 message rounds',
  'bench:raft ops_per_s_3=41000 ops_per_s_1=82000 ratio=0.500',
  'progress line that is not a figure=1',
  'bench:txn put_1pc_vs_raw=0.910 txn2_ops_per_s=1200 async_commit_p50_ms=3.5 contention_commit_rate=0.62 put_rounds=5 note=fast',
].join('\n');

describe('bench plot', () => {
  it('reads the numeric figures of bench: lines, not captions, other lines or non-numbers', () => {
    expect(parseBenchLines(OUTPUT)).toEqual([
      { bench: 'raft', figures: [{ name: 'ops_per_s_3', value: 41000 }, { name: 'ops_per_s_1', value: 82000 }, { name: 'ratio', value: 0.5 }] },
      {
        bench: 'txn',
        figures: [
          { name: 'put_1pc_vs_raw', value: 0.91 },
          { name: 'txn2_ops_per_s', value: 1200 },
          { name: 'async_commit_p50_ms', value: 3.5 },
          { name: 'contention_commit_rate', value: 0.62 },
          { name: 'put_rounds', value: 5 },
        ],
      },
    ]);
    const many = `bench:x ${Array.from({ length: PLOT_FIGURES_PER_LINE_MAX + 5 }, (_, i) => `f${i}=${i}`).join(' ')}`;
    expect(parseBenchLines(many)[0]!.figures).toHaveLength(PLOT_FIGURES_PER_LINE_MAX);
  });

  it('puts each figure on the scale of its kind', () => {
    expect(['put_1pc_vs_raw', 'vs_rxdb', 'ratio', 'webrtc_overhead', 'contention_commit_rate', 'async_commit_p50_ms', 'watch_lag_p99_ms', 'ops_per_s_3', 'put_ops_3', 'rss_mb', 'svs_x'].map(figureKind)).toEqual([
      'ratio', 'ratio', 'ratio', 'ratio', 'ratio', 'ms', 'ms', 'per second', 'per second', 'count', 'count',
    ]);
  });

  it('draws one bar per figure, scaled within its kind, with its value and a 1.0 mark for ratios', () => {
    const svg = benchSvg(parseBenchLines(OUTPUT), 'a <title> & more');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).toContain('a &lt;title&gt; &amp; more');
    expect(svg.match(/<rect x="260"/g)).toHaveLength(8);
    // ops_per_s_1 is the larger rate: the full width (360 px); ops_per_s_3 half of it.
    expect(svg).toMatch(/<rect x="260" y="\d+" width="360" height="13" fill="#2e8b57"><title>ops_per_s_1=82000/);
    expect(svg).toMatch(/<rect x="260" y="\d+" width="180" height="13" fill="#2e8b57"><title>ops_per_s_3=41000/);
    // a ratio below 1 is drawn against 1.0 (the dashed mark at the full width).
    expect(svg).toMatch(/<rect x="260" y="\d+" width="180" height="13" fill="#3b6ea8"><title>ratio=0.5/);
    expect(svg.match(/stroke-dasharray/g)).toHaveLength(3);
  });
});
