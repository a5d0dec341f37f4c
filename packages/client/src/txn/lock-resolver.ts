/**
 * The lock resolver (client-go's `lock_resolver.go`): a reader or writer that met another
 * transaction's lock asks that transaction's primary what became of it, and then:
 *
 * - committed: commits the lock it met at the primary's commit ts (`txnResolveLock`);
 * - rolled back: rolls the lock back;
 * - still running: a reader whose start ts the primary's `minCommitTs` was pushed past may read
 *   around the lock (`pushed`: the transaction will commit above the reader's ts); anyone else
 *   waits until the lock's TTL runs out (`msBeforeExpired`), after which the primary is rolled
 *   back by the next check;
 * - no primary lock and no record: the prewrite of the primary has not arrived (or was lost).
 *   Until the lock met has expired, that is "still running"; after, the primary gets a
 *   rollback record (`rollbackIfNotExist`), so that prewrite can never succeed.
 *
 * Async-commit locks are never pushed: the transaction may be committed already (every
 * prewrite in). Once the primary's TTL is past, its secondaries decide (`txnCheckSecondaryLocks`,
 * client-go's `resolveAsyncCommitLock`): any rolled back (a missing lock gets a rollback record
 * there, so that prewrite never lands) rolls the transaction back; any committed commits it at
 * that ts; every one locked commits it at the largest `minCommitTs` of all its locks. A
 * secondary locked without async commit means the transaction fell back to 2PC: its primary
 * decides, by the 2PC rules (`forceSyncCommit`).
 *
 * Final outcomes are cached per start ts (bounded), so meeting many locks of one finished
 * transaction costs one check.
 */
import type { KeyError } from '@peerkv/proto';
import { physicalMs } from '@peerkv/txn';
import type { TxnAnswer } from '@peerkv/store';
import type { Lock, TxnStatus } from '@peerkv/txn';
import { PeerKVError } from '../errors.ts';
import { groupByRegion, type TxnRouting } from './routing.ts';

/** Secondary keys per `txnCheckSecondaryLocks` request. */
export const SECONDARY_CHECK_KEYS_MAX = 256;
/** Finished transactions whose outcome the resolver remembers. */
export const RESOLVED_TXNS_CACHED_MAX = 2048;
/** Locks one `resolve` call looks at (the rest are met again on the caller's retry). */
export const RESOLVE_LOCKS_PER_CALL_MAX = 64;

/** A lock as a key error reports it. */
export type LockInfo = Extract<KeyError, { kind: 'KeyIsLocked' }>;

/** What `resolve` did. */
export interface ResolveResult {
  /** Ms until the earliest still-running lock met may be rolled back (0: none is left running). */
  msBeforeExpired: number;
  /** Start ts of running transactions whose locks the caller (a reader) may read around. */
  pushed: bigint[];
}

type Final = { kind: 'committed'; commitTs: bigint } | { kind: 'rolledBack' };

export class LockResolver {
  private readonly finals = new Map<bigint, Final>();

  constructor(private readonly routing: TxnRouting) {}

  /**
   * Resolves the locks met by a caller that started at `callerStartTs` (`0n` for a writer: no
   * push, only commit, roll back or wait).
   */
  async resolve(locks: readonly LockInfo[], callerStartTs: bigint, signal?: AbortSignal): Promise<ResolveResult> {
    let msBeforeExpired = 0;
    const pushed: bigint[] = [];
    let currentTs: bigint | undefined;
    for (const lock of locks.slice(0, RESOLVE_LOCKS_PER_CALL_MAX)) {
      let final = this.finals.get(lock.startTs);
      if (final === undefined) {
        currentTs ??= await this.routing.getTimestamp({ signal });
        const status = await this.status(lock, callerStartTs, currentTs, signal);
        if (status.kind === 'locked') {
          const remaining = Math.max(1, physicalMs(lock.startTs) + status.ttlMs - physicalMs(currentTs));
          if (status.pushedPast) pushed.push(lock.startTs);
          else msBeforeExpired = msBeforeExpired === 0 ? remaining : Math.min(msBeforeExpired, remaining);
          continue;
        }
        final = status;
        this.remember(lock.startTs, final);
      }
      await this.resolveOne(lock, final, signal);
    }
    return { msBeforeExpired, pushed };
  }

