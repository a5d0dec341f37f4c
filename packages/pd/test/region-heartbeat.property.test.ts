import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { PdStateMachine, Region, RegionHeartbeat } from '../src/index.ts';
import { compareKeys, regionContainsKey } from '../src/index.ts';
import { bootstrapped, heartbeat, peer } from './helpers.ts';

/** Splits and conf changes applied to a model cluster; every step emits a heartbeat. */
function evolve(steps: { pick: number; key: number[]; split: boolean }[]): { history: RegionHeartbeat[]; final: Region[] } {
  let regions: Region[] = [{ id: 2, startKey: new Uint8Array(0), endKey: new Uint8Array(0), epoch: { confVer: 1, version: 1 }, peers: [peer(3, 1)] }];
  const history: RegionHeartbeat[] = [];
  let nextId = 1000;
  for (const s of steps) {
    const i = s.pick % regions.length;
    const r = regions[i];
    if (!s.split) {
      const next = { ...r, epoch: { ...r.epoch, confVer: r.epoch.confVer + 1 } };
      regions = regions.map((x) => (x === r ? next : x));
      history.push(heartbeat(next));
      continue;
    }
    const key = Uint8Array.from(s.key);
    const inside = compareKeys(key, r.startKey) > 0 && (r.endKey.length === 0 || compareKeys(key, r.endKey) < 0);
    if (!inside) continue;
    const version = r.epoch.version + 1;
    const left: Region = { ...r, endKey: key, epoch: { ...r.epoch, version } };
    const right: Region = { id: nextId++, startKey: key, endKey: r.endKey, epoch: { confVer: r.epoch.confVer, version }, peers: [peer(nextId++, 1)] };
    regions = [...regions.slice(0, i), left, right, ...regions.slice(i + 1)];
    history.push(heartbeat(left), heartbeat(right));
  }
  return { history, final: regions };
}

function expectDisjointAndSorted(sm: PdStateMachine): void {
  const all = sm.allRegions();
  for (let i = 1; i < all.length; i++) {
    const prev = all[i - 1].region;
    expect(prev.endKey.length).toBeGreaterThan(0);
    expect(compareKeys(prev.endKey, all[i].region.startKey)).toBeLessThanOrEqual(0);
  }
}

describe('region heartbeats under random splits and reordering (property)', () => {
  it('keeps ranges disjoint and converges to the latest regions whatever the delivery order', () => {
    const step = fc.record({ pick: fc.nat(), key: fc.array(fc.integer({ min: 0, max: 15 }), { minLength: 1, maxLength: 3 }), split: fc.boolean() });
    fc.assert(
      fc.property(fc.array(step, { minLength: 5, maxLength: 40 }), fc.array(fc.nat(), { maxLength: 200 }), fc.array(fc.array(fc.integer({ min: 0, max: 15 }), { maxLength: 4 }), { minLength: 10, maxLength: 10 }), (steps, order, probes) => {
        const { history, final } = evolve(steps);
        // Every old heartbeat in a shuffled order, with each final region delivered at least once somewhere.
        const deliveries = [...history, ...final.map((r) => heartbeat(r))];
        for (let i = deliveries.length - 1; i > 0; i--) {
          const j = (order[i % Math.max(1, order.length)] ?? 0) % (i + 1);
          [deliveries[i], deliveries[j]] = [deliveries[j], deliveries[i]];
        }
        const sm = bootstrapped();
        for (const hb of deliveries) {
          sm.apply({ kind: 'regionHeartbeat', heartbeat: hb, nowMs: 1 });
          expectDisjointAndSorted(sm);
        }
        expect(sm.allRegions().map((x) => x.region)).toEqual(final);
        for (const p of probes) {
          const key = Uint8Array.from(p);
          const want = final.find((r) => regionContainsKey(r, key));
          expect(sm.getRegion(key)?.region.id).toBe(want?.id);
        }
      }),
      { numRuns: 300 },
    );
  });
});
