/**
 * Commit (Percolator's second phase; TiKV's `actions/commit.rs`): turn the transaction's lock
 * on a key into a commit record at `key@commitTs`.
 *
 * - Our prewritten lock: refused with `CommitTsExpired` when `commitTs < minCommitTs` (a
 *   reader pushed it, or async commit set it); else the lock goes and the record is written.
 * - Our pessimistic lock, never prewritten: nothing to commit, `TxnNotFound`.
 * - No lock of ours: our commit record means a retry (nothing to do, the recorded ts is
 *   returned); a rollback record or nothing at all means the transaction lost its lock:
 *   `TxnNotFound` (the lock was resolved away; committing now could break atomicity).
 */
import { deleteLock, putWrite } from '../cf.ts';
import { assert, refuse, type ActionResult } from '../errors.ts';
import type { Timestamp } from '../timestamp.ts';
import { commitRecord, type ReadView } from '../view.ts';
import type { Write } from '../write.ts';
import { rollbackAt } from './common.ts';

/**
 * Commits the transaction `startTs` on `key` at `commitTs`. On success `commitTs` is the ts the
 * key is committed at (the earlier one on a retry). `TxnNotFound.primary` carries `key`: a
 * commit request does not name the primary.
 */
export async function commit(view: ReadView, key: Uint8Array, startTs: Timestamp, commitTs: Timestamp): Promise<ActionResult<{ commitTs: Timestamp }>> {
  assert(commitTs > startTs, `commit ts ${commitTs} not above start ts ${startTs}`);
  const lock = await view.lock(key);
  if (lock === undefined || lock.startTs !== startTs) {
    const record = await commitRecord(view, key, startTs);
    if (record.kind === 'committed') return { ok: true, ops: [], commitTs: record.commitTs };
    return refuse({ kind: 'TxnNotFound', startTs, primary: key });
  }
  if (lock.kind === 'pessimisticLock') return refuse({ kind: 'TxnNotFound', startTs, primary: lock.primary });
  if (commitTs < lock.minCommitTs) return refuse({ kind: 'CommitTsExpired', startTs, attemptedCommitTs: commitTs, minCommitTs: lock.minCommitTs });
  const write: Write = { kind: lock.kind, startTs, hasOverlappedRollback: await rollbackAt(view, key, commitTs) };
  if (lock.shortValue !== undefined) write.shortValue = lock.shortValue;
  return { ok: true, ops: [deleteLock(key), putWrite(key, commitTs, write)], commitTs };
}
