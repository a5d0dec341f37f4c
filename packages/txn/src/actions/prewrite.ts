/**
 * Prewrite (Percolator's first phase; TiKV's `actions/prewrite.rs`): lock every key of the
 * transaction after checking that no other transaction holds it or committed it after our
 * start ts. Optimistic and pessimistic; 2PC, async commit and 1PC.
 *
 * Per key, in order:
 * 1. A lock of another transaction: `KeyIsLocked` — unless the key holds our own commit record
 *    (a retry after we committed; a later transaction has locked the key since).
 * 2. Our own prewritten lock: a retry, nothing to write (idempotent).
 * 3. Our own pessimistic lock: conflicts were checked when it was taken; convert it.
 * 4. No lock but the mutation expected our pessimistic lock: it was resolved away, `TxnNotFound`
 *    (unless the key already holds our commit: a retried prewrite after commit, nothing to do).
 * 5. No lock: a commit after our start ts is a `WriteConflict`; our own rollback at our start ts
 *    is a `WriteConflict` with `conflictStartTs = startTs` (TiKV's `SelfRolledBack`); our own
 *    commit means a retry after commit; an insert over a live value is `AlreadyExist`. With a
 *    `readTs` below the start ts (a transaction queued offline, whose reads were made at
 *    `readTs`), a `put` or `delete` committed in `(readTs, startTs]` is a `WriteConflict` too: the
 *    check starts where the reads were made, not at the fresh start ts (see `TxnProps.readTs`).
 * Then the lock (or, for 1PC, the commit record) is written, the value inline when short.
 */
import type { LockKind } from '@peerkv/proto';
import { deleteLock, putLock, putValue, putWrite, type TxnOp } from '../cf.ts';
import { assert, refuse, type ActionError, type ActionResult } from '../errors.ts';
import { bytesEqual, compareBytes } from '../key.ts';
import { MUTATIONS_MAX, SECONDARIES_MAX } from '../limits.ts';
import { keyIsLocked, type Lock } from '../lock.ts';
import { isShortValue } from '../records.ts';
import { TS_MAX, maxTs, type Timestamp } from '../timestamp.ts';
import { commitRecord, newestDataWrite, type ReadView } from '../view.ts';
import { asyncCommitMinTs } from '../visibility.ts';
import { isDataWrite, type Write } from '../write.ts';
import { rollbackAt } from './common.ts';

/** One key's change in a transaction. */
export type Mutation = (
  | { op: 'put'; key: Uint8Array; value: Uint8Array }
  | { op: 'delete'; key: Uint8Array }
  /** Lock the key without changing it (a read the transaction wants protected: `SELECT … FOR UPDATE`). */
  | { op: 'lock'; key: Uint8Array }
  /** A put that requires the key to have no live value (`AlreadyExist` otherwise). */
  | { op: 'insert'; key: Uint8Array; value: Uint8Array }
  /** No write: only require the key to have no live value. */
  | { op: 'checkNotExists'; key: Uint8Array }
) & {
  /**
   * The key holds this transaction's pessimistic lock (TiKV's `DoPessimisticCheck`): its
   * conflicts were checked when the lock was taken, and the lock must still be there.
   */
  pessimistic?: boolean;
};

/** How the transaction commits. */
export type CommitMode =
  /** Classic 2PC: the client commits the primary, then the secondaries. */
  | { kind: 'twoPc' }
  /**
   * Async commit: committed once every key is prewritten. The primary's lock lists the
   * `secondaries`; every lock's `minCommitTs` is above `maxTs`, the store's concurrency
   * manager's max read ts (see `asyncCommitMinTs`), and the commit ts is the largest of them.
   */
  | { kind: 'asyncCommit'; secondaries: Uint8Array[]; maxTs: Timestamp }
  /**
   * 1PC: every key is in this request; commit records are written at `commitTs` directly,
   * with no locks. The store computes `commitTs` with `asyncCommitMinTs` from its max ts.
   */
  | { kind: 'onePc'; commitTs: Timestamp };

