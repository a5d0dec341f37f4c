/**
 * Log GC by the followers' match index: a leader keeps the entries a briefly partitioned
 * follower still needs (it catches up from the log, no snapshot), and compacts past a
 * follower that lags more than `logGcLagEntriesMax` (that one gets a snapshot).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Region } from '@peerkv/pd';
import { MemoryEngine } from '@peerkv/storage';
import { LocalRouter, STORE_CFS, Store } from '../src/index.ts';
import { until } from './helpers.ts';

const enc = new TextEncoder();
const router = new LocalRouter();
const stores = new Map<number, Store>();

async function startCluster(lagMax: number): Promise<{ region: Region; leader: Store }> {
  for (const id of [1, 2, 3]) {
    const engine = await MemoryEngine.open({ columnFamilies: STORE_CFS });
    const s = await Store.open({
      dataModel: 'raw',
      storeId: id,
      clusterId: 'gc',
      engine,
      transport: router.transportFor(id),
      tickIntervalMs: 10,
      hibernateAfterTicks: 1_000_000,
      logGcThresholdEntries: 20,
      logGcKeepEntries: 2,
      logGcLagEntriesMax: lagMax,
    });
    router.register(s);
    stores.set(id, s);
  }
  const region: Region = { id: 2, startKey: new Uint8Array(), endKey: new Uint8Array(), epoch: { confVer: 1, version: 1 }, peers: [1, 2, 3].map((s) => ({ id: 10 + s, storeId: s, role: 'voter' as const })) };
  for (const s of stores.values()) await s.createRegion(region);
  stores.get(1)!.campaign(2);
  await until('store 1 leads', () => stores.get(1)!.status().regions.some((r) => r.regionId === 2 && r.role === 'leader'));
  return { region, leader: stores.get(1)! };
}

async function writes(leader: Store, region: Region, from: number, n: number): Promise<void> {
  for (let i = from; i < from + n; i++) {
    const r = await leader.write(2, region.epoch, 'c', i, [{ type: 'put', cf: 'default', key: enc.encode(`k${i}`), value: new Uint8Array([i & 0xff]) }]);
    expect(r.ok).toBe(true);
  }
}

const applied = (id: number): number => stores.get(id)!.status().regions.find((r) => r.regionId === 2)!.applied;

afterEach(async () => {
  router.heal();
  for (const [id, s] of stores) {
    router.unregister(id);
    await s.close();
  }
  stores.clear();
});

describe('log GC by match index', () => {
  it('keeps the entries a lagging follower needs, within the lag limit', async () => {
    const { region, leader } = await startCluster(200);
    await writes(leader, region, 1, 5);
    router.partition([3], [1, 2]);
    await writes(leader, region, 6, 60);
    const compactions = leader.status().counters.logCompactions;
    router.heal();
    await until('store 3 catches up', () => applied(3) >= applied(1));
    expect(stores.get(3)!.status().counters.snapshotsInstalled).toBe(0);
    // Once every follower has the entries, the leader compacts again.
    await writes(leader, region, 66, 25);
    await until('the leader compacts', () => leader.status().counters.logCompactions > compactions);
  });

  it('compacts past a follower that lags more than the limit; it gets a snapshot', async () => {
    const { region, leader } = await startCluster(30);
    await writes(leader, region, 1, 5);
    router.partition([3], [1, 2]);
    await writes(leader, region, 6, 60);
    expect(leader.status().counters.logCompactions).toBeGreaterThan(0);
    router.heal();
    await until('store 3 catches up', () => applied(3) >= applied(1));
    expect(stores.get(3)!.status().counters.snapshotsInstalled).toBeGreaterThan(0);
  });
});
