/**
 * The resolved ts (TiKV's `resolved_ts` and safe ts, carried by the Raft log): every
 * `safeTsIntervalMs` the store takes a fresh TSO timestamp `t`, raises its `maxTs` to it,
 * and for each mvcc region it leads proposes `safeTs(R)` with
 *
 *   R = min(t, least start ts of the region's locks, least start ts of the in-memory locks).
 *
 * Why no transaction can commit at or below R in the region after that entry:
 * - a 2PC transaction holding no lock yet takes its commit ts from the TSO after its prewrite
 *   is answered, so above `t`; one holding a lock has start ts ≥ R, and commits above that;
 * - an async-commit or 1PC prewrite takes its commit ts above `maxTs` (≥ `t`) unless its lock
 *   was already in the in-memory table when `maxTs` was raised (then R ≤ its start ts), and a
 *   prewrite that read `maxTs` before the raise computes again (`handleTxnPrewrite`);
 * - the locks are read from this leader's applied state only when its commit index is of
 *   its own term and everything committed is applied, so no committed lock is missing; a
 *   lock that goes meanwhile was resolved by an entry before this one in the log.
 * And every transaction that committed at or below R is in the log before the entry. So a
 * replica that applied it reads at any ts ≤ R from its own state, ignoring every lock
 * (`handlers/stale-read.ts`). A deposed leader's entry can only commit ordered before the
 * new leader's entries (see `txn/scheduler.ts`), which keeps the argument.
 *
 * Idle (hibernating) regions advance at most every `SAFE_TS_IDLE_INTERVAL_MS`, so an idle
 * cluster does not wake every region each interval.
 *
 * A lock whose TTL ran out holds the resolved ts back until someone resolves it. Readers resolve
 * the locks they meet, but they skip `lock`-kind locks (a key locked and not written), and GC may
 * be off or far apart: so the locks a run finds expired go to the store's lock resolution
 * (`GcWorker.resolveLocksMet`; TiCDC resolves the locks that stall its resolved ts the same way),
 * at most `SAFE_TS_LOCKS_RESOLVED_MAX` per run, one resolution at a time.
 */
import { ProposalDroppedError } from '@peerkv/raft';
import { CF_LOCK, decodeKey, decodeLock, physicalMs, type Lock } from '@peerkv/txn';
import { encodeCommand } from '../command.ts';
import type { StoreContext } from '../context.ts';
import { storedKeyRange } from '../data-model.ts';
import type { RegionPeer } from '../peer.ts';
export { SAFE_TS_INTERVAL_MS_DEFAULT } from '../options.ts';
import { txnState } from './scheduler.ts';

/** Least time between two advances of a hibernating region, ms. */
export const SAFE_TS_IDLE_INTERVAL_MS = 10_000;
/** Locks of one region read per advance; a region holding more is not advanced this time. */
export const SAFE_TS_LOCKS_SCANNED_MAX = 4096;
/** Wait for PD's timestamp, ms. */
export const SAFE_TS_TSO_TIMEOUT_MS = 2000;
/** Expired locks one run hands to lock resolution. */
export const SAFE_TS_LOCKS_RESOLVED_MAX = 64;

/** Resolves the expired ones of `locks` (`GcWorker.resolveLocksMet`); `currentTs` is a fresh TSO timestamp. */
export type ExpiredLockResolution = (locks: { key: Uint8Array; lock: Lock }[], currentTs: bigint) => Promise<void>;

/** Advances the resolved ts of the regions this store leads; see the module comment. */
export class ResolvedTsWorker {
  private running = false;
  /** When the last run started (undefined until the first tick: the first run waits one interval). */
  private lastRunMs: number | undefined;
  private readonly lastAdvanceMs = new Map<number, number>();
  /** Advances proposed (for status and tests). */
  advances = 0;
  /** Expired locks handed to lock resolution (for status and tests). */
  expiredLocksHandedOn = 0;
  private resolving = false;

