/**
 * A cluster that forms over a network transport, as separate processes would: every store
 * and the client have their own `BroadcastChannelTransport` (Node's BroadcastChannel), PD
 * is reached only by store RPC (`RemotePdClient` in stores, `RemotePdService` in the
 * client). One store bootstraps, two join through PD under temporary ids, PD grows its own
 * group and the data region to three replicas; the client keeps working after a store is
 * killed, and the store restarts from its engine and catches up.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryDisk, MemoryEngine } from '@peerkv/storage';
import { BOOTSTRAP_IDS, NetworkStoreError, PD_REGION_ID, MVCC_STORE_CFS, isTempStoreId, randomTempStoreId, startNetworkStore, type NetworkStore } from '@peerkv/store';
import { deriveClusterKeys, type ClusterKeys } from '@peerkv/transport';
import { PeerKV, RemotePdService, RemoteStoreResolver, codec } from '../src/index.ts';
import { until } from './until.ts';
import { bcTransportFactory, startBcStore } from './bc-transport.ts';

const t = codec.text;
const s = codec.fromText;
const cleanups: (() => unknown)[] = [];
const startStore = (clusterId: string, keys: ClusterKeys, o: Parameters<typeof startBcStore>[3]) => startBcStore(clusterId, keys, cleanups, o);
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const factory = (keys: ClusterKeys) => bcTransportFactory(keys, cleanups);



describe('network cluster over BroadcastChannelTransport (Node)', () => {
  it('bootstraps, joins through PD, replicates to 3, survives a killed store, which restarts and catches up', async () => {
    const clusterId = `net-${randomTempStoreId()}`;
    const keys = await deriveClusterKeys(clusterId, 'secret', 1000);
    const disks = ['a', 'b', 'c'].map(() => new MemoryDisk());
    const engine = (i: number) => MemoryEngine.open({ columnFamilies: MVCC_STORE_CFS, disk: disks[i] });
    const start = async (i: number, bootstrap = false): Promise<NetworkStore> =>
      startStore(clusterId, keys, { engine: await engine(i), bootstrap, address: `dev-${i}`, labels: { device: `d${i}` }, schedule: { maxStoreDownTimeMs: 60_000 } });

    const first = await start(0, true);
    expect(first.started).toBe('bootstrapped');
    expect(first.store.storeId).toBe(BOOTSTRAP_IDS.store);
    const joined = [await start(1), await start(2)];
    expect(joined.map((j) => j.started)).toEqual(['joined', 'joined']);
    const ids = [first, ...joined].map((n) => n.store.storeId);
    expect(new Set(ids).size).toBe(3);
    expect(ids.some(isTempStoreId)).toBe(false);

    // PD (over RPC from the first store's client) sees its group and the data region on three voters.
    const all = [first, ...joined];
    await until('3 replicas of PD and data on every store', () =>
      all.every((n) => {
        const st = n.store.status();
        return [PD_REGION_ID, BOOTSTRAP_IDS.dataRegion].every((id) => st.regions.some((r) => r.regionId === id && r.peers.length === 3 && r.peers.every((p) => p.role === 'voter')));
      }),
    );

    // A client that hosts no store: temporary transport id, routing and data by request.
    const ctr = factory(keys)(randomTempStoreId());
    await until('client sees the stores', () => ids.every((id) => ctr.peers().includes(id)));
    const pd = new RemotePdService(ctr, { candidates: () => ctr.peers(), budgetMs: 8000, attemptTimeoutMs: 1000 });
    const stores = new RemoteStoreResolver(ctr, { requestTimeoutMs: 1000, reachable: () => ctr.peers() });
    const kv = new PeerKV({ pd, stores, requestTimeoutMs: 1000 });
    cleanups.push(() => kv.close());
    await kv.put(t('a'), t('1'));
    await kv.batchPut([{ key: t('b'), value: t('2') }, { key: t('c'), value: t('3') }]);
    expect(s((await kv.get(t('b')))!)).toBe('2');
    const route = await pd.getRegion(t('a'));
    expect(route?.region.peers.length).toBe(3);
    expect((await pd.getStore(joined[0].store.storeId))?.address).toBe('dev-1');
    const ts = await pd.getTimestamps(2);
    expect(ts.count).toBe(2);

    // A wiped store told to bootstrap sees the members and refuses to create a second cluster.
    const wiped = startNetworkStore({ engine: await MemoryEngine.open({ columnFamilies: MVCC_STORE_CFS }), clusterId, transportFactory: factory(keys), bootstrap: true, bootstrapProbeMs: 5000, address: 'dev-x' });
    await expect(wiped).rejects.toBeInstanceOf(NetworkStoreError);
    await expect(wiped).rejects.toMatchObject({ kind: 'ClusterExists' });

    // Kill the bootstrap store (it likely leads PD): writes and reads continue.
    await first.close();
    for (let i = 0; i < 10; i++) await kv.put(t(`k${i}`), t(`v${i}`));
    expect(s((await kv.get(t('k9')))!)).toBe('v9');
    expect(s((await kv.get(t('a')))!)).toBe('1');

    // It restarts from its engine and catches up with what it missed.
    const again = await start(0, true);
    expect(again.started).toBe('restarted');
    expect(again.store.storeId).toBe(BOOTSTRAP_IDS.store);
    await kv.put(t('after'), t('restart'));
    await until('the restarted store has every write', async () => {
      const region = again.store.regionForKey(t('after'));
      if (!region) return false;
      // Stale reads at the replica's resolved ts: its own state, no leader asked.
      const local = async (key: string): Promise<string | undefined> => {
        const r = await again.store.handle({ type: 'txnStaleGet', regionId: region.id, epoch: region.epoch, key: t(key) });
        const v = r.ok && r.value.ok ? r.value.value.pairs[0]?.value : undefined;
        return v === undefined ? undefined : s(v);
      };
      return (await local('after')) === 'restart' && (await local('k9')) === 'v9';
    });
  }, 60_000);

  it('a store whose storage was wiped rejoins under a new id; PD moves the replicas off the old one', async () => {
    const clusterId = `net-${randomTempStoreId()}`;
    const keys = await deriveClusterKeys(clusterId, 'secret', 1000);
    const start = (i: number, bootstrap = false): Promise<NetworkStore> => startStore(clusterId, keys, { bootstrap, address: `dev-${i}`, labels: { device: `d${i}` } });
    const nodes = [await start(0, true), await start(1), await start(2)];
    const onThree = (ns: NetworkStore[], without?: number) =>
      ns.every((n) => {
        const st = n.store.status();
        return [PD_REGION_ID, BOOTSTRAP_IDS.dataRegion].every((id) =>
          st.regions.some((r) => r.regionId === id && r.peers.length === 3 && r.peers.every((p) => p.role === 'voter' && p.storeId !== without)),
        );
      });
    await until('3 replicas', () => onThree(nodes));
    const victim = nodes[2];
    const oldId = victim.store.storeId;
    await victim.close();
    const fresh = await start(2);
    expect(fresh.started).toBe('joined');
    expect(fresh.store.storeId).not.toBe(oldId);
    const live = [nodes[0], nodes[1], fresh];
    await until('replicas rebuilt on the new incarnation', () => onThree(live, oldId), 30_000);
    // With its last replica moved away, PD retires the old incarnation: offline, then tombstone
    // (scheduler.ts tombstoneEmptyOfflineStores), never 'up' again.
    const pd = nodes[0].pdClient;
    await until('the old store tombstoned', async () => {
      const old = await pd.getStore(oldId);
      return old.ok && old.value?.state === 'tombstone';
    }, 30_000);
  }, 60_000);
  it("bootstrap 'auto': three empty stores started at once form one cluster (one creates it, two join)", async () => {
    const clusterId = `net-${randomTempStoreId()}`;
    const keys = await deriveClusterKeys(clusterId, 'secret', 1000);
    const start = (i: number): Promise<NetworkStore> => startStore(clusterId, keys, { bootstrap: 'auto', bootstrapProbeMs: 800, address: `auto-${i}` });
    const all = await Promise.all([0, 1, 2].map(start));
    expect(all.map((n) => n.started).sort()).toEqual(['bootstrapped', 'joined', 'joined']);
    expect(new Set(all.map((n) => n.store.storeId)).size).toBe(3);
    await until('the data region on three voters everywhere', () =>
      all.every((n) => n.store.status().regions.some((r) => r.regionId === BOOTSTRAP_IDS.dataRegion && r.peers.filter((p) => p.role === 'voter').length === 3)),
    );
    // A fourth store started later with 'auto' sees members and joins instead of creating a cluster.
    const late = await start(3);
    expect(late.started).toBe('joined');
  }, 60_000);
});
