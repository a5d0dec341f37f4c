/**
 * The `write` column family's record (TiKV's `txn_types::Write`), stored at `key@commitTs`:
 * a commit (`put`, `delete`, `lock`) or a `rollback` (stored at `key@startTs`, so a late
 * prewrite of a rolled-back transaction finds it). Paired codecs; bad input is a `DecodeError`.
 *
 * Layout (version 1): `u8 version`, `kind`, `startTs`, `shortValue?`, `hasOverlappedRollback`.
 */
import { decode, encode, readEnum, readTimestamp, writeEnum, writeTimestamp, type ByteReader, type ByteWriter } from '@peerkv/proto';
import { readShortValue, readVersion, writeShortValue, writeVersion } from './records.ts';
import type { Timestamp } from './timestamp.ts';

/** What a write record says about its key. `lock` and `rollback` change no value. */
export type WriteKind = 'put' | 'delete' | 'lock' | 'rollback';

/** Wire order of write kinds (append only). */
export const WRITE_KINDS: readonly WriteKind[] = ['put', 'delete', 'lock', 'rollback'];

/** A commit or rollback record. */
export interface Write {
  kind: WriteKind;
  /** The start ts of the transaction that wrote it (for a rollback, also its `commitTs` slot). */
  startTs: Timestamp;
  /** A put's value when at most `SHORT_VALUE_BYTES_MAX` bytes; else it is in `default` at `key@startTs`. */
  shortValue?: Uint8Array;
  /**
   * A transaction whose start ts equals this record's commit ts was rolled back on this key.
   * Both records would live at the same `key@ts`, so the rollback is kept as this flag instead
   * (TiKV's `has_overlapped_rollback`).
   */
  hasOverlappedRollback: boolean;
}

/** A write record found at `key@commitTs`. */
export interface WriteVersion {
  commitTs: Timestamp;
  write: Write;
}

/** Writes a write record (paired with `readWrite`). */
export function writeWrite(w: ByteWriter, write: Write): void {
  writeVersion(w);
  writeEnum(w, WRITE_KINDS, write.kind);
  writeTimestamp(w, write.startTs);
  writeShortValue(w, write.shortValue);
  w.bool(write.hasOverlappedRollback);
}

/** Reads a write record written by `writeWrite`. */
export function readWrite(r: ByteReader): Write {
  readVersion(r, 'write');
  const kind = readEnum(r, WRITE_KINDS, 'write kind');
  const startTs = readTimestamp(r);
  const shortValue = readShortValue(r);
  const write: Write = { kind, startTs, hasOverlappedRollback: r.bool() };
  if (shortValue !== undefined) write.shortValue = shortValue;
  return write;
}

/** A write record's bytes. */
export function encodeWrite(write: Write): Uint8Array {
  return encode(write, writeWrite);
}

/** The write record in `bytes`, which it must fill exactly. */
export function decodeWrite(bytes: Uint8Array): Write {
  return decode(bytes, readWrite, 'write');
}

/** Whether the record changes the key's value (a `put` or `delete`), as opposed to `lock`/`rollback`. */
export function isDataWrite(write: Write): boolean {
  return write.kind === 'put' || write.kind === 'delete';
}
