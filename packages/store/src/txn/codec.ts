/**
 * The wire codec of the transactional requests and their answers (paired write/read; the
 * request codec table `rpc/request-codec.ts` and the response codec `rpc/response-codec.ts`
 * hold one entry each). Every txn answer travels as one response type, `txn`: a region
 * `Result` whose value is a `TxnAnswer` of a self-describing `TxnValue` (its kind first), so a
 * response decodes without knowing its request.
 */
import { DecodeError, readEnum, readKeyError, readTimestamp, writeEnum, writeKeyError, writeTimestamp, type ByteReader, type ByteWriter, type KeyError } from '@peerkv/proto';
import { readLock, writeLock, type SecondaryStatus, type TxnStatus } from '@peerkv/txn';
import type { RequestOf } from '../request-types.ts';
import { RPC_KEY_BYTES_MAX, RPC_PAIRS_MAX, RPC_STRING_BYTES_MAX, RPC_VALUE_BYTES_MAX } from '../rpc/wire.ts';
import {
  TXN_KEYS_MAX,
  readKeys,
  readMode,
  readMutation,
  readOptBytes,
  readOptTs,
  readRegion,
  readTimeout,
  readTsList,
  writeKeys,
  writeMode,
  writeMutation,
  writeOptBytes,
  writeOptTs,
  writeRegion,
  writeTimeout,
  writeTsList,
} from './codec-fields.ts';
import type { TxnAnswer, TxnCommitMode, TxnCommitResult, TxnError, TxnGcResult, TxnGetResult, TxnHeartbeatResult, TxnPessimisticLockResult, TxnPrewriteResult, TxnScanResult, TxnSecondaryLocksResult, TxnStaleReadResult, TxnCdcResult, TxnReadIndexResult } from './types.ts';
import { readCdcResult, writeCdcResult } from './cdc-codec.ts';

// ---- requests ---------------------------------------------------------------------------------

/** The txn requests whose body is the region, keys, then timestamps (and the timeout). */
type KeysWithTsType = 'txnCommit' | 'txnRollback' | 'txnCheckSecondaryLocks' | 'txnPessimisticRollback';

/** The body codec of a `KeysWithTsType` request: its timestamps, in `tsFields` order. */
function keysWithTs<K extends KeysWithTsType>(type: K, tsFields: readonly (keyof RequestOf<K> & string)[]): { write(w: ByteWriter, q: RequestOf<K>): void; read(r: ByteReader): RequestOf<K> } {
  return {
    write(w, q) {
      // Generic over K, tsc cannot see the fields every K shares: the union's common shape.
      const body = q as unknown as RequestOf<KeysWithTsType> & Record<string, unknown>;
      writeRegion(w, body);
      writeKeys(w, body.keys);
      for (const f of tsFields) writeTimestamp(w, body[f] as bigint);
      writeTimeout(w, body);
    },
    read(r) {
      const region = readRegion(r);
      const keys = readKeys(r, 'keys');
      const ts = Object.fromEntries(tsFields.map((f) => [f, readTimestamp(r)]));
      return { type, ...region, keys, ...ts, ...readTimeout(r) } as RequestOf<K>;
    },
  };
}

