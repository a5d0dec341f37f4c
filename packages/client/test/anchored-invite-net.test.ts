/**
 * An invite's anchor closes what `lying-member-net.test.ts` leaves open (issue 13, finding 6):
 * a liar that is all of PD an asker reaches, posing as PD's voters, vouches for itself. Here a
 * registered store (the liar) and ids it poses as (PD voters 1 and 2, and the third store, each
 * with a key of the liar's) answer every `pdGetStore` with the liar's keys, and no honest store
 * is reachable. A store opened without anchors believes them (as before: each of the liar's ids
 * vouches for the others); a store opened with the invite's anchors (the real keys of voters 1
 * and 2) refuses the links posing as them (`anchorRefused`), keeps their real keys, and,
 * hearing only the liar's one remaining answer, believes no key for the third store.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { decodeStoreRequest, encodeStoreResponse, isTempStoreId, randomTempStoreId, type NetworkStore, type PeerKeyAnchor } from '@peerkv/store';
import { BroadcastChannelTransport, deriveClusterKeys, generateStoreKeyPair, importStoreKeyPair, type ClusterKeys, type LinkIdentityOptions, type StoreKeyPair } from '@peerkv/transport';
import type { StoreMeta } from '@peerkv/proto';
import { until } from './until.ts';
import { bcTransportFactory, registeredThenClosed, startBcStore, startThreePdStores } from './bc-transport.ts';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A transport under `storeId` proving `identity` that answers `pdGetStore` from `metas` as if it were a PD replica. */
function posingPdReplica(keys: ClusterKeys, storeId: number, identity: StoreKeyPair, metas: ReadonlyMap<number, StoreMeta>): BroadcastChannelTransport {
  const tr = new BroadcastChannelTransport({ localStoreId: storeId, keys, heartbeatIntervalMs: 50, departureTimeoutMs: 400, identity });
  cleanups.push(() => tr.close());
  tr.onRequest(async (_from, payload) => {
    const q = decodeStoreRequest(payload);
    if (q.type !== 'pdGetStore') return encodeStoreResponse({ type: 'failure', failure: { kind: 'StoreClosed', message: 'not serving' } });
    return encodeStoreResponse({ type: 'pdStore', result: { ok: true, value: metas.get(q.storeId) } });
  });
  return tr;
}

describe('an invite anchoring PD voters’ keys', () => {
  it('stops a liar that is all of PD a store reaches from posing as the anchored voters; without it the liar is believed', async () => {
    const clusterId = `anchor-${randomTempStoreId()}`;
    const keys = await deriveClusterKeys(clusterId, 'secret', 1000);
    const startStore = (o: Parameters<typeof startBcStore>[3]) => startBcStore(clusterId, keys, cleanups, o);
    const honestStores = await startThreePdStores(clusterId, keys, cleanups);
    const [first] = honestStores;
    const [aId, bId, cId] = honestStores.map((n) => n.store.storeId);
    // The liar joined like any other store (its key is in PD), then answers lookups itself.
    const { storeId: liarId, keyPair: liarKeys } = await registeredThenClosed(clusterId, keys, cleanups, first);
    const realKey = (id: number): Uint8Array => first.store.pdState()!.getStore(id)!.meta.publicKey!;
    // The invite names voters 1 and 2 (the third store is left out: its key stays PD's word).
    const anchors: PeerKeyAnchor[] = [aId, bId].map((storeId) => ({ storeId, publicKey: realKey(storeId) }));

    // Two new stores join through the honest PD, then reach none of its stores: one opened from
    // the invite, one with the secret alone.
    const honest = [aId, bId, cId];
    const bc = bcTransportFactory(keys, cleanups);
    const partitioned = (id: number, identity?: LinkIdentityOptions) => {
      const tr = bc(id, identity);
      if (!isTempStoreId(id)) tr.partition(honest);
      return tr;
    };
    const anchored = await startStore({ address: 'dev-anchored', transportFactory: partitioned, anchors });
    const plain = await startStore({ address: 'dev-plain', transportFactory: partitioned });
    const askers: NetworkStore[] = [anchored, plain];
    const metas = new Map([...honest, liarId].map((id) => [id, first.store.pdState()!.getStore(id)!.meta]));
    for (const n of honestStores) await n.close();

    // The liar, and its ids posing as the three PD voters, each with a key of the liar's: all
    // of them name those keys (and the liar's real one) as PD's record.
    const posed = new Map<number, StoreKeyPair>();
    for (const id of honest) posed.set(id, await importStoreKeyPair(await generateStoreKeyPair()));
    const lies = new Map(metas);
    for (const [id, k] of posed) lies.set(id, { ...metas.get(id)!, publicKey: k.publicKey });
    posingPdReplica(keys, liarId, liarKeys, lies);
    for (const [id, k] of posed) posingPdReplica(keys, id, k, lies);
    for (const n of askers) (n.transport as BroadcastChannelTransport).heal();

    // Without an anchor (as before the invite carried one): the liar's ids vouch for each other.
    await until('the plain store believes the liar’s keys', () => honest.every((id) => plain.peerKeys.knownKey(id) !== undefined), 30_000);
    for (const id of honest) expect(plain.peerKeys.knownKey(id)).toEqual(posed.get(id)!.publicKey);

    // With the anchor: the ids posing as voters 1 and 2 are refused, their real keys stay, and
    // the liar's one remaining answer (with its third posed id) proves nothing.
    await until('the anchored store refused the posing voters', () => anchored.peerKeys.counters.anchorRefused >= 2, 30_000);
    await until('the anchored store linked to the liar and the third posed id', () => [liarId, cId].every((id) => anchored.transport.peers().includes(id)), 30_000);
    await new Promise((r) => setTimeout(r, 2500)); // sweeps and rechecks
    for (const id of [aId, bId]) {
      expect(anchored.peerKeys.knownKey(id)).toEqual(realKey(id));
      expect(anchored.transport.peers()).not.toContain(id);
    }
    expect(anchored.peerKeys.knownKey(cId)).toBeUndefined();
    expect(anchored.peerKeys.isProvisional(cId)).toBe(true);
    expect(anchored.peerKeys.knownKey(liarId)).toBeUndefined();
    expect(anchored.peerKeys.counters.refused).toBeGreaterThanOrEqual(anchored.peerKeys.counters.anchorRefused);
  }, 120_000);
});
