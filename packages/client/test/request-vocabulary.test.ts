/**
 * One request vocabulary (issue 11): a store request is defined once, by its type
 * (`request-types.ts`), its entry in the request table (`STORE_REQUEST_CODECS`: wire codec,
 * answer, who may send it) and its handler (`STORE_HANDLERS`), and every carrier derives from
 * those with nothing per type: the RPC server (`serveStore`), the remote service
 * (`RemoteKvService`), and the browser tab ↔ host protocol (a tab's `txnRegionRequest`, which
 * the host's `PeerKV` routes to the region's leader). The cases walk every type in the table,
 * so a new entry is carried by each of them as soon as it exists; `SAMPLES` is typed complete,
 * so a new type without a sample here does not compile.
 */
import { describe, expect, it } from 'vitest';
import type { Peer, Region } from '@peerkv/pd';
import { LocalRpc, STORE_HANDLERS, STORE_REQUEST_CODECS, StoreRequestError, checkStoreRequest, serveStore, type RequestOf, type StoreRequest, type StoreRequestType } from '@peerkv/store';
import { deriveOperatorKey, generateClusterSecret } from '@peerkv/transport';
import { PeerKV, RemoteKvService, type PdService } from '../src/index.ts';
import { RequestLedger, serveTab, type TabServing } from '../src/browser/index.ts';
import { TAB_TXN_REQUEST_TYPES } from '../src/txn/routing.ts';

const k = (s: string): Uint8Array => new TextEncoder().encode(s);
const epoch = { confVer: 3, version: 7 };
/** The served store and the caller (a store itself: the `self` reports name it). */
const SERVED = 1;
const CALLER = 2;
const peer = (id: number, storeId: number): Peer => ({ id, storeId, role: 'voter' });
const REGION: Region = { id: 5, startKey: new Uint8Array(), endKey: new Uint8Array(), epoch, peers: [peer(11, SERVED)] };

