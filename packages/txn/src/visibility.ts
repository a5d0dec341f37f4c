/**
 * The timestamp rules, as pure leaf functions: which locks a snapshot read must wait for, and
 * the least commit ts an async-commit (or 1PC) transaction may take.
 */
import type { Lock } from './lock.ts';
import { maxTs, type Timestamp } from './timestamp.ts';

/**
 * Whether `lock` hides what a read at `readTs` should see (TiKV's `check_ts_conflict`). It does
 * only when all hold:
 * - it is a prewritten `put` or `delete` (a `lock` or pessimistic lock changes no value);
 * - it started at or before `readTs` (a later transaction commits after `readTs` anyway);
 * - its `minCommitTs ≤ readTs` (above, it is bound to commit after `readTs`: invisible);
 * - the reader was not told to bypass it (`bypassLocks`: start ts the resolver found committed
 *   after `readTs` or rolled back).
 */
export function lockBlocksRead(lock: Lock, readTs: Timestamp, bypassLocks: readonly Timestamp[]): boolean {
  if (lock.kind !== 'put' && lock.kind !== 'delete') return false;
  if (lock.startTs > readTs) return false;
  if (lock.minCommitTs > readTs) return false;
  return !bypassLocks.includes(lock.startTs);
}

/**
 * The least commit ts of an async-commit or 1PC transaction on one store: above every ts any
 * reader has read at (`maxTs`, the store's concurrency manager), above its start ts and above
 * its for-update ts. A commit ts at or below `maxTs` could make a reader that already read
 * there miss the write: a commit "in the past" (TiKV's async-commit rule).
 */
export function asyncCommitMinTs(startTs: Timestamp, forUpdateTs: Timestamp, maxTsRead: Timestamp): Timestamp {
  return maxTs(maxTsRead + 1n, startTs + 1n, forUpdateTs + 1n);
}
