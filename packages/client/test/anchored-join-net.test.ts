/**
 * A store's join with an invite's anchors (issue 13): the join asks PD for a store id under a
 * temporary id, before the store has a key book of its own id. Without anchors any member can
 * answer it, an impostor with a store id of its choosing (4242 here). With anchors, the join's
 * transport refuses a link posing as an anchored voter with another key (`anchorPolicy`,
 * `anchorRefused`) and asks only anchored members: with only impostors reachable the join
 * times out, and with the anchored voters reachable it gets the id PD allocated, the impostors
 * never asked.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryEngine } from '@peerkv/storage';
import { MVCC_STORE_CFS, NetworkStoreError, decodeStoreRequest, encodeStoreResponse, isTempStoreId, randomTempStoreId, type PeerKeyAnchor } from '@peerkv/store';
import { BroadcastChannelTransport, deriveClusterKeys, generateStoreKeyPair, importStoreKeyPair, type ClusterKeys, type LinkIdentityOptions, type StoreKeyPair } from '@peerkv/transport';
import { bcTransportFactory, startBcStore, startThreePdStores } from './bc-transport.ts';
import { until } from './until.ts';

/** The store id the impostors hand out. */
const FORGED_STORE_ID = 4242;
/** An id no store has, under which the second impostor comes. */
const UNANCHORED_IMPOSTOR_ID = 4000;

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A transport under `storeId` (proving `identity`, if any) that answers every join with `FORGED_STORE_ID`; `asked` counts the joins it heard. */
function joinImpostor(keys: ClusterKeys, storeId: number, identity?: StoreKeyPair): { asked: number } {
  const seen = { asked: 0 };
  const tr = new BroadcastChannelTransport({ localStoreId: storeId, keys, heartbeatIntervalMs: 50, departureTimeoutMs: 400, ...(identity ? { identity } : {}) });
  cleanups.push(() => tr.close());
  tr.onRequest(async (_from, payload) => {
    const q = decodeStoreRequest(payload);
    if (q.type !== 'pdPutStore') return encodeStoreResponse({ type: 'failure', failure: { kind: 'StoreClosed', message: 'not serving' } });
    seen.asked++;
    return encodeStoreResponse({ type: 'pdApply', result: { ok: true, value: { kind: 'storePut', storeId: FORGED_STORE_ID, isNew: true, replacedStoreIds: [] } } });
  });
  return seen;
}

describe('a join with an invite’s anchors', () => {
  it('asks no impostor for its store id: the plain join takes the forged id, the anchored one refuses the poser and gets PD’s', async () => {
    const clusterId = `anchored-join-${randomTempStoreId()}`;
    const keys = await deriveClusterKeys(clusterId, 'secret', 1000);
    const [a, b, c] = await startThreePdStores(clusterId, keys, cleanups);
    const [aId, bId, cId] = [a, b, c].map((n) => n.store.storeId);
    const realKey = (id: number): Uint8Array => b.store.pdState()!.getStore(id)!.meta.publicKey!;
    const anchors: PeerKeyAnchor[] = [aId, bId, cId].map((storeId) => ({ storeId, publicKey: realKey(storeId) }));
    // Voter a goes away (PD keeps a quorum of two); one impostor poses as it under a key of its
    // own, another comes under an id nobody has. Both answer joins with a forged store id.
    await a.close();
    const posing = joinImpostor(keys, aId, await importStoreKeyPair(await generateStoreKeyPair()));
    const unanchored = joinImpostor(keys, UNANCHORED_IMPOSTOR_ID);

    // The join's transports; while `cutOff`, a temporary id reaches none of the honest voters.
    let cutOff = true;
    const temps: BroadcastChannelTransport[] = [];
    const bc = bcTransportFactory(keys, cleanups);
    const factory = (id: number, identity?: LinkIdentityOptions) => {
      const tr = bc(id, identity);
      if (isTempStoreId(id)) {
        temps.push(tr);
        if (cutOff) tr.partition([bId, cId]);
      }
      return tr;
    };
    const engine = () => MemoryEngine.open({ columnFamilies: MVCC_STORE_CFS });

    // Without anchors, an impostor answers the join: the store starts as the forged id.
    const plain = await startBcStore(clusterId, keys, cleanups, { address: 'dev-plain', transportFactory: factory, joinTimeoutMs: 5000 });
    expect(plain.store.storeId).toBe(FORGED_STORE_ID);
    expect(posing.asked + unanchored.asked).toBeGreaterThanOrEqual(1);
    await plain.close();
    const askedBefore = posing.asked + unanchored.asked;

    // With anchors and only the impostors reachable: the poser is refused, the other never asked.
    const joinMs = 2000;
    await expect(startBcStore(clusterId, keys, cleanups, { address: 'dev-anchored-cut', transportFactory: factory, anchors, joinTimeoutMs: joinMs, engine: await engine() })).rejects.toSatisfy(
      (e) => e instanceof NetworkStoreError && e.kind === 'JoinTimeout' && /no anchored member \(stores /.test(e.message),
    );
    const cutTemp = temps.at(-1)!;
    expect(cutTemp.counters().drops.identityRefused).toBeGreaterThanOrEqual(1);
    expect(posing.asked + unanchored.asked).toBe(askedBefore);

    // With anchors and the honest voters reachable (the impostors still up): PD's id.
    cutOff = false;
    const anchored = await startBcStore(clusterId, keys, cleanups, { address: 'dev-anchored', transportFactory: factory, anchors, engine: await engine() });
    const joinedId = anchored.store.storeId;
    expect(joinedId).not.toBe(FORGED_STORE_ID);
    expect(anchored.started).toBe('joined');
    await until('PD records the joined store with its key', () => b.store.pdState()!.getStore(joinedId)?.meta.address === 'dev-anchored', 20_000);
    expect(posing.asked + unanchored.asked).toBe(askedBefore);
    expect(anchored.peerKeys.counters.anchorRefused).toBeGreaterThanOrEqual(1);
  }, 120_000);
});
