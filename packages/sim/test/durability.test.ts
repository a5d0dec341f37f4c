/**
 * The documented durability trade-off: with `relaxed` durability (IndexedDB's default in
 * Chrome) a completed write may not be on disk yet, so a site-wide power loss CAN lose
 * acknowledged data and break Raft's guarantees. With `strict` durability the same faults are
 * safe. Unit-level coverage of the storage model is in sim-storage.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_FAULTS, defaultOptions, type SimOptions } from '../src/options.ts';
import { runSeed } from '../src/simulation.ts';

/** Site outages (every node loses power at once) often, against slow flushes. */
function outageOptions(seed: number, durability: SimOptions['durability'], checkOnly?: SimOptions['checkOnly']): SimOptions {
  const weights = { ...DEFAULT_FAULTS.weights, powerLossAll: 4 };
  return defaultOptions(seed, {
    checkOnly,
    durability,
    nodes: 3,
    faults: { ...DEFAULT_FAULTS, weights },
    storage: { writeLatencyMsMin: 1, writeLatencyMsMax: 8, flushIntervalMs: 1000 },
  });
}

/** Seeds tried for each durability mode. */
const SEEDS = 40;

describe('durability under site-wide power loss', () => {
  it('relaxed durability CAN lose acknowledged data (the simulator finds a violation)', () => {
    let found: { seed: number; kind: string } | undefined;
    for (let seed = 1; seed <= SEEDS && found === undefined; seed++) {
      const r = runSeed(outageOptions(seed, 'relaxed'));
      if (r.violations.length > 0) found = { seed, kind: r.violations[0].kind };
    }
    expect(found, 'relaxed durability never lost anything: the model is too kind').toBeDefined();
  });

  it('relaxed durability: clients see acknowledged writes vanish (linearizability alone catches it)', () => {
    let found: string | undefined;
    for (let seed = 1; seed <= SEEDS && found === undefined; seed++) {
      const r = runSeed(outageOptions(seed, 'relaxed', ['linearizability']));
      if (r.violations.length > 0) found = r.violations[0].message;
    }
    expect(found, 'no client-visible loss under relaxed durability').toMatch(/is not linearizable/);
  });

  it('strict durability survives the same outages', () => {
    for (let seed = 1; seed <= SEEDS / 4; seed++) {
      const r = runSeed(outageOptions(seed, 'strict'));
      expect(r.violations, `seed ${seed}`).toEqual([]);
      expect(r.stats.writesLostInPowerLoss).toBe(0);
    }
  });
});
