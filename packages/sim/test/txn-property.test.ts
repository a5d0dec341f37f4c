import { SeededRng } from '@peerkv/raft';
import { describe, expect, it } from 'vitest';
import { checkSnapshotIsolation, type CheckOptions } from '../src/txn-check/index.ts';
import { injectFault, type FaultKind } from '../src/txn-check/faults.ts';
import { serialHistory, type SerialWorkload } from '../src/txn-check/serial-history.ts';
import { siHistory } from '../src/txn-check/si-history.ts';

/**
 * Property tests: serial executions (scrambled in concurrency-preserving ways) never show a
 * violation, with every order option on; the same histories with one injected fault always
 * do. A failure names its seed: reproduce with that seed in `serialHistory(new SeededRng(seed))`.
 */
const SEEDS = 40;
const STRICT: CheckOptions = { process: true, realtime: true, timestamps: true };
const WORKLOADS: SerialWorkload[] = ['list-append', 'rw-register', 'mixed'];

describe('serial histories pass', () => {
  for (const workload of WORKLOADS) {
    it(`${workload}: ${SEEDS} seeds, no anomaly, no G2`, () => {
      for (let seed = 1; seed <= SEEDS; seed++) {
        const history = serialHistory(new SeededRng(seed), { workload, txns: 150, keys: 4 });
        for (const opts of [{}, STRICT]) {
          const r = checkSnapshotIsolation(history, opts);
          expect(r.anomalies, `reproduce with SEED=${seed} workload=${workload}`).toEqual([]);
          expect(r.valid).toBe(true);
          expect(r.seen.G2).toBe(0);
        }
      }
    });
  }

  it('the scrambling really interleaves: many processes, overlapping intervals', () => {
    const history = serialHistory(new SeededRng(7), { txns: 200 });
    const processes = new Set(history.map((t) => t.process));
    expect(processes.size).toBeGreaterThan(2);
    const order = history.map((t) => t.id as number);
    expect(order).not.toEqual([...order].sort((a, b) => a - b));
    const r = checkSnapshotIsolation(history, STRICT);
    expect(r.stats.edges.realtime).toBeGreaterThan(0);
    expect(r.stats.edges.process).toBeGreaterThan(0);
  });
});

/** Which workloads can host each fault. */
const FAULT_WORKLOADS: Record<FaultKind, SerialWorkload[]> = {
  'stale-read': ['list-append', 'rw-register', 'mixed'],
  'aborted-read': ['list-append', 'rw-register'],
  'lost-append': ['list-append'],
};

describe('one injected fault is caught', () => {
  for (const kind of Object.keys(FAULT_WORKLOADS) as FaultKind[]) {
    for (const workload of FAULT_WORKLOADS[kind]) {
      it(`${kind} in ${workload}`, () => {
        let injected = 0;
        for (let seed = 1; seed <= SEEDS; seed++) {
          const rng = new SeededRng(seed);
          const history = serialHistory(rng, { workload, txns: 150, keys: 4, failPercent: 15 });
          const fault = injectFault(rng, history, kind);
          if (fault === undefined) continue;
          injected++;
          const r = checkSnapshotIsolation(fault.history);
          expect(r.valid, `reproduce with SEED=${seed} workload=${workload}: ${fault.description}`).toBe(false);
        }
        expect(injected).toBeGreaterThan(SEEDS / 2);
      });
    }
  }

  it('the fault is reported as what it is', () => {
    const expected: Record<FaultKind, string[]> = {
      'stale-read': ['G-single', 'lost-update', 'internal'],
      'aborted-read': ['G1a'],
      'lost-append': ['incompatible-order'],
    };
    for (const kind of Object.keys(expected) as FaultKind[]) {
      for (let seed = 1; seed <= 10; seed++) {
        const rng = new SeededRng(seed);
        const fault = injectFault(rng, serialHistory(rng, { workload: 'list-append', txns: 100, failPercent: 15 }), kind);
        if (fault === undefined) continue;
        const found = checkSnapshotIsolation(fault.history).anomalies.map((a) => a.type);
        expect(found.some((t) => expected[kind].includes(t)), `SEED=${seed} ${kind}: ${found.join(',')}`).toBe(true);
      }
    }
  });
});

