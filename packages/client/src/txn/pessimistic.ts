/**
 * Pessimistic transactions (TiDB's pessimistic mode over TiKV's `AcquirePessimisticLock`):
 * a transaction run with `{ pessimistic: true }` locks the keys it reads for update
 * (`tx.getForUpdate`, `tx.lockKeys`) as it goes, and every key it writes at commit time at the
 * latest, so a conflict is met while `fn` runs, by waiting, instead of aborting at commit.
 *
 * - **Locks** are taken with `forUpdateTs` = a fresh TSO timestamp; `getForUpdate` returns the
 *   newest committed value under the lock (what `SELECT … FOR UPDATE` reads), not the value at
 *   the start ts. The first key locked is the transaction's primary.
 * - **Waiting**: a key locked by another transaction is waited for on the store (up to
 *   `waitTimeoutMs` per acquisition, `PESSIMISTIC_WAIT_TIMEOUT_MS_DEFAULT`, in store waits of at
 *   most `PESSIMISTIC_WAIT_STEP_MS_MAX`); after each, a lock whose holder died is resolved through
 *   its primary once its TTL is out (`LockResolver`), and the lock asked again. Past
 *   `waitTimeoutMs` with the holder alive: `LockWaitTimeout` (not re-run: TiDB's "lock wait
 *   timeout exceeded").
 * - **WriteConflict** on a lock (the key was committed after `forUpdateTs`) takes the lock again
 *   at a newer `forUpdateTs` (at most `LOCK_CONFLICT_RETRIES_MAX` times): only the lock is
 *   retried, not `fn`; what `fn` reads under the lock is current.
 * - **Deadlock** (the store's detector found the wait closing a cycle): `PeerKVError('Deadlock')`;
 *   the transaction's locks are rolled back and `runTransaction` re-runs `fn` with a new start ts
 *   once the rollback is done (client-go's `lockKeys`): the transaction it blocked is woken by
 *   that release and takes the lock first, so the re-run waits behind it instead of racing it
 *   for the lock and closing the same cycle again.
 * - **Commit**: every written or locked key becomes a `pessimistic` mutation (a locked key never
 *   written is a `lock` mutation), the primary first, prewritten with the largest `forUpdateTs`
 *   (which converts the pessimistic locks) and committed by 2PC (1PC and async commit are not
 *   used with pessimistic locks here).
 * - **Failure** (fn threw, a lock failed, the commit failed): the pessimistic locks are dropped
 *   (`txnPessimisticRollback`, best effort; prewritten locks are left to the committer's rollback
 *   and to lock resolution).
 * - **Heartbeats** keep the primary's lock alive every `lockTtlMs / 2` from the first lock until
 *   the transaction ends (a long wait must not let a reader roll it back).
 */
import type { TxnAnswer, TxnError, TxnPessimisticLockResult } from '@peerkv/store';
import type { Mutation } from '@peerkv/txn';
import { LOCK_TTL_MS_MAX } from '@peerkv/txn';
import { compareKeys } from '@peerkv/pd';
import type { TimerHandle } from '@peerkv/proto';
import { sleepFor } from '../backoff.ts';
import { PeerKVError } from '../errors.ts';
import { LOCK_WAIT_STEP_MS_MAX } from './committer.ts';
import type { LockInfo, LockResolver } from './lock-resolver.ts';
import { groupByRegion, type TxnRouting } from './routing.ts';

/** How long one lock acquisition waits for another transaction's lock unless the options say otherwise, ms (TiKV's `wait_for_lock_timeout`). */
export const PESSIMISTIC_WAIT_TIMEOUT_MS_DEFAULT = 1000;
/** The longest wait a caller may ask for, ms (the store's `PESSIMISTIC_WAIT_TIMEOUT_MS_MAX`). */
export const PESSIMISTIC_WAIT_TIMEOUT_MS_MAX = 60_000;
/**
 * The longest one lock request waits on the store, ms (TiKV's `wait_for_lock_timeout`): a longer
 * `waitTimeoutMs` is waited in steps, resolving between them a holder whose TTL ran out.
 */
export const PESSIMISTIC_WAIT_STEP_MS_MAX = 1000;
/** Re-locks at a newer `forUpdateTs` after `WriteConflict`, per acquisition. */
export const LOCK_CONFLICT_RETRIES_MAX = 32;
/** Keys per pessimistic lock request. */
export const PESSIMISTIC_LOCK_BATCH_KEYS_MAX = 256;

/** What a pessimistic transaction's locks need besides the routing. */
export interface PessimisticOptions {
  startTs: bigint;
  lockTtlMs: number;
  /** Clock ms when the start ts was taken (a lock's TTL counts from it). */
  beganAtMs: number;
  waitTimeoutMs: number;
  signal?: AbortSignal;
  /** Called with background failures (heartbeats, rollbacks); for tests and metrics. */
  onBackgroundError?: (e: unknown) => void;
}

function slot(key: Uint8Array): string {
  let s = '';
  for (let i = 0; i < key.length; i++) s += String.fromCharCode(key[i]);
  return s;
}

