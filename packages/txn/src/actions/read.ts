/**
 * Snapshot read (TiKV's `PointGetter`): the value of a key as of `ts` — the newest `put` or
 * `delete` committed at or below `ts` — unless a lock that may still commit at or below `ts`
 * hides it (`lockBlocksRead`), which is `KeyIsLocked` for the reader to resolve.
 *
 * The store must raise its concurrency manager's max ts to `ts` before the read (async commit
 * relies on it); that is the store's business, not this function's.
 */
import type { KeyError } from '@peerkv/proto';
import { keyIsLocked } from '../lock.ts';
import type { Timestamp } from '../timestamp.ts';
import { newestDataWrite, valueOfPut, type ReadView } from '../view.ts';
import { lockBlocksRead } from '../visibility.ts';

/** A read's result: the value (absent: no live value at `ts`) and the commit ts it came from. */
export type ReadResult = { ok: true; value?: Uint8Array; commitTs?: Timestamp } | { ok: false; error: KeyError };

/** Options of a snapshot read. */
export interface ReadOptions {
  /** Start ts of locks the resolver found safe to read past (committed after `ts`, or rolled back). */
  bypassLocks?: readonly Timestamp[];
  /**
   * Read past every lock: the caller knows none of them can commit at or below `ts` (a stale
   * read at or below the region's resolved ts: every transaction that may still commit there
   * holds no lock yet, or will commit above it).
   */
  ignoreLocks?: boolean;
}

/** Reads `key` as of `ts`. */
export async function read(view: ReadView, key: Uint8Array, ts: Timestamp, options: ReadOptions = {}): Promise<ReadResult> {
  const lock = await view.lock(key);
  if (lock !== undefined && options.ignoreLocks !== true && lockBlocksRead(lock, ts, options.bypassLocks ?? [])) return { ok: false, error: keyIsLocked(key, lock) };
  const v = await newestDataWrite(view, key, ts);
  if (v === undefined || v.write.kind === 'delete') return v === undefined ? { ok: true } : { ok: true, commitTs: v.commitTs };
  return { ok: true, value: await valueOfPut(view, key, v.write), commitTs: v.commitTs };
}