describe('scale', () => {
  it('checks a 10 000-transaction history quickly', () => {
    const history = serialHistory(new SeededRng(42), { workload: 'mixed', txns: 10_000, keys: 20, mopsMax: 6 });
    const started = performance.now();
    const r = checkSnapshotIsolation(history, STRICT);
    const elapsedMs = performance.now() - started;
    console.log(`txn-check: ${history.length} txns, ${JSON.stringify(r.stats.edges)}, ${r.stats.steps} steps, ${elapsedMs.toFixed(0)} ms`);
    expect(r.valid).toBe(true);
    // Generous: the check takes a fraction of this on a loaded laptop; the bound only catches
    // a quadratic regression.
    expect(elapsedMs).toBeLessThan(10_000);
  });

  it('checks a 10 000-transaction concurrent SI history quickly, G2 seen', () => {
    const history = siHistory(new SeededRng(3), { txns: 10_000, keys: 10, concurrency: 8 });
    const started = performance.now();
    const r = checkSnapshotIsolation(history, STRICT);
    const elapsedMs = performance.now() - started;
    console.log(`txn-check: SI model, ${history.length} txns, ${r.stats.sccs} SCCs, G2 seen ${r.seen.G2}, ${r.stats.steps} steps, ${elapsedMs.toFixed(0)} ms`);
    expect(r.valid).toBe(true);
    expect(r.seen.G2).toBeGreaterThan(0);
    expect(elapsedMs).toBeLessThan(10_000);
  });

  it('finds a G-single inside one large SCC of write skew', () => {
    // A ring of write skew: every txn reads x_i and appends to x_{i+1}, one big SCC whose
    // cycles are all G2; then two txns make a G-single through one of its members.
    const n = 3000;
    const history = [];
    for (let i = 0; i < n; i++) {
      history.push({ process: i, type: 'ok' as const, mops: [['r', `x${i}`, []], ['append', `x${(i + 1) % n}`, 1]] as const });
    }
    history.push({ process: n, type: 'ok' as const, mops: Array.from({ length: n }, (_, i) => ['r', `x${i}`, [1]] as const) });
    const skew = checkSnapshotIsolation(history);
    expect(skew.valid).toBe(true);
    expect(skew.seen.G2).toBe(1);
    // T4 -wr(x5)-> R1 -wr(y)-> R2 -rw(x5)-> T4: R2 sees R1, which saw T4, but misses T4.
    history.push({ process: n + 1, type: 'ok' as const, mops: [['r', 'x5', [1]], ['append', 'y', 1]] as const });
    history.push({ process: n + 2, type: 'ok' as const, mops: [['r', 'y', [1]], ['r', 'x5', []]] as const });
    const broken = checkSnapshotIsolation(history);
    expect(broken.valid).toBe(false);
    expect(broken.anomalies.map((a) => a.type)).toContain('G-single');
  });
});

describe('histories of a snapshot-isolation model database', () => {
  it('never violate SI (even strict), and show write skew', () => {
    let g2 = 0;
    for (let seed = 1; seed <= SEEDS; seed++) {
      const history = siHistory(new SeededRng(seed));
      const r = checkSnapshotIsolation(history, STRICT);
      expect(r.anomalies, `reproduce with SEED=${seed}`).toEqual([]);
      expect(r.valid).toBe(true);
      g2 += r.seen.G2;
    }
    expect(g2).toBeGreaterThan(0);
  });

  it('without first-committer-wins: lost updates are caught', () => {
    for (let seed = 1; seed <= SEEDS; seed++) {
      const r = checkSnapshotIsolation(siHistory(new SeededRng(seed), { bug: 'no-write-conflict' }));
      expect(r.valid, `SEED=${seed}`).toBe(false);
      expect(r.anomalyCounts['lost-update'] ?? 0).toBeGreaterThan(0);
    }
  });

  it('reading the latest version instead of the snapshot: read skew is caught', () => {
    let caught = 0;
    for (let seed = 1; seed <= SEEDS; seed++) {
      const r = checkSnapshotIsolation(siHistory(new SeededRng(seed), { bug: 'read-latest' }));
      if (r.valid === false) caught++;
    }
    expect(caught).toBeGreaterThan(SEEDS * 0.75);
  });
});
