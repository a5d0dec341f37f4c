/**
 * Acquire-pessimistic-lock (TiKV's `actions/acquire_pessimistic_lock.rs`): a pessimistic
 * transaction locks a key as it reads it for update, before prewrite, so a conflict surfaces
 * (and the statement retries at a newer `forUpdateTs`) instead of aborting at commit.
 *
 * - Another transaction's lock: `KeyIsLocked`. Waiting for it (and deadlock detection) is the
 *   store's and client's business; this function never waits.
 * - Our pessimistic lock: a retry, or a later statement raising `forUpdateTs`.
 * - Our prewritten lock: the key is ours already, nothing to do.
 * - No lock: a commit after `forUpdateTs` is a `WriteConflict`; our own rollback (or commit)
 *   means the transaction is over (`WriteConflict` with `conflictStartTs = startTs`);
 *   `shouldNotExist` with a live value is `AlreadyExist`.
 */
import { putLock, type TxnOp } from '../cf.ts';
import { assert, refuse, type ActionResult } from '../errors.ts';
import { keyIsLocked, type Lock } from '../lock.ts';
import { TS_MAX, maxTs, type Timestamp } from '../timestamp.ts';
import { commitRecord, newestDataWrite, valueOfPut, type ReadView } from '../view.ts';

/** What a pessimistic lock request carries for one key. */
export interface PessimisticLockRequest {
  key: Uint8Array;
  primary: Uint8Array;
  startTs: Timestamp;
  /** The statement's read ts; commits above it conflict. At least `startTs`. */
  forUpdateTs: Timestamp;
  lockTtlMs: number;
  /** Require the key to have no live value (an insert in a pessimistic transaction). */
  shouldNotExist: boolean;
  /** Return the key's newest value with the lock (a `SELECT … FOR UPDATE`). */
  returnValue: boolean;
  /** For an async-commit transaction, the lock's least commit ts; `forUpdateTs + 1` when absent. */
  minCommitTs?: Timestamp;
}

/** Takes the pessimistic lock; `value` is the key's newest value when asked for and present. */
export async function acquirePessimisticLock(view: ReadView, req: PessimisticLockRequest): Promise<ActionResult<{ value?: Uint8Array }>> {
  const { key, startTs, forUpdateTs } = req;
  assert(forUpdateTs >= startTs, 'forUpdateTs below startTs');
  const lock = await view.lock(key);
  if (lock !== undefined && lock.startTs !== startTs) return refuse(keyIsLocked(key, lock));
  if (lock !== undefined) {
    if (lock.kind !== 'pessimisticLock' || lock.forUpdateTs >= forUpdateTs) return withValue(view, req, []);
    const raised: Lock = { ...lock, forUpdateTs, ttlMs: Math.max(lock.ttlMs, req.lockTtlMs), minCommitTs: maxTs(lock.minCommitTs, forUpdateTs + 1n) };
    return withValue(view, req, [putLock(key, raised)]);
  }
  const newest = await view.seekWrite(key, TS_MAX);
  if (newest !== undefined && newest.commitTs > forUpdateTs) {
    return refuse({ kind: 'WriteConflict', key, startTs, conflictStartTs: newest.write.startTs, conflictCommitTs: newest.commitTs, primary: req.primary });
  }
  const record = await commitRecord(view, key, startTs);
  if (record.kind !== 'none') {
    const at = record.kind === 'committed' ? record.commitTs : startTs;
    return refuse({ kind: 'WriteConflict', key, startTs, conflictStartTs: startTs, conflictCommitTs: at, primary: req.primary });
  }
  if (req.shouldNotExist) {
    const live = await newestDataWrite(view, key, TS_MAX);
    if (live?.write.kind === 'put') return refuse({ kind: 'AlreadyExist', key });
  }
  const created: Lock = {
    kind: 'pessimisticLock',
    primary: req.primary,
    startTs,
    ttlMs: req.lockTtlMs,
    forUpdateTs,
    txnSize: 0,
    minCommitTs: req.minCommitTs ?? forUpdateTs + 1n,
    useAsyncCommit: false,
    secondaries: [],
  };
  return withValue(view, req, [putLock(key, created)]);
}

async function withValue(view: ReadView, req: PessimisticLockRequest, ops: TxnOp[]): Promise<ActionResult<{ value?: Uint8Array }>> {
  if (!req.returnValue) return { ok: true, ops };
  const live = await newestDataWrite(view, req.key, TS_MAX);
  if (live?.write.kind !== 'put') return { ok: true, ops };
  return { ok: true, ops, value: await valueOfPut(view, req.key, live.write) };
}