/** The body codec of each txn request type (after the header), paired. */
export const TXN_REQUEST_BODIES = {
  txnPrewrite: {
    write(w: ByteWriter, q: RequestOf<'txnPrewrite'>): void {
      writeRegion(w, q);
      w.varUint(q.mutations.length);
      for (const m of q.mutations) writeMutation(w, m);
      w.bytes(q.primary);
      writeTimestamp(w, q.startTs);
      w.varUint(q.lockTtlMs);
      w.varUint(q.txnSize);
      writeOptTs(w, q.forUpdateTs);
      writeOptTs(w, q.minCommitTs);
      writeMode(w, q.mode);
      writeOptTs(w, q.readTs);
      writeTimeout(w, q);
    },
    read(r: ByteReader): RequestOf<'txnPrewrite'> {
      const region = readRegion(r);
      const n = r.count(TXN_KEYS_MAX, 3, 'mutations');
      const mutations = Array.from({ length: n }, () => readMutation(r));
      const primary = r.bytes(RPC_KEY_BYTES_MAX, 'primary');
      const startTs = readTimestamp(r);
      const lockTtlMs = r.varUint();
      const txnSize = r.varUint();
      const forUpdateTs = readOptTs(r);
      const minCommitTs = readOptTs(r);
      const mode = readMode(r);
      const readTs = readOptTs(r);
      const q: RequestOf<'txnPrewrite'> = { type: 'txnPrewrite', ...region, mutations, primary, startTs, lockTtlMs, txnSize, mode, ...readTimeout(r) };
      if (forUpdateTs !== undefined) q.forUpdateTs = forUpdateTs;
      if (minCommitTs !== undefined) q.minCommitTs = minCommitTs;
      if (readTs !== undefined) q.readTs = readTs;
      return q;
    },
  },
  txnCommit: keysWithTs('txnCommit', ['startTs', 'commitTs']),
  txnRollback: keysWithTs('txnRollback', ['startTs']),
  txnCheckStatus: {
    write(w: ByteWriter, q: RequestOf<'txnCheckStatus'>): void {
      writeRegion(w, q);
      w.bytes(q.primaryKey);
      for (const t of [q.lockTs, q.callerStartTs, q.currentTs]) writeTimestamp(w, t);
      w.u8(q.rollbackIfNotExist ? 1 : 0);
      w.u8(q.forceSyncCommit ? 1 : 0);
      writeTimeout(w, q);
    },
    read(r: ByteReader): RequestOf<'txnCheckStatus'> {
      const region = readRegion(r);
      const primaryKey = r.bytes(RPC_KEY_BYTES_MAX, 'primary key');
      const [lockTs, callerStartTs, currentTs] = [readTimestamp(r), readTimestamp(r), readTimestamp(r)];
      const rollbackIfNotExist = r.bool();
      const forceSyncCommit = r.bool();
      return { type: 'txnCheckStatus', ...region, primaryKey, lockTs, callerStartTs, currentTs, rollbackIfNotExist, ...(forceSyncCommit ? { forceSyncCommit } : {}), ...readTimeout(r) };
    },
  },
  txnResolveLock: {
    write(w: ByteWriter, q: RequestOf<'txnResolveLock'>): void {
      writeRegion(w, q);
      writeKeys(w, q.keys);
      writeTimestamp(w, q.startTs);
      writeOptTs(w, q.commitTs);
      writeTimeout(w, q);
    },
    read(r: ByteReader): RequestOf<'txnResolveLock'> {
      const region = readRegion(r);
      const keys = readKeys(r, 'keys');
      const startTs = readTimestamp(r);
      const commitTs = readOptTs(r);
      return { type: 'txnResolveLock', ...region, keys, startTs, ...(commitTs === undefined ? {} : { commitTs }), ...readTimeout(r) };
    },
  },
  txnHeartbeat: {
    write(w: ByteWriter, q: RequestOf<'txnHeartbeat'>): void {
      writeRegion(w, q);
      w.bytes(q.primaryKey);
      writeTimestamp(w, q.startTs);
      w.varUint(q.adviseTtlMs);
      writeTimeout(w, q);
    },
    read(r: ByteReader): RequestOf<'txnHeartbeat'> {
      const region = readRegion(r);
      const primaryKey = r.bytes(RPC_KEY_BYTES_MAX, 'primary key');
      const startTs = readTimestamp(r);
      const adviseTtlMs = r.varUint();
      return { type: 'txnHeartbeat', ...region, primaryKey, startTs, adviseTtlMs, ...readTimeout(r) };
    },
  },
  txnGet: {
    write(w: ByteWriter, q: RequestOf<'txnGet'>): void {
      writeRegion(w, q);
      w.bytes(q.key);
      writeTimestamp(w, q.ts);
      writeTsList(w, q.bypassLocks);
      writeTimeout(w, q);
    },
    read(r: ByteReader): RequestOf<'txnGet'> {
      const region = readRegion(r);
      const key = r.bytes(RPC_KEY_BYTES_MAX, 'key');
      const ts = readTimestamp(r);
      const bypassLocks = readTsList(r);
      return { type: 'txnGet', ...region, key, ts, ...(bypassLocks === undefined ? {} : { bypassLocks }), ...readTimeout(r) };
    },
  },
  txnScan: {
    write(w: ByteWriter, q: RequestOf<'txnScan'>): void {
      writeRegion(w, q);
      w.bytes(q.start);
      writeOptBytes(w, q.end);
      w.varUint(q.limit);
      writeTimestamp(w, q.ts);
      writeTsList(w, q.bypassLocks);
      writeTimeout(w, q);
    },
    read(r: ByteReader): RequestOf<'txnScan'> {
      const region = readRegion(r);
      const start = r.bytes(RPC_KEY_BYTES_MAX, 'start');
      const end = readOptBytes(r, RPC_KEY_BYTES_MAX, 'end');
      const limit = r.varUint();
      const ts = readTimestamp(r);
      const bypassLocks = readTsList(r);
      return { type: 'txnScan', ...region, start, ...(end === undefined ? {} : { end }), limit, ts, ...(bypassLocks === undefined ? {} : { bypassLocks }), ...readTimeout(r) };
    },
  },
  txnCheckSecondaryLocks: keysWithTs('txnCheckSecondaryLocks', ['startTs']),
  txnPessimisticLock: {
    write(w: ByteWriter, q: RequestOf<'txnPessimisticLock'>): void {
      writeRegion(w, q);
      writeKeys(w, q.keys);
      w.bytes(q.primary);
      writeTimestamp(w, q.startTs);
      writeTimestamp(w, q.forUpdateTs);
      w.varUint(q.lockTtlMs);
      w.varUint(q.waitTimeoutMs);
      w.u8(q.shouldNotExist ? 1 : 0);
      w.u8(q.returnValues ? 1 : 0);
      writeOptTs(w, q.minCommitTs);
      writeTimeout(w, q);
    },
    read(r: ByteReader): RequestOf<'txnPessimisticLock'> {
      const region = readRegion(r);
      const keys = readKeys(r, 'keys');
      const primary = r.bytes(RPC_KEY_BYTES_MAX, 'primary');
      const startTs = readTimestamp(r);
      const forUpdateTs = readTimestamp(r);
      const lockTtlMs = r.varUint();
      const waitTimeoutMs = r.varUint();
      const shouldNotExist = r.bool();
      const returnValues = r.bool();
      const minCommitTs = readOptTs(r);
      return {
        type: 'txnPessimisticLock',
        ...region,
        keys,
        primary,
        startTs,
        forUpdateTs,
        lockTtlMs,
        waitTimeoutMs,
        ...(shouldNotExist ? { shouldNotExist } : {}),
        ...(returnValues ? { returnValues } : {}),
        ...(minCommitTs === undefined ? {} : { minCommitTs }),
        ...readTimeout(r),
      };
    },
  },
  txnPessimisticRollback: keysWithTs('txnPessimisticRollback', ['startTs', 'forUpdateTs']),
  txnGc: {
    write(w: ByteWriter, q: RequestOf<'txnGc'>): void {
      writeRegion(w, q);
      writeTimestamp(w, q.safePoint);
      writeOptBytes(w, q.startKey);
      w.varUint(q.pagesMax === undefined ? 0 : q.pagesMax + 1);
      writeTimeout(w, q);
    },
    read(r: ByteReader): RequestOf<'txnGc'> {
      const region = readRegion(r);
      const safePoint = readTimestamp(r);
      const startKey = readOptBytes(r, RPC_KEY_BYTES_MAX, 'start key');
      const pages = r.varUint();
      return { type: 'txnGc', ...region, safePoint, ...(startKey === undefined ? {} : { startKey }), ...(pages === 0 ? {} : { pagesMax: pages - 1 }), ...readTimeout(r) };
    },
  },
} as const;