/** What every key of one prewrite shares (TiKV's `TransactionProperties`). */
export interface TxnProps {
  primary: Uint8Array;
  startTs: Timestamp;
  lockTtlMs: number;
  /** Keys in the whole transaction (a hint recorded in each lock). */
  txnSize: number;
  /** The pessimistic transaction's for-update ts; `0n` for an optimistic one. */
  forUpdateTs: Timestamp;
  /**
   * The ts the transaction's reads were made at, when below `startTs` (absent: `startTs`). A
   * transaction queued while the quorum was away read at its device's resolved ts and takes a
   * fresh start ts only when it commits; its keys — the written ones and the read ones, sent as
   * `lock` mutations — must not have changed since `readTs`. So a data write (`put`/`delete`)
   * of another transaction committed in `(readTs, startTs]` is a `WriteConflict`, as one after
   * `startTs` always is. `lock` and `rollback` records in that window change no value and do
   * not conflict (a rollback there may be this queue's own earlier attempt). The lock this
   * prewrite leaves keeps the keys unchanged until the commit: the check and the commit are
   * atomic, as Percolator's write-write check is.
   */
  readTs?: Timestamp;
  /**
   * For 2PC, the lock's least commit ts; when absent, one above the start ts and the for-update
   * ts (the commit ts will come from the TSO after both, as client-go sets it).
   */
  minCommitTs?: Timestamp;
  mode: CommitMode;
}

/**
 * One key's prewrite: its ops and the least commit ts its lock allows (the 1PC commit ts for
 * 1PC); `committedTs` when the key already holds this transaction's commit (a retry after the
 * commit), at that ts.
 */
export type PrewriteKeyResult = ActionResult<{ minCommitTs: Timestamp; committedTs?: Timestamp }>;

/** A whole prewrite: every key's ops, or every key's error (so the client resolves all locks at once). */
export type PrewriteResult =
  | {
      ok: true;
      ops: TxnOp[];
      /** The largest `minCommitTs` of the keys: with async commit, the commit ts candidate. */
      minCommitTs: Timestamp;
      /** With 1PC, the ts the transaction committed at (the earlier one on a retry). */
      onePcCommitTs?: Timestamp;
    }
  | { ok: false; errors: ActionError[] };

/**
 * Prewrites `mutations` (distinct keys) of the transaction `props`. All or nothing: either the
 * ops for every key, or the errors of every key that refused.
 */
export async function prewrite(view: ReadView, props: TxnProps, mutations: readonly Mutation[]): Promise<PrewriteResult> {
  assert(mutations.length <= MUTATIONS_MAX, `${mutations.length} mutations > ${MUTATIONS_MAX}`);
  const sorted = mutations.map((m) => m.key).sort(compareBytes);
  for (let i = 1; i < sorted.length; i++) assert(!bytesEqual(sorted[i - 1], sorted[i]), 'a key twice in one prewrite');
  const ops: TxnOp[] = [];
  const errors: ActionError[] = [];
  let minCommitTs = props.startTs + 1n;
  let committedTs: Timestamp | undefined;
  for (const m of mutations) {
    const r = await prewriteKey(view, props, m);
    if (!r.ok) errors.push(r.error);
    else {
      ops.push(...r.ops);
      minCommitTs = maxTs(minCommitTs, r.minCommitTs);
      committedTs ??= r.committedTs;
    }
  }
  if (errors.length > 0) return { ok: false, errors };
  if (props.mode.kind === 'onePc') {
    const onePcCommitTs = committedTs ?? props.mode.commitTs;
    return { ok: true, ops, minCommitTs: onePcCommitTs, onePcCommitTs };
  }
  return { ok: true, ops, minCommitTs };
}

