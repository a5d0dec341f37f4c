/**
 * The request table (`STORE_REQUEST_CODECS`) is the one place a request type's wire codec and
 * its RPC authorisation live: the derived tables say exactly what the hand-written ones said
 * before they were folded into it (copied from them), and every entry's wire number is unique.
 * The response types became a table too: their bytes are pinned here as the switch-based codec
 * wrote them (recorded from it), beside `rpc-golden.test.ts`'s data answers.
 */
import { describe, expect, it } from 'vitest';
import {
  ATTEMPT_DEFAULT,
  PROVISIONAL_REQUESTS,
  REQUEST_CLASSES,
  STORE_REQUEST_CODECS,
  STORE_REQUEST_TYPES,
  TAB_REQUEST_TYPES,
  attemptOf,
  decodeStoreResponse,
  encodeStoreResponse,
  leaderServes,
  rtoBounded,
  type ReadConsistency,
  type StoreRequest,
  type StoreRequestType,
  type StoreResponse,
} from '../src/index.ts';
import { needsDataKey } from '../src/rpc/authorize.ts';

/** `REQUEST_CLASSES` as written by hand before the table carried it. */
const CLASSES_BEFORE = {
  write: 'data',
  get: 'data',
  scan: 'data',
  status: 'data',
  changePeers: 'admin',
  split: 'admin',
  transferLeader: 'admin',
  campaign: 'admin',
  setDraining: 'admin',
  pdStoreHeartbeat: 'self',
  pdRegionHeartbeat: 'self',
  pdPutStore: 'self',
  pdAllocId: 'data',
  pdGetRegion: 'data',
  pdGetRegionById: 'data',
  pdGetStore: 'data',
  pdGetTimestamps: 'data',
  pdGetGcSafePoint: 'data',
  pdGetScheduleConfig: 'data',
  pdRegisterGcService: 'data',
  txnPrewrite: 'data',
  txnCommit: 'data',
  txnRollback: 'data',
  txnCheckStatus: 'data',
  txnResolveLock: 'data',
  txnHeartbeat: 'data',
  txnGet: 'data',
  txnScan: 'data',
  txnCheckSecondaryLocks: 'data',
  txnPessimisticLock: 'data',
  txnPessimisticRollback: 'data',
  txnGc: 'data',
  txnStaleGet: 'data',
  txnStaleScan: 'data',
  txnCdcPull: 'data',
  txnReadIndex: 'data',
  txnReplicaGet: 'data',
  txnReplicaScan: 'data',
  txnDetectDeadlock: 'data',
};

/** `PROVISIONAL_REQUESTS` as written by hand before the table carried it. */
const PROVISIONAL_BEFORE = {
  write: false,
  get: true,
  scan: true,
  status: true,
  changePeers: false,
  split: false,
  transferLeader: false,
  campaign: false,
  setDraining: false,
  pdStoreHeartbeat: false,
  pdRegionHeartbeat: false,
  pdPutStore: true,
  pdAllocId: false,
  pdGetRegion: true,
  pdGetRegionById: true,
  pdGetStore: true,
  pdGetTimestamps: false,
  pdGetGcSafePoint: true,
  pdGetScheduleConfig: true,
  pdRegisterGcService: false,
  txnPrewrite: false,
  txnCommit: false,
  txnRollback: false,
  txnCheckStatus: false,
  txnResolveLock: false,
  txnHeartbeat: false,
  txnGet: true,
  txnScan: true,
  txnCheckSecondaryLocks: false,
  txnPessimisticLock: false,
  txnPessimisticRollback: false,
  txnGc: false,
  txnStaleGet: true,
  txnStaleScan: true,
  txnCdcPull: true,
  txnReadIndex: true,
  txnReplicaGet: true,
  txnReplicaScan: true,
  txnDetectDeadlock: false,
};