// ---- answers ----------------------------------------------------------------------------------

/** A txn answer's value, self-describing on the wire. */
export type TxnValue =
  | { kind: 'unit' }
  | ({ kind: 'prewrite' } & TxnPrewriteResult)
  | { kind: 'status'; status: TxnStatus }
  | ({ kind: 'heartbeat' } & TxnHeartbeatResult)
  | ({ kind: 'get' } & TxnGetResult)
  | ({ kind: 'scan' } & TxnScanResult)
  | ({ kind: 'secondaries' } & TxnSecondaryLocksResult)
  | ({ kind: 'pessimisticLock' } & TxnPessimisticLockResult)
  | ({ kind: 'gc' } & TxnGcResult)
  | ({ kind: 'stale' } & TxnStaleReadResult)
  | ({ kind: 'commit' } & TxnCommitResult)
  | ({ kind: 'cdc' } & TxnCdcResult)
  | ({ kind: 'readIndex' } & TxnReadIndexResult);

/** Wire order of the value kinds (append only). */
const VALUE_KINDS: readonly TxnValue['kind'][] = ['unit', 'prewrite', 'status', 'heartbeat', 'get', 'scan', 'secondaries', 'pessimisticLock', 'gc', 'stale', 'commit', 'cdc', 'readIndex'];
const ROLLED_BACK_REASONS = ['ttlExpired', 'lockNotExist', 'rolledBack'] as const;

