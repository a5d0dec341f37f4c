/** The txn requests' and answers' wire codec: round trips, and every truncation a typed error. */
import { describe, expect, it } from 'vitest';
import { composeTs } from '@peerkv/txn';
import {
  STORE_REQUEST_CODECS,
  StoreRpcDecodeError,
  decodeStoreRequest,
  decodeStoreResponse,
  encodeStoreRequest,
  encodeStoreResponse,
  type StoreRequest,
  type StoreResponse,
} from '../src/index.ts';

const k = (s: string): Uint8Array => new TextEncoder().encode(s);
const epoch = { confVer: 1, version: 3 };
const lock = { kind: 'put' as const, primary: k('p'), startTs: 5n, ttlMs: 100, forUpdateTs: 0n, txnSize: 2, minCommitTs: 6n, useAsyncCommit: true, secondaries: [k('s')], shortValue: k('v') };

const REQUESTS: StoreRequest[] = [
  { type: 'txnPrewrite', regionId: 2, epoch, mutations: [{ op: 'put', key: k('a'), value: k('1') }, { op: 'delete', key: k('b'), pessimistic: true }, { op: 'insert', key: k('c'), value: k('3') }, { op: 'lock', key: k('d') }, { op: 'checkNotExists', key: k('e') }], primary: k('a'), startTs: composeTs(100, 3), lockTtlMs: 3000, txnSize: 5, forUpdateTs: composeTs(101), minCommitTs: composeTs(102), mode: { kind: 'asyncCommit', secondaries: [k('b'), k('c')] }, timeoutMs: 500 },
  { type: 'txnPrewrite', regionId: 2, epoch, mutations: [{ op: 'put', key: k('a'), value: k('1') }], primary: k('a'), startTs: 1n, lockTtlMs: 0, txnSize: 1, mode: { kind: 'onePc' } },
  { type: 'txnPrewrite', regionId: 2, epoch, mutations: [{ op: 'lock', key: k('r') }, { op: 'put', key: k('w'), value: k('1') }], primary: k('r'), startTs: composeTs(200), lockTtlMs: 3000, txnSize: 2, mode: { kind: 'twoPc' }, readTs: composeTs(150), timeoutMs: 500 },
  { type: 'txnCommit', regionId: 2, epoch, keys: [k('a'), k('b')], startTs: 1n, commitTs: 2n },
  { type: 'txnRollback', regionId: 2, epoch, keys: [k('a')], startTs: 1n, timeoutMs: 0 },
  { type: 'txnCheckStatus', regionId: 2, epoch, primaryKey: k('p'), lockTs: 1n, callerStartTs: 2n, currentTs: 3n, rollbackIfNotExist: true, forceSyncCommit: true },
  { type: 'txnResolveLock', regionId: 2, epoch, keys: [], startTs: 1n, commitTs: 9n },
  { type: 'txnResolveLock', regionId: 2, epoch, keys: [k('x')], startTs: 1n },
  { type: 'txnHeartbeat', regionId: 2, epoch, primaryKey: k('p'), startTs: 1n, adviseTtlMs: 4000 },
  { type: 'txnGet', regionId: 2, epoch, key: k('g'), ts: (1n << 64n) - 1n, bypassLocks: [1n, 2n] },
  { type: 'txnScan', regionId: 2, epoch, start: k('a'), end: k('z'), limit: 10, ts: 7n },
  { type: 'txnCheckSecondaryLocks', regionId: 2, epoch, keys: [k('s1'), k('s2')], startTs: 4n, timeoutMs: 100 },
  { type: 'txnPessimisticLock', regionId: 2, epoch, keys: [k('a'), k('b')], primary: k('a'), startTs: 5n, forUpdateTs: 6n, lockTtlMs: 3000, waitTimeoutMs: 1000, shouldNotExist: true, returnValues: true, minCommitTs: 7n, timeoutMs: 200 },
  { type: 'txnPessimisticLock', regionId: 2, epoch, keys: [k('a')], primary: k('a'), startTs: 5n, forUpdateTs: 5n, lockTtlMs: 0, waitTimeoutMs: 0 },
  { type: 'txnPessimisticRollback', regionId: 2, epoch, keys: [k('a')], startTs: 5n, forUpdateTs: 6n },
  { type: 'txnGc', regionId: 2, epoch, safePoint: composeTs(50), startKey: k('m'), pagesMax: 3, timeoutMs: 900 },
  { type: 'txnGc', regionId: 2, epoch, safePoint: 1n },
  { type: 'txnDetectDeadlock', kind: 'detect', waiterTs: 5n, holderTs: composeTs(9, 1), key: k('a'), keyHash: (1n << 64n) - 1n, ttlMs: 1000, timeoutMs: 1000 },
  { type: 'txnDetectDeadlock', kind: 'cleanUp', waiterTs: 5n, holderTs: 0n, key: k(''), keyHash: 0n, ttlMs: 0 },
  { type: 'txnStaleGet', regionId: 2, epoch, key: k('s'), ts: composeTs(70), timeoutMs: 300 },
  { type: 'txnStaleGet', regionId: 2, epoch, key: k('s') },
  { type: 'txnStaleScan', regionId: 2, epoch, start: k('a'), end: k('z'), limit: 10, ts: 9n },
  { type: 'txnStaleScan', regionId: 2, epoch, start: k(''), limit: 0 },
  { type: 'txnReadIndex', regionId: 2, epoch, start: k('a'), end: k('a\0'), ts: composeTs(90), timeoutMs: 300 },
  { type: 'txnReadIndex', regionId: 2, epoch, start: k(''), ts: 1n },
  { type: 'txnReplicaGet', regionId: 2, epoch, key: k('a'), ts: composeTs(90), appliedIndex: 1234, bypassLocks: [5n], timeoutMs: 300 },
  { type: 'txnReplicaGet', regionId: 2, epoch, key: k(''), ts: 1n, appliedIndex: 0 },
  { type: 'txnReplicaScan', regionId: 2, epoch, start: k('a'), end: k('z'), limit: 10, ts: 9n, appliedIndex: 77, bypassLocks: [3n, 4n] },
  { type: 'txnReplicaScan', regionId: 2, epoch, start: k(''), limit: 0, ts: 9n, appliedIndex: 0 },
];

