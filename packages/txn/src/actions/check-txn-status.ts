/**
 * Check-txn-status (TiKV's `commands/check_txn_status.rs`), sent by a reader or writer that
 * met a lock, to the transaction's primary key, whose lock or commit record decides the
 * transaction:
 *
 * - Our async-commit lock: reported `locked` as it is, whatever its TTL, never pushed: the
 *   transaction may be committed already (every prewrite in), at a ts its locks fixed. The
 *   resolver checks the secondaries (`checkSecondaryLocks`) once the TTL is past.
 * - Our lock on the primary, expired at `currentTs` (a TSO ts, judged on physical ms):
 *   rolled back here and now (`rolledBack`, `ttlExpired`).
 * - Our lock, alive: reported `locked`. For a reader (`callerStartTs`), `minCommitTs` is
 *   pushed above the reader's start ts (and to `currentTs` if that is larger), so the reader
 *   may ignore the lock instead of waiting: the transaction will commit after it.
 * - No lock of ours: the commit record says `committed` or `rolledBack`; with no record at all,
 *   the prewrite never arrived (or was lost): with `rollbackIfNotExist` a rollback record is
 *   written so it can never succeed (`rolledBack`, `lockNotExist`), else `TxnNotFound`.
 */
import { putLock, type TxnOp } from '../cf.ts';
import { bytesEqual } from '../key.ts';
import { refuse, type ActionResult } from '../errors.ts';
import type { Lock } from '../lock.ts';
import { TS_MAX, isLockExpired, maxTs, type Timestamp } from '../timestamp.ts';
import { commitRecord, type ReadView } from '../view.ts';
import { rollbackOps } from './common.ts';

/** What the caller asks. */
export interface CheckTxnStatusRequest {
  primaryKey: Uint8Array;
  /** The start ts of the transaction being checked. */
  lockTs: Timestamp;
  /** The start ts of the reader that met the lock, to push past; `0n` or `TS_MAX`: no push. */
  callerStartTs: Timestamp;
  /** "Now", a TSO ts: the lock's TTL is judged against it. */
  currentTs: Timestamp;
  /** Whether to write a rollback record when neither the lock nor a commit record is found. */
  rollbackIfNotExist: boolean;
  /**
   * Judge an async-commit lock by the 2PC rules (TTL, push), as TiKV's `force_sync_commit`:
   * for a resolver that gave up on checking the secondaries.
   */
  forceSyncCommit?: boolean;
}

/** The transaction's state, as the primary tells it. */
export type TxnStatus =
  | { kind: 'committed'; commitTs: Timestamp }
  /** `ttlExpired`: rolled back by this call; `lockNotExist`: rollback written by this call; `rolledBack`: it was already. */
  | { kind: 'rolledBack'; reason: 'ttlExpired' | 'lockNotExist' | 'rolledBack' }
  /** Still running: its lock (after any push) tells the TTL, `minCommitTs`, async commit and secondaries. */
  | { kind: 'locked'; lock: Lock; minCommitTsPushed: boolean };

/** Checks (and may roll back, or push) the transaction `lockTs` on its primary. */
export async function checkTxnStatus(view: ReadView, req: CheckTxnStatusRequest): Promise<ActionResult<{ status: TxnStatus }>> {
  const { primaryKey, lockTs } = req;
  const lock = await view.lock(primaryKey);
  if (lock !== undefined && lock.startTs === lockTs) {
    if (!bytesEqual(lock.primary, primaryKey)) return refuse({ kind: 'PrimaryMismatch', key: primaryKey, startTs: lockTs, lockPrimary: lock.primary });
    // An async-commit transaction may be committed already (every prewrite in) even though
    // its primary is locked: neither its TTL nor a reader decides it here. The resolver asks
    // the secondaries (`checkSecondaryLocks`), unless it forces the 2PC rules.
    if (lock.useAsyncCommit && !req.forceSyncCommit) return { ok: true, ops: [], status: { kind: 'locked', lock, minCommitTsPushed: false } };
    if (isLockExpired(lock.startTs, lock.ttlMs, req.currentTs)) {
      return { ok: true, ops: await rollbackOps(view, primaryKey, lockTs, lock), status: { kind: 'rolledBack', reason: 'ttlExpired' } };
    }
    return pushIfReader(primaryKey, lock, req);
  }
  const record = await commitRecord(view, primaryKey, lockTs);
  if (record.kind === 'committed') return { ok: true, ops: [], status: { kind: 'committed', commitTs: record.commitTs } };
  if (record.kind === 'rolledBack') return { ok: true, ops: [], status: { kind: 'rolledBack', reason: 'rolledBack' } };
  if (!req.rollbackIfNotExist) return refuse({ kind: 'TxnNotFound', startTs: lockTs, primary: primaryKey });
  return { ok: true, ops: await rollbackOps(view, primaryKey, lockTs, undefined), status: { kind: 'rolledBack', reason: 'lockNotExist' } };
}

function pushIfReader(primaryKey: Uint8Array, lock: Lock, req: CheckTxnStatusRequest): ActionResult<{ status: TxnStatus }> {
  const caller = req.callerStartTs;
  const wantsPush = caller !== 0n && caller !== TS_MAX && lock.minCommitTs <= caller;
  if (!wantsPush) return { ok: true, ops: [], status: { kind: 'locked', lock, minCommitTsPushed: false } };
  const pushed: Lock = { ...lock, minCommitTs: maxTs(caller + 1n, req.currentTs) };
  const ops: TxnOp[] = [putLock(primaryKey, pushed)];
  return { ok: true, ops, status: { kind: 'locked', lock: pushed, minCommitTsPushed: true } };
}
