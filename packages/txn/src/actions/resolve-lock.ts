/**
 * Resolve-lock (TiKV's `commands/resolve_lock.rs`): once the primary has told the
 * transaction's fate (`checkTxnStatus`), a secondary's lock follows it: committed at the
 * primary's commit ts, or rolled back. Both directions are idempotent.
 */
import { deleteLock } from '../cf.ts';
import { assert, type ActionResult } from '../errors.ts';
import type { Timestamp } from '../timestamp.ts';
import type { ReadView } from '../view.ts';
import { commit } from './commit.ts';
import { rollback } from './rollback.ts';

/** The primary's verdict: commit at `commitTs`, or roll back. */
export type Resolution = { kind: 'commit'; commitTs: Timestamp } | { kind: 'rollback' };

/**
 * Commits or rolls back the transaction `startTs` on `key`, as its primary decided. A
 * pessimistic lock of a committed transaction (a key it locked but did not write) carries
 * nothing to commit: it is released.
 */
export async function resolveLock(view: ReadView, key: Uint8Array, startTs: Timestamp, resolution: Resolution): Promise<ActionResult> {
  if (resolution.kind === 'rollback') return rollback(view, key, startTs);
  assert(resolution.commitTs > startTs, 'resolved commit ts not above start ts');
  const lock = await view.lock(key);
  if (lock !== undefined && lock.startTs === startTs && lock.kind === 'pessimisticLock') return { ok: true, ops: [deleteLock(key)] };
  const r = await commit(view, key, startTs, resolution.commitTs);
  return r.ok ? { ok: true, ops: r.ops } : r;
}
