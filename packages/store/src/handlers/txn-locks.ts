/**
 * The txn requests about locks beyond 2PC's prewrite/commit (TiKV's `AcquirePessimisticLock`,
 * `PessimisticRollback`, `CheckSecondaryLocks` commands), run on the txn scheduler like every
 * txn request (`handlers/txn.ts`): a pessimistic transaction locks keys as it reads them for
 * update and drops them when a statement fails; an async-commit resolver checks each secondary.
 *
 * Waiting: a pessimistic lock meeting another transaction's lock waits for its release up to
 * `waitTimeoutMs` (`txn/lock-wait.ts`: this store's waiter queue, and the deadlock detector with
 * PD's leader), then answers `KeyIsLocked` (timeout) or `Deadlock`; 0 answers `KeyIsLocked` at once.
 */
import { acquirePessimisticLock, checkSecondaryLocks, pessimisticRollback, type ReadView, type TxnOp } from '@peerkv/txn';
import { checkCommitAbove, checkKey, checkKeys, checkOptTs, checkTs, checkTtl, checkUint } from '../txn/check.ts';
import { withLockWait } from '../txn/lock-wait.ts';
import { runTxnCommand, txnState, type TxnActionOutcome } from '../txn/scheduler.ts';
import type { TxnError } from '../txn/types.ts';
import type { Handler } from './handler.ts';
import { eachKey } from './txn.ts';

/** Longest lock wait a pessimistic lock request may ask for, ms (TiKV's default `wait_for_lock_timeout` is 1 s). */
export const PESSIMISTIC_WAIT_TIMEOUT_MS_MAX = 60_000;

/** Reports each secondary of an async-commit transaction, rolling back those its prewrite never reached. */
export const handleTxnCheckSecondaryLocks: Handler<'txnCheckSecondaryLocks'> = async (env, q, o) => {
  const keys = checkKeys('txnCheckSecondaryLocks.keys', q.keys);
  const startTs = checkTs('txnCheckSecondaryLocks.startTs', q.startTs);
  return runTxnCommand(
    env,
    {
      ...q,
      keys,
      writes: true,
      action: async (view) => {
        const r = await checkSecondaryLocks(view, keys, startTs);
        return r.ok ? { ok: true, ops: r.ops, value: { statuses: r.statuses } } : { ok: false, errors: [r.error] };
      },
    },
    o,
  );
};

/**
 * Takes pessimistic locks on keys (all or none; another transaction's lock is waited for, see
 * the module comment); with `returnValues`, each key's newest value. A
 * request that reads (`returnValues`, `shouldNotExist`) raises `maxTs` to `forUpdateTs` first,
 * as TiKV does for inserts: an async-commit transaction must not commit below what it read.
 */
export const handleTxnPessimisticLock: Handler<'txnPessimisticLock'> = async (env, q, o) => {
  const keys = checkKeys('txnPessimisticLock.keys', q.keys);
  checkKey('txnPessimisticLock.primary', q.primary);
  const startTs = checkTs('txnPessimisticLock.startTs', q.startTs);
  const forUpdateTs = checkTs('txnPessimisticLock.forUpdateTs', q.forUpdateTs);
  if (forUpdateTs < startTs) checkCommitAbove('txnPessimisticLock.forUpdateTs', startTs, forUpdateTs);
  checkTtl('txnPessimisticLock.lockTtlMs', q.lockTtlMs);
  checkUint('txnPessimisticLock.waitTimeoutMs', q.waitTimeoutMs, PESSIMISTIC_WAIT_TIMEOUT_MS_MAX);
  checkOptTs('txnPessimisticLock.minCommitTs', q.minCommitTs);
  const reads = q.shouldNotExist === true || q.returnValues === true;
  const { cm } = txnState(env.ctx);
  const base = { primary: q.primary, startTs, forUpdateTs, lockTtlMs: q.lockTtlMs, shouldNotExist: q.shouldNotExist === true, returnValue: q.returnValues === true, ...(q.minCommitTs === undefined ? {} : { minCommitTs: q.minCommitTs }) };
  const action = async (actual: ReadView): Promise<TxnActionOutcome<{ values?: (Uint8Array | undefined)[] }>> => {
    const view = env.ctx.mutations.pessimisticLockIgnoresConflict ? asOf(actual, forUpdateTs) : actual;
    const ops: TxnOp[] = [];
    const errors: TxnError[] = [];
    const values: (Uint8Array | undefined)[] = [];
    for (const key of keys) {
      const r = await acquirePessimisticLock(view, { ...base, key });
      if (!r.ok) {
        errors.push(r.error);
        continue;
      }
      ops.push(...r.ops);
      values.push(r.value);
    }
    if (errors.length > 0) return { ok: false, errors };
    return { ok: true, ops, value: q.returnValues === true ? { values } : {} };
  };
  const beforeSnapshot = (): undefined => void cm.updateMaxTs(forUpdateTs);
  const run = () => runTxnCommand(env, { ...q, keys, writes: true, action, ...(reads ? { beforeSnapshot } : {}) }, o);
  return q.waitTimeoutMs === 0 ? run() : withLockWait(env, { keys, startTs, waitTimeoutMs: q.waitTimeoutMs }, run, o);
};

/** Mutation `pessimisticLockIgnoresConflict`: `view` with every write record above `ts` hidden. */
function asOf(view: ReadView, ts: bigint): ReadView {
  const min = (a: bigint): bigint => (a < ts ? a : ts);
  return {
    lock: (key) => view.lock(key),
    seekWrite: (key, at) => view.seekWrite(key, min(at)),
    writes: (key, maxTs) => view.writes(key, min(maxTs)),
    value: (key, startTs) => view.value(key, startTs),
    writeKeys: (range, limit) => view.writeKeys(range, limit),
    locks: (range, limit) => view.locks(range, limit),
  };
}

/** Drops the transaction's pessimistic locks on keys taken at or below `forUpdateTs` (no record is left). */
export const handleTxnPessimisticRollback: Handler<'txnPessimisticRollback'> = async (env, q, o) => {
  const keys = checkKeys('txnPessimisticRollback.keys', q.keys);
  const startTs = checkTs('txnPessimisticRollback.startTs', q.startTs);
  const forUpdateTs = checkTs('txnPessimisticRollback.forUpdateTs', q.forUpdateTs);
  const action = (view: ReadView): Promise<TxnActionOutcome<void>> => eachKey(keys, (key) => pessimisticRollback(view, key, startTs, forUpdateTs));
  return runTxnCommand(env, { ...q, keys, writes: true, action }, o);
};