/** Wire numbers of the txn error kinds (append only); a key error carries proto's own codec after its number. */
const TXN_ERROR_TAGS = { KeyError: 1, Committed: 2, PrimaryMismatch: 3, TxnUnsupported: 4, SafePointPassed: 5, DataIsNotReady: 6 } as const;
/** Txn column families a `TxnUnsupported` names at most. */
const MISSING_CFS_MAX = 16;

function writeTxnError(w: ByteWriter, e: TxnError): void {
  switch (e.kind) {
    case 'Committed':
      w.varUint(TXN_ERROR_TAGS.Committed);
      w.bytes(e.key);
      writeTimestamp(w, e.startTs);
      return writeTimestamp(w, e.commitTs);
    case 'PrimaryMismatch':
      w.varUint(TXN_ERROR_TAGS.PrimaryMismatch);
      w.bytes(e.key);
      writeTimestamp(w, e.startTs);
      return w.bytes(e.lockPrimary);
    case 'TxnUnsupported':
      w.varUint(TXN_ERROR_TAGS.TxnUnsupported);
      w.varUint(e.missingColumnFamilies.length);
      for (const cf of e.missingColumnFamilies) w.string(cf);
      return;
    case 'SafePointPassed':
      w.varUint(TXN_ERROR_TAGS.SafePointPassed);
      writeTimestamp(w, e.ts);
      return writeTimestamp(w, e.safePoint);
    case 'DataIsNotReady':
      w.varUint(TXN_ERROR_TAGS.DataIsNotReady);
      w.varUint(e.regionId);
      return writeTimestamp(w, e.safeTs);
    default:
      w.varUint(TXN_ERROR_TAGS.KeyError);
      return writeKeyError(w, e as KeyError);
  }
}

function readTxnError(r: ByteReader): TxnError {
  const tag = r.varUint();
  switch (tag) {
    case TXN_ERROR_TAGS.KeyError:
      return readKeyError(r);
    case TXN_ERROR_TAGS.Committed: {
      const key = r.bytes(RPC_KEY_BYTES_MAX, 'key');
      const startTs = readTimestamp(r);
      return { kind: 'Committed', key, startTs, commitTs: readTimestamp(r) };
    }
    case TXN_ERROR_TAGS.PrimaryMismatch: {
      const key = r.bytes(RPC_KEY_BYTES_MAX, 'key');
      const startTs = readTimestamp(r);
      return { kind: 'PrimaryMismatch', key, startTs, lockPrimary: r.bytes(RPC_KEY_BYTES_MAX, 'lock primary') };
    }
    case TXN_ERROR_TAGS.TxnUnsupported: {
      const n = r.count(MISSING_CFS_MAX, 1, 'missing column families');
      return { kind: 'TxnUnsupported', missingColumnFamilies: Array.from({ length: n }, () => r.string(RPC_STRING_BYTES_MAX, 'column family')) };
    }
    case TXN_ERROR_TAGS.SafePointPassed: {
      const ts = readTimestamp(r);
      return { kind: 'SafePointPassed', ts, safePoint: readTimestamp(r) };
    }
    case TXN_ERROR_TAGS.DataIsNotReady: {
      const regionId = r.varUint();
      return { kind: 'DataIsNotReady', regionId, safeTs: readTimestamp(r) };
    }
    default:
      // The codec's own decode failure (`decoding` maps it to StoreRpcDecodeError).
      throw new DecodeError('UnknownTag', `txn error kind ${tag}`);
  }
}

function writeStatus(w: ByteWriter, s: TxnStatus): void {
  if (s.kind === 'committed') {
    w.varUint(0);
    return writeTimestamp(w, s.commitTs);
  }
  if (s.kind === 'rolledBack') {
    w.varUint(1);
    return writeEnum(w, ROLLED_BACK_REASONS, s.reason);
  }
  w.varUint(2);
  writeLock(w, s.lock);
  w.u8(s.minCommitTsPushed ? 1 : 0);
}

function readStatus(r: ByteReader): TxnStatus {
  const kind = readEnum(r, ['committed', 'rolledBack', 'locked'] as const, 'txn status');
  if (kind === 'committed') return { kind, commitTs: readTimestamp(r) };
  if (kind === 'rolledBack') return { kind, reason: readEnum(r, ROLLED_BACK_REASONS, 'rollback reason') };
  const lock = readLock(r);
  return { kind, lock, minCommitTsPushed: r.bool() };
}

