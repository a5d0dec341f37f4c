import { describe, expect, it } from 'vitest';
import { defaultOptions } from '../src/options.ts';
import { runSeed } from '../src/simulation.ts';

describe('runSeed', () => {
  it('is deterministic: one seed, one run', () => {
    const a = runSeed(defaultOptions(7, { trace: true }));
    const b = runSeed(defaultOptions(7, { trace: true }));
    expect(b.ops).toBe(a.ops);
    expect(b.outcomes).toEqual(a.outcomes);
    expect(b.virtualMs).toBe(a.virtualMs);
    expect(b.stats).toEqual(a.stats);
    expect(b.trace).toEqual(a.trace);
    const c = runSeed(defaultOptions(8));
    expect([c.virtualMs, c.stats.messagesSent]).not.toEqual([a.virtualMs, a.stats.messagesSent]);
  });

  it('runs a faulty 3-node and 5-node cluster to a clean, checked end', () => {
    for (const nodes of [3, 5]) {
      const r = runSeed(defaultOptions(3, { nodes, ops: 150 }));
      expect(r.violations).toEqual([]);
      expect(r.linearizabilityUnknown).toBe(false);
      expect(r.ops).toBeGreaterThanOrEqual(150);
      expect(r.outcomes.ok).toBeGreaterThan(100);
      expect(r.stats.leaderTerms).toBeGreaterThan(1);
      expect(r.stats.messagesDropped).toBeGreaterThan(0);
    }
  });

  it('exercises crashes, partitions, membership changes and snapshots across seeds', () => {
    const seen = new Set<string>();
    for (let seed = 1; seed <= 6; seed++) {
      const r = runSeed(defaultOptions(seed, { trace: true, ops: 150 }));
      expect(r.violations).toEqual([]);
      for (const line of r.trace) {
        for (const what of ['nemesis: crash', 'nemesis: power loss', 'nemesis: partition', 'nemesis: isolate', 'nemesis: conf change', 'nemesis: transfer leader', 'install snapshot']) {
          if (line.includes(what)) seen.add(what);
        }
      }
    }
    expect([...seen].sort()).toEqual(['install snapshot', 'nemesis: conf change', 'nemesis: crash', 'nemesis: isolate', 'nemesis: partition', 'nemesis: power loss', 'nemesis: transfer leader']);
  });
});
