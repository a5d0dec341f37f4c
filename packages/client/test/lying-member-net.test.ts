/**
 * A member that answers PD lookups falsely cannot vouch for an impostor (issue 13): a store
 * without a PD replica believes a store key only when every PD replica that answers names it
 * and at least two trusted ones do (`key-vouch.ts`). Here a registered store (a member with
 * the secret and its own recorded key) answers `pdGetStore` with an impostor's key for a
 * departed store's id. Reaching only the liar and the impostor, a new store admits the
 * impostor provisionally (no writes, no data-region Raft) and pins nothing; once it reaches the
 * honest PD replicas the answers disagree (`disputed`), still nothing is pinned for that id,
 * while the honest stores' keys are believed. Before, the liar's single answer was pinned and
 * the impostor admitted as the store.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { BOOTSTRAP_IDS, decodeStoreRequest, decodeStoreResponse, encodeStoreRequest, encodeStoreResponse, isTempStoreId, randomTempStoreId } from '@peerkv/store';
import { BroadcastChannelTransport, deriveClusterKeys, generateStoreKeyPair, importStoreKeyPair, type LinkIdentityOptions } from '@peerkv/transport';
import { codec } from '../src/index.ts';
import { until } from './until.ts';
import { bcTransportFactory, registeredThenClosed, startBcStore, startThreePdStores } from './bc-transport.ts';

const t = codec.text;
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('a member lying about store keys', () => {
  it('cannot vouch for an impostor to a store without a PD replica, alone or against honest PD replicas', async () => {
    const clusterId = `liar-${randomTempStoreId()}`;
    const keys = await deriveClusterKeys(clusterId, 'secret', 1000);
    const startStore = (o: Parameters<typeof startBcStore>[3]) => startBcStore(clusterId, keys, cleanups, o);
    const [first, second, third] = await startThreePdStores(clusterId, keys, cleanups);
    // The liar: a store that joined like any other (its key is in PD), now answering lookups itself.
    const { storeId: liarId, keyPair: liarKeys } = await registeredThenClosed(clusterId, keys, cleanups, first);
    const thirdId = third.store.storeId;
    const realKeys = new Map([first, second, third].map((n) => [n.store.storeId, first.store.pdState()!.getStore(n.store.storeId)!.meta.publicKey!]));
    await third.close();
    await until('the third store and the liar gone', () => [thirdId, liarId].every((id) => !first.transport.peers().includes(id)));

    // The impostor takes the third store's id with a key of its own; the liar vouches for that key.
    const impostorKey = await importStoreKeyPair(await generateStoreKeyPair());
    const impostor = new BroadcastChannelTransport({ localStoreId: thirdId, keys, heartbeatIntervalMs: 50, departureTimeoutMs: 400, identity: impostorKey });
    cleanups.push(() => impostor.close());
    const liar = new BroadcastChannelTransport({ localStoreId: liarId, keys, heartbeatIntervalMs: 50, departureTimeoutMs: 400, identity: liarKeys });
    cleanups.push(() => liar.close());
    liar.onRequest(async (_from, payload) => {
      const q = decodeStoreRequest(payload);
      if (q.type !== 'pdGetStore') return encodeStoreResponse({ type: 'failure', failure: { kind: 'StoreClosed', message: 'not serving' } });
      const meta = first.store.pdState()!.getStore(q.storeId)?.meta;
      const lie = meta && q.storeId === thirdId ? { ...meta, publicKey: impostorKey.publicKey } : meta;
      return encodeStoreResponse({ type: 'pdStore', result: { ok: true, value: lie } });
    });

    // A new store, which PD gives no PD replica, first reaches only the liar and the impostor.
    const honest = [first.store.storeId, second.store.storeId];
    const bc = bcTransportFactory(keys, cleanups);
    const fifth = await startStore({
      address: 'dev-4',
      transportFactory: (id: number, identity?: LinkIdentityOptions) => {
        const tr = bc(id, identity);
        if (!isTempStoreId(id)) tr.partition(honest);
        return tr;
      },
    });
    await until('linked to the liar and the impostor', () => [liarId, thirdId].every((id) => fifth.transport.peers().includes(id)));
    await new Promise((r) => setTimeout(r, 2500)); // sweeps, and a recheck of an id admitted before the liar was linked
    expect(fifth.store.pdState()).toBeUndefined();
    // The liar's word alone pins nothing: the impostor is provisional, not the third store.
    expect(fifth.peerKeys.knownKey(thirdId)).toBeUndefined();
    expect(fifth.peerKeys.isProvisional(thirdId)).toBe(true);
    const epoch = { confVer: 1, version: 1 };
    const w = decodeStoreResponse(await impostor.request(fifth.store.storeId, encodeStoreRequest({ type: 'write', regionId: BOOTSTRAP_IDS.dataRegion, epoch, clientId: 'x', seq: 1, ops: [{ type: 'put', cf: 'default', key: t('k'), value: t('forged') }] }), { timeoutMs: 3000 }));
    expect(w).toMatchObject({ type: 'failure', failure: { kind: 'Forbidden' } });

    // The honest PD replicas come into reach: their answers dispute the liar's; the third id
    // still gets no key, the impostor stays provisional, and the honest stores' keys are believed.
    (fifth.transport as BroadcastChannelTransport).heal();
    await until('linked to the honest stores', () => honest.every((id) => fifth.transport.peers().includes(id)));
    await until('the lie disputed', () => fifth.peerKeys.counters.disputed > 0, 20_000);
    await until('the honest keys believed', () => honest.every((id) => fifth.peerKeys.knownKey(id) !== undefined), 20_000);
    for (const id of honest) expect(fifth.peerKeys.knownKey(id)).toEqual(realKeys.get(id));
    expect(fifth.peerKeys.knownKey(thirdId)).toBeUndefined();
    if (fifth.transport.peers().includes(thirdId)) expect(fifth.peerKeys.isProvisional(thirdId)).toBe(true);
  }, 90_000);
});
