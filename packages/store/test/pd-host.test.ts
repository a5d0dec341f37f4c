/**
 * PD hosted on a store: bootstrap of a one-store cluster, unique ids, monotonic timestamps,
 * and PD state surviving a restart from disk (replayed from its persisted snapshot).
 */
import { describe, expect, it } from 'vitest';
import { MemoryDisk, MemoryEngine } from '@peerkv/storage';
import { STORE_HEARTBEAT_PERSIST_DIVISOR, type StoreStats } from '@peerkv/pd';
import { BOOTSTRAP_IDS, LocalPdClient, LocalRouter, PD_PERSIST_EVERY_ENTRIES, PD_REGION_ID, MVCC_DATA_CFS, Store, storeColumnFamilies } from '../src/index.ts';

async function openStore(router: LocalRouter, disk: MemoryDisk): Promise<Store> {
  const engine = await MemoryEngine.open({ columnFamilies: storeColumnFamilies(MVCC_DATA_CFS), disk });
  const store = await Store.open({ storeId: BOOTSTRAP_IDS.store, clusterId: 't', engine, transport: router.transportFor(BOOTSTRAP_IDS.store), tickIntervalMs: 10, hibernateAfterTicks: 1_000_000 });
  router.register(store);
  return store;
}

async function waitPdLeader(s: Store): Promise<void> {
  for (let i = 0; i < 500 && !s.pdIsLeader(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(s.pdIsLeader()).toBe(true);
}

describe('PD hosted on a store', () => {
  it('bootstraps, allocates unique ids and monotonic timestamps, and survives a restart', async () => {
    const router = new LocalRouter();
    const disk = new MemoryDisk();
    const s = await openStore(router, disk);
    const boot = await s.bootstrapCluster({ clusterNumber: 7, address: 'local:2' });
    expect(boot, JSON.stringify(boot)).toMatchObject({ ok: true, value: { kind: "bootstrapped", clusterId: 7 } });
    const again = await s.bootstrapCluster({ clusterNumber: 7, address: 'local:2' });
    expect(again).toMatchObject({ ok: true, value: { kind: 'refused' } });
    expect(s.pdState()!.getRegionById(BOOTSTRAP_IDS.dataRegion)?.region.id).toBe(BOOTSTRAP_IDS.dataRegion);

    const ids = new Set<number>();
    for (let i = 0; i < 50; i++) {
      const r = await s.pdAllocId();
      if (!r.ok) throw new Error(JSON.stringify(r.error));
      expect(r.value).toBeGreaterThan(5);
      ids.add(r.value);
    }
    expect(ids.size).toBe(50);

    let last = 0n;
    for (let i = 0; i < 20; i++) {
      const r = await s.pdGetTimestamps(3);
      if (!r.ok) throw new Error(JSON.stringify(r.error));
      expect(r.value.first > last).toBe(true);
      last = r.value.first + BigInt(r.value.count - 1);
    }
    // Enough PD entries that the state was persisted at least once, then restart.
    for (let i = 0; i < PD_PERSIST_EVERY_ENTRIES; i++) await s.pdPropose({ kind: 'storeHeartbeat', stats: { storeId: BOOTSTRAP_IDS.store, capacityBytes: 100, usedBytes: i, availableBytes: 100 - i, regionCount: 2, leaderCount: 2, draining: false }, nowMs: Date.now() });
    router.unregister(BOOTSTRAP_IDS.store);
    await s.close();

    const back = await openStore(router, disk);
    back.campaign(PD_REGION_ID);
    await waitPdLeader(back);
    expect(back.pdState()!.isBootstrapped).toBe(true);
    expect(back.pdState()!.getStore(BOOTSTRAP_IDS.store)?.stats?.usedBytes).toBe(PD_PERSIST_EVERY_ENTRIES - 1);
    const id = await back.pdAllocId();
    expect(id.ok && !ids.has(id.value) && id.value > Math.max(...ids)).toBe(true);
    const ts = await back.pdGetTimestamps(1);
    expect(ts.ok && ts.value.first > last).toBe(true);
    await back.close();
  });

  // A store asks PD about each replica it hosts by region id: whether a removed one is still a
  // member, and where the peers of a replacement are (`replacement-check.ts`). PD's own group
  // was answered as unknown, so a PD-group replica removed while its store was away refused its
  // replacement's every message for good (sim --cluster --seed 81 with catch-up heartbeats: a
  // learner added to PD's group on that store never started, and the group never regained
  // three voters after a store retired).
  it("answers a question by id about PD's own group as about a data region; routing by key never finds it", async () => {
    const router = new LocalRouter();
    const s = await openStore(router, new MemoryDisk());
    const boot = await s.bootstrapCluster({ clusterNumber: 7, address: 'local:2' });
    expect(boot.ok).toBe(true);
    const pd = new LocalPdClient(() => [s]);
    const group = await pd.getRegionById(PD_REGION_ID);
    expect(group).toMatchObject({ ok: true, value: { region: { id: PD_REGION_ID, peers: [{ id: BOOTSTRAP_IDS.pdPeer, storeId: BOOTSTRAP_IDS.store, role: 'voter' }] } } });
    expect(await pd.getRegionById(BOOTSTRAP_IDS.dataRegion)).toMatchObject({ ok: true, value: { region: { id: BOOTSTRAP_IDS.dataRegion } } });
    expect(await pd.getRegionById(999)).toEqual({ ok: true, value: undefined });
    // The same answers over the request API a remote store's PD client uses.
    const remote = await s.handle({ type: 'pdGetRegionById', regionId: PD_REGION_ID });
    expect(remote.ok && remote.value?.region.peers.map((p) => p.id)).toEqual([BOOTSTRAP_IDS.pdPeer]);
    const byKey = await s.handle({ type: 'pdGetRegion', key: new Uint8Array() });
    expect(byKey.ok && byKey.value?.region.id).toBe(BOOTSTRAP_IDS.dataRegion);
    // Placement by id of data regions is unchanged (PD's schedulers tell the group apart by it).
    expect(s.pdState()!.getRegionById(PD_REGION_ID)).toBeUndefined();
    router.unregister(BOOTSTRAP_IDS.store);
    await s.close();
  });

  it('proposes a store heartbeat only when its stats changed or its record grew old; an unchanged one adds nothing to PD\'s log', async () => {
    const router = new LocalRouter();
    const s = await openStore(router, new MemoryDisk());
    try {
      const boot = await s.bootstrapCluster({ clusterNumber: 7, address: 'local:2' });
      expect(boot.ok).toBe(true);
      const pdLastIndex = (): number => s.status().regions.find((r) => r.regionId === PD_REGION_ID)!.commit;
      const stats: StoreStats = { storeId: BOOTSTRAP_IDS.store, capacityBytes: 100, usedBytes: 10, availableBytes: 90, regionCount: 2, leaderCount: 2, draining: false };
      // Later than the bootstrap's stamp (the store's clock).
      const t0 = Date.now() + 1000;
      expect(await s.pdHandleStoreHeartbeat(stats, t0)).toMatchObject({ ok: true, value: { kind: 'storeUpdated' } });
      const after = pdLastIndex();
      for (let i = 1; i <= 5; i++) expect(await s.pdHandleStoreHeartbeat(stats, t0 + i * 1000)).toMatchObject({ ok: true, value: { kind: 'storeUpdated' } });
      expect(pdLastIndex()).toBe(after);
      expect(s.pdState()!.getStore(BOOTSTRAP_IDS.store)!.lastHeartbeatMs).toBe(t0);
      await s.pdHandleStoreHeartbeat({ ...stats, draining: true }, t0 + 6000);
      expect(pdLastIndex()).toBe(after + 1);
      expect(s.pdState()!.getStore(BOOTSTRAP_IDS.store)!.stats!.draining).toBe(true);
      const old = t0 + 6000 + s.pdState()!.config.maxStoreDownTimeMs / STORE_HEARTBEAT_PERSIST_DIVISOR;
      await s.pdHandleStoreHeartbeat({ ...stats, draining: true }, old);
      expect(pdLastIndex()).toBe(after + 2);
      expect(s.pdState()!.getStore(BOOTSTRAP_IDS.store)!.lastHeartbeatMs).toBe(old);
      // An unknown store goes through Raft, whose apply refuses it.
      expect(await s.pdHandleStoreHeartbeat({ ...stats, storeId: 99 }, old)).toMatchObject({ ok: true, value: { kind: 'refused', error: { kind: 'StoreNotFound' } } });
    } finally {
      await s.close();
    }
  });
});
