/**
 * The wire codec of the transactional answers (paired write/read; the response codec
 * `rpc/response-codec.ts` holds the entry, and the request bodies are in `codec-requests.ts`).
 * Every txn answer travels as one response type, `txn`: a region
 * `Result` whose value is a `TxnAnswer` of a self-describing `TxnValue` (its kind first), so a
 * response decodes without knowing its request.
 */
import { DecodeError, readEnum, readKeyError, readTimestamp, writeEnum, writeKeyError, writeTimestamp, type ByteReader, type ByteWriter, type KeyError } from '@peerkv/proto';
import { readLock, writeLock, type SecondaryStatus, type TxnStatus } from '@peerkv/txn';
import { RPC_KEY_BYTES_MAX, RPC_PAIRS_MAX, RPC_STRING_BYTES_MAX, RPC_VALUE_BYTES_MAX } from '../rpc/wire.ts';
import { TXN_KEYS_MAX, readOptBytes, readOptTs, writeOptBytes, writeOptTs } from './codec-fields.ts';
import type { TxnAnswer, TxnCommitResult, TxnError, TxnGcResult, TxnGetResult, TxnHeartbeatResult, TxnPessimisticLockResult, TxnPrewriteResult, TxnScanResult, TxnSecondaryLocksResult, TxnStaleReadResult, TxnCdcResult, TxnReadIndexResult } from './types.ts';
import { readCdcResult, writeCdcResult } from './cdc-codec.ts';

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

