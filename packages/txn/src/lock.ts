/**
 * The `lock` column family's record (TiKV's `txn_types::Lock`): one per locked key, stored at
 * the encoded user key (no timestamp: a key has at most one lock). Paired codecs; bad input is
 * a `DecodeError`.
 *
 * Layout (version 1): `u8 version`, `kind`, `primary`, `startTs`, `ttlMs`, `shortValue?`,
 * `forUpdateTs`, `txnSize`, `minCommitTs`, `useAsyncCommit`, `secondaries`.
 */
import {
  KEY_BYTES_MAX,
  LOCK_KINDS,
  decode,
  encode,
  readEnum,
  readTimestamp,
  writeEnum,
  writeTimestamp,
  type ByteReader,
  type ByteWriter,
  type KeyError,
  type LockKind,
} from '@peerkv/proto';
import { LOCK_TTL_MS_MAX, SECONDARIES_MAX } from './limits.ts';
import { readShortValue, readVersion, writeShortValue, writeVersion } from './records.ts';
import type { Timestamp } from './timestamp.ts';

/** Fewest bytes a secondary key takes in a record (its length prefix). */
const SECONDARY_BYTES_MIN = 1;
/** Largest transaction size recorded (keys); a hint for the resolver, bounded like any count. */
const TXN_SIZE_MAX = Number.MAX_SAFE_INTEGER;

/** A Percolator lock on one key. */
export interface Lock {
  /** What the lock is for: a prewritten put/delete/lock, or a pessimistic lock not yet prewritten. */
  kind: LockKind;
  /** The transaction's primary key: its lock (or commit record) decides the transaction. */
  primary: Uint8Array;
  /** The transaction's start ts. */
  startTs: Timestamp;
  /** Time to live from `startTs`'s physical part; past it, `checkTxnStatus` may roll back. */
  ttlMs: number;
  /** The value of a put, inline when at most `SHORT_VALUE_BYTES_MAX` bytes; else in `default`. */
  shortValue?: Uint8Array;
  /** The pessimistic transaction's for-update ts (`0n` for an optimistic one). */
  forUpdateTs: Timestamp;
  /** Keys in the transaction (a hint for the lock resolver). */
  txnSize: number;
  /** The transaction may not commit below this ts; readers push it up (`checkTxnStatus`). */
  minCommitTs: Timestamp;
  /** Whether the transaction uses async commit (committed once every lock is prewritten). */
  useAsyncCommit: boolean;
  /** With async commit, on the primary's lock only: every other key of the transaction. */
  secondaries: Uint8Array[];
}

/** Writes a lock record (paired with `readLock`). */
export function writeLock(w: ByteWriter, lock: Lock): void {
  writeVersion(w);
  writeEnum(w, LOCK_KINDS, lock.kind);
  w.bytes(lock.primary);
  writeTimestamp(w, lock.startTs);
  w.varUint(lock.ttlMs);
  writeShortValue(w, lock.shortValue);
  writeTimestamp(w, lock.forUpdateTs);
  w.varUint(lock.txnSize);
  writeTimestamp(w, lock.minCommitTs);
  w.bool(lock.useAsyncCommit);
  w.varUint(lock.secondaries.length);
  for (const s of lock.secondaries) w.bytes(s);
}

/** Reads a lock record written by `writeLock`. */
export function readLock(r: ByteReader): Lock {
  readVersion(r, 'lock');
  const kind = readEnum(r, LOCK_KINDS, 'lock kind');
  const primary = r.bytes(KEY_BYTES_MAX, 'primary');
  const startTs = readTimestamp(r);
  const ttlMs = r.varUintMax(LOCK_TTL_MS_MAX, 'lock ttl ms');
  const shortValue = readShortValue(r);
  const forUpdateTs = readTimestamp(r);
  const txnSize = r.varUintMax(TXN_SIZE_MAX, 'txn size');
  const minCommitTs = readTimestamp(r);
  const useAsyncCommit = r.bool();
  const n = r.count(SECONDARIES_MAX, SECONDARY_BYTES_MIN, 'secondaries');
  const secondaries: Uint8Array[] = [];
  for (let i = 0; i < n; i++) secondaries.push(r.bytes(KEY_BYTES_MAX, 'secondary'));
  const lock: Lock = { kind, primary, startTs, ttlMs, forUpdateTs, txnSize, minCommitTs, useAsyncCommit, secondaries };
  if (shortValue !== undefined) lock.shortValue = shortValue;
  return lock;
}

/** A lock record's bytes. */
export function encodeLock(lock: Lock): Uint8Array {
  return encode(lock, writeLock);
}

/** The lock in `bytes`, which it must fill exactly. */
export function decodeLock(bytes: Uint8Array): Lock {
  return decode(bytes, readLock, 'lock');
}

/** The `KeyIsLocked` error a request meeting `lock` on `key` gets (what the resolver needs). */
export function keyIsLocked(key: Uint8Array, lock: Lock): KeyError {
  return { kind: 'KeyIsLocked', key, primary: lock.primary, startTs: lock.startTs, ttlMs: lock.ttlMs, lockKind: lock.kind, minCommitTs: lock.minCommitTs };
}
