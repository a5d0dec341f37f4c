/**
 * Two stores and a witness over a network transport (BroadcastChannel, as separate
 * processes would): PD places "2 full + 1 witness" for its own group and the data region,
 * the witness holds no data, and with one full store gone the other keeps reading and
 * writing (the witness's vote is the quorum). A witness started before any full store waits
 * and joins; it never keeps a prober from creating the cluster.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryEngine } from '@peerkv/storage';
import { BOOTSTRAP_IDS, DATA_CFS_DEFAULT, PD_REGION_ID, MVCC_STORE_CFS, randomTempStoreId, startNetworkStore, type NetworkStore, type NetworkStoreOptions } from '@peerkv/store';
import { deriveClusterKeys, type ClusterKeys } from '@peerkv/transport';
import { PeerKV, RemotePdService, RemoteStoreResolver, codec } from '../src/index.ts';
import { until } from './until.ts';
import { bcTransportFactory } from './bc-transport.ts';

const t = codec.text;
const s = codec.fromText;
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const factory = (keys: ClusterKeys) => bcTransportFactory(keys, cleanups);

const STORE = { tickIntervalMs: 10, heartbeatIntervalTicks: 5, hibernateAfterTicks: 1_000_000, requestTimeoutMs: 2000 };

async function startStore(clusterId: string, keys: ClusterKeys, engine: MemoryEngine, o: Partial<NetworkStoreOptions> & { address: string; witness?: boolean }): Promise<NetworkStore> {
  const { witness, ...rest } = o;
  const ns = await startNetworkStore({
    clusterId,
    transportFactory: factory(keys),
    store: { ...STORE, ...(witness ? { witness } : {}) },
    joinTimeoutMs: 20_000,
    schedule: { maxStoreDownTimeMs: 60_000 },
    ...rest,
    engine,
  });
  cleanups.push(() => ns.close());
  return ns;
}

/** Whether every given store hosts PD's group and the data region as 2 full voters + 1 witness voter on `witnessStoreId`. */
function placed(all: NetworkStore[], witnessStoreId: number): boolean {
  return all.every((n) =>
    [PD_REGION_ID, BOOTSTRAP_IDS.dataRegion].every((id) => {
      const r = n.store.status().regions.find((x) => x.regionId === id);
      if (!r || r.peers.length !== 3 || !r.peers.every((p) => p.role === 'voter')) return false;
      return r.peers.every((p) => Boolean(p.witness) === (p.storeId === witnessStoreId));
    }),
  );
}

async function dataPairs(engine: MemoryEngine): Promise<number> {
  let n = 0;
  for (const cf of DATA_CFS_DEFAULT) for await (const _ of engine.scan(cf, {})) n++;
  return n;
}

describe('two stores and a witness (network)', () => {
  it('places 2 full + 1 witness; with one full store closed, the other keeps reading and writing', async () => {
    const clusterId = `wit-${randomTempStoreId()}`;
    const keys = await deriveClusterKeys(clusterId, 'secret', 1000);
    const engines = await Promise.all([0, 1, 2].map(() => MemoryEngine.open({ columnFamilies: MVCC_STORE_CFS })));
    const a = await startStore(clusterId, keys, engines[0], { bootstrap: true, address: 'dev-a', labels: { device: 'a' } });
    const b = await startStore(clusterId, keys, engines[1], { address: 'dev-b', labels: { device: 'b' } });
    const w = await startStore(clusterId, keys, engines[2], { address: 'server', witness: true });
    expect(w.started).toBe('joined');
    await until('PD group and data region: 2 full + 1 witness', () => placed([a, b, w], w.store.storeId), 30_000);

    const ctr = factory(keys)(randomTempStoreId());
    const ids = [a, b, w].map((n) => n.store.storeId);
    await until('client sees the stores', () => ids.every((id) => ctr.peers().includes(id)));
    const pd = new RemotePdService(ctr, { candidates: () => ctr.peers(), budgetMs: 10_000, attemptTimeoutMs: 1000 });
    const stores = new RemoteStoreResolver(ctr, { requestTimeoutMs: 1000, reachable: () => ctr.peers() });
    const kv = new PeerKV({ pd, stores, requestTimeoutMs: 1000 });
    cleanups.push(() => kv.close());
    for (let i = 0; i < 5; i++) await kv.put(t(`k${i}`), t(`v${i}`));
    expect(await dataPairs(engines[2])).toBe(0);
    expect(w.store.status().regions.every((r) => r.role !== 'leader')).toBe(true);

    // A full store goes away (the one hosting the bootstrap's PD and data leaders, likely).
    await a.close();
    for (let i = 5; i < 10; i++) await kv.put(t(`k${i}`), t(`v${i}`));
    expect(s((await kv.get(t('k9')))!)).toBe('v9');
    expect(s((await kv.get(t('k0')))!)).toBe('v0');
    expect(b.store.status().regions.filter((r) => r.role === 'leader').map((r) => r.regionId).sort()).toEqual([PD_REGION_ID, BOOTSTRAP_IDS.dataRegion].sort());
    expect(w.store.status().regions.every((r) => r.role !== 'leader')).toBe(true);
    expect(await dataPairs(engines[2])).toBe(0);
  }, 90_000);

  it('a witness started first waits; the first full store still creates the cluster, and the witness joins it', async () => {
    const clusterId = `wit-${randomTempStoreId()}`;
    const keys = await deriveClusterKeys(clusterId, 'secret', 1000);
    const witnessEngine = await MemoryEngine.open({ columnFamilies: MVCC_STORE_CFS });
    await expect(startNetworkStore({ clusterId, transportFactory: factory(keys), engine: witnessEngine, store: { ...STORE, witness: true }, bootstrap: true, address: 'server' })).rejects.toMatchObject({ kind: 'WitnessCannotBootstrap' });
    const witness = startStore(clusterId, keys, witnessEngine, { address: 'server', witness: true, bootstrap: 'auto' });
    witness.catch(() => undefined);
    const a = await startStore(clusterId, keys, await MemoryEngine.open({ columnFamilies: MVCC_STORE_CFS }), { bootstrap: 'auto', bootstrapProbeMs: 500, address: 'dev-a' });
    expect(a.started).toBe('bootstrapped');
    const w = await witness;
    expect(w.started).toBe('joined');
  }, 60_000);
});
