/**
 * `npm run bench:browser -- --trace`'s breakdown (tests/bench/browser/trace-report.ts): the
 * stages in the order a write passes them, per-write times that add up to what the tab saw
 * (the two derived stages close the gaps), the leader's store chosen among the browsers, the
 * medians and ranges over rounds, and the `bench:` line parsed like the others.
 */
import { describe, expect, it } from 'vitest';
import type { TraceView } from 'peerkv/browser';
import { parseBenchLines } from '../../scripts/bench-plot.ts';
import { traceLine, traceStages, traceTable, type TraceRound } from '../bench/browser/trace-report.ts';

const span = (meanMs: number, samples = 10, p99 = meanMs * 3) => ({ samples, p50Ms: meanMs, p99Ms: p99, meanMs });

/** The store spans of a leader that took `totalMs` per write: 1 + 4 + 0.5 + (total − 5.5). */
function storeView(storeId: number, totalMs: number, samples = 10): TraceView['store'] {
  const m = { beforePropose: 1, localRead: 0.2, proposeToCommit: 4, commitToApplied: 0.5, appliedToDurable: totalMs - 5.5, total: totalMs };
  return { storeId, summary: { samples, p50Ms: m, p99Ms: { ...m, total: totalMs * 2 }, meanMs: m } };
}

/**
 * A round of 10 writes: 20 ms each in the tab; the host served a TSO request (3 ms) and a
 * commit (15 ms) per write; in the commit, two region lookups (0.25 ms each) and a prewrite
 * sent for 12 ms, of which the leader store (the second browser) took 8.
 */
function round(scale = 1): TraceRound {
  return {
    writes: 10,
    tab: span(20 * scale),
    views: [
      { on: false, host: { spans: { 'send:txnPrewrite': span(12 * scale), route: span(0.25 * scale, 20), tso: span(2 * scale), 'host:commitTxn': span(15 * scale), 'host:getTimestamp': span(3 * scale) }, droppedSamples: 0 }, store: storeView(1, 1, 2) },
      { on: false, store: storeView(2, 8 * scale) },
      { on: false },
    ],
  };
}

describe('bench:browser --trace breakdown', () => {
  it('lists the stages in order, per write, adding up to the tab\'s time, with the leading store\'s spans', () => {
    const rows = traceStages(round());
    expect(rows.map((r) => r.stage)).toEqual([
      'tab',
      'tab<->host',
      'host:commitTxn',
      'host:getTimestamp',
      'tso',
      'route',
      'send:txnPrewrite',
      'transport',
      'store:beforePropose',
      'store:proposeToCommit',
      'store:commitToApplied',
      'store:appliedToDurable',
      'store:total',
    ]);
    const of = (stage: string) => rows.find((r) => r.stage === stage)!;
    // Two lookups per write: 0.5 ms per write.
    expect(of('route').perWriteMs).toBeCloseTo(0.5);
    // The hops: 20 in the tab less 15 + 3 in the host.
    expect(of('tab<->host').perWriteMs).toBeCloseTo(2);
    expect(of('tab<->host').p50Ms).toBeNaN();
    // The link: the 12 ms send less the leader's 8 (the store that led 10 writes, not the one that led 2).
    expect(of('transport').perWriteMs).toBeCloseTo(4);
    expect(of('store:total').perWriteMs).toBeCloseTo(8);
    expect(of('store:total').p99Ms).toBe(16);
    // Tab time = hops + host spans; commit = lookups + send + the rest of the host's work; send = link + store.
    expect(of('tab<->host').perWriteMs + of('host:commitTxn').perWriteMs + of('host:getTimestamp').perWriteMs).toBeCloseTo(of('tab').perWriteMs);
    expect(of('transport').perWriteMs + of('store:total').perWriteMs).toBeCloseTo(of('send:txnPrewrite').perWriteMs);
    const storeParts = ['beforePropose', 'proposeToCommit', 'commitToApplied', 'appliedToDurable'].reduce((s, x) => s + of(`store:${x}`).perWriteMs, 0);
    expect(storeParts).toBeCloseTo(of('store:total').perWriteMs);
  });

  it('a round with no host spans shows the tab alone, with no made-up stage', () => {
    expect(traceStages({ writes: 5, tab: span(4, 5), views: [{ on: false }] }).map((r) => r.stage)).toEqual(['tab']);
  });

  it('prints the median over rounds with the range, and a bench line of p50, p99 and per-write figures', () => {
    const rounds = [round(1), round(2), round(1.5)];
    const text = traceTable('PeerKV, 3 browser processes over WebRTC', rounds);
    expect(text).toContain('trace: PeerKV, 3 browser processes over WebRTC, 10+10+10 traced sequential writes');
    expect(text).toContain('| tab | 3 | 30.00 (20.00–40.00) | 90.00 (60.00–120.00) | 30.00 (20.00–40.00) | 30.00 (20.00–40.00) |');
    expect(text).toContain('| tab<->host | 3 | - | - | - | 3.00 (2.00–4.00) |');
    const line = traceLine('peerkv-webrtc3', rounds);
    const parsed = parseBenchLines(line);
    expect(parsed).toHaveLength(1);
    expect(line.startsWith('bench:browser_trace_peerkv_webrtc3 ')).toBe(true);
    expect(line).toContain(' tab_p50_ms=30.00 tab_p99_ms=90.00 tab_per_write_ms=30.00 tab_host_per_write_ms=3.00 ');
    expect(line).toContain(' send_txnPrewrite_p50_ms=18.00 ');
    expect(line).toContain(' transport_per_write_ms=6.00 ');
    expect(line).not.toContain('transport_p50');
  });
});