const RESPONSES: StoreResponse[] = [
  { type: 'txn', result: { ok: true, value: { ok: true, value: { kind: 'unit' } } } },
  { type: 'txn', result: { ok: true, value: { ok: true, value: { kind: 'prewrite', minCommitTs: 7n, onePcCommitTs: 8n } } } },
  { type: 'txn', result: { ok: true, value: { ok: true, value: { kind: 'status', status: { kind: 'locked', lock, minCommitTsPushed: true } } } } },
  { type: 'txn', result: { ok: true, value: { ok: true, value: { kind: 'status', status: { kind: 'rolledBack', reason: 'ttlExpired' } } } } },
  { type: 'txn', result: { ok: true, value: { ok: true, value: { kind: 'status', status: { kind: 'committed', commitTs: 9n } } } } },
  { type: 'txn', result: { ok: true, value: { ok: true, value: { kind: 'heartbeat', ttlMs: 10 } } } },
  { type: 'txn', result: { ok: true, value: { ok: true, value: { kind: 'get', value: k('v'), commitTs: 3n } } } },
  { type: 'txn', result: { ok: true, value: { ok: true, value: { kind: 'scan', pairs: [{ key: k('a'), value: k('1') }], nextKey: k('b') } } } },
  { type: 'txn', result: { ok: true, value: { ok: true, value: { kind: 'secondaries', statuses: [{ kind: 'locked', lock }, { kind: 'committed', commitTs: 9n }, { kind: 'rolledBack' }] } } } },
  { type: 'txn', result: { ok: true, value: { ok: true, value: { kind: 'pessimisticLock', values: [k('v'), undefined] } } } },
  { type: 'txn', result: { ok: true, value: { ok: true, value: { kind: 'pessimisticLock' } } } },
  { type: 'txn', result: { ok: true, value: { ok: true, value: { kind: 'gc', versionsDropped: 3, nextKey: k('n') } } } },
  { type: 'txn', result: { ok: true, value: { ok: true, value: { kind: 'gc', versionsDropped: 0 } } } },
  { type: 'txn', result: { ok: true, value: { ok: true, value: { kind: 'stale', readTs: composeTs(70, 2), pairs: [{ key: k('a'), value: k('1') }], nextKey: k('b') } } } },
  { type: 'txn', result: { ok: true, value: { ok: true, value: { kind: 'stale', readTs: 1n, pairs: [] } } } },
  { type: 'txn', result: { ok: true, value: { ok: true, value: { kind: 'commit', commitTs: composeTs(80, 1) } } } },
  { type: 'txn', result: { ok: true, value: { ok: true, value: { kind: 'readIndex', appliedIndex: 987_654 } } } },
  {
    type: 'txn',
    result: {
      ok: true,
      value: {
        ok: false,
        errors: [
          { kind: 'KeyIsLocked', key: k('a'), primary: k('p'), startTs: 1n, ttlMs: 5, lockKind: 'put', minCommitTs: 2n },
          { kind: 'Committed', key: k('a'), startTs: 1n, commitTs: 2n },
          { kind: 'PrimaryMismatch', key: k('a'), startTs: 1n, lockPrimary: k('q') },
          { kind: 'TxnUnsupported', missingColumnFamilies: ['lock', 'write'] },
          { kind: 'Deadlock', lockTs: 3n, lockKey: k('b'), deadlockKeyHash: 12345n },
          { kind: 'DataIsNotReady', regionId: 7, safeTs: composeTs(60) },
        ],
      },
    },
  },
  { type: 'txn', result: { ok: false, error: { kind: 'NotLeader', regionId: 2 } } },
];