/** One run's pessimistic locks (see the module comment). */
export class PessimisticLocks {
  private primary: Uint8Array | undefined;
  private readonly locked = new Map<string, Uint8Array>();
  /** The largest `forUpdateTs` any lock was taken at (the prewrite's). */
  private forUpdateTs = 0n;
  private heartbeatTimer: TimerHandle;
  private beating = false;

  constructor(
    private readonly routing: TxnRouting,
    private readonly resolver: LockResolver,
    private readonly o: PessimisticOptions,
  ) {}

  /** The largest `forUpdateTs` a lock was taken at so far (0: none yet). */
  get forUpdateTsMax(): bigint {
    return this.forUpdateTs;
  }

  /** Locks `keys` (distinct); with `returnValues`, each key's newest committed value, in order. */
  async lock(keys: readonly Uint8Array[], returnValues: boolean): Promise<(Uint8Array | undefined)[]> {
    if (keys.length === 0) return [];
    const values = new Map<string, Uint8Array | undefined>();
    const todo = returnValues ? [...keys] : keys.filter((k) => !this.locked.has(slot(k)));
    if (this.primary === undefined && todo.length > 0) {
      // The primary first, alone: every later lock names it, and a waiter checks it.
      const first = todo.shift()!;
      this.primary = first;
      await this.lockGroup([first], returnValues, values);
      this.startHeartbeats();
    }
    for (let i = 0; i < todo.length; i += PESSIMISTIC_LOCK_BATCH_KEYS_MAX) {
      const chunk = todo.slice(i, i + PESSIMISTIC_LOCK_BATCH_KEYS_MAX).map((key) => ({ key }));
      for (const g of await groupByRegion(this.routing, chunk, this.o.signal)) {
        await this.lockGroup(g.items.map((x) => x.key), returnValues, values);
      }
    }
    return keys.map((k) => values.get(slot(k)));
  }

  /**
   * The mutations to commit: `written` (sorted) plus a `lock` mutation for each key locked and
   * not written, every key locked first, all marked pessimistic, the primary first.
   */
  async prepareCommit(written: readonly Mutation[]): Promise<{ mutations: Mutation[]; forUpdateTs: bigint }> {
    await this.lock(written.map((m) => m.key), false);
    const out = new Map<string, Mutation>();
    for (const m of written) out.set(slot(m.key), { ...m, pessimistic: true });
    for (const [s, key] of this.locked) if (!out.has(s)) out.set(s, { op: 'lock', key, pessimistic: true });
    const primary = this.primary;
    const mutations = [...out.values()].sort((a, b) => compareKeys(a.key, b.key));
    if (primary !== undefined) {
      const i = mutations.findIndex((m) => compareKeys(m.key, primary) === 0);
      mutations.unshift(...mutations.splice(i, 1));
    }
    return { mutations, forUpdateTs: this.forUpdateTs };
  }

  /**
   * Drops every pessimistic lock taken (prewritten ones stay for the committer's rollback). It
   * runs in the background: the promise settles (never rejects) once every region answered or
   * gave up, for a caller that must not run again before (a deadlock's victim).
   */
  rollback(): Promise<void> {
    this.stop();
    const keys = [...this.locked.values()];
    if (keys.length === 0) return Promise.resolve();
    const { startTs } = this.o;
    const forUpdateTs = this.forUpdateTs;
    return (async () => {
      try {
        for (const g of await groupByRegion(this.routing, keys.map((key) => ({ key })))) {
          const groupKeys = g.items.map((x) => x.key);
          await this.routing.send(groupKeys[0], groupKeys, (route, svc) =>
            svc.handle({ type: 'txnPessimisticRollback', regionId: route.region.id, epoch: route.region.epoch, keys: groupKeys, startTs, forUpdateTs, timeoutMs: this.routing.requestTimeoutMs }),
          );
        }
      } catch (e) {
        this.o.onBackgroundError?.(e);
      }
    })();
  }

  /** Stops the heartbeats (the transaction ended). */
  stop(): void {
    if (this.beating) this.routing.clock.clearTimeout(this.heartbeatTimer);
    this.beating = false;
  }

