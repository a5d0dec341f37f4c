/**
 * The read view the actions run over: what they may read of one consistent snapshot of the
 * three column families, in user keys and decoded records. The store implements it on an
 * engine snapshot (`MvccReader` does, over any `CfReader`); tests use `MemoryCfs`.
 *
 * The helpers below are the reads every action shares: the newest write at a ts, the commit
 * record of a transaction, and a put's value.
 */
import type { Lock } from './lock.ts';
import { TS_MAX, type Timestamp } from './timestamp.ts';
import type { Write, WriteVersion } from './write.ts';
import { assert } from './errors.ts';

/** A half-open range of user keys `[start, end)`; a missing side is unbounded. */
export interface UserKeyRange {
  start?: Uint8Array;
  end?: Uint8Array;
}

/** One consistent snapshot of a region's transactional data, read by user key. */
export interface ReadView {
  /** The lock on `key`, if any. */
  lock(key: Uint8Array): Promise<Lock | undefined>;
  /** The newest write record of `key` with `commitTs ≤ ts`. */
  seekWrite(key: Uint8Array, ts: Timestamp): Promise<WriteVersion | undefined>;
  /** The write records of `key` with `commitTs ≤ maxTs`, newest first. */
  writes(key: Uint8Array, maxTs: Timestamp): AsyncIterable<WriteVersion>;
  /** The long value a put of the transaction `startTs` left in `default`. */
  value(key: Uint8Array, startTs: Timestamp): Promise<Uint8Array | undefined>;
  /** The distinct user keys having any write record in `range`, ascending, at most `limit` (for GC and scans). */
  writeKeys(range: UserKeyRange, limit: number): AsyncIterable<Uint8Array>;
  /** The locks in `range`, ascending by key, at most `limit` (for scans and lock resolution). */
  locks(range: UserKeyRange, limit: number): AsyncIterable<{ key: Uint8Array; lock: Lock }>;
  /**
   * A ts at or above the commit ts of every write record of `key` in this view, when the view
   * knows one without reading (the store's index of the newest commit per key); `undefined`
   * when it does not. A prewrite whose read ts is above it has nothing to check in `write`.
   */
  writeTsBound?(key: Uint8Array): Timestamp | undefined;
}

/** What a key's write records say about the transaction `startTs` (TiKV's `TxnCommitRecord`). */
export type CommitRecord =
  | { kind: 'committed'; commitTs: Timestamp; write: Write }
  | { kind: 'rolledBack' }
  | { kind: 'none' };

/**
 * Finds the transaction `startTs`'s commit or rollback record on `key`: scans the writes with
 * `commitTs ≥ startTs`, newest first. A rollback sits at `key@startTs`, either as its own
 * record or as the overlapped-rollback flag of another transaction's commit at that ts.
 */
export async function commitRecord(view: ReadView, key: Uint8Array, startTs: Timestamp): Promise<CommitRecord> {
  for await (const v of view.writes(key, TS_MAX)) {
    if (v.commitTs < startTs) break;
    if (v.write.startTs === startTs) {
      return v.write.kind === 'rollback' ? { kind: 'rolledBack' } : { kind: 'committed', commitTs: v.commitTs, write: v.write };
    }
    if (v.commitTs === startTs && v.write.hasOverlappedRollback) return { kind: 'rolledBack' };
  }
  return { kind: 'none' };
}

/**
 * The newest `put` or `delete` of `key` with `commitTs ≤ ts`, skipping `lock` and `rollback`
 * records, which change no value.
 */
export async function newestDataWrite(view: ReadView, key: Uint8Array, ts: Timestamp): Promise<WriteVersion | undefined> {
  for await (const v of view.writes(key, ts)) {
    if (v.write.kind === 'put' || v.write.kind === 'delete') return v;
  }
  return undefined;
}

/** The value a `put` record commits: inline, or from `default` (which must hold it). */
export async function valueOfPut(view: ReadView, key: Uint8Array, write: Write): Promise<Uint8Array> {
  assert(write.kind === 'put', `value of a ${write.kind} record`);
  if (write.shortValue !== undefined) return write.shortValue;
  const value = await view.value(key, write.startTs);
  assert(value !== undefined, `default value missing for put of ts ${write.startTs}`);
  return value;
}