describe('txn codec', () => {
  it('round-trips every txn request type and answer shape', () => {
    for (const q of REQUESTS) expect(decodeStoreRequest(encodeStoreRequest(q))).toEqual(q);
    for (const s of RESPONSES) expect(decodeStoreResponse(encodeStoreResponse(s))).toEqual(s);
    const tags = Object.entries(STORE_REQUEST_CODECS).filter(([t]) => t.startsWith('txn')).map(([, c]) => c.tag);
    expect(tags).toEqual([32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 50, 51, 52]);
  });

  it('refuses every truncation and a trailing byte with StoreRpcDecodeError', () => {
    for (const bytes of [...REQUESTS.map(encodeStoreRequest)]) {
      for (let n = 0; n < bytes.length; n++) expect(() => decodeStoreRequest(bytes.subarray(0, n))).toThrow(StoreRpcDecodeError);
      expect(() => decodeStoreRequest(new Uint8Array([...bytes, 0]))).toThrow(StoreRpcDecodeError);
    }
    for (const bytes of RESPONSES.map(encodeStoreResponse)) {
      for (let n = 0; n < bytes.length; n++) expect(() => decodeStoreResponse(bytes.subarray(0, n))).toThrow(StoreRpcDecodeError);
    }
  });

  it('refuses an unknown txn error kind with StoreRpcDecodeError', () => {
    const bytes = encodeStoreResponse({ type: 'txn', result: { ok: true, value: { ok: false, errors: [{ kind: 'Committed', key: k('a'), startTs: 1n, commitTs: 2n }] } } });
    const i = bytes.indexOf(2, 4); // the error's wire number (Committed = 2) after header, ok bytes and count
    const bad = bytes.slice();
    bad[i] = 99;
    expect(() => decodeStoreResponse(bad)).toThrow(StoreRpcDecodeError);
  });
});
