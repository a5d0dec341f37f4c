/**
 * The key errors of a transactional request (TiKV's `kvrpcpb::KeyError`), kept apart from
 * region errors as in kvproto: a region error says "ask again elsewhere", a key error says
 * what another transaction did to this key. A closed union of values and its codec; each
 * kind has a wire number (append only). Timestamps are TSO timestamps (`bigint`, pd's
 * `Timestamp`).
 */
import type { ByteReader, ByteWriter } from './bytes.ts';
import { readEnum, writeEnum } from './enum-codec.ts';
import { DecodeError } from './errors.ts';
import { KEY_BYTES_MAX } from './limits.ts';
import { readTimestamp, readU64, writeTimestamp, writeU64 } from './u64.ts';

/** What a lock was taken for (TiKV's `Op`: `Put`, `Del`, `Lock`, `PessimisticLock`). */
export type LockKind = 'put' | 'delete' | 'lock' | 'pessimisticLock';

/** Wire order of lock kinds (append only). */
export const LOCK_KINDS: readonly LockKind[] = ['put', 'delete', 'lock', 'pessimisticLock'];

/** Why a transactional operation on a key failed. */
export type KeyError =
  /** Another transaction holds a lock on `key`: resolve it through its `primary`, or wait out `ttlMs`. */
  | { kind: 'KeyIsLocked'; key: Uint8Array; primary: Uint8Array; startTs: bigint; ttlMs: number; lockKind: LockKind; minCommitTs: bigint }
  /** A transaction committed a write to `key` at `conflictCommitTs` after this one's `startTs`. */
  | { kind: 'WriteConflict'; key: Uint8Array; startTs: bigint; conflictStartTs: bigint; conflictCommitTs: bigint; primary: Uint8Array }
  /** The transaction's primary lock is gone (rolled back, or never written). */
  | { kind: 'TxnNotFound'; startTs: bigint; primary: Uint8Array }
  /** Waiting for the lock on `lockKey` (held by `lockTs`) would close a wait-for cycle. */
  | { kind: 'Deadlock'; lockTs: bigint; lockKey: Uint8Array; deadlockKeyHash: bigint }
  /** An insert found the key already present. */
  | { kind: 'AlreadyExist'; key: Uint8Array }
  /** The commit timestamp is below the lock's `minCommitTs`: commit again at a newer one. */
  | { kind: 'CommitTsExpired'; startTs: bigint; attemptedCommitTs: bigint; minCommitTs: bigint };

/** Wire numbers of the key error kinds (append only). */
const KEY_ERROR_TAGS = { KeyIsLocked: 1, WriteConflict: 2, TxnNotFound: 3, Deadlock: 4, AlreadyExist: 5, CommitTsExpired: 6 } as const;

/** Writes a key error: its wire number, then its fields in declaration order (paired with `readKeyError`). */
export function writeKeyError(w: ByteWriter, e: KeyError): void {
  w.varUint(KEY_ERROR_TAGS[e.kind]);
  switch (e.kind) {
    case 'KeyIsLocked':
      w.bytes(e.key);
      w.bytes(e.primary);
      writeTimestamp(w, e.startTs);
      w.varUint(e.ttlMs);
      writeEnum(w, LOCK_KINDS, e.lockKind);
      return writeTimestamp(w, e.minCommitTs);
    case 'WriteConflict':
      w.bytes(e.key);
      writeTimestamp(w, e.startTs);
      writeTimestamp(w, e.conflictStartTs);
      writeTimestamp(w, e.conflictCommitTs);
      return w.bytes(e.primary);
    case 'TxnNotFound':
      writeTimestamp(w, e.startTs);
      return w.bytes(e.primary);
    case 'Deadlock':
      writeTimestamp(w, e.lockTs);
      w.bytes(e.lockKey);
      return writeU64(w, e.deadlockKeyHash);
    case 'AlreadyExist':
      return w.bytes(e.key);
    case 'CommitTsExpired':
      writeTimestamp(w, e.startTs);
      writeTimestamp(w, e.attemptedCommitTs);
      return writeTimestamp(w, e.minCommitTs);
  }
}

/** Reads a key error written by `writeKeyError`; an unknown wire number is `UnknownTag`. */
export function readKeyError(r: ByteReader): KeyError {
  const tag = r.varUint();
  switch (tag) {
    case KEY_ERROR_TAGS.KeyIsLocked: {
      const key = r.bytes(KEY_BYTES_MAX, 'key');
      const primary = r.bytes(KEY_BYTES_MAX, 'primary');
      const startTs = readTimestamp(r);
      const ttlMs = r.varUint();
      const lockKind = readEnum(r, LOCK_KINDS, 'lock kind');
      return { kind: 'KeyIsLocked', key, primary, startTs, ttlMs, lockKind, minCommitTs: readTimestamp(r) };
    }
    case KEY_ERROR_TAGS.WriteConflict: {
      const key = r.bytes(KEY_BYTES_MAX, 'key');
      const startTs = readTimestamp(r);
      const conflictStartTs = readTimestamp(r);
      const conflictCommitTs = readTimestamp(r);
      return { kind: 'WriteConflict', key, startTs, conflictStartTs, conflictCommitTs, primary: r.bytes(KEY_BYTES_MAX, 'primary') };
    }
    case KEY_ERROR_TAGS.TxnNotFound: {
      const startTs = readTimestamp(r);
      return { kind: 'TxnNotFound', startTs, primary: r.bytes(KEY_BYTES_MAX, 'primary') };
    }
    case KEY_ERROR_TAGS.Deadlock: {
      const lockTs = readTimestamp(r);
      const lockKey = r.bytes(KEY_BYTES_MAX, 'lock key');
      return { kind: 'Deadlock', lockTs, lockKey, deadlockKeyHash: readU64(r, 'deadlock key hash') };
    }
    case KEY_ERROR_TAGS.AlreadyExist:
      return { kind: 'AlreadyExist', key: r.bytes(KEY_BYTES_MAX, 'key') };
    case KEY_ERROR_TAGS.CommitTsExpired: {
      const startTs = readTimestamp(r);
      const attemptedCommitTs = readTimestamp(r);
      return { kind: 'CommitTsExpired', startTs, attemptedCommitTs, minCommitTs: readTimestamp(r) };
    }
    default:
      throw new DecodeError('UnknownTag', `key error kind ${tag}`);
  }
}