/** Prewrites one key (see the module comment for the checks, in order). */
export async function prewriteKey(view: ReadView, props: TxnProps, m: Mutation): Promise<PrewriteKeyResult> {
  checkProps(props);
  const { startTs } = props;
  const lock = await view.lock(m.key);
  if (lock !== undefined && lock.startTs !== startTs) {
    // A retry of a prewrite that already committed (1PC, or 2PC after its commit) may find a
    // later transaction's lock on the key: our commit record decides, not that lock (TiKV's
    // committed-record check on a retried prewrite). Else the caller's answer would say
    // "locked" about a transaction that committed.
    const record = await commitRecord(view, m.key, startTs);
    if (record.kind === 'committed') return { ok: true, ops: [], minCommitTs: record.commitTs, committedTs: record.commitTs };
    return refuse(keyIsLocked(m.key, lock));
  }
  if (lock !== undefined && lock.kind !== 'pessimisticLock') {
    // A retry: the key is prewritten already. 1PC never leaves a lock, so one here means the
    // transaction is mid-2PC and must not be declared committed.
    if (props.mode.kind === 'onePc') return refuse(keyIsLocked(m.key, lock));
    return { ok: true, ops: [], minCommitTs: lock.minCommitTs };
  }
  if (lock === undefined) {
    if (m.pessimistic) return pessimisticLockMissing(view, props, m.key);
    const refusal = await checkConflicts(view, props, m);
    if (refusal?.kind === 'committed') return { ok: true, ops: [], minCommitTs: refusal.commitTs, committedTs: refusal.commitTs };
    if (refusal !== undefined) return refuse(refusal);
  }
  if (m.op === 'checkNotExists') {
    // Nothing to write; 1PC leaves no lock behind, so our pessimistic lock goes.
    const ops = props.mode.kind === 'onePc' && lock !== undefined ? [deleteLock(m.key)] : [];
    return { ok: true, ops, minCommitTs: startTs + 1n };
  }
  if (props.mode.kind !== 'onePc') return writeLock(props, m, lock);
  // `checkConflicts` passed (no lock): the key has no write record above the start ts at all
  // (any would be a conflict or our own commit), so none at the commit ts, which is above it.
  const overlapped = lock === undefined ? false : await rollbackAt(view, m.key, props.mode.commitTs);
  return commitOnePc(props, m, props.mode.commitTs, lock, overlapped);
}

function checkProps(props: TxnProps): void {
  assert(props.forUpdateTs === 0n || props.forUpdateTs >= props.startTs, 'forUpdateTs below startTs');
  assert(props.readTs === undefined || (props.readTs > 0n && props.readTs <= props.startTs), 'readTs not in (0, startTs]');
  if (props.mode.kind === 'onePc') {
    assert(props.mode.commitTs > maxTs(props.startTs, props.forUpdateTs), '1PC commit ts not above start and for-update ts');
  }
  if (props.mode.kind === 'asyncCommit') assert(props.mode.secondaries.length <= SECONDARIES_MAX, 'too many secondaries');
}

/**
 * A pessimistic mutation found no lock: it was rolled back (resolved by another transaction
 * after its TTL), or the prewrite already went through and committed (a retry). TiKV's
 * `PessimisticLockNotFound` is reported as `TxnNotFound`: the transaction's lock is gone.
 */
async function pessimisticLockMissing(view: ReadView, props: TxnProps, key: Uint8Array): Promise<PrewriteKeyResult> {
  const record = await commitRecord(view, key, props.startTs);
  if (record.kind === 'committed') return { ok: true, ops: [], minCommitTs: record.commitTs, committedTs: record.commitTs };
  return refuse({ kind: 'TxnNotFound', startTs: props.startTs, primary: props.primary });
}

/**
 * The optimistic checks on a key with no lock: newer commits, our own rollback, our own commit
 * (a retry: `committed`, at its ts), and the insert constraint. Conflicts are judged against the start
 * ts even in a pessimistic transaction: a key it did not lock was read at its start ts. With a
 * `readTs` below the start ts, data writes of others in `(readTs, startTs]` are conflicts too.
 */
async function checkConflicts(view: ReadView, props: TxnProps, m: Mutation): Promise<ActionError | { kind: 'committed'; commitTs: Timestamp } | undefined> {
  const { startTs } = props;
  const readTs = props.readTs ?? startTs;
  let newer: { commitTs: Timestamp; startTs: Timestamp } | undefined;
  // Every record at or below the bound is below the read ts (so below the start ts): the walk
  // below would stop at the first without a finding. Skipping it is the same answer unread.
  const bound = view.writeTsBound?.(m.key);
  const writes = bound !== undefined && bound < readTs ? [] : view.writes(m.key, TS_MAX);
  for await (const v of writes) {
    const ours = v.write.startTs === startTs;
    if (v.commitTs > startTs) {
      if (ours && v.write.kind !== 'rollback') return { kind: 'committed', commitTs: v.commitTs };
      newer ??= { commitTs: v.commitTs, startTs: v.write.startTs };
      continue;
    }
    if (v.commitTs === startTs && (ours ? v.write.kind === 'rollback' : v.write.hasOverlappedRollback)) {
      return { kind: 'WriteConflict', key: m.key, startTs, conflictStartTs: startTs, conflictCommitTs: startTs, primary: props.primary };
    }
    if (v.commitTs <= readTs) break;
    // In (readTs, startTs]: only a change of the value conflicts (see `TxnProps.readTs`).
    if (!ours && isDataWrite(v.write)) newer ??= { commitTs: v.commitTs, startTs: v.write.startTs };
  }
  if (newer !== undefined) {
    return { kind: 'WriteConflict', key: m.key, startTs, conflictStartTs: newer.startTs, conflictCommitTs: newer.commitTs, primary: props.primary };
  }
  if (m.op === 'insert' || m.op === 'checkNotExists') {
    const live = await newestDataWrite(view, m.key, TS_MAX);
    if (live?.write.kind === 'put') return { kind: 'AlreadyExist', key: m.key };
  }
  return undefined;
}

