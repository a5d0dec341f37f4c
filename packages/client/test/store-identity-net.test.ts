/**
 * Per-store identity keys across processes (issue 13, finding 6), over BroadcastChannel as
 * separate processes would run: stores record their keys in PD as they bootstrap and join, a
 * member that holds the cluster secret but not store N's private key cannot open a link as
 * store N (refused, counted `identityRefused`, nothing lost), clients still connect with the
 * secret alone, and a store made before keys records its key on its first restart.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryEngine } from '@peerkv/storage';
import { BOOTSTRAP_IDS, PD_REGION_ID, MVCC_STORE_CFS, RemotePdClient, Store, isTempStoreId, randomTempStoreId, readStoreKeyPair } from '@peerkv/store';
import { BroadcastChannelTransport, deriveClusterKeys, generateStoreKeyPair, importStoreKeyPair, type ClusterKeys } from '@peerkv/transport';
import { PeerKV, RemotePdService, RemoteStoreResolver, codec } from '../src/index.ts';
import { until } from './until.ts';
import { bcTransportFactory, startBcStore } from './bc-transport.ts';

const t = codec.text;
const cleanups: (() => unknown)[] = [];
const startStore = (clusterId: string, keys: ClusterKeys, o: Parameters<typeof startBcStore>[3]) => startBcStore(clusterId, keys, cleanups, o);
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});



function client(keys: ClusterKeys): { kv: PeerKV; transport: BroadcastChannelTransport } {
  const transport = bcTransportFactory(keys, cleanups)(randomTempStoreId());
  const pd = new RemotePdService(transport, { candidates: () => transport.peers(), budgetMs: 8000, attemptTimeoutMs: 1000 });
  const stores = new RemoteStoreResolver(transport, { requestTimeoutMs: 1000, reachable: () => transport.peers() });
  const kv = new PeerKV({ pd, stores, requestTimeoutMs: 1000 });
  cleanups.push(() => kv.close());
  return { kv, transport };
}

describe('store identity keys over a network transport', () => {
  it('PD records each store key; a member with the secret posing as a store is refused and counted; clients still work', async () => {
    const clusterId = `ident-${randomTempStoreId()}`;
    const keys = await deriveClusterKeys(clusterId, 'secret', 1000);
    const first = await startStore(clusterId, keys, { bootstrap: true, address: 'dev-0', labels: { device: 'd0' }, schedule: { maxStoreDownTimeMs: 60_000 } });
    const second = await startStore(clusterId, keys, { address: 'dev-1', labels: { device: 'd1' } });
    const third = await startStore(clusterId, keys, { address: 'dev-2', labels: { device: 'd2' } });
    const all = [first, second, third];
    const pd = () => first.store.pdState()!;
    await until('every key in PD', () => all.every((n) => pd().getStore(n.store.storeId)?.meta.publicKey !== undefined));
    await until('3 replicas of PD and data on every store', () =>
      all.every((n) => [PD_REGION_ID, BOOTSTRAP_IDS.dataRegion].every((id) => n.store.status().regions.some((r) => r.regionId === id && r.peers.length === 3 && r.peers.every((p) => p.role === 'voter')))),
    );
    expect(first.peerKeys.counters.matched).toBeGreaterThan(0);
    const { kv } = client(keys);
    await kv.put(t('k'), t('v1'));

    // The third store goes away; a member holding the secret takes its id, first with a key of
    // its own, then with none (as a client would authenticate).
    const thirdId = third.store.storeId;
    await third.close();
    await until('the third store gone', () => !first.transport.peers().includes(thirdId) && !second.transport.peers().includes(thirdId));
    const refused = () => first.transport.counters().drops.identityRefused + second.transport.counters().drops.identityRefused;
    const impostorKey = await importStoreKeyPair(await generateStoreKeyPair());
    const withKey = new BroadcastChannelTransport({ localStoreId: thirdId, keys, heartbeatIntervalMs: 50, departureTimeoutMs: 400, identity: impostorKey });
    cleanups.push(() => withKey.close());
    await until('the impostor with a key refused by both stores', () => first.transport.counters().drops.identityRefused > 0 && second.transport.counters().drops.identityRefused > 0);
    // The stores dropped their half of the link (the impostor's half may think it opened: it
    // checked their proofs, they refused its one); nothing from it is delivered or served.
    expect(first.transport.peers()).not.toContain(thirdId);
    expect(second.transport.peers()).not.toContain(thirdId);
    withKey.close();
    const afterKeyed = refused();
    const keyless = new BroadcastChannelTransport({ localStoreId: thirdId, keys, heartbeatIntervalMs: 50, departureTimeoutMs: 400 });
    cleanups.push(() => keyless.close());
    await until('the keyless impostor refused', () => refused() >= afterKeyed + 2);
    expect(first.transport.peers()).not.toContain(thirdId);
    expect(second.transport.peers()).not.toContain(thirdId);
    keyless.close();
    expect(first.peerKeys.counters.refused + second.peerKeys.counters.refused).toBeGreaterThanOrEqual(4);
    expect(first.transport.peers()).not.toContain(thirdId);

    // Nothing lost: the data is there, the cluster writes, the two stores are still linked, PD's record is unchanged.
    expect(codec.fromText((await kv.get(t('k')))!)).toBe('v1');
    await kv.put(t('k'), t('v2'));
    expect(codec.fromText((await kv.get(t('k')))!)).toBe('v2');
    expect(first.transport.peers()).toContain(second.store.storeId);
    expect(pd().getStore(thirdId)?.meta.address).toBe('dev-2');
  }, 60_000);

  it('a store made before keys records its key in PD on its first restart', async () => {
    const clusterId = `ident-old-${randomTempStoreId()}`;
    const keys = await deriveClusterKeys(clusterId, 'secret', 1000);
    const engine = await MemoryEngine.open({ columnFamilies: MVCC_STORE_CFS });
    // As an earlier version made it: bootstrapped with no key pair and no key in PD.
    const old = await Store.open({ storeId: BOOTSTRAP_IDS.store, clusterId, engine, transport: { send: () => {} }, tickIntervalMs: 10 });
    expect((await old.bootstrapCluster({ clusterNumber: 1, address: 'dev-0' })).ok).toBe(true);
    await until('PD leads', () => old.pdIsLeader());
    expect(old.pdState()?.getStore(BOOTSTRAP_IDS.store)?.meta.publicKey).toBeUndefined();
    await old.close();
    expect(await readStoreKeyPair(engine)).toBeUndefined();
    const ns = await startStore(clusterId, keys, { engine, address: 'dev-0' });
    expect(ns.started).toBe('restarted');
    const made = await readStoreKeyPair(engine);
    expect(made).toBeDefined();
    await until('PD records it', () => ns.store.pdState()?.getStore(BOOTSTRAP_IDS.store)?.meta.publicKey !== undefined, 10_000);
    expect(ns.store.pdState()?.getStore(BOOTSTRAP_IDS.store)?.meta.publicKey).toEqual(made!.publicKey);
  }, 30_000);

  it('a join registers only the key its link proved: a member joining under a key it does not hold is refused and counted, PD unchanged', async () => {
    const clusterId = `ident-join-${randomTempStoreId()}`;
    const keys = await deriveClusterKeys(clusterId, 'secret', 1000);
    const first = await startStore(clusterId, keys, { bootstrap: true, address: 'dev-0' });
    const pd = () => first.store.pdState()!;
    const victim = await generateStoreKeyPair();
    const storesBefore = pd().listStores().length;
    // A member holding the secret joins under a temporary id whose link proves no key (then one
    // whose link proves a key of its own), naming another device's public key.
    const own = await importStoreKeyPair(await generateStoreKeyPair());
    for (const identity of [undefined, own]) {
      const temp = new BroadcastChannelTransport({ localStoreId: randomTempStoreId(), keys, heartbeatIntervalMs: 50, departureTimeoutMs: 400, ...(identity ? { identity } : {}) });
      cleanups.push(() => temp.close());
      await until('linked to the store', () => temp.peers().includes(first.store.storeId));
      const client = new RemotePdClient(temp, { candidates: () => temp.peers().filter((id) => !isTempStoreId(id)), budgetMs: 3000, attemptTimeoutMs: 1000 });
      const r = await client.putStore(0, 'attacker', {}, { timeoutMs: 1000 }, victim.publicKey);
      expect(r.ok).toBe(false);
      temp.close();
    }
    expect(first.store.status().refused?.forbiddenKeyUnproven).toBeGreaterThanOrEqual(2);
    expect(pd().listStores()).toHaveLength(storesBefore);
    // A real join proves its key on the temporary link, and PD records exactly that key.
    const engine = await MemoryEngine.open({ columnFamilies: MVCC_STORE_CFS });
    const second = await startStore(clusterId, keys, { engine, address: 'dev-1' });
    expect(second.started).toBe('joined');
    expect(pd().getStore(second.store.storeId)?.meta.publicKey).toEqual((await readStoreKeyPair(engine))!.publicKey);
  }, 30_000);
});
