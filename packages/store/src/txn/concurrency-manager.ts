/**
 * The store's concurrency manager (TiKV's `components/concurrency_manager`): the largest
 * timestamp any read on this store used (`maxTs`), and the in-memory lock table async commit
 * needs.
 *
 * - `maxTs`: every snapshot read (`txnGet`, `txnScan`) and every `txnCheckStatus` caller raises
 *   it to its ts *before* reading. An async-commit (or 1PC) prewrite takes its `minCommitTs`
 *   above it, so no transaction commits "in the past" of a read that already happened here.
 * - The lock table: between computing an async-commit lock's `minCommitTs` (from `maxTs`) and
 *   applying it, the lock is only in memory; a reader at a ts above that `minCommitTs` arriving
 *   meanwhile would read past a transaction that may commit below its ts. So the prewrite puts
 *   its keys in the table before it reads `maxTs`, then the locks it computed; readers check the
 *   table after raising `maxTs` and before reading the engine (either the reader raised `maxTs`
 *   first and the lock is above it, or the lock is in the table and the reader sees it).
 *
 * In memory only: a store that becomes a region's leader raises it from PD's TSO before it
 * serves an async-commit or 1PC prewrite there (`max-ts-sync.ts`).
 */
import type { KeyError } from '@peerkv/proto';
import { TS_MAX, compareBytes, keyIsLocked, lockBlocksRead, type Lock, type Timestamp } from '@peerkv/txn';

/** Keys one prewrite may hold in the lock table (its mutations are bounded the same way). */
export const MEMORY_LOCK_KEYS_MAX = 4096;

/** A prewrite's keys in the lock table: set each computed lock, then release once applied (or failed). */
export interface MemoryLockGuard {
  /** Makes `lock` on `key` (one of the guarded keys) visible to readers. */
  setLock(key: Uint8Array, lock: Lock): void;
  release(): void;
}

interface MemoryLock {
  key: Uint8Array;
  /** Absent while the prewrite has not computed it yet. */
  lock?: Lock;
  /** Guards holding the key (a retried prewrite may overlap its first attempt). */
  holders: number;
}

function slotOf(key: Uint8Array): string {
  let s = '';
  for (let i = 0; i < key.length; i++) s += String.fromCharCode(key[i]);
  return s;
}

/** One store's `maxTs` and in-memory lock table. */
export class ConcurrencyManager {
  private maxTsSeen: Timestamp = 0n;
  private readonly table = new Map<string, MemoryLock>();

  /** The largest ts a read used on this store. */
  maxTs(): Timestamp {
    return this.maxTsSeen;
  }

  /** Raises `maxTs` to `ts` (never lowers it; `TS_MAX`, "read the newest", is not a ts and is ignored). */
  updateMaxTs(ts: Timestamp): void {
    if (ts !== TS_MAX && ts > this.maxTsSeen) this.maxTsSeen = ts;
  }

  /** Puts `keys` in the lock table (without locks yet); call before reading `maxTs` for a prewrite. */
  lockKeys(keys: readonly Uint8Array[]): MemoryLockGuard {
    if (keys.length > MEMORY_LOCK_KEYS_MAX) throw new Error(`${keys.length} keys > ${MEMORY_LOCK_KEYS_MAX} in the memory lock table`);
    const slots = [...new Set(keys.map(slotOf))];
    for (const [i, s] of slots.entries()) {
      const e = this.table.get(s);
      if (e) e.holders++;
      else this.table.set(s, { key: keys[i], holders: 1 });
    }
    let released = false;
    return {
      setLock: (key, lock) => {
        const e = this.table.get(slotOf(key));
        if (!released && e) e.lock = lock;
      },
      release: () => {
        if (released) return;
        released = true;
        for (const s of slots) {
          const e = this.table.get(s)!;
          if (--e.holders === 0) this.table.delete(s);
        }
      },
    };
  }

  /** The in-memory lock on `key` that hides a read at `ts` (`lockBlocksRead`), as `KeyIsLocked`. */
  readCheckKey(key: Uint8Array, ts: Timestamp, bypassLocks: readonly Timestamp[]): KeyError | undefined {
    const lock = this.table.get(slotOf(key))?.lock;
    return lock !== undefined && lockBlocksRead(lock, ts, bypassLocks) ? keyIsLocked(key, lock) : undefined;
  }

  /** The first in-memory lock in `[start, end)` (no `end`: unbounded) that hides a read at `ts`. */
  readCheckRange(start: Uint8Array, end: Uint8Array | undefined, ts: Timestamp, bypassLocks: readonly Timestamp[]): KeyError | undefined {
    let first: { key: Uint8Array; lock: Lock } | undefined;
    for (const e of this.table.values()) {
      if (e.lock === undefined || compareBytes(e.key, start) < 0 || (end !== undefined && end.length > 0 && compareBytes(e.key, end) >= 0)) continue;
      if (!lockBlocksRead(e.lock, ts, bypassLocks)) continue;
      if (first === undefined || compareBytes(e.key, first.key) < 0) first = { key: e.key, lock: e.lock };
    }
    return first === undefined ? undefined : keyIsLocked(first.key, first.lock);
  }

  /** The least start ts of the locks in the table (undefined: none computed yet). */
  minLockStartTs(): Timestamp | undefined {
    let min: Timestamp | undefined;
    for (const e of this.table.values()) if (e.lock !== undefined && (min === undefined || e.lock.startTs < min)) min = e.lock.startTs;
    return min;
  }

  /** Keys in the lock table (for tests and status). */
  get memoryLocks(): number {
    return this.table.size;
  }
}