function lockKindOf(m: Mutation): LockKind {
  assert(m.op !== 'checkNotExists', 'checkNotExists takes no lock');
  return m.op === 'insert' ? 'put' : m.op;
}

function valueOf(m: Mutation): Uint8Array | undefined {
  return m.op === 'put' || m.op === 'insert' ? m.value : undefined;
}

/**
 * The lock (and long value) of a 2PC or async-commit prewrite. Converting our pessimistic lock
 * keeps its `minCommitTs` if higher: a reader may have pushed it (`checkTxnStatus`) and read
 * past the transaction on that promise.
 */
function writeLock(props: TxnProps, m: Mutation, pessimisticLock: Lock | undefined): PrewriteKeyResult {
  const { startTs, mode } = props;
  const value = valueOf(m);
  const ops: TxnOp[] = [];
  const isPrimary = bytesEqual(m.key, props.primary);
  const fresh =
    mode.kind === 'asyncCommit' ? maxTs(asyncCommitMinTs(startTs, props.forUpdateTs, mode.maxTs), props.minCommitTs ?? 0n) : (props.minCommitTs ?? maxTs(startTs, props.forUpdateTs) + 1n);
  const minCommitTs = maxTs(fresh, pessimisticLock?.minCommitTs ?? 0n);
  const lock: Lock = {
    kind: lockKindOf(m),
    primary: props.primary,
    startTs,
    ttlMs: props.lockTtlMs,
    forUpdateTs: props.forUpdateTs,
    txnSize: props.txnSize,
    minCommitTs,
    useAsyncCommit: mode.kind === 'asyncCommit',
    secondaries: mode.kind === 'asyncCommit' && isPrimary ? mode.secondaries : [],
  };
  if (value !== undefined && isShortValue(value)) lock.shortValue = value;
  else if (value !== undefined) ops.push(putValue(m.key, startTs, value));
  ops.push(putLock(m.key, lock));
  return { ok: true, ops, minCommitTs };
}

/**
 * The commit record (and long value) of a 1PC prewrite; drops our pessimistic lock if any,
 * refusing with `CommitTsExpired` a commit ts below that lock's (possibly pushed) `minCommitTs`.
 * `overlappedRollback`: another transaction's rollback sits at `key@commitTs` (`rollbackAt`),
 * which the commit record then keeps.
 */
function commitOnePc(props: TxnProps, m: Mutation, commitTs: Timestamp, pessimisticLock: Lock | undefined, overlappedRollback: boolean): PrewriteKeyResult {
  const { startTs } = props;
  // A reader may have pushed our pessimistic lock past this ts and read on that promise.
  if (pessimisticLock !== undefined && commitTs < pessimisticLock.minCommitTs) {
    return refuse({ kind: 'CommitTsExpired', startTs, attemptedCommitTs: commitTs, minCommitTs: pessimisticLock.minCommitTs });
  }
  const value = valueOf(m);
  const ops: TxnOp[] = [];
  const kind = lockKindOf(m);
  assert(kind !== 'pessimisticLock', 'a mutation is never a pessimistic lock');
  const write: Write = { kind, startTs, hasOverlappedRollback: overlappedRollback };
  if (value !== undefined && isShortValue(value)) write.shortValue = value;
  else if (value !== undefined) ops.push(putValue(m.key, startTs, value));
  if (pessimisticLock !== undefined) ops.push(deleteLock(m.key));
  ops.push(putWrite(m.key, commitTs, write));
  return { ok: true, ops, minCommitTs: commitTs };
}