/** `RemoteKvService`'s hand-kept sets before the table's `attempt` carried them (copied from it). */
const RTO_BOUNDED_BEFORE = ['write', 'txnPrewrite', 'txnCommit', 'txnGet', 'txnReadIndex', 'txnHeartbeat', 'txnRollback', 'txnCheckStatus', 'txnCheckSecondaryLocks', 'txnResolveLock', 'txnPessimisticRollback'];
const LEADER_ONLY_BEFORE = ['txnScan', 'txnCdcPull', 'txnPessimisticLock'];
/** The browser tab protocol's hand-kept `TAB_TXN_REQUEST_TYPES` (copied from it). */
const TAB_BEFORE = ['txnPessimisticLock', 'txnPessimisticRollback', 'txnHeartbeat', 'txnCheckStatus', 'txnResolveLock', 'txnCheckSecondaryLocks'];

/** The former rules over those sets: a raw get is RTO-bounded and a raw scan waits for the leader only when linearizable. */
function rtoBoundedBefore(q: StoreRequest): boolean {
  return RTO_BOUNDED_BEFORE.includes(q.type) || (q.type === 'get' && q.consistency === 'linearizable');
}
function leaderOnlyBefore(q: StoreRequest): boolean {
  return rtoBoundedBefore(q) || LEADER_ONLY_BEFORE.includes(q.type) || (q.type === 'scan' && q.consistency === 'linearizable');
}

const k = new Uint8Array([1, 2, 3]);
const region = { id: 5, startKey: k, endKey: new Uint8Array(), epoch: { confVer: 3, version: 7 }, peers: [{ id: 1, storeId: 2, role: 'voter' as const }] };

/** [response, its bytes as the switch-based codec wrote them]. */
const RESPONSES: [StoreResponse, string][] = [
  [{ type: 'status', status: { storeId: 1, counters: { rounds: 1, writes: 2, snapshotsGenerated: 3, snapshotsInstalled: 4, logCompactions: 5 }, regions: [] } }, '05010100010203040500'],
  [{ type: 'failure', failure: { kind: 'Forbidden', message: 'no' } }, '060103026e6f'],
  [{ type: 'txn', result: { ok: true, value: { ok: true, value: { kind: 'commit', commitTs: 9n } } } }, '200101010a0009'],
  [{ type: 'pdApply', result: { ok: true, value: { kind: 'storePut', storeId: 4, isNew: true, replacedStoreIds: [3] } } }, '0701010304010103'],
  [{ type: 'pdStep', result: { ok: true, value: {} } }, '08010100'],
  [{ type: 'pdId', result: { ok: true, value: 42 } }, '0901012a'],
  [{ type: 'pdRoute', result: { ok: true, value: { region, leader: region.peers[0] } } }, '0a01010105030102030003070101020001010200'],
  [{ type: 'pdRoute', result: { ok: true, value: undefined } }, '0a010100'],
  [{ type: 'pdStore', result: { ok: true, value: { id: 2, address: 'a', labels: { z: 'y' }, state: 'up' } } }, '0b01010102016101017a017900'],
  [{ type: 'pdTimestamps', result: { ok: true, value: { first: 77n, count: 3 } } }, '0c0101004d03'],
  [{ type: 'pdGcSafePoint', result: { ok: true, value: 5n } }, '0d01010005'],
  [{ type: 'pdGcRegister', result: { ok: true, value: { kind: 'error', error: { kind: 'TooManyServices', servicesMax: 8 } } } }, '0e0101000208'],
  [{ type: 'pdGcRegister', result: { ok: false, error: { kind: 'RegionNotFound', regionId: 1 } } }, '0e01000301'],
];

/** `table`'s values for the types of `like`. */
function pick<T>(table: Readonly<Record<string, T>>, like: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.keys(like).map((type) => [type, table[type]]));
}