  /** The transaction's state from its primary (may roll back an expired one there). */
  private async status(lock: LockInfo, callerStartTs: bigint, currentTs: bigint, signal?: AbortSignal, forceSyncCommit = false): Promise<Final | { kind: 'locked'; ttlMs: number; pushedPast: boolean }> {
    const expired = physicalMs(lock.startTs) + lock.ttlMs < physicalMs(currentTs);
    const ask = (rollbackIfNotExist: boolean): Promise<TxnAnswer<TxnStatus>> =>
      this.call(lock.primary, (route, timeoutMs) => ({
        type: 'txnCheckStatus',
        regionId: route.region.id,
        epoch: route.region.epoch,
        primaryKey: lock.primary,
        lockTs: lock.startTs,
        callerStartTs,
        currentTs,
        rollbackIfNotExist,
        ...(forceSyncCommit ? { forceSyncCommit } : {}),
        timeoutMs,
      }), signal);
    let answer = await ask(false);
    if (!answer.ok && answer.errors.some((e) => e.kind === 'TxnNotFound')) {
      // The primary's prewrite has not arrived: wait for the lock met, then make sure it never does.
      if (!expired) return { kind: 'locked', ttlMs: lock.ttlMs, pushedPast: false };
      answer = await ask(true);
    }
    if (!answer.ok) throw new PeerKVError('Unavailable', `checking transaction ${lock.startTs} on its primary failed: ${answer.errors.map((e) => e.kind).join(', ')}`);
    const s = answer.value;
    if (s.kind === 'committed') return { kind: 'committed', commitTs: s.commitTs };
    if (s.kind === 'rolledBack') return { kind: 'rolledBack' };
    if (s.lock.useAsyncCommit && !forceSyncCommit) {
      if (physicalMs(lock.startTs) + s.lock.ttlMs >= physicalMs(currentTs)) return { kind: 'locked', ttlMs: s.lock.ttlMs, pushedPast: false };
      const decided = await this.decideAsyncCommit(lock, s.lock, signal);
      if (decided !== 'fallBack') return decided;
      return this.status(lock, callerStartTs, currentTs, signal, true);
    }
    const pushedPast = callerStartTs !== 0n && !s.lock.useAsyncCommit && s.lock.minCommitTs > callerStartTs;
    return { kind: 'locked', ttlMs: s.lock.ttlMs, pushedPast };
  }

