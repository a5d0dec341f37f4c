import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { peer, region } from './helpers.ts';
import type { SimRegion } from './sim-cluster.ts';
import { SimCluster } from './sim-cluster.ts';

const MIN = 60_000;

function voters(r: SimRegion): number {
  return r.region.peers.filter((p) => p.role === 'voter').length;
}

describe('scheduler on random clusters (property)', () => {
  it('never shrinks a region below its replicas while moving, and converges to healthy, spread, stable placement (PD group included)', () => {
    const arb = fc.record({
      devices: fc.array(fc.constantFrom('d1', 'd2', 'd3', 'd4'), { minLength: 2, maxLength: 5 }),
      regionCount: fc.integer({ min: 1, max: 6 }),
      downPick: fc.option(fc.nat(), { nil: undefined }),
      leaderPicks: fc.array(fc.nat(), { minLength: 6, maxLength: 6 }),
    });
    fc.assert(
      fc.property(arb, ({ devices, regionCount, downPick, leaderPicks }) => {
        const c = new SimCluster(devices, { maxStoreDownTimeMs: 3 * MIN });
        const regions: SimRegion[] = [];
        for (let i = 0; i < regionCount; i++) {
          const start = i === 0 ? '' : `k${i}`;
          const end = i === regionCount - 1 ? '' : `k${i + 1}`;
          const p = peer(5000 + i, 1);
          regions.push({ region: region(i === 0 ? 2 : 3000 + i, start, end, [p], { confVer: 2, version: 2 }), leader: p, sizeBytes: 1000, keys: 10 });
        }
        c.setRegions(regions);
        const check = (before: Map<number, number>): void => {
          for (const [id, r] of c.regions) expect(voters(r)).toBeGreaterThanOrEqual(Math.min(3, before.get(id) ?? 0));
        };
        const snapshotVoters = (): Map<number, number> => new Map([...c.regions].map(([id, r]) => [id, voters(r)]));
        for (let round = 0; round < 60; round++) {
          if (round === 25 && downPick !== undefined && c.storeIds.length >= 4) {
            const candidates = c.storeIds.filter((s) => s !== 1);
            c.down.add(candidates[downPick % candidates.length]);
          }
          if (round === 5) {
            // Shuffle leaders among voters so balance-leader and drain have work.
            for (const [i, r] of [...c.regions.values()].entries()) {
              const vs = r.region.peers.filter((p) => p.role === 'voter');
              r.leader = vs[leaderPicks[i % leaderPicks.length] % vs.length];
              r.term = (r.term ?? 1) + 1;
            }
          }
          const before = snapshotVoters();
          c.run(1, MIN);
          check(before);
        }
        const healthy = c.storeIds.filter((s) => !c.down.has(s));
        const want = Math.min(3, healthy.length);
        const domains = new Set(healthy.map((s) => c.sm.getStore(s)!.meta.labels.device)).size;
        for (const r of c.regions.values()) {
          const stores = r.region.peers.map((p) => p.storeId);
          expect(r.region.peers.every((p) => p.role === 'voter')).toBe(true);
          expect(stores.length).toBe(want);
          expect(stores.every((s) => !c.down.has(s))).toBe(true);
          const spread = new Set(stores.map((s) => c.sm.getStore(s)!.meta.labels.device)).size;
          expect(spread).toBe(Math.min(want, domains));
        }
        const pdStores = c.storesOf(100);
        expect(pdStores.length).toBe(want);
        expect(pdStores.every((s) => !c.down.has(s))).toBe(true);
        const logLength = c.log.length;
        c.run(5, MIN);
        expect(c.log.slice(logLength)).toEqual([]);
      }),
      { numRuns: 60 },
    );
  });
});
