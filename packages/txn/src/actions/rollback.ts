/**
 * Rollback and cleanup (TiKV's `actions/cleanup.rs` and `commands/rollback.rs`): undo the
 * transaction on a key and leave a rollback record, so that a prewrite arriving late (a slow
 * or retried request) is refused and the transaction can never commit on this key.
 *
 * - Committed already: refused with `Committed`; a committed write is never undone.
 * - Rolled back already: nothing to do (idempotent).
 * - Otherwise: our lock (if any) goes with its long value, and the rollback record is written
 *   even when there was no lock (the protection against the late prewrite). Every rollback
 *   record is kept until GC ("protected", in TiKV's words), the primary's included.
 */
import { deleteLock } from '../cf.ts';
import { refuse, type ActionResult } from '../errors.ts';
import { keyIsLocked } from '../lock.ts';
import { isLockExpired, type Timestamp } from '../timestamp.ts';
import { commitRecord, type ReadView } from '../view.ts';
import { rollbackOps } from './common.ts';

/** Rolls back the transaction `startTs` on `key`, whatever its lock's TTL. */
export async function rollback(view: ReadView, key: Uint8Array, startTs: Timestamp): Promise<ActionResult> {
  const lock = await view.lock(key);
  if (lock !== undefined && lock.startTs === startTs) return { ok: true, ops: await rollbackOps(view, key, startTs, lock) };
  const record = await commitRecord(view, key, startTs);
  if (record.kind === 'committed') return refuse({ kind: 'Committed', key, startTs, commitTs: record.commitTs });
  if (record.kind === 'rolledBack') return { ok: true, ops: [] };
  return { ok: true, ops: await rollbackOps(view, key, startTs, undefined) };
}

/**
 * Rolls back the transaction `startTs` on `key` only if its lock has expired at `currentTs`
 * (a TSO ts); a live lock is `KeyIsLocked`. TiKV's `Cleanup`, used on a primary by a client
 * that is not the lock's owner.
 */
export async function cleanup(view: ReadView, key: Uint8Array, startTs: Timestamp, currentTs: Timestamp): Promise<ActionResult> {
  const lock = await view.lock(key);
  if (lock !== undefined && lock.startTs === startTs && !isLockExpired(lock.startTs, lock.ttlMs, currentTs)) return refuse(keyIsLocked(key, lock));
  return rollback(view, key, startTs);
}

/**
 * Drops the transaction's pessimistic lock on `key` if it was taken at or below `forUpdateTs`
 * (TiKV's `PessimisticRollback`: a statement of a pessimistic transaction failed and gives its
 * locks back). Leaves no rollback record: the transaction is still alive. Anything else on the
 * key is left alone.
 */
export async function pessimisticRollback(view: ReadView, key: Uint8Array, startTs: Timestamp, forUpdateTs: Timestamp): Promise<ActionResult> {
  const lock = await view.lock(key);
  if (lock === undefined || lock.startTs !== startTs || lock.kind !== 'pessimisticLock' || lock.forUpdateTs > forUpdateTs) return { ok: true, ops: [] };
  return { ok: true, ops: [deleteLock(key)] };
}