  constructor(
    private readonly ctx: StoreContext,
    private readonly resolveExpired?: ExpiredLockResolution,
  ) {}

  /** Called every store tick; starts a run when one is due and none is running. */
  onTick(): void {
    const interval = this.ctx.opts.safeTsIntervalMs;
    if (this.ctx.dataModel !== 'mvcc' || interval <= 0 || this.running || !this.ctx.pdClient) return;
    const now = this.ctx.timers.now();
    if (this.lastRunMs === undefined) this.lastRunMs = now;
    if (now - this.lastRunMs < interval) return;
    this.lastRunMs = now;
    this.running = true;
    void this.run(now)
      .catch(() => undefined)
      .finally(() => (this.running = false));
  }

  private async run(now: number): Promise<void> {
    const due = [...this.ctx.peers.values()].filter(
      (p) => p.machine.holdsData && p.initialized && !p.destroyed && p.isLeader() && (!p.hibernating || now - (this.lastAdvanceMs.get(p.regionId) ?? Number.NEGATIVE_INFINITY) >= SAFE_TS_IDLE_INTERVAL_MS),
    );
    if (due.length === 0) return;
    const r = await this.ctx.pdClient!.getTimestamps(1, { timeoutMs: SAFE_TS_TSO_TIMEOUT_MS });
    if (!r.ok || this.ctx.closed) return;
    const t = r.value.first;
    const { cm } = txnState(this.ctx);
    cm.updateMaxTs(t);
    const memoryMin = cm.minLockStartTs();
    const bound = memoryMin !== undefined && memoryMin < t && !this.ctx.mutations.safeTsPastLocks ? memoryMin : t;
    const expired: { key: Uint8Array; lock: Lock }[] = [];
    for (const peer of due) {
      const resolved = await this.resolve(peer, bound, t, expired);
      if (resolved === undefined || resolved <= peer.safeTs || peer.destroyed) continue;
      try {
        peer.raw.propose(encodeCommand({ type: 'safeTs', ts: resolved }));
      } catch (e) {
        if (e instanceof ProposalDroppedError) continue;
        throw e;
      }
      this.advances++;
      this.lastAdvanceMs.set(peer.regionId, now);
      this.ctx.wake(peer.regionId);
    }
    for (const id of this.lastAdvanceMs.keys()) if (!this.ctx.peers.has(id)) this.lastAdvanceMs.delete(id);
    if (expired.length > 0 && this.resolveExpired !== undefined && !this.resolving) {
      this.resolving = true;
      this.expiredLocksHandedOn += expired.length;
      void this.resolveExpired(expired, t)
        .catch(() => undefined)
        .finally(() => (this.resolving = false));
    }
  }

  /**
   * `bound` lowered to the least start ts of the region's locks; undefined when it cannot be
   * judged now. Locks expired at `t` are added to `expired` (up to `SAFE_TS_LOCKS_RESOLVED_MAX`).
   */
  private async resolve(peer: RegionPeer, bound: bigint, t: bigint, expired: { key: Uint8Array; lock: Lock }[]): Promise<bigint | undefined> {
    if (!peer.raw.leadsWithCommitInTerm() || peer.applied < peer.raw.status().commit) return undefined;
    if (this.ctx.mutations.safeTsPastLocks) return bound;
    const range = storedKeyRange(this.ctx.dataModel, CF_LOCK, peer.region.startKey, peer.region.endKey);
    let min = bound;
    let n = 0;
    for await (const { key, value } of this.ctx.engine.scan(CF_LOCK, { ...range, limit: SAFE_TS_LOCKS_SCANNED_MAX + 1 })) {
      if (++n > SAFE_TS_LOCKS_SCANNED_MAX) return undefined;
      const lock = decodeLock(value);
      if (lock.startTs < min) min = lock.startTs;
      if (expired.length < SAFE_TS_LOCKS_RESOLVED_MAX && physicalMs(lock.startTs) + lock.ttlMs < physicalMs(t)) expired.push({ key: decodeKey(key), lock });
    }
    return min;
  }
}
