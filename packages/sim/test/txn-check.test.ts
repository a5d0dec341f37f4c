import { describe, expect, it } from 'vitest';
import {
  checkSnapshotIsolation,
  HistoryFormatError,
  type Anomaly,
  type CheckOptions,
  type CheckReport,
  type CycleAnomaly,
  type Mop,
  type Txn,
} from '../src/txn-check/index.ts';

/**
 * Hand-written histories, one per anomaly the checker must catch: the mutation proof of the
 * checker. Transactions are written `ok(process, ...mops)`; their array index is their name.
 */
const ok = (process: number, ...mops: Mop[]): Txn => ({ process, type: 'ok', mops });
const fail = (process: number, ...mops: Mop[]): Txn => ({ process, type: 'fail', mops });
const info = (process: number, ...mops: Mop[]): Txn => ({ process, type: 'info', mops });
const at = (txn: Txn, fields: Partial<Txn>): Txn => ({ ...txn, ...fields });

function check(history: Txn[], opts?: CheckOptions): CheckReport {
  return checkSnapshotIsolation(history, opts);
}

function types(report: CheckReport): string[] {
  return [...new Set(report.anomalies.map((a) => a.type))].sort();
}

function only(report: CheckReport, type: string): Anomaly {
  const found = report.anomalies.filter((a) => a.type === type);
  expect(found, JSON.stringify(report.anomalies, null, 1)).toHaveLength(1);
  expect(found[0].explanation.length).toBeGreaterThan(20);
  return found[0];
}

/** A cycle witness is a closed chain of steps. */
function expectClosed(a: Anomaly): CycleAnomaly {
  const c = a as CycleAnomaly;
  expect(c.cycle.length).toBeGreaterThanOrEqual(2);
  c.cycle.forEach((s, i) => expect(s.to).toBe(c.cycle[(i + 1) % c.cycle.length].from));
  return c;
}

describe('list-append anomalies', () => {
  it('G0: two transactions append to x and y in opposite orders', () => {
    const r = check([ok(0, ['append', 'x', 1], ['append', 'y', 2]), ok(1, ['append', 'x', 3], ['append', 'y', 4]), ok(2, ['r', 'x', [1, 3]], ['r', 'y', [4, 2]])]);
    expect(r.valid).toBe(false);
    const c = expectClosed(only(r, 'G0'));
    expect(c.cycle.map((s) => s.kind)).toEqual(['ww', 'ww']);
    expect(new Set(c.cycle.map((s) => s.from))).toEqual(new Set([0, 1]));
  });

  it('G1a: a committed read sees an aborted append', () => {
    const r = check([fail(0, ['append', 'x', 1]), ok(1, ['r', 'x', [1]])]);
    expect(r.valid).toBe(false);
    expect(only(r, 'G1a')).toMatchObject({ witness: { key: 'x', txns: [1, 0] } });
  });

  it('G1a inside a list: the versions around the aborted element stay ordered', () => {
    const r = check([ok(0, ['append', 'x', 1]), fail(1, ['append', 'x', 2]), ok(2, ['append', 'x', 3]), ok(3, ['r', 'x', [1, 2, 3]]), ok(4, ['r', 'x', [1]])]);
    expect(r.valid).toBe(false);
    expect(r.anomalyCounts.G1a).toBe(1);
    expect(r.stats.edges).toMatchObject({ ww: 1, rw: 1 });
  });

  it('G1b: a read ends at an append its writer followed with another', () => {
    const r = check([ok(0, ['append', 'x', 1], ['append', 'x', 2]), ok(1, ['r', 'x', [1]])]);
    expect(r.valid).toBe(false);
    expect(only(r, 'G1b')).toMatchObject({ witness: { key: 'x', txns: [1, 0] } });
  });

  it('G1c: each transaction reads the other one\'s append', () => {
    const r = check([ok(0, ['append', 'x', 1], ['r', 'y', [2]]), ok(1, ['append', 'y', 2], ['r', 'x', [1]])]);
    expect(r.valid).toBe(false);
    const c = expectClosed(only(r, 'G1c'));
    expect(c.cycle.every((s) => s.kind === 'wr')).toBe(true);
  });

  it('G-single: a snapshot sees one of a transaction\'s appends but not the other (read skew)', () => {
    // The last read puts 1 into x's version order: an append nobody read has no known place.
    const r = check([ok(0, ['append', 'x', 1], ['append', 'y', 1]), ok(1, ['r', 'x', []], ['r', 'y', [1]]), ok(2, ['r', 'x', [1]])]);
    expect(r.valid).toBe(false);
    const c = expectClosed(only(r, 'G-single'));
    expect(c.cycle.map((s) => s.kind).sort()).toEqual(['rw', 'wr']);
    expect(c.explanation).toContain('read skew');
  });

  it('lost update: two committed transactions read the same version and both append', () => {
    const r = check([ok(0, ['r', 'x', []], ['append', 'x', 1]), ok(1, ['r', 'x', []], ['append', 'x', 2]), ok(2, ['r', 'x', [1, 2]])]);
    expect(r.valid).toBe(false);
    expect(only(r, 'lost-update')).toMatchObject({ witness: { key: 'x', txns: [0, 1] } });
    expect(types(r)).toContain('G-single');
  });

  it('incompatible order: two reads that are not prefixes of one another', () => {
    const r = check([ok(0, ['append', 'x', 1]), ok(1, ['append', 'x', 2]), ok(2, ['r', 'x', [1, 2]]), ok(3, ['r', 'x', [2, 1]])]);
    expect(r.valid).toBe(false);
    expect(only(r, 'incompatible-order')).toMatchObject({ witness: { key: 'x' } });
  });

  it('duplicate elements: one append seen twice', () => {
    const r = check([ok(0, ['append', 'x', 1]), ok(1, ['r', 'x', [1, 1]])]);
    expect(r.valid).toBe(false);
    only(r, 'duplicate-elements');
  });

  it('internal: a transaction does not see its own append', () => {
    const r = check([ok(0, ['r', 'x', []], ['append', 'x', 1], ['r', 'x', []])]);
    expect(r.valid).toBe(false);
    only(r, 'internal');
  });

  it('internal: a list read after own appends must end with them', () => {
    const r = check([ok(1, ['append', 'x', 2]), ok(0, ['append', 'x', 1], ['r', 'x', [1, 2]])]);
    expect(r.valid).toBe(false);
    only(r, 'internal');
  });

  it('garbage: a read of an element nobody appended', () => {
    const r = check([ok(0, ['r', 'x', [9]])]);
    expect(r.valid).toBe(false);
    only(r, 'garbage-read');
  });
});

