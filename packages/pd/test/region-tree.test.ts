import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RegionInfo } from '../src/index.ts';
import { RegionTree, compareKeys, regionContainsKey } from '../src/index.ts';

/** Peers on stores `stores` (ids from 100·id), the first leading unless `leaderless`. */
function info(id: number, start: number[], end: number[], stores: number[] = [], leaderless = false): RegionInfo {
  const peers = stores.map((storeId, i) => ({ id: id * 100 + i, storeId, role: 'voter' as const }));
  return {
    region: { id, startKey: Uint8Array.from(start), endKey: Uint8Array.from(end), epoch: { confVer: 1, version: 1 }, peers },
    leader: leaderless ? undefined : peers[0],
    downPeers: [],
    pendingPeers: [],
    approximateSizeBytes: 0,
    approximateKeys: 0,
    writtenBytesPerSec: 0,
    term: 0,
    lastHeartbeatMs: 0,
  };
}

const overlaps = (a: RegionInfo, b: RegionInfo): boolean =>
  (a.region.endKey.length === 0 || compareKeys(b.region.startKey, a.region.endKey) < 0) &&
  (b.region.endKey.length === 0 || compareKeys(a.region.startKey, b.region.endKey) < 0);

describe('RegionTree against a naive model (property)', () => {
  it('upsert removes overlaps and old versions; find, scan and the per-store peer and leader counts agree with a linear search', () => {
    const key = fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 2 });
    const op = fc.record({ id: fc.integer({ min: 1, max: 8 }), a: key, b: key, stores: fc.uniqueArray(fc.integer({ min: 1, max: 4 }), { maxLength: 3 }), leaderless: fc.boolean() });
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 40 }), fc.array(key, { minLength: 5, maxLength: 5 }), (ops, probes) => {
        const tree = new RegionTree();
        let model: RegionInfo[] = [];
        for (const o of ops) {
          const [lo, hi] = compareKeys(Uint8Array.from(o.a), Uint8Array.from(o.b)) <= 0 ? [o.a, o.b] : [o.b, o.a];
          const end = compareKeys(Uint8Array.from(lo), Uint8Array.from(hi)) === 0 ? [] : hi;
          const next = info(o.id, lo, end, o.stores, o.leaderless);
          const removed = tree.upsert(next);
          const expected = model.filter((m) => m.region.id !== o.id && overlaps(m, next)).map((m) => m.region.id);
          expect([...removed].sort()).toEqual([...expected].sort());
          model = [...model.filter((m) => m.region.id !== o.id && !overlaps(m, next)), next].sort((x, y) => compareKeys(x.region.startKey, y.region.startKey));
          expect(tree.all().map((x) => x.region.id)).toEqual(model.map((x) => x.region.id));
          for (const m of model) expect(tree.getById(m.region.id)).toBe(m);
          // The per-store counts follow every insert, replacement and removal.
          for (const storeId of [1, 2, 3, 4]) {
            expect(tree.peerCount(storeId)).toBe(model.filter((m) => m.region.peers.some((p) => p.storeId === storeId)).length);
            expect(tree.leaderCount(storeId)).toBe(model.filter((m) => m.leader?.storeId === storeId).length);
          }
        }
        for (const p of probes) {
          const k = Uint8Array.from(p);
          expect(tree.find(k)?.region.id).toBe(model.find((m) => regionContainsKey(m.region, k))?.region.id);
          const probeEnd = Uint8Array.from([...p, 3]);
          const want = model.filter((m) => overlaps(m, info(0, p, [...p, 3]))).map((m) => m.region.id);
          expect(tree.scan(k, probeEnd).map((x) => x.region.id)).toEqual(want);
        }
      }),
      { numRuns: 300 },
    );
  });
});