describe('the store request table', () => {
  it('gives every request type the class and provisional rule it had', () => {
    // Each type of the hand-written tables keeps its values; a type added since has its own.
    expect(Object.keys(CLASSES_BEFORE).filter((type) => !(type in STORE_REQUEST_CODECS))).toEqual([]);
    expect(pick(REQUEST_CLASSES, CLASSES_BEFORE)).toEqual(CLASSES_BEFORE);
    expect(pick(PROVISIONAL_REQUESTS, PROVISIONAL_BEFORE)).toEqual(PROVISIONAL_BEFORE);
  });

  it('asks the data-key proof for every data request that carries user data and for the data-key rotation, and for no other', () => {
    // The data requests that carry none, as the rule first listed them by hand (wt-witness).
    const withoutUserData = ['status', 'pdAllocId', 'pdGetRegion', 'pdGetRegionById', 'pdGetStore', 'pdGetTimestamps', 'pdGetGcSafePoint', 'pdRegisterGcService', 'pdGetScheduleConfig'];
    const types = Object.keys(STORE_REQUEST_CODECS) as StoreRequestType[];
    expect(types.filter((type) => REQUEST_CLASSES[type] === 'data' && !needsDataKey(type)).sort()).toEqual([...withoutUserData].sort());
    // Of the other classes, only the data-key rotation (an admin request, AUTH_ADMIN_DATA_KEY):
    // a witness credential's holder, who never proved the data key, never rotates it.
    expect(types.filter((type) => REQUEST_CLASSES[type] !== 'data' && needsDataKey(type))).toEqual(['rotateDataKey']);
    for (const type of ['get', 'scan', 'write', 'txnPrewrite', 'txnGet', 'txnCdcPull', 'txnDetectDeadlock', 'txnStaleGet'] as const) expect(needsDataKey(type), type).toBe(true);
  });

  it('derives the RTO-bounded, leader-served and tab request sets the client kept by hand', () => {
    const consistencies: ReadConsistency[] = ['linearizable', 'follower', 'stale'];
    // Only what the rules read: the type, and a read's consistency.
    const requests = (Object.keys(STORE_REQUEST_CODECS) as StoreRequestType[]).flatMap((type) => consistencies.map((consistency) => ({ type, consistency }) as unknown as StoreRequest));
    for (const q of requests) {
      const what = `${q.type} ${'consistency' in q ? q.consistency : ''}`;
      expect(rtoBounded(q), what).toBe(rtoBoundedBefore(q));
      expect(leaderServes(q), what).toBe(leaderOnlyBefore(q));
    }
    expect([...TAB_REQUEST_TYPES].sort()).toEqual([...TAB_BEFORE].sort());
  });

  it('gives a type whose entry names no attempt the safe side of each choice', () => {
    // Not leader-served (it waits its timeout rather than ending on leader news), not cut at
    // the RTO (a long request is not failed early), and not sent from a tab (the host refuses it).
    expect(ATTEMPT_DEFAULT).toEqual({ leader: 'never', rto: false, tab: false });
    const q = { type: 'status' } as StoreRequest;
    expect(STORE_REQUEST_CODECS.status.attempt).toBeUndefined();
    expect(attemptOf('status')).toBe(ATTEMPT_DEFAULT);
    expect([rtoBounded(q), leaderServes(q), TAB_REQUEST_TYPES.includes('status' as never)]).toEqual([false, false, false]);
    // An RTO with no leader to serve in one round bounds nothing: `rto` alone does not cut an attempt.
    expect(rtoBounded({ type: 'txnGc' } as StoreRequest, { leader: 'never', rto: true, tab: false })).toBe(false);
  });

  it('numbers every request type once', () => {
    const tags = Object.values(STORE_REQUEST_TYPES);
    expect(new Set(tags).size).toBe(Object.keys(STORE_REQUEST_CODECS).length);
    expect(tags).not.toContain(17);
  });

  it('writes and reads every response type as the switch-based codec did', () => {
    const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
    for (const [r, bytes] of RESPONSES) {
      expect(hex(encodeStoreResponse(r)), r.type).toBe(bytes);
      expect(decodeStoreResponse(Uint8Array.from(Buffer.from(bytes, 'hex'))), r.type).toEqual(r);
    }
  });
});
