/**
 * The three column families and the ops that write them. An action's result is a list of
 * `TxnOp`s, each a proto `KvOp` with its `cf` set, which the store applies in one atomic
 * write batch.
 *
 * | cf        | key                      | value            |
 * |-----------|--------------------------|------------------|
 * | `default` | `encodeMvccKey(key, startTs)`  | a long value (> 255 bytes) |
 * | `lock`    | `encodeKey(key)`         | `Lock` record    |
 * | `write`   | `encodeMvccKey(key, commitTs)` | `Write` record   |
 */
import { DEFAULT_CF, type KvOp } from '@peerkv/proto';
import { encodeKey, encodeMvccKey } from './key.ts';
import { encodeLock, type Lock } from './lock.ts';
import type { Timestamp } from './timestamp.ts';
import { encodeWrite, type Write } from './write.ts';

/** Long values, at `key@startTs`. */
export const CF_DEFAULT = DEFAULT_CF;
/** Locks, at the encoded key. */
export const CF_LOCK = 'lock';
/** Commit and rollback records, at `key@commitTs`. */
export const CF_WRITE = 'write';
/** The column families the transaction rules use. */
export const TXN_CFS = [CF_DEFAULT, CF_LOCK, CF_WRITE] as const;
/** A column family the transaction rules use. */
export type CfName = (typeof TXN_CFS)[number];

/** One write an action asks for: a proto `KvOp` (put or delete) with its column family. */
export type TxnOp = Extract<KvOp, { type: 'put' | 'delete' }> & { cf: CfName };

/** Puts `lock` on `key`. */
export function putLock(key: Uint8Array, lock: Lock): TxnOp {
  return { type: 'put', cf: CF_LOCK, key: encodeKey(key), value: encodeLock(lock) };
}

/** Removes the lock on `key`. */
export function deleteLock(key: Uint8Array): TxnOp {
  return { type: 'delete', cf: CF_LOCK, key: encodeKey(key) };
}

/** Puts `write` at `key@commitTs`. */
export function putWrite(key: Uint8Array, commitTs: Timestamp, write: Write): TxnOp {
  return { type: 'put', cf: CF_WRITE, key: encodeMvccKey(key, commitTs), value: encodeWrite(write) };
}

/** Removes the write record at `key@commitTs`. */
export function deleteWrite(key: Uint8Array, commitTs: Timestamp): TxnOp {
  return { type: 'delete', cf: CF_WRITE, key: encodeMvccKey(key, commitTs) };
}

/** Puts a long value at `key@startTs`. */
export function putValue(key: Uint8Array, startTs: Timestamp, value: Uint8Array): TxnOp {
  return { type: 'put', cf: CF_DEFAULT, key: encodeMvccKey(key, startTs), value };
}

/** Removes the long value at `key@startTs`. */
export function deleteValue(key: Uint8Array, startTs: Timestamp): TxnOp {
  return { type: 'delete', cf: CF_DEFAULT, key: encodeMvccKey(key, startTs) };
}
