/**
 * A link admitted provisionally may only reach PD and the key lookup (issue 13): a member that
 * holds the cluster secret and claims a store id whose key the store cannot confirm (here an
 * id PD has no store for, so no key) is admitted provisionally, and until a key is confirmed
 * it is refused every request that writes (`forbiddenProvisional`) and its Raft messages for
 * data regions are dropped (`raftFromProvisional`); it may read and ask PD. It cannot bind the
 * id either: PD records a key only for a store it has (`StoreNotFound`), and the first key PD
 * records for a store is the one that stays. Before, such a link had every right of a store
 * for as long as PD had no key for the id.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Message } from '@peerkv/raft';
import { BOOTSTRAP_IDS, PD_REGION_ID, decodeStoreResponse, encodeStoreRequest, randomTempStoreId, type StoreRequest, type StoreResponse } from '@peerkv/store';
import { BroadcastChannelTransport, deriveClusterKeys, generateStoreKeyPair, importStoreKeyPair, type RegionMessage } from '@peerkv/transport';
import { codec } from '../src/index.ts';
import { until } from './until.ts';
import { startBcStore } from './bc-transport.ts';

const t = codec.text;
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A leader's heartbeat for `regionId` to peer `to` (as a forged leader would send it). */
function heartbeat(regionId: number, to: number): RegionMessage {
  const message: Message = { type: 'MsgHeartbeat', to, from: to + 1000, term: 99, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0 };
  return { regionId, regionEpoch: { confVer: 1, version: 1 }, message };
}

describe('provisionally admitted links', () => {
  it('a member claiming an id with no key in PD may read and ask PD, but not write, send data-region Raft or bind the id', async () => {
    const clusterId = `provisional-${randomTempStoreId()}`;
    const keys = await deriveClusterKeys(clusterId, 'secret', 1000);
    const store = await startBcStore(clusterId, keys, cleanups, { bootstrap: true, address: 'dev-0' });
    const s = store.store;
    const dataRegion = BOOTSTRAP_IDS.dataRegion;
    await until('the data region leads', () => s.status().regions.some((r) => r.regionId === dataRegion && r.role === 'leader'));

    // A member with the secret claims store id 999, which PD has no store (so no key) for.
    const claimed = 999;
    const impostorKey = await generateStoreKeyPair();
    const impostor = new BroadcastChannelTransport({ localStoreId: claimed, keys, heartbeatIntervalMs: 50, departureTimeoutMs: 400, identity: await importStoreKeyPair(impostorKey) });
    cleanups.push(() => impostor.close());
    await until('linked, provisionally', () => impostor.peers().includes(s.storeId) && store.peerKeys.isProvisional(claimed));
    const call = async (q: StoreRequest): Promise<StoreResponse> => decodeStoreResponse(await impostor.request(s.storeId, encodeStoreRequest(q), { timeoutMs: 3000 }));
    const forbidden = { type: 'failure', failure: { kind: 'Forbidden' } };
    const epoch = s.status().regions.find((r) => r.regionId === dataRegion)!.epoch;

    // Writes of every kind are refused.
    const put = { type: 'put' as const, cf: 'default' as const, key: t('k'), value: t('forged') };
    expect(await call({ type: 'write', regionId: dataRegion, epoch, clientId: 'x', seq: 1, ops: [put] })).toMatchObject(forbidden);
    expect(await call({ type: 'txnPrewrite', regionId: dataRegion, epoch, mutations: [{ op: 'put', key: t('k'), value: t('forged') }], primary: t('k'), startTs: 5n, lockTtlMs: 3000, txnSize: 1, mode: { kind: 'twoPc' } })).toMatchObject(forbidden);
    const stats = { storeId: claimed, capacityBytes: 1, usedBytes: 1, availableBytes: 0, regionCount: 0, leaderCount: 0, draining: false };
    expect(await call({ type: 'pdStoreHeartbeat', stats })).toMatchObject(forbidden);
    expect(await call({ type: 'pdAllocId' })).toMatchObject(forbidden);
    expect(s.status().refused?.forbiddenProvisional).toBe(4);

    // Reads and PD's routing reads are served.
    expect(await call({ type: 'txnGet', regionId: dataRegion, epoch, key: t('k'), ts: 5n, timeoutMs: 2000 })).toMatchObject({ type: 'txn', result: { ok: true } });
    expect(await call({ type: 'pdGetStore', storeId: s.storeId })).toMatchObject({ type: 'pdStore', result: { ok: true, value: { id: s.storeId } } });

    // It cannot bind the id to its key: PD has no such store. Nor to a key its link did not
    // prove: refused before PD is asked.
    const bind = await call({ type: 'pdPutStore', storeId: claimed, address: 'x', labels: {}, publicKey: impostorKey.publicKey });
    expect(bind).toMatchObject({ type: 'pdApply', result: { ok: true, value: { kind: 'refused', error: { kind: 'StoreNotFound' } } } });
    expect(await call({ type: 'pdPutStore', storeId: claimed, address: 'x', labels: {}, publicKey: (await generateStoreKeyPair()).publicKey })).toMatchObject(forbidden);
    expect(s.status().refused?.forbiddenKeyUnproven).toBe(1);
    expect(s.pdState()!.getStore(claimed)).toBeUndefined();

    // Raft messages for a data region (one the store has, and a made-up one) are dropped and
    // counted; one for PD's group reaches the store (a lagging PD replica may need it).
    const regionsBefore = s.regionIds().sort();
    const dataPeer = s.status().regions.find((r) => r.regionId === dataRegion)!.peers[0].id;
    impostor.send(s.storeId, [heartbeat(dataRegion, dataPeer), heartbeat(777_777, 888_888)]);
    await until('data-region Raft dropped', () => (s.status().refused?.raftFromProvisional ?? 0) >= 2);
    expect(s.regionIds().sort()).toEqual(regionsBefore); // no replica made for the made-up region
    expect(s.status().regions.find((r) => r.regionId === dataRegion)!.role).toBe('leader');
    const pdPeer = s.status().regions.find((r) => r.regionId === PD_REGION_ID)!.peers[0].id;
    impostor.send(s.storeId, [heartbeat(PD_REGION_ID, pdPeer + 1)]);
    await new Promise((r) => setTimeout(r, 200));
    expect(s.status().refused?.raftFromProvisional).toBe(2);

    // Nothing was written.
    expect(await call({ type: 'txnGet', regionId: dataRegion, epoch, key: t('k'), ts: 5n, timeoutMs: 2000 })).toMatchObject({ type: 'txn', result: { ok: true } });
  }, 60_000);
});
