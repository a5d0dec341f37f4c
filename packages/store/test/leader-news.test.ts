/**
 * `Store.observeLeader`: every replica of a region tells its store's observers who leads once
 * it learns it (the winner, and the followers when the new leader's first message arrives),
 * with the leading peer's store and the term; a throwing observer is counted, not fatal; an
 * unsubscribed one hears nothing more.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Region } from '@peerkv/pd';
import { MemoryEngine } from '@peerkv/storage';
import { LocalRouter, MVCC_DATA_CFS, Store, storeColumnFamilies, type LeaderNews } from '../src/index.ts';
import { until } from './helpers.ts';

const router = new LocalRouter();
const stores = new Map<number, Store>();

async function start(storeId: number): Promise<Store> {
  const store = await Store.open({
    storeId,
    clusterId: 'news',
    engine: await MemoryEngine.open({ columnFamilies: storeColumnFamilies(MVCC_DATA_CFS) }),
    transport: router.transportFor(storeId),
    tickIntervalMs: 10,
    hibernateAfterTicks: 1_000_000,
  });
  router.register(store);
  stores.set(storeId, store);
  return store;
}

afterEach(async () => {
  for (const [id, s] of stores) {
    router.unregister(id);
    await s.close();
  }
  stores.clear();
});

describe('Store.observeLeader', () => {
  it('tells each store who leads a region after an election and after a leader transfer', async () => {
    const all = await Promise.all([1, 2, 3].map(start));
    const heard = new Map<number, LeaderNews[]>();
    const stops = all.map((s) => s.observeLeader((n) => heard.set(s.storeId, [...(heard.get(s.storeId) ?? []), n])));
    all[0].observeLeader(() => {
      throw new Error('a broken observer');
    });
    const region: Region = { id: 5, startKey: new Uint8Array(), endKey: new Uint8Array(), epoch: { confVer: 1, version: 1 }, peers: [1, 2, 3].map((s) => ({ id: 50 + s, storeId: s, role: 'voter' as const })) };
    for (const s of all) await s.createRegion(region);
    all[0].campaign(5);
    const last = (id: number): LeaderNews | undefined => heard.get(id)?.at(-1);
    await until('every store heard that store 1 leads', () => all.every((s) => last(s.storeId)?.leader.storeId === 1));
    const term = last(1)!.term;
    expect(last(2)).toEqual({ regionId: 5, leader: { id: 51, storeId: 1, role: 'voter' }, term });
    expect(all[0].status().stoppedReason).toBeUndefined();

    // Store 3 stops listening; leadership moves to store 2.
    stops[2]();
    const before3 = heard.get(3)!.length;
    all[0].transferLeader(5, 52);
    await until('stores 1 and 2 heard that store 2 leads', () => [1, 2].every((id) => last(id)?.leader.storeId === 2));
    expect(last(1)!.term).toBeGreaterThan(term);
    await until('store 3 follows store 2', () => all[2].status().regions.find((r) => r.regionId === 5)?.lead === 52);
    expect(heard.get(3)!.length).toBe(before3);
  }, 20_000);
});
