/**
 * Check-secondary-locks (TiKV's `commands/check_secondary_locks.rs`): the async-commit half of
 * lock resolution. An async-commit transaction is committed once every key is prewritten, so a
 * resolver that finds its primary still locked asks each secondary (listed on the primary's
 * lock) for its state. A secondary with neither lock nor record gets a rollback record now, so
 * its prewrite can never land late: that decides the transaction as rolled back.
 */
import type { ActionResult } from '../errors.ts';
import type { Lock } from '../lock.ts';
import type { Timestamp } from '../timestamp.ts';
import { commitRecord, type ReadView } from '../view.ts';
import type { TxnOp } from '../cf.ts';
import { rollbackOps } from './common.ts';

/** One secondary's state. */
export type SecondaryStatus =
  | { kind: 'locked'; lock: Lock }
  | { kind: 'committed'; commitTs: Timestamp }
  /** Rolled back already, or by this call (its prewrite had not arrived). */
  | { kind: 'rolledBack' };

/**
 * Reports each of `keys` for the transaction `startTs`, rolling back the ones its prewrite
 * never reached. A lock reported `locked` that is not `useAsyncCommit` means the transaction
 * fell back to 2PC: its primary decides, not this answer. A pessimistic lock of the transaction (not prewritten) counts as not reached:
 * it is rolled back too.
 */
export async function checkSecondaryLocks(view: ReadView, keys: readonly Uint8Array[], startTs: Timestamp): Promise<ActionResult<{ statuses: SecondaryStatus[] }>> {
  const ops: TxnOp[] = [];
  const statuses: SecondaryStatus[] = [];
  for (const key of keys) {
    const lock = await view.lock(key);
    if (lock !== undefined && lock.startTs === startTs && lock.kind !== 'pessimisticLock') {
      statuses.push({ kind: 'locked', lock });
      continue;
    }
    const ownLock = lock !== undefined && lock.startTs === startTs ? lock : undefined;
    const record = ownLock === undefined ? await commitRecord(view, key, startTs) : ({ kind: 'none' } as const);
    if (record.kind === 'committed') statuses.push({ kind: 'committed', commitTs: record.commitTs });
    else {
      if (record.kind === 'none') ops.push(...(await rollbackOps(view, key, startTs, ownLock)));
      statuses.push({ kind: 'rolledBack' });
    }
  }
  return { ok: true, ops, statuses };
}
