/**
 * Witness replicas (`StoreOptions.witness`, TiKV's witness): store 3 hosts the third voter of
 * a region as a witness. It keeps the log and the region's metadata, writes nothing to the
 * data column families, never leads (not even when asked), refuses every read, gets a
 * metadata-only snapshot once it lags behind a compacted log, and keeps the region writable
 * with one full replica gone.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Region } from '@peerkv/pd';
import { MemoryEngine } from '@peerkv/storage';
import { DATA_CFS_DEFAULT, LocalRouter, STORE_CFS, Store } from '../src/index.ts';
import { sleep, twoFullOneWitness, until } from './helpers.ts';

const enc = new TextEncoder();
const router = new LocalRouter();
const stores = new Map<number, Store>();
const engines = new Map<number, MemoryEngine>();
const REGION = 2;

async function startCluster(o: { lagMax?: number } = {}): Promise<Region> {
  for (const id of [1, 2, 3]) {
    const engine = await MemoryEngine.open({ columnFamilies: STORE_CFS });
    const s = await Store.open({
      dataModel: 'raw',
      storeId: id,
      clusterId: 'witness',
      engine,
      transport: router.transportFor(id),
      tickIntervalMs: 10,
      hibernateAfterTicks: 1_000_000,
      logGcThresholdEntries: 20,
      logGcKeepEntries: 2,
      logGcLagEntriesMax: o.lagMax ?? 200,
      witness: id === 3,
    });
    router.register(s);
    stores.set(id, s);
    engines.set(id, engine);
  }
  const region: Region = twoFullOneWitness(REGION);
  for (const s of stores.values()) await s.createRegion(region);
  stores.get(1)!.campaign(REGION);
  await until('store 1 leads', () => roleOn(1) === 'leader');
  return region;
}

function regionOn(id: number, regionId = REGION) {
  return stores.get(id)!.status().regions.find((r) => r.regionId === regionId);
}
const roleOn = (id: number): string | undefined => regionOn(id)?.role;
const appliedOn = (id: number, regionId = REGION): number => regionOn(id, regionId)?.applied ?? 0;

async function writes(leader: Store, region: Region, from: number, n: number): Promise<void> {
  for (let i = from; i < from + n; i++) {
    const r = await leader.write(region.id, region.epoch, 'c', i, [{ type: 'put', cf: 'default', key: enc.encode(`k${i}`), value: new Uint8Array([i & 0xff]) }]);
    expect(r.ok, JSON.stringify(r)).toBe(true);
  }
}

/** Pairs in every data column family of a store's engine. */
async function dataPairs(id: number): Promise<number> {
  let n = 0;
  for (const cf of DATA_CFS_DEFAULT) {
    for await (const _ of engines.get(id)!.scan(cf, {})) n++;
  }
  return n;
}

afterEach(async () => {
  router.heal();
  for (const [id, s] of stores) {
    router.unregister(id);
    await s.close();
  }
  stores.clear();
  engines.clear();
});

describe('witness replicas', () => {
  it('keeps the log and the metadata, writes no data, and is refused every read', async () => {
    const region = await startCluster();
    await writes(stores.get(1)!, region, 1, 5);
    await until('the witness applied every entry', () => appliedOn(3) >= appliedOn(1));
    expect(await dataPairs(1)).toBe(5);
    expect(await dataPairs(2)).toBe(5);
    expect(await dataPairs(3)).toBe(0);
    expect(regionOn(3)!.witness).toBe(true);
    expect(regionOn(1)!.witness).toBeUndefined();
    const stale = await stores.get(3)!.get(REGION, region.epoch, enc.encode('k1'), 'stale');
    expect(stale.ok).toBe(false);
    if (!stale.ok) expect(stale.error).toMatchObject({ kind: 'NotLeader', leaderHint: { storeId: 1 } });
  });

  it('never leads: a transfer to it is refused, and with the leader gone the other full replica leads', async () => {
    const region = await startCluster();
    stores.get(1)!.transferLeader(REGION, 13);
    stores.get(3)!.transferLeader(REGION, 13);
    stores.get(3)!.campaign(REGION);
    await sleep(300);
    expect(roleOn(1)).toBe('leader');
    expect(roleOn(3)).toBe('follower');
    // The leader's store goes away: store 2 leads with the witness's vote, and writes commit.
    router.partition([1], [2, 3]);
    await until('store 2 leads', () => roleOn(2) === 'leader');
    expect(roleOn(3)).toBe('follower');
    await writes(stores.get(2)!, region, 10, 3);
    const r = await stores.get(2)!.get(REGION, region.epoch, enc.encode('k11'));
    expect(r.ok && r.value).toEqual(new Uint8Array([11]));
    expect(await dataPairs(3)).toBe(0);
  });

  it('behind a compacted log, gets a snapshot of the metadata alone', async () => {
    const region = await startCluster({ lagMax: 30 });
    await writes(stores.get(1)!, region, 1, 5);
    router.partition([3], [1, 2]);
    await writes(stores.get(1)!, region, 6, 60);
    expect(stores.get(1)!.status().counters.logCompactions).toBeGreaterThan(0);
    router.heal();
    await until('the witness catches up', () => appliedOn(3) >= appliedOn(1));
    expect(stores.get(3)!.status().counters.snapshotsInstalled).toBeGreaterThan(0);
    // 65 pairs live on the full replicas; the snapshot the witness got held none of them.
    expect(await dataPairs(2)).toBe(65);
    expect(await dataPairs(3)).toBe(0);
    expect(stores.get(1)!.status().snapshotTransfer!.bytesSent).toBeLessThan(400);
    // It still votes: with store 1 gone, store 2 leads with it.
    router.partition([1], [2, 3]);
    await until('store 2 leads', () => roleOn(2) === 'leader');
    await writes(stores.get(2)!, region, 70, 2);
  });

  it('follows a split: it hosts the right half as a witness too', async () => {
    const region = await startCluster();
    await writes(stores.get(1)!, region, 1, 4);
    const r = await stores.get(1)!.split(REGION, region.epoch, enc.encode('k3'), 7, [21, 22, 23]);
    expect(r.ok, JSON.stringify(r)).toBe(true);
    await until('the witness hosts the right half', () => regionOn(3, 7) !== undefined && appliedOn(3, 7) > 0);
    const right = regionOn(3, 7)!;
    expect(right.witness).toBe(true);
    expect(right.peers.find((p) => p.storeId === 3)).toMatchObject({ id: 23, witness: true });
    expect(right.peers.find((p) => p.storeId === 1)!.witness).toBeUndefined();
    expect(await dataPairs(3)).toBe(0);
  });

  it('a witness store refuses to bootstrap a cluster', async () => {
    const engine = await MemoryEngine.open({ columnFamilies: STORE_CFS });
    const s = await Store.open({ dataModel: 'raw', storeId: 2, clusterId: 'w', engine, transport: router.transportFor(2), witness: true });
    stores.set(2, s);
    await expect(s.bootstrapCluster({ clusterNumber: 1, address: 'w' })).rejects.toThrow(/witness/);
  });
});
