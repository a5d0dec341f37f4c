/**
 * `npm run bench:browser`'s figures (tests/bench/browser/report.ts): which row each summary
 * figure comes from, the ratios' definitions, `NA` for what a run did not measure (never a
 * made-up number), and the spread over rounds.
 */
import { describe, expect, it } from 'vitest';
import { parseBenchLines } from '../../scripts/bench-plot.ts';
import { chartLines, median, percentile, spreadLine, summarize, summaryLine, table, type BenchRun, type RoundFigures, type SystemId } from '../bench/browser/report.ts';

/** A round whose every figure is `base` scaled, so each figure's source is recognizable. */
function round(put: number, p50: number, extra: Partial<RoundFigures> = {}): RoundFigures {
  return { createMs: 10, putP50Ms: p50, putP99Ms: p50 * 4, putOpsPerS: put, put16OpsPerS: put * 4, readOpsPerS: put * 10, batchOpsPerS: put * 20, scanMs: 5, scanPairs: 100, reopenMs: 7, ...extra };
}

function runOf(rows: [SystemId, RoundFigures[]][], limit = [{ rttP50Ms: 0.7, idbStrictPutP50Ms: 1.3 }]): BenchRun {
  return {
    systems: rows.map(([id, rounds]) => ({ id, rounds })),
    limit,
    config: { rounds: 3, writes: 300, writers: 16, writesPerWriter: 38, reads: 300, batchKeys: 1000 },
  };
}

const PEERS: [SystemId, RoundFigures[]][] = [
  ['idb-strict', [round(400, 2, { batchOpsPerS: 20_000 })]],
  ['rxdb', [round(250, 3)]],
  ['yjs', [round(500, 1.5)]],
];

describe('bench:browser report', () => {
  it('takes median and nearest-rank percentiles', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(3);
    expect(median([])).toBeNaN();
    expect(percentile([5, 1, 4, 2, 3], 50)).toBe(3);
    expect(percentile(Array.from({ length: 100 }, (_, i) => i + 1), 99)).toBe(99);
  });

  it('draws the summary from the 3-browser row, with ratios of medians and open from the one-store reopen', () => {
    const run = runOf([
      ...PEERS,
      ['peerkv-one', [round(200, 4, { reopenMs: 150 }), round(180, 5, { reopenMs: 170 }), round(210, 4.5, { reopenMs: 160 })]],
      ['peerkv-webrtc3', [round(20, 40), round(25, 36), round(22, 38)]],
    ]);
    const s = summarize(run);
    expect(s.peerkvRow).toBe('peerkv-webrtc3');
    expect(s.putP50Ms).toBe(38);
    expect(s.limitP50Ms).toBeCloseTo(2.0);
    expect(s.latencyVsLimit).toBeCloseTo(19);
    expect(s.putOpsPerS16).toBe(88);
    expect(s.vsRawIdbBatched).toBeCloseTo(88 / 20_000);
    expect(s.vsRxdb).toBeCloseTo(22 / 250);
    expect(s.vsYjs).toBeCloseTo(22 / 500);
    expect(s.readOpsPerS).toBe(220);
    expect(s.openMs).toBe(160);
    expect(summaryLine(s)).toBe(
      'bench:browser put_p50_ms=38.00 limit_p50_ms=2.00 latency_vs_limit=19.00 put_ops_per_s_16=88.0 vs_raw_idb_batched=0.004 vs_rxdb=0.088 vs_yjs=0.044 read_ops_per_s=220.0 open_ms=160',
    );
    expect(spreadLine(run, s)).toContain('put_p50_ms_min=36.00 put_p50_ms_max=40.00');
  });

  it('falls back to the one-store row and says so when the 3-browser row has no rounds; NA for what was not measured', () => {
    const run = runOf([...PEERS, ['peerkv-one', [round(200, 4)]], ['peerkv-webrtc3', []]], []);
    run.systems.find((x) => x.id === 'peerkv-webrtc3')!.error = 'no WebRTC';
    const s = summarize(run);
    expect(s.peerkvRow).toBe('peerkv-one');
    expect(s.vsRxdb).toBeCloseTo(200 / 250);
    const line = summaryLine(s);
    expect(line).toContain('limit_p50_ms=NA latency_vs_limit=NA');
    // NA is no figure: the plot never draws a number the run did not measure.
    const figures = parseBenchLines(line)[0].figures.map((f) => f.name);
    expect(figures).not.toContain('limit_p50_ms');
    expect(figures).toContain('vs_rxdb');
    expect(table(run)).toContain('| PeerKV, 3 browser processes over WebRTC | 0 (error: no WebRTC) |');
  });

  it('prints each cell as median (min–max) and plots one bar per measured system', () => {
    const run = runOf([...PEERS, ['peerkv-one', [round(200, 4), round(100, 6), round(300, 5)]]]);
    expect(table(run)).toContain('| PeerKV, one store | 3 | 200 (100–300) | 5.00 (4.00–6.00) |');
    const writes = parseBenchLines(chartLines(run).join('\n')).find((l) => l.bench === 'browser_writes_per_s')!;
    expect(writes.figures.map((f) => f.name)).toEqual(['idb_strict', 'rxdb', 'yjs', 'peerkv_one']);
  });
});
