/**
 * Cluster-mode checks on hand-made inputs: the digest check flags two replicas of a region
 * that disagree at the same applied index and epoch (and nothing else), and the stale-read
 * check accepts any value some earlier-invoked write wrote (or absence) and nothing else.
 */
import { describe, expect, it } from 'vitest';
import type { RegionDigest, Store } from '@peerkv/store';
import { DigestChecker } from '../src/cluster/digests.ts';
import type { ClusterEnv } from '../src/cluster/cluster-env.ts';
import { DataKeySwitchChecker } from '../src/cluster/data-key-rotation.ts';
import { checkStaleReads } from '../src/cluster/stale-reads.ts';
import { History } from '../src/history.ts';

const digest = (regionId: number, applied: number, hash: string, version = 1, dataKeySwitch = { keyId: 0, index: 0 }): RegionDigest => ({ regionId, peerId: 100 + regionId, applied, epoch: { confVer: 1, version }, hash, keys: 1, dataKeySwitch });

/** An env whose stores answer the given digests, one list per sample (`next()` moves to the next sample). */
function fakeEnv(perStore: RegionDigest[][][], dataKeyIds: number[] = []): ClusterEnv & { next(): void } {
  let sampleNo = 0;
  const stores = perStore.map((samples, i) => ({ storeId: i + 1, regionDigests: async () => samples[sampleNo] ?? [], dataKeyId: () => dataKeyIds[i] ?? 0 }) as unknown as Store);
  return { liveStores: () => stores, isCrashed: () => false, rel: () => sampleNo * 100, next: () => void sampleNo++, dataKeys: new DataKeySwitchChecker() } as unknown as ClusterEnv & { next(): void };
}

describe('DataKeySwitchChecker (the dataKeySwitch check, sampled with the digests)', () => {
  it('flags replicas of a region that name different switches at the same applied index and epoch, once per region', async () => {
    const sw = { keyId: 2, index: 8 };
    const env = fakeEnv([
      [[digest(2, 10, 'aa', 1, sw), digest(3, 5, 'cc', 1, sw)], [digest(2, 10, 'aa', 1, sw)]],
      [[digest(2, 10, 'aa'), digest(3, 5, 'cc', 1, sw)], [digest(2, 10, 'aa')]],
    ]);
    const c = new DigestChecker();
    await c.sample(env);
    env.next();
    await c.sample(env);
    expect(c.problems).toEqual([]); // the data agrees: only the switch differs
    expect(env.dataKeys.stats.switchDisagreements).toBe(1);
    expect(env.dataKeys.problems).toHaveLength(1);
    expect(env.dataKeys.problems[0].message).toMatch(/region 2 at applied index 10: store 1 switched to data key 2 at 8, store 2 to 0 at 0/);
    expect(env.dataKeys.stats.switchChecks).toBe(4);
  });

  it('does not compare switches at different applied indexes', async () => {
    const env = fakeEnv([[[digest(2, 10, 'aa', 1, { keyId: 1, index: 9 })]], [[digest(2, 8, 'bb')]]]);
    await new DigestChecker().sample(env);
    expect(env.dataKeys.problems).toEqual([]);
    expect(env.dataKeys.stats.switchChecks).toBe(0);
  });

  it('flags a store that seals with a key below a rotation it acknowledged (a rotation lost)', () => {
    const c = new DataKeySwitchChecker();
    (c as unknown as { acknowledged: Map<number, number> }).acknowledged.set(1, 3);
    c.observeStore({ storeId: 1, dataKeyId: () => 3 } as unknown as Store, 10);
    expect(c.problems).toEqual([]);
    c.observeStore({ storeId: 1, dataKeyId: () => 2 } as unknown as Store, 20);
    expect(c.stats.rotationsLost).toBe(1);
    expect(c.problems[0].message).toMatch(/store 1 seals with data key 2 after it acknowledged a rotation to 3/);
  });

  it('counts the entries a stopped store applied under a stale key, once per incarnation', () => {
    const c = new DataKeySwitchChecker();
    const s = { storeId: 4, dataKeyStats: () => ({ staleKeyEntries: 3 }), status: () => ({}) } as unknown as Store;
    c.collect(s, 5);
    c.collect(s, 6);
    expect(c.stats.staleSeals).toBe(3);
    expect(c.problems).toHaveLength(1);
  });
});

describe('DigestChecker', () => {
  it('flags replicas with the same applied index and epoch but different data, once per region', async () => {
    const env = fakeEnv([
      [[digest(2, 10, 'aa'), digest(3, 5, 'cc')], [digest(2, 10, 'aa')]],
      [[digest(2, 10, 'bb'), digest(3, 5, 'cc')], [digest(2, 10, 'bb')]],
    ]);
    const c = new DigestChecker();
    await c.sample(env);
    env.next();
    await c.sample(env);
    expect(c.problems).toHaveLength(1);
    expect(c.problems[0]).toMatchObject({ regionId: 2, applied: 10 });
    expect(c.problems[0].message).toMatch(/store 1 .* hash aa .* store 2 .* hash bb/);
    expect(c.checks).toBe(4); // r2 on store 2, r3 on store 2, r2 on stores 1 and 2 again
  });

  it('does not compare different applied indexes or epochs', async () => {
    const env = fakeEnv([[[digest(2, 10, 'aa'), digest(3, 5, 'cc', 1)]], [[digest(2, 11, 'bb'), digest(3, 5, 'dd', 2)]]]);
    const c = new DigestChecker();
    await c.sample(env);
    expect(c.problems).toEqual([]);
    expect(c.checks).toBe(0);
  });
});

describe('checkStaleReads', () => {
  it('accepts values written by a write invoked before the read returned, and absence', () => {
    const h = new History();
    const w = h.invoke({ clientId: 0, kind: 'put', key: 'k', value: 'v1' }, 0);
    const r1 = h.invoke({ clientId: 1, kind: 'get', key: 'k', via: 'staleGet' }, 1);
    h.ok(r1, 2, 'v1'); // the write is still pending: concurrent, allowed
    h.unknown(w, 3);
    const r2 = h.invoke({ clientId: 1, kind: 'get', key: 'k', via: 'staleGet' }, 4);
    h.ok(r2, 5, null);
    expect(checkStaleReads(h.operations())).toEqual([]);
  });

  it('flags a value from nowhere and one from the future', () => {
    const h = new History();
    const r1 = h.invoke({ clientId: 1, kind: 'get', key: 'k', via: 'staleGet' }, 0);
    h.ok(r1, 1, 'never-written');
    const r2 = h.invoke({ clientId: 1, kind: 'get', key: 'k', via: 'staleGet' }, 2);
    h.ok(r2, 3, 'later');
    const w = h.invoke({ clientId: 0, kind: 'put', key: 'k', value: 'later' }, 4);
    h.ok(w, 5);
    const problems = checkStaleReads(h.operations()).map((p) => p.message);
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/no write of k wrote/);
    expect(problems[1]).toMatch(/invoked only at 4ms/);
  });
});