/** One request of every type (typed complete: a type without a sample does not compile). */
const SAMPLES: { readonly [K in StoreRequestType]: RequestOf<K> } = {
  write: { type: 'write', regionId: 5, epoch, clientId: 'c1', seq: 9, ackFloor: 4, ops: [{ type: 'put', cf: 'default', key: k('a'), value: k('1') }], timeoutMs: 1000 },
  get: { type: 'get', regionId: 5, epoch, key: k('a'), consistency: 'follower', timeoutMs: 1000 },
  scan: { type: 'scan', regionId: 5, epoch, range: { start: k('a'), end: k('z'), limit: 10, reverse: false }, consistency: 'linearizable', timeoutMs: 1000 },
  changePeers: { type: 'changePeers', regionId: 5, changes: [{ type: 'addLearnerNode', peer: { id: 4, storeId: 3, role: 'learner' } }], timeoutMs: 1000 },
  split: { type: 'split', regionId: 5, epoch, splitKey: k('m'), newRegionId: 6, newPeerIds: [7], timeoutMs: 1000 },
  transferLeader: { type: 'transferLeader', regionId: 5, peerId: 3 },
  campaign: { type: 'campaign', regionId: 5 },
  status: { type: 'status' },
  setDraining: { type: 'setDraining', draining: true },
  rotateDataKey: { type: 'rotateDataKey', keyId: 3 },
  pdStoreHeartbeat: { type: 'pdStoreHeartbeat', stats: { storeId: CALLER, capacityBytes: 100, usedBytes: 1, availableBytes: 99, regionCount: 1, leaderCount: 1, draining: false }, timeoutMs: 1000 },
  pdRegionHeartbeat: {
    type: 'pdRegionHeartbeat',
    heartbeat: { region: REGION, leader: peer(12, CALLER), downPeers: [], pendingPeers: [], approximateSizeBytes: 0, approximateKeys: 0, writtenBytesPerSec: 0, term: 1 },
    timeoutMs: 1000,
  },
  pdAllocId: { type: 'pdAllocId', timeoutMs: 1000 },
  pdPutStore: { type: 'pdPutStore', storeId: CALLER, address: 'a', labels: { zone: 'z' }, timeoutMs: 1000 },
  pdGetRegion: { type: 'pdGetRegion', key: k('a') },
  pdGetRegionById: { type: 'pdGetRegionById', regionId: 5 },
  pdGetStore: { type: 'pdGetStore', storeId: 3 },
  pdGetTimestamps: { type: 'pdGetTimestamps', count: 3, timeoutMs: 1000 },
  pdGetGcSafePoint: { type: 'pdGetGcSafePoint' },
  pdGetScheduleConfig: { type: 'pdGetScheduleConfig' },
  pdRegisterGcService: { type: 'pdRegisterGcService', serviceId: 'svc', minStartTs: 5n, ttlMs: 1000, timeoutMs: 1000 },
  txnPrewrite: { type: 'txnPrewrite', regionId: 5, epoch, mutations: [{ op: 'put', key: k('a'), value: k('1') }], primary: k('a'), startTs: 10n, lockTtlMs: 3000, txnSize: 1, mode: { kind: 'twoPc' }, timeoutMs: 1000 },
  txnCommit: { type: 'txnCommit', regionId: 5, epoch, keys: [k('a')], startTs: 10n, commitTs: 11n, timeoutMs: 1000 },
  txnRollback: { type: 'txnRollback', regionId: 5, epoch, keys: [k('a')], startTs: 10n, timeoutMs: 1000 },
  txnCheckStatus: { type: 'txnCheckStatus', regionId: 5, epoch, primaryKey: k('a'), lockTs: 10n, callerStartTs: 12n, currentTs: 13n, rollbackIfNotExist: true, timeoutMs: 1000 },
  txnResolveLock: { type: 'txnResolveLock', regionId: 5, epoch, keys: [k('a')], startTs: 10n, commitTs: 11n, timeoutMs: 1000 },
  txnHeartbeat: { type: 'txnHeartbeat', regionId: 5, epoch, primaryKey: k('a'), startTs: 10n, adviseTtlMs: 4000, timeoutMs: 1000 },
  txnGet: { type: 'txnGet', regionId: 5, epoch, key: k('a'), ts: 12n, timeoutMs: 1000 },
  txnScan: { type: 'txnScan', regionId: 5, epoch, start: k('a'), end: k('z'), limit: 10, ts: 12n, timeoutMs: 1000 },
  txnCheckSecondaryLocks: { type: 'txnCheckSecondaryLocks', regionId: 5, epoch, keys: [k('b')], startTs: 10n, timeoutMs: 1000 },
  txnPessimisticLock: { type: 'txnPessimisticLock', regionId: 5, epoch, keys: [k('a')], primary: k('a'), startTs: 10n, forUpdateTs: 10n, lockTtlMs: 3000, waitTimeoutMs: 0, timeoutMs: 1000 },
  txnPessimisticRollback: { type: 'txnPessimisticRollback', regionId: 5, epoch, keys: [k('a')], startTs: 10n, forUpdateTs: 10n, timeoutMs: 1000 },
  txnGc: { type: 'txnGc', regionId: 5, epoch, safePoint: 9n, timeoutMs: 1000 },
  txnStaleGet: { type: 'txnStaleGet', regionId: 5, epoch, key: k('a'), ts: 12n, timeoutMs: 1000 },
  txnStaleScan: { type: 'txnStaleScan', regionId: 5, epoch, start: k('a'), limit: 10, timeoutMs: 1000 },
  txnCdcPull: { type: 'txnCdcPull', regionId: 5, epoch, start: k('a'), fromTs: 9n, eventsMax: 10, bytesMax: 1000, waitMs: 0, timeoutMs: 1000 },
  txnReadIndex: { type: 'txnReadIndex', regionId: 5, epoch, start: k('a'), ts: 12n, timeoutMs: 1000 },
  txnReplicaGet: { type: 'txnReplicaGet', regionId: 5, epoch, key: k('a'), ts: 12n, appliedIndex: 3, timeoutMs: 1000 },
  txnReplicaScan: { type: 'txnReplicaScan', regionId: 5, epoch, start: k('a'), limit: 10, ts: 12n, appliedIndex: 3, timeoutMs: 1000 },
  txnDetectDeadlock: { type: 'txnDetectDeadlock', kind: 'detect', waiterTs: 10n, holderTs: 9n, key: k('a'), keyHash: 7n, ttlMs: 1000, timeoutMs: 1000 },
};

/**
 * What the served stand-in answers a request of `type`, as its answer codec can carry it: a txn
 * error for the txn requests, a region error for the others, and ok where the answer is always
 * ok on the wire (an acknowledgement, a status).
 */
