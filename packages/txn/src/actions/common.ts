/**
 * Pieces several actions share: writing a rollback (with its overlapped-commit case) and
 * noticing another transaction's rollback at the ts a commit record is about to take.
 */
import { deleteLock, deleteValue, putWrite, type TxnOp } from '../cf.ts';
import type { Lock } from '../lock.ts';
import type { Timestamp } from '../timestamp.ts';
import type { ReadView } from '../view.ts';

/**
 * The ops that roll back the transaction `startTs` on `key`: drop its lock (`ownLock`, if it
 * still has one) and the long value its put left in `default`, and leave a rollback record at
 * `key@startTs` so a late prewrite of the transaction is refused.
 *
 * When another transaction already committed at `key@startTs` (its commit ts equals our start
 * ts, possible with async commit and 1PC), that record is kept and flagged
 * `hasOverlappedRollback` instead: overwriting it would lose a committed write. The caller has
 * checked that the transaction has no commit or rollback record on `key` yet.
 */
export async function rollbackOps(view: ReadView, key: Uint8Array, startTs: Timestamp, ownLock: Lock | undefined): Promise<TxnOp[]> {
  const ops: TxnOp[] = [];
  if (ownLock !== undefined) {
    ops.push(deleteLock(key));
    if (ownLock.kind === 'put' && ownLock.shortValue === undefined) ops.push(deleteValue(key, startTs));
  }
  const atStartTs = await view.seekWrite(key, startTs);
  if (atStartTs !== undefined && atStartTs.commitTs === startTs) {
    if (!atStartTs.write.hasOverlappedRollback) ops.push(putWrite(key, startTs, { ...atStartTs.write, hasOverlappedRollback: true }));
  } else {
    ops.push(putWrite(key, startTs, { kind: 'rollback', startTs, hasOverlappedRollback: false }));
  }
  return ops;
}

/**
 * Whether another transaction's rollback record sits at `key@commitTs`, where a commit record
 * is about to go: the commit then carries `hasOverlappedRollback` so the rollback survives.
 */
export async function rollbackAt(view: ReadView, key: Uint8Array, commitTs: Timestamp): Promise<boolean> {
  const v = await view.seekWrite(key, commitTs);
  return v !== undefined && v.commitTs === commitTs && (v.write.kind === 'rollback' || v.write.hasOverlappedRollback);
}
