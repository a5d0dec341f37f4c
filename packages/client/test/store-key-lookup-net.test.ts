/**
 * Store keys checked against PD's record by those that host no PD replica (issue 13, finding
 * 6): a store without a PD replica and a client (temporary id, no key of its own) ask PD,
 * through the other stores, for the key of a store id they have not met, instead of trusting
 * the first key proven for it. A member that holds the cluster secret and takes a departed
 * store's id with a key of its own is refused (or, admitted before PD could be asked, revoked)
 * by both, and nothing is lost.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { BOOTSTRAP_IDS, PD_REGION_ID, PeerKeyBook, pdKeyLookup, randomTempStoreId } from '@peerkv/store';
import { BroadcastChannelTransport, deriveClusterKeys, generateStoreKeyPair, importStoreKeyPair, type ClusterKeys } from '@peerkv/transport';
import { PeerKV, RemotePdService, RemoteStoreResolver, codec } from '../src/index.ts';
import { until } from './until.ts';
import { startBcStore } from './bc-transport.ts';

const t = codec.text;
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A client as `PeerKV.connect` wires one: its transport checks store keys with an in-memory book. */
function checkingClient(keys: ClusterKeys): { kv: PeerKV; transport: BroadcastChannelTransport; peerKeys: PeerKeyBook } {
  const peerKeys = PeerKeyBook.inMemory();
  const transport = new BroadcastChannelTransport({ localStoreId: randomTempStoreId(), keys, heartbeatIntervalMs: 50, departureTimeoutMs: 400, peerKeys });
  cleanups.push(() => transport.close());
  cleanups.push(peerKeys.start({ links: transport, lookup: pdKeyLookup(transport, { members: () => transport.peers() }), sweepMs: 100 }));
  const pd = new RemotePdService(transport, { candidates: () => transport.peers(), budgetMs: 8000, attemptTimeoutMs: 1000 });
  const stores = new RemoteStoreResolver(transport, { requestTimeoutMs: 1000, reachable: () => transport.peers() });
  const kv = new PeerKV({ pd, stores, requestTimeoutMs: 1000 });
  cleanups.push(() => kv.close());
  return { kv, transport, peerKeys };
}

describe('store keys checked against PD by stores without a PD replica and by clients', () => {
  it('an impostor taking a departed store’s id is refused by a new store without a PD replica and by a client', async () => {
    const clusterId = `keylookup-${randomTempStoreId()}`;
    const keys = await deriveClusterKeys(clusterId, 'secret', 1000);
    const startStore = (o: Parameters<typeof startBcStore>[3]) => startBcStore(clusterId, keys, cleanups, o);
    const first = await startStore({ bootstrap: true, address: 'dev-0', schedule: { maxStoreDownTimeMs: 120_000 } });
    const second = await startStore({ address: 'dev-1' });
    const third = await startStore({ address: 'dev-2' });
    const all = [first, second, third];
    await until('3 replicas of PD and data on every store', () =>
      all.every((n) => [PD_REGION_ID, BOOTSTRAP_IDS.dataRegion].every((id) => n.store.status().regions.some((r) => r.regionId === id && r.peers.length === 3 && r.peers.every((p) => p.role === 'voter')))),
    );
    const thirdId = third.store.storeId;
    const realKey = first.store.pdState()!.getStore(thirdId)!.meta.publicKey!;
    await third.close();
    await until('the third store gone', () => !first.transport.peers().includes(thirdId) && !second.transport.peers().includes(thirdId));

    // A member with the secret takes the id, with a key of its own.
    const impostorKey = await importStoreKeyPair(await generateStoreKeyPair());
    const impostor = new BroadcastChannelTransport({ localStoreId: thirdId, keys, heartbeatIntervalMs: 50, departureTimeoutMs: 400, identity: impostorKey });
    cleanups.push(() => impostor.close());

    // A store that never met the third one joins: PD's group stays on the first three, so it has no PD replica.
    const fourth = await startStore({ address: 'dev-3' });
    const rejected = (tr: { counters(): { drops: { identityRefused: number; identityRevoked: number } } }) => tr.counters().drops.identityRefused + tr.counters().drops.identityRevoked;
    await until('the new store refuses the impostor', () => rejected(fourth.transport) > 0 && fourth.transport.peers().includes(first.store.storeId), 20_000);
    expect(fourth.store.pdState()).toBeUndefined();
    expect(fourth.peerKeys.knownKey(thirdId)).toEqual(realKey); // PD's record, through another store
    expect(fourth.peerKeys.counters.looked).toBeGreaterThan(0);

    // A client, which has no key, refuses it too.
    const { kv, transport, peerKeys } = checkingClient(keys);
    await kv.put(t('k'), t('v1'));
    await until('the client refuses the impostor', () => rejected(transport) > 0, 20_000);
    expect(peerKeys.knownKey(thirdId)).toEqual(realKey);

    // For a while: the impostor is never a peer of either, and is refused again and again.
    const before = rejected(fourth.transport) + rejected(transport);
    await until('refused again', () => rejected(fourth.transport) + rejected(transport) > before + 2, 20_000);
    expect(fourth.transport.peers()).not.toContain(thirdId);
    expect(transport.peers()).not.toContain(thirdId);

    // Nothing lost: the client reads and writes; the stores are linked.
    expect(codec.fromText((await kv.get(t('k')))!)).toBe('v1');
    await kv.put(t('k'), t('v2'));
    expect(codec.fromText((await kv.get(t('k')))!)).toBe('v2');
    expect(fourth.transport.peers()).toEqual(expect.arrayContaining([first.store.storeId, second.store.storeId]));
  }, 90_000);
});