  /** Locks `keys` (one region's) until they are all ours; see the module comment for the errors. */
  private async lockGroup(keys: Uint8Array[], returnValues: boolean, values: Map<string, Uint8Array | undefined>): Promise<void> {
    const clock = this.routing.clock;
    const deadline = clock.now() + this.o.waitTimeoutMs;
    for (let conflicts = 0, late = false; ; ) {
      if (this.o.signal?.aborted) throw new PeerKVError('Aborted', 'aborted');
      const forUpdateTs = await this.routing.getTimestamp({ signal: this.o.signal });
      const waitMs = Math.max(0, Math.min(PESSIMISTIC_WAIT_STEP_MS_MAX, deadline - clock.now()));
      const sentAtMs = clock.now();
      const r = await this.routing.send<TxnAnswer<TxnPessimisticLockResult>>(keys[0], keys, (route, svc) =>
        svc.handle(
          {
            type: 'txnPessimisticLock',
            regionId: route.region.id,
            epoch: route.region.epoch,
            keys,
            primary: this.primary!,
            startTs: this.o.startTs,
            forUpdateTs,
            lockTtlMs: this.lockTtlMs(),
            waitTimeoutMs: waitMs,
            ...(returnValues ? { returnValues } : {}),
            timeoutMs: this.routing.requestTimeoutMs + waitMs,
          },
          { signal: this.o.signal },
        ),
        this.o.signal,
      );
      if (r.kind === 'regroup') {
        for (const g of await groupByRegion(this.routing, keys.map((key) => ({ key })), this.o.signal)) await this.lockGroup(g.items.map((x) => x.key), returnValues, values);
        return;
      }
      if (r.kind !== 'applied') {
        // An unanswered lock request may have locked: remember the keys so a rollback drops them.
        this.remember(keys, forUpdateTs);
        if (r.kind === 'aborted') throw new PeerKVError('Aborted', 'aborted');
        throw new PeerKVError('RetryBudgetExhausted', `pessimistic lock failed after retries: ${r.lastError ? r.lastError.kind : 'no reachable replica'}`, r.lastError);
      }
      if (r.value.ok) {
        this.remember(keys, forUpdateTs);
        keys.forEach((k, i) => values.set(slot(k), r.value.ok ? r.value.value.values?.[i] : undefined));
        return;
      }
      const errors = r.value.errors;
      const failure = lockFailure(errors, this.o.startTs);
      if (failure !== undefined) throw failure;
      if (errors.some((e) => e.kind === 'WriteConflict')) {
        if (++conflicts > LOCK_CONFLICT_RETRIES_MAX) throw new PeerKVError('WriteConflict', `a key was committed after each of ${LOCK_CONFLICT_RETRIES_MAX} lock attempts`);
        continue;
      }
      // Only locks are in the way and the store waited: resolve those whose holder is gone, then
      // ask again (once more past the deadline if that cleared them).
      const res = await this.resolver.resolve(errors as LockInfo[], 0n, this.o.signal);
      if (clock.now() < deadline) {
        // A store that answered before its wait (its waiter bounds were reached) is not asked again at once.
        if (res.msBeforeExpired > 0 && clock.now() - sentAtMs < waitMs) await sleepFor(clock, Math.min(res.msBeforeExpired, LOCK_WAIT_STEP_MS_MAX, deadline - clock.now()), this.o.signal);
        continue;
      }
      if (res.msBeforeExpired === 0 && !late) {
        late = true;
        continue;
      }
      throw new PeerKVError('LockWaitTimeout', `a lock of transaction ${(errors[0] as LockInfo).startTs} was held past waitTimeoutMs (${this.o.waitTimeoutMs} ms)`);
    }
  }

  private remember(keys: readonly Uint8Array[], forUpdateTs: bigint): void {
    for (const k of keys) this.locked.set(slot(k), k);
    if (forUpdateTs > this.forUpdateTs) this.forUpdateTs = forUpdateTs;
  }

  /** The TTL a lock written now needs: it counts from the start ts, so the time since then is added. */
  private lockTtlMs(): number {
    return Math.min(LOCK_TTL_MS_MAX, Math.max(0, this.routing.clock.now() - this.o.beganAtMs) + this.o.lockTtlMs);
  }

  /** Keeps the primary's lock alive (every `lockTtlMs / 2`) until `stop`. */
  private startHeartbeats(): void {
    if (this.beating || this.primary === undefined) return;
    const key = this.primary;
    this.beating = true;
    const beat = (): void => {
      this.heartbeatTimer = this.routing.clock.setTimeout(() => {
        if (!this.beating) return;
        const adviseTtlMs = this.lockTtlMs();
        void this.routing
          .send(key, [key], (route, svc) =>
            svc.handle({ type: 'txnHeartbeat', regionId: route.region.id, epoch: route.region.epoch, primaryKey: key, startTs: this.o.startTs, adviseTtlMs, timeoutMs: this.routing.requestTimeoutMs }),
          )
          .catch((e: unknown) => this.o.onBackgroundError?.(e))
          .finally(() => {
            if (this.beating) beat();
          });
      }, Math.max(1, Math.floor(this.o.lockTtlMs / 2)));
    };
    beat();
  }
}

/** The error a lock refusal ends the acquisition with, or undefined to retry (locks, write conflicts). */
function lockFailure(errors: readonly TxnError[], startTs: bigint): PeerKVError | undefined {
  for (const e of errors) {
    if (e.kind === 'Deadlock') return new PeerKVError('Deadlock', `waiting for the lock of transaction ${e.lockTs} would close a deadlock (key hash ${e.deadlockKeyHash})`);
    if (e.kind === 'WriteConflict' && e.conflictStartTs === startTs) return new PeerKVError('TxnAborted', 'the transaction was rolled back by another transaction\'s lock resolver');
    if (e.kind === 'KeyIsLocked' || e.kind === 'WriteConflict') continue;
    if (e.kind === 'TxnUnsupported') return new PeerKVError('Unavailable', `the stores do not serve transactions (missing column families: ${e.missingColumnFamilies.join(', ')})`);
    return new PeerKVError('InvalidArgument', `pessimistic lock refused: ${e.kind}`);
  }
  return undefined;
}