function writeSecondary(w: ByteWriter, s: SecondaryStatus): void {
  if (s.kind === 'locked') {
    w.varUint(0);
    return writeLock(w, s.lock);
  }
  if (s.kind === 'committed') {
    w.varUint(1);
    return writeTimestamp(w, s.commitTs);
  }
  w.varUint(2);
}

function readSecondary(r: ByteReader): SecondaryStatus {
  const kind = readEnum(r, ['locked', 'committed', 'rolledBack'] as const, 'secondary status');
  if (kind === 'locked') return { kind, lock: readLock(r) };
  if (kind === 'committed') return { kind, commitTs: readTimestamp(r) };
  return { kind };
}

/** A scan's pairs and resume key (a stale read's too). */
function writePairs(w: ByteWriter, v: { pairs: { key: Uint8Array; value: Uint8Array }[]; nextKey?: Uint8Array }): void {
  w.varUint(v.pairs.length);
  for (const p of v.pairs) {
    w.bytes(p.key);
    w.bytes(p.value);
  }
  writeOptBytes(w, v.nextKey);
}

function writeValue(w: ByteWriter, v: TxnValue): void {
  writeEnum(w, VALUE_KINDS, v.kind);
  switch (v.kind) {
    case 'unit':
      return;
    case 'prewrite':
      writeTimestamp(w, v.minCommitTs);
      return writeOptTs(w, v.onePcCommitTs);
    case 'status':
      return writeStatus(w, v.status);
    case 'heartbeat':
      return w.varUint(v.ttlMs);
    case 'get':
      writeOptBytes(w, v.value);
      return writeOptTs(w, v.commitTs);
    case 'stale':
      writeTimestamp(w, v.readTs);
      return writePairs(w, v);
    case 'scan':
      return writePairs(w, v);
    case 'secondaries':
      w.varUint(v.statuses.length);
      for (const st of v.statuses) writeSecondary(w, st);
      return;
    case 'pessimisticLock':
      w.u8(v.values === undefined ? 0 : 1);
      if (v.values === undefined) return;
      w.varUint(v.values.length);
      for (const value of v.values) writeOptBytes(w, value);
      return;
    case 'gc':
      w.varUint(v.versionsDropped);
      return writeOptBytes(w, v.nextKey);
    case 'commit':
      return writeTimestamp(w, v.commitTs);
    case 'cdc':
      return writeCdcResult(w, v);
    case 'readIndex':
      return w.varUint(v.appliedIndex);
  }
}

function readValue(r: ByteReader): TxnValue {
  const kind = readEnum(r, VALUE_KINDS, 'txn value');
  switch (kind) {
    case 'unit':
      return { kind };
    case 'prewrite': {
      const minCommitTs = readTimestamp(r);
      const onePcCommitTs = readOptTs(r);
      return onePcCommitTs === undefined ? { kind, minCommitTs } : { kind, minCommitTs, onePcCommitTs };
    }
    case 'status':
      return { kind, status: readStatus(r) };
    case 'heartbeat':
      return { kind, ttlMs: r.varUint() };
    case 'get': {
      const value = readOptBytes(r, RPC_VALUE_BYTES_MAX, 'value');
      const commitTs = readOptTs(r);
      return { kind, ...(value === undefined ? {} : { value }), ...(commitTs === undefined ? {} : { commitTs }) };
    }
    case 'stale':
    case 'scan': {
      const readTs = kind === 'stale' ? readTimestamp(r) : 0n;
      const n = r.count(RPC_PAIRS_MAX, 2, 'pairs');
      const pairs = Array.from({ length: n }, () => ({ key: r.bytes(RPC_KEY_BYTES_MAX, 'key'), value: r.bytes(RPC_VALUE_BYTES_MAX, 'value') }));
      const nextKey = readOptBytes(r, RPC_KEY_BYTES_MAX, 'next key');
      const scanned = nextKey === undefined ? { pairs } : { pairs, nextKey };
      return kind === 'stale' ? { kind, readTs, ...scanned } : { kind, ...scanned };
    }
    case 'secondaries': {
      const n = r.count(TXN_KEYS_MAX, 1, 'secondary statuses');
      return { kind, statuses: Array.from({ length: n }, () => readSecondary(r)) };
    }
    case 'pessimisticLock': {
      if (!r.bool()) return { kind };
      const n = r.count(TXN_KEYS_MAX, 1, 'values');
      return { kind, values: Array.from({ length: n }, () => readOptBytes(r, RPC_VALUE_BYTES_MAX, 'value')) };
    }
    case 'gc': {
      const versionsDropped = r.varUint();
      const nextKey = readOptBytes(r, RPC_KEY_BYTES_MAX, 'next key');
      return nextKey === undefined ? { kind, versionsDropped } : { kind, versionsDropped, nextKey };
    }
    case 'commit':
      return { kind, commitTs: readTimestamp(r) };
    case 'cdc':
      return { kind, ...readCdcResult(r) };
    case 'readIndex':
      return { kind, appliedIndex: r.varUint() };
  }
}

