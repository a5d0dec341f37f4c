/**
 * The wire bodies of the transactional requests (after the request header), paired write/read.
 * The request codec table `rpc/request-codec.ts` holds one entry each; the answers, which all
 * travel as the one `txn` response type, are in `codec.ts`.
 */
import { readTimestamp, writeTimestamp, type ByteReader, type ByteWriter } from '@peerkv/proto';
import type { RequestOf } from '../request-types.ts';
import { RPC_KEY_BYTES_MAX } from '../rpc/wire.ts';
import {
  TXN_KEYS_MAX,
  readKeys,
  readMode,
  readMutation,
  readOptBytes,
  readOptTs,
  readRegionTarget,
  readTimeout,
  readTsList,
  writeKeys,
  writeMode,
  writeMutation,
  writeOptBytes,
  writeOptTs,
  writeRegionTarget,
  writeTimeout,
  writeTsList,
} from './codec-fields.ts';

/** The txn requests whose body is the region, keys, then timestamps (and the timeout). */
type KeysWithTsType = 'txnCommit' | 'txnRollback' | 'txnCheckSecondaryLocks' | 'txnPessimisticRollback';

/** The body codec of a `KeysWithTsType` request: its timestamps, in `tsFields` order. */
function keysWithTs<K extends KeysWithTsType>(type: K, tsFields: readonly (keyof RequestOf<K> & string)[]): { write(w: ByteWriter, q: RequestOf<K>): void; read(r: ByteReader): RequestOf<K> } {
  return {
    write(w, q) {
      // Generic over K, tsc cannot see the fields every K shares: the union's common shape.
      const body = q as unknown as RequestOf<KeysWithTsType> & Record<string, unknown>;
      writeRegionTarget(w, body);
      writeKeys(w, body.keys);
      for (const f of tsFields) writeTimestamp(w, body[f] as bigint);
      writeTimeout(w, body);
    },
    read(r) {
      const region = readRegionTarget(r);
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
      writeRegionTarget(w, q);
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
      const region = readRegionTarget(r);
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
      writeRegionTarget(w, q);
      w.bytes(q.primaryKey);
      for (const t of [q.lockTs, q.callerStartTs, q.currentTs]) writeTimestamp(w, t);
      w.u8(q.rollbackIfNotExist ? 1 : 0);
      w.u8(q.forceSyncCommit ? 1 : 0);
      writeTimeout(w, q);
    },
    read(r: ByteReader): RequestOf<'txnCheckStatus'> {
      const region = readRegionTarget(r);
      const primaryKey = r.bytes(RPC_KEY_BYTES_MAX, 'primary key');
      const [lockTs, callerStartTs, currentTs] = [readTimestamp(r), readTimestamp(r), readTimestamp(r)];
      const rollbackIfNotExist = r.bool();
      const forceSyncCommit = r.bool();
      return { type: 'txnCheckStatus', ...region, primaryKey, lockTs, callerStartTs, currentTs, rollbackIfNotExist, ...(forceSyncCommit ? { forceSyncCommit } : {}), ...readTimeout(r) };
    },
  },
  txnResolveLock: {
    write(w: ByteWriter, q: RequestOf<'txnResolveLock'>): void {
      writeRegionTarget(w, q);
      writeKeys(w, q.keys);
      writeTimestamp(w, q.startTs);
      writeOptTs(w, q.commitTs);
      writeTimeout(w, q);
    },
    read(r: ByteReader): RequestOf<'txnResolveLock'> {
      const region = readRegionTarget(r);
      const keys = readKeys(r, 'keys');
      const startTs = readTimestamp(r);
      const commitTs = readOptTs(r);
      return { type: 'txnResolveLock', ...region, keys, startTs, ...(commitTs === undefined ? {} : { commitTs }), ...readTimeout(r) };
    },
  },
  txnHeartbeat: {
    write(w: ByteWriter, q: RequestOf<'txnHeartbeat'>): void {
      writeRegionTarget(w, q);
      w.bytes(q.primaryKey);
      writeTimestamp(w, q.startTs);
      w.varUint(q.adviseTtlMs);
      writeTimeout(w, q);
    },
    read(r: ByteReader): RequestOf<'txnHeartbeat'> {
      const region = readRegionTarget(r);
      const primaryKey = r.bytes(RPC_KEY_BYTES_MAX, 'primary key');
      const startTs = readTimestamp(r);
      const adviseTtlMs = r.varUint();
      return { type: 'txnHeartbeat', ...region, primaryKey, startTs, adviseTtlMs, ...readTimeout(r) };
    },
  },
  txnGet: {
    write(w: ByteWriter, q: RequestOf<'txnGet'>): void {
      writeRegionTarget(w, q);
      w.bytes(q.key);
      writeTimestamp(w, q.ts);
      writeTsList(w, q.bypassLocks);
      writeTimeout(w, q);
    },
    read(r: ByteReader): RequestOf<'txnGet'> {
      const region = readRegionTarget(r);
      const key = r.bytes(RPC_KEY_BYTES_MAX, 'key');
      const ts = readTimestamp(r);
      const bypassLocks = readTsList(r);
      return { type: 'txnGet', ...region, key, ts, ...(bypassLocks === undefined ? {} : { bypassLocks }), ...readTimeout(r) };
    },
  },
  txnScan: {
    write(w: ByteWriter, q: RequestOf<'txnScan'>): void {
      writeRegionTarget(w, q);
      w.bytes(q.start);
      writeOptBytes(w, q.end);
      w.varUint(q.limit);
      writeTimestamp(w, q.ts);
      writeTsList(w, q.bypassLocks);
      writeTimeout(w, q);
    },
    read(r: ByteReader): RequestOf<'txnScan'> {
      const region = readRegionTarget(r);
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
      writeRegionTarget(w, q);
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
      const region = readRegionTarget(r);
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
      writeRegionTarget(w, q);
      writeTimestamp(w, q.safePoint);
      writeOptBytes(w, q.startKey);
      w.varUint(q.pagesMax === undefined ? 0 : q.pagesMax + 1);
      writeTimeout(w, q);
    },
    read(r: ByteReader): RequestOf<'txnGc'> {
      const region = readRegionTarget(r);
      const safePoint = readTimestamp(r);
      const startKey = readOptBytes(r, RPC_KEY_BYTES_MAX, 'start key');
      const pages = r.varUint();
      return { type: 'txnGc', ...region, safePoint, ...(startKey === undefined ? {} : { startKey }), ...(pages === 0 ? {} : { pagesMax: pages - 1 }), ...readTimeout(r) };
    },
  },
} as const;