function answerOf(type: StoreRequestType): unknown {
  const wire = STORE_REQUEST_CODECS[type].answer.type;
  if (wire === 'ack') return { ok: true, value: undefined };
  if (wire === 'status') return { ok: true, value: { storeId: SERVED, counters: { rounds: 1, writes: 0, snapshotsGenerated: 0, snapshotsInstalled: 0, logCompactions: 0 }, regions: [] } };
  if (wire === 'txn') return { ok: true, value: { ok: false, errors: [{ kind: 'TxnUnsupported', missingColumnFamilies: ['lock'] }] } };
  return { ok: false, error: { kind: 'RegionNotFound', regionId: 77 } };
}

/** Without the store-side timeout (a remote caller sends its own, from measured response times). */
function untimed(q: StoreRequest): unknown {
  const { timeoutMs: _, ...rest } = q as StoreRequest & { timeoutMs?: number };
  return rest;
}

/** A store served over `LocalRpc` whose handler table is a stand-in recording what arrives, and a remote service to it. */
async function servedStandIn(): Promise<{ seen: StoreRequest[]; remote: RemoteKvService }> {
  const operatorKey = await deriveOperatorKey('vocabulary', generateClusterSecret(), 1000);
  const rpc = new LocalRpc();
  const seen: StoreRequest[] = [];
  const standIn = {
    storeId: SERVED,
    handle: async (q: StoreRequest) => {
      seen.push(q);
      return answerOf(q.type);
    },
  };
  serveStore(standIn as never, rpc.endpoint(SERVED), { operatorKey });
  return { seen, remote: new RemoteKvService(SERVED, rpc.endpoint(CALLER), { operatorKey }) };
}

const TYPES = Object.keys(STORE_REQUEST_CODECS) as StoreRequestType[];

describe('one request vocabulary', () => {
  it('has a sample, a handler and a field check for every type in the request table', () => {
    expect(Object.keys(SAMPLES).sort()).toEqual([...TYPES].sort());
    expect(Object.keys(STORE_HANDLERS).sort()).toEqual([...TYPES].sort());
    for (const type of TYPES) expect(checkStoreRequest(SAMPLES[type]), type).toBe(SAMPLES[type]);
    expect(() => checkStoreRequest({ type: 'kvCount' })).toThrow(StoreRequestError);
  });

  it('carries every type in the table through RemoteKvService and serveStore to the store and its answer back', async () => {
    const { seen, remote } = await servedStandIn();
    for (const type of TYPES) {
      const answer = await remote.handle(SAMPLES[type]);
      expect(answer, type).toEqual(answerOf(type));
      expect(seen.length, type).toBeGreaterThan(0);
      expect(untimed(seen.at(-1)!), type).toEqual(untimed(SAMPLES[type]));
    }
    expect(seen.map((q) => q.type)).toEqual(TYPES);
  });

  it('carries every type a tab may forward from a tab through the host protocol, the host PeerKV, RemoteKvService and serveStore', async () => {
    const { seen, remote } = await servedStandIn();
    const pd: PdService = { getRegion: async () => ({ region: REGION, leader: peer(11, SERVED) }), getRegionById: async () => ({ region: REGION, leader: peer(11, SERVED) }), getStore: async () => undefined };
    const kv = new PeerKV({ pd, stores: { store: (id) => (id === SERVED ? remote : undefined) }, dataModel: 'mvcc' });
    const host: TabServing = {
      withClient: (serve) => serve(kv, undefined as never),
      status: () => ({}),
      trace: () => ({}),
      hook: async () => undefined,
    };
    const ledger = new RequestLedger(false);
    for (const type of TAB_TXN_REQUEST_TYPES) {
      const { regionId: _r, epoch: _e, ...regionless } = SAMPLES[type] as RequestOf<typeof type>;
      // What a tab posts: structured-cloneable, checked by the host as if from anywhere.
      const reply = await ledger.reply({ kind: 'kv', request: { type: 'txnRegionRequest', locate: k('a'), request: regionless as never } }, (req) => serveTab(host, req));
      expect(reply, type).toEqual({ ok: true, value: { kind: 'applied', value: (answerOf(type) as { value: unknown }).value, ambiguous: false } });
      // The host filled the region in from its route.
      expect(untimed(seen.at(-1)!), type).toEqual(untimed(SAMPLES[type]));
    }
    expect(seen.map((q) => q.type)).toEqual([...TAB_TXN_REQUEST_TYPES]);
    await kv.close();
  });
});