describe('rw-register anomalies', () => {
  it('G1a: a committed read sees an aborted write', () => {
    const r = check([fail(0, ['w', 'x', 5]), ok(1, ['r', 'x', 5])]);
    expect(r.valid).toBe(false);
    only(r, 'G1a');
  });

  it('G1b: a read of a value its writer overwrote in the same transaction', () => {
    const r = check([ok(0, ['w', 'x', 1], ['w', 'x', 2]), ok(1, ['r', 'x', 1])]);
    expect(r.valid).toBe(false);
    only(r, 'G1b');
  });

  it('G1c: circular information flow through registers', () => {
    const r = check([ok(0, ['w', 'x', 1], ['r', 'y', 2]), ok(1, ['w', 'y', 2], ['r', 'x', 1])]);
    expect(r.valid).toBe(false);
    expectClosed(only(r, 'G1c'));
  });

  it('G-single: read skew against the initial state', () => {
    const r = check([ok(0, ['r', 'x', null], ['w', 'x', 1], ['w', 'y', 1]), ok(1, ['r', 'x', null], ['r', 'y', 1])]);
    expect(r.valid).toBe(false);
    expectClosed(only(r, 'G-single'));
  });

  it('G-single: read skew through a writes-follow-reads version order', () => {
    const r = check([
      ok(0, ['w', 'x', 1], ['w', 'y', 1]),
      ok(1, ['r', 'x', 1], ['w', 'x', 2], ['r', 'y', 1], ['w', 'y', 2]),
      ok(2, ['r', 'x', 1], ['r', 'y', 2]),
    ]);
    expect(r.valid).toBe(false);
    const c = expectClosed(only(r, 'G-single'));
    expect(c.cycle.map((s) => s.kind).sort()).toEqual(['rw', 'wr']);
  });

  it('G0: each transaction overwrote the other\'s register write', () => {
    const r = check([ok(0, ['r', 'y', 2], ['w', 'y', 1], ['w', 'x', 1]), ok(1, ['r', 'x', 1], ['w', 'x', 2], ['w', 'y', 2])]);
    expect(r.valid).toBe(false);
    const c = expectClosed(only(r, 'G0'));
    expect(c.cycle.map((s) => s.kind)).toEqual(['ww', 'ww']);
  });

  it('lost update: two transactions read the same register value and both write it', () => {
    const r = check([ok(0, ['w', 'x', 1]), ok(1, ['r', 'x', 1], ['w', 'x', 2]), ok(2, ['r', 'x', 1], ['w', 'x', 3])]);
    expect(r.valid).toBe(false);
    expect(only(r, 'lost-update')).toMatchObject({ witness: { key: 'x', txns: [1, 2], values: [1] } });
  });

  it('internal: a read after a write must return the write', () => {
    const r = check([ok(1, ['w', 'x', 2]), ok(0, ['w', 'x', 1], ['r', 'x', 2])]);
    expect(r.valid).toBe(false);
    only(r, 'internal');
  });

  it('cyclic versions: each value read and then overwritten by the other', () => {
    const r = check([ok(0, ['r', 'x', 1], ['w', 'x', 2]), ok(1, ['r', 'x', 2], ['w', 'x', 1])]);
    expect(r.valid).toBe(false);
    expect(types(r)).toContain('cyclic-versions');
  });

  it('garbage: a read of a value nobody wrote', () => {
    const r = check([ok(0, ['r', 'x', 7])]);
    expect(r.valid).toBe(false);
    only(r, 'garbage-read');
  });
});