  /**
   * Decides an expired async-commit transaction from its secondaries (see the module comment);
   * `fallBack` when one of them is a 2PC lock. The outcome is then applied to the primary too.
   */
  private async decideAsyncCommit(met: LockInfo, primaryLock: Lock, signal?: AbortSignal): Promise<Final | 'fallBack'> {
    let commitTs = primaryLock.minCommitTs;
    let final: Final | undefined;
    // Every secondary is checked before the transaction is called committed: a group whose
    // keys a split moved apart goes back into the queue and is cut again (skipping it, as an
    // index stepping past the re-queued keys once did, committed a transaction whose secondary
    // was rolled back: sim --txn seed 49, G1a).
    const unchecked = [...primaryLock.secondaries];
    const deadline = this.routing.clock.now() + this.routing.backoff.budgetMs;
    while (unchecked.length > 0 && final === undefined) {
      if (this.routing.clock.now() > deadline) throw new PeerKVError('RetryBudgetExhausted', `checking the secondaries of transaction ${met.startTs} did not finish within the retry budget`);
      const chunk = unchecked.splice(0, SECONDARY_CHECK_KEYS_MAX);
      for (const group of await groupByRegion(this.routing, chunk.map((key) => ({ key })), signal)) {
        const groupKeys = group.items.map((x) => x.key);
        const r = await this.routing.send(groupKeys[0], groupKeys, (route, svc) =>
          svc.handle({ type: 'txnCheckSecondaryLocks', regionId: route.region.id, epoch: route.region.epoch, keys: groupKeys, startTs: met.startTs, timeoutMs: this.routing.requestTimeoutMs }, { signal }),
          signal,
        );
        if (r.kind === 'regroup') {
          unchecked.push(...groupKeys);
          continue;
        }
        if (r.kind !== 'applied') throw new PeerKVError(r.kind === 'aborted' ? 'Aborted' : 'RetryBudgetExhausted', `checking the secondaries of transaction ${met.startTs} failed: ${r.lastError ? r.lastError.kind : r.kind}`, r.lastError);
        if (!r.value.ok) throw new PeerKVError('Unavailable', `checking the secondaries of transaction ${met.startTs} failed: ${r.value.errors.map((e) => e.kind).join(', ')}`);
        for (const st of r.value.value.statuses) {
          if (st.kind === 'rolledBack') final = { kind: 'rolledBack' };
          else if (st.kind === 'committed') final ??= { kind: 'committed', commitTs: st.commitTs };
          else if (!st.lock.useAsyncCommit) return 'fallBack';
          else if (st.lock.minCommitTs > commitTs) commitTs = st.lock.minCommitTs;
        }
        if (final !== undefined) break;
      }
    }
    final ??= { kind: 'committed', commitTs };
    // The primary first: once it holds the decision, every later check agrees.
    await this.resolveOne({ ...met, key: met.primary }, final, signal);
    return final;
  }

  /** Commits or rolls back the lock met, as its primary decided. */
  private async resolveOne(lock: LockInfo, final: Final, signal?: AbortSignal): Promise<void> {
    const answer = await this.call(lock.key, (route, timeoutMs) => ({
      type: 'txnResolveLock',
      regionId: route.region.id,
      epoch: route.region.epoch,
      keys: [lock.key],
      startTs: lock.startTs,
      ...(final.kind === 'committed' ? { commitTs: final.commitTs } : {}),
      timeoutMs,
    }), signal);
    if (!answer.ok) throw new PeerKVError('Unavailable', `resolving the lock of transaction ${lock.startTs} failed: ${answer.errors.map((e) => e.kind).join(', ')}`);
  }

  /** Sends a txn request about `key` to its region's leader; region errors retried, others thrown. */
  private async call<K extends 'txnCheckStatus' | 'txnResolveLock'>(
    key: Uint8Array,
    build: (route: Parameters<Parameters<TxnRouting['send']>[2]>[0], timeoutMs: number) => import('@peerkv/store').RequestOf<K>,
    signal?: AbortSignal,
  ): Promise<TxnAnswer<K extends 'txnCheckStatus' ? TxnStatus : void>> {
    const r = await this.routing.send(key, [key], (route, svc) => svc.handle(build(route, this.routing.requestTimeoutMs), { signal }) as Promise<import('@peerkv/store').Result<TxnAnswer<never>>>, signal);
    if (r.kind === 'applied') return r.value;
    if (r.kind === 'aborted') throw new PeerKVError('Aborted', 'aborted');
    throw new PeerKVError('RetryBudgetExhausted', `lock resolution failed after retries: ${r.lastError ? r.lastError.kind : 'no reachable replica'}`, r.lastError);
  }

  private remember(startTs: bigint, final: Final): void {
    if (this.finals.size >= RESOLVED_TXNS_CACHED_MAX) {
      const oldest = this.finals.keys().next().value;
      if (oldest !== undefined) this.finals.delete(oldest);
    }
    this.finals.set(startTs, final);
  }
}
