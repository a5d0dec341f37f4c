/**
 * Snapshot scan (TiKV's `Scanner`, reduced): the live values of a key range as of `ts`, in key
 * order. A key is a candidate if it has a write record or a lock in the range; each candidate
 * is read by the point-read rules (`read`), so a lock that may commit at or below `ts` stops
 * the scan with `KeyIsLocked` for the caller to resolve and resume from that key.
 *
 * Bounded twice: at most `limit` pairs are returned, and at most `keysExaminedMax` candidate
 * keys are looked at (deleted and empty keys cost too); `nextKey` says where to resume.
 */
import type { KeyError } from '@peerkv/proto';
import { assert } from '../errors.ts';
import { compareBytes } from '../key.ts';
import type { Timestamp } from '../timestamp.ts';
import type { ReadView, UserKeyRange } from '../view.ts';
import { read, type ReadOptions } from './read.ts';

/** Candidate keys looked at by one scan call unless the caller says otherwise. */
export const SCAN_KEYS_EXAMINED_MAX_DEFAULT = 4096;

/** One live key and its value. */
export interface ScanPair {
  key: Uint8Array;
  value: Uint8Array;
}

/** What a scan call returns. */
export type SnapshotScanResult =
  /** `nextKey`: where to resume (absent: the range is done). */
  | { ok: true; pairs: ScanPair[]; nextKey?: Uint8Array }
  /** A lock stopped the scan at `error.key`; `pairs` are the keys before it. */
  | { ok: false; error: KeyError; pairs: ScanPair[] };

/** Options of a scan call. */
export interface SnapshotScanOptions extends ReadOptions {
  /** Pairs to return at most. */
  limit: number;
  /** Candidate keys to look at at most (default `SCAN_KEYS_EXAMINED_MAX_DEFAULT`). */
  keysExaminedMax?: number;
}

/** Merges two ascending key streams into one ascending stream of distinct keys. */
async function* mergeKeys(a: AsyncIterable<Uint8Array>, b: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const ia = a[Symbol.asyncIterator]();
  const ib = b[Symbol.asyncIterator]();
  let na = await ia.next();
  let nb = await ib.next();
  while (!na.done || !nb.done) {
    const c = na.done ? 1 : nb.done ? -1 : compareBytes(na.value, nb.value);
    if (c <= 0) {
      yield na.value as Uint8Array;
      if (c === 0) nb = await ib.next();
      na = await ia.next();
    } else {
      yield nb.value as Uint8Array;
      nb = await ib.next();
    }
  }
}

async function* lockKeys(view: ReadView, range: UserKeyRange, limit: number): AsyncGenerator<Uint8Array> {
  for await (const { key } of view.locks(range, limit)) yield key;
}

/** Reads the live values of `range` as of `ts`, in key order. */
export async function scan(view: ReadView, range: UserKeyRange, ts: Timestamp, options: SnapshotScanOptions): Promise<SnapshotScanResult> {
  const examinedMax = options.keysExaminedMax ?? SCAN_KEYS_EXAMINED_MAX_DEFAULT;
  assert(options.limit > 0 && examinedMax > 0, 'scan limits must be positive');
  const pairs: ScanPair[] = [];
  let examined = 0;
  // One more candidate than may be examined, to know whether the range goes on.
  for await (const key of mergeKeys(view.writeKeys(range, examinedMax + 1), lockKeys(view, range, examinedMax + 1))) {
    if (examined === examinedMax || pairs.length === options.limit) return { ok: true, pairs, nextKey: key };
    examined++;
    const r = await read(view, key, ts, options);
    if (!r.ok) return { ok: false, error: r.error, pairs };
    if (r.value !== undefined) pairs.push({ key, value: r.value });
  }
  return { ok: true, pairs };
}