describe('what snapshot isolation allows', () => {
  it('write skew (G2) is seen, not a failure: lists', () => {
    const r = check([ok(0, ['r', 'x', []], ['append', 'y', 1]), ok(1, ['r', 'y', []], ['append', 'x', 1]), ok(2, ['r', 'x', [1]], ['r', 'y', [1]])]);
    expect(r.valid).toBe(true);
    expect(r.anomalies).toEqual([]);
    expect(r.seen.G2).toBe(1);
    const example = expectClosed(r.seenExamples[0]);
    expect(example.type).toBe('G2');
    expect(example.cycle.filter((s) => s.kind === 'rw')).toHaveLength(2);
  });

  it('write skew (G2) is seen, not a failure: registers', () => {
    const r = check([ok(0, ['r', 'x', null], ['r', 'y', null], ['w', 'y', 1]), ok(1, ['r', 'x', null], ['r', 'y', null], ['w', 'x', 1])]);
    expect(r.valid).toBe(true);
    expect(r.seen.G2).toBe(1);
  });

  it('a read-only transaction may read an older snapshot (no real-time order asked)', () => {
    const history = [at(ok(0, ['append', 'x', 1]), { invokeAt: 1, completeAt: 2 }), at(ok(1, ['r', 'x', []]), { invokeAt: 3, completeAt: 4 }), ok(2, ['r', 'x', [1]])];
    expect(check(history).valid).toBe(true);
    const strict = check(history, { realtime: true });
    expect(strict.valid).toBe(false);
    expect(expectClosed(only(strict, 'G-single-realtime')).cycle.map((s) => s.kind).sort()).toEqual(['realtime', 'rw']);
  });

  it('concurrent transactions on disjoint snapshots, each consistent, pass', () => {
    const r = check([
      ok(0, ['r', 'x', []], ['append', 'x', 1], ['w', 'r', 10]),
      ok(1, ['r', 'x', [1]], ['append', 'x', 2], ['r', 'r', 10], ['w', 'r', 11]),
      ok(2, ['r', 'x', [1]], ['r', 'r', 10]),
      ok(3, ['r', 'x', [1, 2]], ['append', 'y', 1], ['r', 'r', 11]),
      ok(0, ['r', 'y', [1]], ['r', 'x', [1, 2]]),
    ], { process: true });
    expect(r.valid).toBe(true);
    expect(r.anomalies).toEqual([]);
    expect(r.stats).toMatchObject({ txns: 5, ok: 5, listKeys: 2, registerKeys: 1 });
  });

  it('an empty history is valid', () => {
    expect(check([]).valid).toBe(true);
  });
});

