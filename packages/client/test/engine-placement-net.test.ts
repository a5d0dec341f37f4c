/**
 * Engine-aware placement with real stores over a network transport (BroadcastChannel, as
 * separate processes would; issue 17): three stores labelled `engine=chromium` hold PD's group
 * and the data region, a store labelled `engine=firefox` joins, and PD (`replicaEnginesMin` 2,
 * set at bootstrap and replicated through PD's log) moves a replica of each onto it, so
 * neither stays Chromium-only; the data is readable throughout and ends on the Firefox store.
 * A store given no `engine` label reports its runtime's (`node` here).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ENGINE_LABEL } from '@peerkv/pd';
import { MemoryEngine } from '@peerkv/storage';
import { BOOTSTRAP_IDS, MVCC_DATA_CFS, PD_REGION_ID, MVCC_STORE_CFS, randomTempStoreId, startNetworkStore, type NetworkStore, type NetworkStoreOptions } from '@peerkv/store';
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

/** Each started store's engine. */
const engines = new WeakMap<NetworkStore, MemoryEngine>();

const STORE = { tickIntervalMs: 10, heartbeatIntervalTicks: 5, hibernateAfterTicks: 1_000_000, requestTimeoutMs: 2000 };

async function startStore(clusterId: string, keys: ClusterKeys, o: Partial<NetworkStoreOptions> & { address: string }): Promise<NetworkStore> {
  const engine = await MemoryEngine.open({ columnFamilies: MVCC_STORE_CFS });
  const ns = await startNetworkStore({
    clusterId,
    transportFactory: bcTransportFactory(keys, cleanups),
    store: STORE,
    joinTimeoutMs: 20_000,
    schedule: { maxStoreDownTimeMs: 60_000, replicaEnginesMin: 2 },
    ...o,
    engine,
  });
  cleanups.push(() => ns.close());
  engines.set(ns, engine);
  return ns;
}

/** The engines of the stores holding group `regionId` as voters, as `ns`'s replica of PD records them (sorted, distinct); undefined while `ns` does not see 3 voters. */
function enginesOf(ns: NetworkStore, regionId: number): string[] | undefined {
  const r = ns.store.status().regions.find((x) => x.regionId === regionId);
  const pd = ns.store.pdState();
  if (!r || !pd || r.peers.length !== 3 || !r.peers.every((p) => p.role === 'voter')) return undefined;
  return [...new Set(r.peers.map((p) => pd.getStore(p.storeId)?.meta.labels[ENGINE_LABEL] ?? '?'))].sort();
}

async function dataPairs(ns: NetworkStore): Promise<number> {
  let n = 0;
  for (const cf of MVCC_DATA_CFS) for await (const _ of engines.get(ns)!.scan(cf, {})) n++;
  return n;
}

describe('engine-aware placement (network stores)', () => {
  it('moves a replica so PD\'s group and the data region stop being Chromium-only once a Firefox store joins', async () => {
    const clusterId = `eng-${randomTempStoreId()}`;
    const keys = await deriveClusterKeys(clusterId, 'secret', 1000);
    const chromium = (device: string) => ({ [ENGINE_LABEL]: 'chromium', device });
    const a = await startStore(clusterId, keys, { bootstrap: true, address: 'dev-a', labels: chromium('a') });
    expect(a.store.pdState()?.config.replicaEnginesMin).toBe(2);
    const b = await startStore(clusterId, keys, { address: 'dev-b', labels: chromium('b') });
    const c = await startStore(clusterId, keys, { address: 'dev-c', labels: chromium('c') });
    const groups = [PD_REGION_ID, BOOTSTRAP_IDS.dataRegion];
    await until('3 Chromium replicas of both groups', () => groups.every((id) => enginesOf(a, id)?.join() === 'chromium'), 30_000);

    const ctr = bcTransportFactory(keys, cleanups)(randomTempStoreId());
    await until('client sees the stores', () => [a, b, c].every((n) => ctr.peers().includes(n.store.storeId)));
    const pd = new RemotePdService(ctr, { candidates: () => ctr.peers(), budgetMs: 10_000, attemptTimeoutMs: 1000 });
    const stores = new RemoteStoreResolver(ctr, { requestTimeoutMs: 1000, reachable: () => ctr.peers() });
    const kv = new PeerKV({ pd, stores, requestTimeoutMs: 1000 });
    cleanups.push(() => kv.close());
    for (let i = 0; i < 5; i++) await kv.put(t(`k${i}`), t(`v${i}`));

    const f = await startStore(clusterId, keys, { address: 'dev-f', labels: { [ENGINE_LABEL]: 'firefox', device: 'f' } });
    const fId = f.store.storeId;
    await until(
      'a replica of both groups on the Firefox store, 3 voters, 2 engines',
      () => groups.every((id) => enginesOf(a, id)?.join() === 'chromium,firefox' && a.store.status().regions.find((r) => r.regionId === id)!.peers.some((p) => p.storeId === fId)),
      60_000,
    );
    await until('the Firefox store holds the data', async () => (await dataPairs(f)) >= 5, 30_000);
    for (let i = 0; i < 5; i++) expect(s((await kv.get(t(`k${i}`)))!)).toBe(`v${i}`);
  }, 120_000);

  it('reports the runtime engine when no engine label is given', async () => {
    const clusterId = `eng-${randomTempStoreId()}`;
    const keys = await deriveClusterKeys(clusterId, 'secret', 1000);
    const a = await startStore(clusterId, keys, { bootstrap: true, address: 'dev-a', labels: { device: 'a' } });
    expect(a.store.pdState()?.getStore(a.store.storeId)?.meta.labels).toEqual({ device: 'a', [ENGINE_LABEL]: 'node' });
  }, 30_000);
});