/** Errors one answer carries at most (one per key of a request). */
const TXN_ERRORS_MAX = TXN_KEYS_MAX;

/** Writes a txn answer (after the region result's ok byte). */
export function writeTxnAnswer(w: ByteWriter, a: TxnAnswer<TxnValue>): void {
  w.u8(a.ok ? 1 : 0);
  if (a.ok) return writeValue(w, a.value);
  w.varUint(a.errors.length);
  for (const e of a.errors) writeTxnError(w, e);
}

/** Reads a txn answer written by `writeTxnAnswer`. */
export function readTxnAnswer(r: ByteReader): TxnAnswer<TxnValue> {
  if (r.bool()) return { ok: true, value: readValue(r) };
  const n = r.count(TXN_ERRORS_MAX, 1, 'txn errors');
  return { ok: false, errors: Array.from({ length: n }, () => readTxnError(r)) };
}

/** The conversions between a request's answer value and its `TxnValue`. */
export interface TxnValueShape<V> {
  to(v: V): TxnValue;
  from(v: TxnValue): V;
}

/** The shape of each txn request type's answer value. */
export const TXN_VALUE_SHAPES = {
  unit: { to: () => ({ kind: 'unit' }), from: () => undefined } satisfies TxnValueShape<void>,
  prewrite: { to: (v) => ({ kind: 'prewrite', ...v }), from: (v) => strip(v) as TxnPrewriteResult } satisfies TxnValueShape<TxnPrewriteResult>,
  status: { to: (status) => ({ kind: 'status', status }), from: (v) => (v as Extract<TxnValue, { kind: 'status' }>).status } satisfies TxnValueShape<TxnStatus>,
  heartbeat: { to: (v) => ({ kind: 'heartbeat', ...v }), from: (v) => strip(v) as TxnHeartbeatResult } satisfies TxnValueShape<TxnHeartbeatResult>,
  get: { to: (v) => ({ kind: 'get', ...v }), from: (v) => strip(v) as TxnGetResult } satisfies TxnValueShape<TxnGetResult>,
  scan: { to: (v) => ({ kind: 'scan', ...v }), from: (v) => strip(v) as TxnScanResult } satisfies TxnValueShape<TxnScanResult>,
  secondaries: { to: (v) => ({ kind: 'secondaries', ...v }), from: (v) => strip(v) as TxnSecondaryLocksResult } satisfies TxnValueShape<TxnSecondaryLocksResult>,
  pessimisticLock: { to: (v) => ({ kind: 'pessimisticLock', ...v }), from: (v) => strip(v) as TxnPessimisticLockResult } satisfies TxnValueShape<TxnPessimisticLockResult>,
  gc: { to: (v) => ({ kind: 'gc', ...v }), from: (v) => strip(v) as TxnGcResult } satisfies TxnValueShape<TxnGcResult>,
  stale: { to: (v) => ({ kind: 'stale', ...v }), from: (v) => strip(v) as TxnStaleReadResult } satisfies TxnValueShape<TxnStaleReadResult>,
  commit: { to: (v) => ({ kind: 'commit', ...v }), from: (v) => strip(v) as TxnCommitResult } satisfies TxnValueShape<TxnCommitResult>,
  cdc: { to: (v) => ({ kind: 'cdc', ...v }), from: (v) => strip(v) as TxnCdcResult } satisfies TxnValueShape<TxnCdcResult>,
  readIndex: { to: (v) => ({ kind: 'readIndex', ...v }), from: (v) => strip(v) as TxnReadIndexResult } satisfies TxnValueShape<TxnReadIndexResult>,
};

function strip(v: TxnValue): object {
  const { kind: _kind, ...rest } = v;
  return rest;
}