describe('info transactions (Undetermined)', () => {
  it('reading an info transaction\'s write is fine: it may have committed', () => {
    const r = check([info(0, ['append', 'x', 1]), ok(1, ['r', 'x', [1]]), info(2, ['w', 'y', 3]), ok(3, ['r', 'y', 3])]);
    expect(r.valid).toBe(true);
  });

  it('an info transaction\'s reads are not evidence', () => {
    const r = check([info(0, ['r', 'x', [7, 7]], ['r', 'y', 99]), ok(1, ['append', 'x', 1])]);
    expect(r.valid).toBe(true);
  });

  it('an info transaction does not order its process\'s next transaction', () => {
    const r = check([info(0, ['append', 'x', 1]), ok(0, ['r', 'x', []]), ok(1, ['r', 'x', [1]])], { process: true });
    expect(r.valid).toBe(true);
  });

  it('an info transaction whose write was seen takes part in cycles', () => {
    const r = check([info(0, ['append', 'x', 1], ['append', 'y', 1]), ok(1, ['r', 'x', []], ['r', 'y', [1]]), ok(2, ['r', 'x', [1]])]);
    expect(r.valid).toBe(false);
    only(r, 'G-single');
  });

  it('lost updates count committed transactions only', () => {
    const r = check([ok(0, ['r', 'x', []], ['append', 'x', 1]), info(1, ['r', 'x', []], ['append', 'x', 2])]);
    expect(r.anomalies.filter((a) => a.type === 'lost-update')).toEqual([]);
  });
});

describe('order edges', () => {
  it('G-single-process: a process does not see its own committed append', () => {
    const r = check([ok(0, ['append', 'x', 1]), ok(0, ['r', 'x', []]), ok(1, ['r', 'x', [1]])], { process: true });
    expect(r.valid).toBe(false);
    expectClosed(only(r, 'G-single-process'));
  });

  it('G1c-process: a process reads what its later transaction appends', () => {
    const r = check([ok(0, ['r', 'x', [1]]), ok(0, ['append', 'x', 1])], { process: true });
    expect(r.valid).toBe(false);
    expectClosed(only(r, 'G1c-process'));
  });

  it('G1c-realtime: a read sees an append invoked after the read completed', () => {
    const r = check([at(ok(0, ['r', 'x', [1]]), { invokeAt: 1, completeAt: 2 }), at(ok(1, ['append', 'x', 1]), { invokeAt: 3, completeAt: 4 })], { realtime: true });
    expect(r.valid).toBe(false);
    const c = expectClosed(only(r, 'G1c-realtime'));
    expect(c.cycle.find((s) => s.kind === 'realtime')?.why).toContain('completed before');
  });

  it('G-single-timestamp: a snapshot above a commit ts misses the commit', () => {
    const history = [at(ok(0, ['append', 'x', 1]), { startTs: 1, commitTs: 2 }), at(ok(1, ['r', 'x', []]), { startTs: 3, commitTs: 4 }), ok(2, ['r', 'x', [1]])];
    expect(check(history).valid).toBe(true);
    const r = check(history, { timestamps: true });
    expect(r.valid).toBe(false);
    expectClosed(only(r, 'G-single-timestamp'));
  });

  it('real-time edges are a transitive reduction, still ordering every pair', () => {
    const chain = Array.from({ length: 50 }, (_, i) => at(ok(i, ['append', 'x', i + 1]), { invokeAt: 2 * i, completeAt: 2 * i + 1 }));
    const last = at(ok(99, ['r', 'x', []]), { invokeAt: 1000 });
    const r = check([...chain, last, ok(98, ['r', 'x', chain.map((_, i) => i + 1)])], { realtime: true });
    expect(r.stats.edges.realtime).toBeLessThan(60);
    expect(only(r, 'G-single-realtime')).toBeDefined();
  });
});

describe('format and limits', () => {
  it('rejects values written twice to one key', () => {
    expect(() => check([ok(0, ['append', 'x', 1]), ok(1, ['append', 'x', 1])])).toThrow(HistoryFormatError);
  });

  it('rejects a key used as a list and as a register', () => {
    expect(() => check([ok(0, ['append', 'x', 1]), ok(1, ['w', 'x', 2])])).toThrow(HistoryFormatError);
  });

  it('keeps anomaliesPerTypeMax of each type and counts them all', () => {
    const history = [fail(0, ['append', 'x', 1]), ...Array.from({ length: 5 }, (_, i) => ok(i + 1, ['r', 'x', [1]]))];
    const r = check(history, { anomaliesPerTypeMax: 2 });
    expect(r.anomalies).toHaveLength(2);
    expect(r.anomalyCounts.G1a).toBe(5);
  });

  it('is unknown, never valid, when the search budget runs out', () => {
    const r = check([ok(0, ['r', 'x', []], ['append', 'y', 1]), ok(1, ['r', 'y', []], ['append', 'x', 1]), ok(2, ['r', 'x', [1]], ['r', 'y', [1]])], { budgetSteps: 1 });
    expect(r.valid).toBe('unknown');
  });
});
