/**
 * The two-phase committer (client-go's `2pc.go`), Percolator with the primary key as the
 * atomicity point:
 *
 * 1. **Prewrite** every mutation, cut by region into batches (`PREWRITE_BATCH_MUTATIONS_MAX`,
 *    `PREWRITE_BATCH_BYTES_MAX`), all batches in parallel. A batch that meets another
 *    transaction's lock resolves it (`LockResolver`) and tries again; a `WriteConflict` ends the
 *    transaction (its locks are rolled back, best effort; it never committed).
 * 2. **Commit the primary** at a fresh TSO timestamp. That one write decides the transaction:
 *    once it is applied the transaction is committed, whatever happens to the rest. A
 *    `CommitTsExpired` (a reader pushed the primary's `minCommitTs`) commits again at a newer
 *    timestamp. An answer that never came is `Undetermined`.
 * 3. **Commit the secondaries** in the background; a lock left behind (a closed tab) is
 *    resolved by the next reader through the primary.
 *
 * **1PC**: when every mutation fits one prewrite batch, the prewrite commits at once on the
 * store (`onePc`, its commit ts above the store's `maxTs`); the prewrite's answer decides.
 *
 * **Async commit** (`asyncCommit`): every lock carries `useAsyncCommit` and the primary's lists
 * the secondaries. The transaction is committed once every prewrite is in, at the largest
 * `minCommitTs` the stores answered (each above its store's `maxTs`, so no reader that already
 * read a key commits "before" it); the commit of every key happens in the background. A
 * prewrite whose answer never came makes the outcome `Undetermined` (and nothing is rolled
 * back: a resolver that finds every lock in decides it committed). More than
 * `SECONDARIES_MAX` keys fall back to 2PC.
 *
 * While the primary is locked a TTL manager heartbeats it every `lockTtlMs / 2`, so a long
 * commit is not rolled back by readers.
 *
 * A prewrite whose answer never came leaves the transaction uncommitted (only this committer
 * commits the primary, and it has not), except for 1PC, where the prewrite is the commit.
 */
import type { TxnAnswer, TxnCommitMode, TxnPrewriteResult } from '@peerkv/store';
import type { Mutation } from '@peerkv/txn';
import { compareKeys } from '@peerkv/pd';
import type { TimerHandle } from '@peerkv/proto';
import { LOCK_TTL_MS_MAX, SECONDARIES_MAX } from '@peerkv/txn';
import { backoffDelayMs, sleepFor } from '../backoff.ts';
import { PeerKVError } from '../errors.ts';
import type { KvService, RegionRoute } from '../services.ts';
import { LockResolver, type LockInfo } from './lock-resolver.ts';
import { groupByRegion, type TxnRouting } from './routing.ts';

/** Mutations per prewrite or commit request (the store's `MUTATIONS_MAX` is 1024). */
export const PREWRITE_BATCH_MUTATIONS_MAX = 256;
/** Key and value bytes per prewrite request. */
export const PREWRITE_BATCH_BYTES_MAX = 512 * 1024;
/** Lock TTL a transaction's locks carry unless its options say otherwise, ms (TiKV's default 3 s). */
export const LOCK_TTL_MS_DEFAULT = 3000;
/** The longest wait on one lock before trying again, ms. */
export const LOCK_WAIT_STEP_MS_MAX = 500;
/** Secondary commit requests in flight per transaction. */
export const SECONDARY_COMMITS_INFLIGHT_MAX = 4;

export interface CommitOptions {
  /** How long a lock outlives its holder's last sign of life, ms (counted from when the transaction began). */
  lockTtlMs: number;
  /** Clock ms when the transaction took its start ts: its locks' TTL counts from the start ts. */
  beganAtMs: number;
  /** Commit by 1PC when every mutation fits one batch (default true). */
  onePc: boolean;
  /** Commit by async commit when not by 1PC (default false). */
  asyncCommit?: boolean;
  /** A pessimistic transaction's largest `forUpdateTs`: its prewrite converts the pessimistic locks (`pessimistic.ts`). */
  forUpdateTs?: bigint;
  signal?: AbortSignal;
  /**
   * A queued offline transaction's read ts (below its start ts): the prewrite refuses keys
   * changed since then (`WriteConflict`; txn's `TxnProps.readTs`). 2PC only.
   */
  readTs?: bigint;
  /**
   * Called with the commit ts before each attempt to commit the primary (every lock is in):
   * a check the commit must pass at that ts (the range reads of a queued transaction). When it
   * throws, the transaction is rolled back and the error thrown, unless an earlier attempt to
   * commit the primary went unanswered (then `Undetermined`).
   */
  beforeCommitPrimary?: (commitTs: bigint) => Promise<void>;
  /** Called with each secondary commit's failure (they are best effort); for tests and metrics. */
  onBackgroundError?: (e: unknown) => void;
}

/** How a transaction committed. */
export interface CommitResult {
  commitTs: bigint;
  /** Whether it committed by 1PC. */
  onePc: boolean;
  /** Settles once every secondary is committed or given up on (never rejects). */
  secondariesDone: Promise<void>;
}

interface Batch {
  route: RegionRoute;
  mutations: Mutation[];
}

/** Mutations cut by region, then into batches within the per-request bounds. */
async function batchesOf(routing: TxnRouting, mutations: readonly Mutation[], signal?: AbortSignal): Promise<Batch[]> {
  const out: Batch[] = [];
  for (const g of await groupByRegion(routing, mutations, signal)) {
    let cur: Mutation[] = [];
    let bytes = 0;
    for (const m of g.items) {
      const size = m.key.length + ('value' in m ? m.value.length : 0);
      if (cur.length > 0 && (cur.length >= PREWRITE_BATCH_MUTATIONS_MAX || bytes + size > PREWRITE_BATCH_BYTES_MAX)) {
        out.push({ route: g.route, mutations: cur });
        cur = [];
        bytes = 0;
      }
      cur.push(m);
      bytes += size;
    }
    if (cur.length > 0) out.push({ route: g.route, mutations: cur });
  }
  return out;
}

/** Whether `e` proves the transaction did not commit: a conflict, or its locks were resolved away. */
function provesNotCommitted(e: unknown): boolean {
  return e instanceof PeerKVError && (e.kind === 'WriteConflict' || e.kind === 'TxnAborted');
}

/**
 * `e` as `Undetermined` when `ambiguous` (an attempt that may have committed, `why`, went
 * unanswered before `e`: this failure decides nothing), else `e` itself. The one place the
 * committer turns a failure into `Undetermined`.
 */
function undeterminedIf<E>(ambiguous: boolean, why: string, e: E): E | PeerKVError {
  if (!ambiguous) return e;
  return new PeerKVError('Undetermined', `the transaction may or may not have committed (${why}): ${e instanceof Error ? e.message : String(e)}`, e instanceof PeerKVError ? e.lastRegionError : undefined);
}

export class Committer {
  private ambiguousPrewrite = false;
  private primaryLocked = false;
  private heartbeatTimer: TimerHandle;
  private beating = false;
  private readonly started: number;

  constructor(
    private readonly routing: TxnRouting,
    private readonly resolver: LockResolver,
    private readonly startTs: bigint,
    /** Distinct keys, sorted; the first is the primary. */
    private readonly mutations: readonly Mutation[],
    private readonly o: CommitOptions,
  ) {
    this.started = routing.clock.now();
  }

  private get primary(): Uint8Array {
    return this.mutations[0].key;
  }

  /** Commits the transaction, or throws (`WriteConflict`, `TxnAborted`, `Undetermined`, ...). */
  async commit(): Promise<CommitResult> {
    let batches = await batchesOf(this.routing, this.mutations, this.o.signal);
    // A 1PC attempt that went unanswered before falling back may have committed everything.
    let onePcAmbiguous = false;
    const queued = this.o.readTs !== undefined || this.o.beforeCommitPrimary !== undefined;
    if (this.o.onePc && batches.length === 1 && !queued) {
      const r = await this.onePc(batches[0]);
      if (r !== 'fallBack') return { commitTs: r, onePc: true, secondariesDone: Promise.resolve() };
      onePcAmbiguous = this.ambiguousPrewrite;
      // A split moved some keys out of the region: 1PC would commit each part on its own.
      try {
        batches = await batchesOf(this.routing, this.mutations, this.o.signal);
      } catch (e) {
        throw undeterminedIf(onePcAmbiguous, 'a 1PC prewrite went unanswered, then regrouping failed', e);
      }
    }
    if (this.o.asyncCommit === true && !queued && this.mutations.length - 1 <= SECONDARIES_MAX) {
      return this.asyncCommit(batches);
    } else {
      try {
        this.startHeartbeats();
        await Promise.all(batches.map((b) => this.prewrite(b.mutations, { kind: 'twoPc' })));
      } catch (e) {
        this.stopHeartbeats();
        // The unanswered 1PC prewrite may have committed: this failure decides nothing (sim --txn seed 19: G1a).
        if (onePcAmbiguous && !provesNotCommitted(e)) throw undeterminedIf(true, 'a 1PC prewrite went unanswered before the fall back to 2PC failed', e);
        this.rollbackQuietly();
        throw e;
      }
    }
    let commitTs: bigint;
    try {
      commitTs = await this.commitPrimary();
    } finally {
      this.stopHeartbeats();
    }
    const secondaries = this.mutations.slice(1).filter((m) => m.op !== 'checkNotExists');
    return { commitTs, onePc: false, secondariesDone: this.commitSecondaries(secondaries, commitTs) };
  }

  /** Async commit: committed once every prewrite is in; every key is committed in the background. */
  private async asyncCommit(batches: Batch[]): Promise<CommitResult> {
    const secondaries = this.mutations.slice(1).map((m) => m.key);
    let commitTs = 0n;
    try {
      this.startHeartbeats();
      const answers = await Promise.all(
        batches.map((b) => {
          const hasPrimary = b.mutations.some((m) => compareKeys(m.key, this.primary) === 0);
          return this.prewrite(b.mutations, { kind: 'asyncCommit', secondaries: hasPrimary ? secondaries : [] });
        }),
      );
      for (const a of answers) if (a !== 'regroup' && a.minCommitTs > commitTs) commitTs = a.minCommitTs;
    } catch (e) {
      this.stopHeartbeats();
      // Every lock may be in: a resolver would then commit it. Nothing is rolled back.
      if (this.ambiguousPrewrite && !provesNotCommitted(e)) throw undeterminedIf(true, 'an async-commit prewrite went unanswered', e);
      this.rollbackQuietly();
      throw e;
    }
    this.stopHeartbeats();
    const all = this.mutations.filter((m) => m.op !== 'checkNotExists');
    return { commitTs, onePc: false, secondariesDone: this.commitSecondaries(all, commitTs) };
  }

  /**
   * The 1PC prewrite: the commit ts, or `fallBack` when the keys no longer fit one region (the
   * caller commits by 2PC or async commit; an earlier 1PC attempt that applied left our commit
   * records, which those prewrites find and keep).
   */
  private async onePc(batch: Batch): Promise<bigint | 'fallBack'> {
    try {
      const r = await this.prewrite(batch.mutations, { kind: 'onePc' });
      return r === 'regroup' || r.onePcCommitTs === undefined ? 'fallBack' : r.onePcCommitTs;
    } catch (e) {
      // The prewrite is the commit: an attempt that got no answer may have committed it.
      throw undeterminedIf(this.ambiguousPrewrite && !provesNotCommitted(e), '1PC prewrite unanswered', e);
    }
  }

  /**
   * Prewrites `mutations` (re-cut by region when a split moved some), resolving the locks met,
   * until every one is locked. Returns the largest `minCommitTs` answered (for 1PC, the only
   * answer), or `regroup` for a 1PC prewrite whose keys no longer fit one region.
   */
  private async prewrite(mutations: Mutation[], mode: TxnCommitMode): Promise<TxnPrewriteResult | 'regroup'> {
    const deadline = this.started + this.routing.backoff.budgetMs;
    let pending = [mutations];
    let last: TxnPrewriteResult | undefined;
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (this.routing.clock.now() > deadline) throw new PeerKVError('RetryBudgetExhausted', 'prewrite did not finish within the retry budget');
      const next: Mutation[][] = [];
      for (const part of pending) {
        const keys = part.map((m) => m.key);
        const r = await this.routing.send<TxnAnswer<TxnPrewriteResult>>(keys[0], keys, (route, svc) => this.sendPrewrite(route, svc, part, mode), this.o.signal);
        if (r.kind === 'regroup') {
          this.ambiguousPrewrite ||= r.ambiguous;
          if (mode.kind === 'onePc') return 'regroup';
          // Re-cut after a pause: the cache (corrected by the store) and a PD that has not yet
          // heard of a split can keep cutting the batch the same way, and with no pause that
          // loop never yields to the timers that would end it (sim --txn seed 2 spun forever).
          await this.regroupPause(attempt);
          for (const b of await batchesOf(this.routing, part, this.o.signal)) next.push(b.mutations);
          continue;
        }
        if (r.kind !== 'applied') {
          this.ambiguousPrewrite ||= r.ambiguous;
          if (r.kind === 'aborted') throw new PeerKVError('Aborted', 'aborted');
          throw new PeerKVError('RetryBudgetExhausted', `prewrite failed after retries: ${r.lastError ? r.lastError.kind : 'no reachable replica'}`, r.lastError);
        }
        // An unanswered attempt before this answer may have applied: for 1PC, committed.
        this.ambiguousPrewrite ||= r.ambiguous;
        if (r.value.ok) {
          if (last === undefined || r.value.value.minCommitTs > last.minCommitTs) last = r.value.value;
          if (part.some((m) => compareKeys(m.key, this.primary) === 0)) this.primaryLocked = true;
          continue;
        }
        const locks: LockInfo[] = [];
        const conflicts = r.value.errors.filter((e) => e.kind === 'WriteConflict' && e.conflictStartTs !== this.startTs);
        for (const e of r.value.errors) {
          if (e.kind === 'KeyIsLocked') locks.push(e);
          else if (e.kind === 'WriteConflict') {
            const self = e.conflictStartTs === this.startTs;
            if (self) throw new PeerKVError('TxnAborted', 'the transaction was rolled back by another transaction\'s lock resolver');
            const since = this.o.readTs ?? this.startTs;
            throw new PeerKVError('WriteConflict', `write conflict on a key committed at ${e.conflictCommitTs} after this transaction ${this.o.readTs === undefined ? 'began' : 'read'} at ${since}`, undefined, conflicts.map((c) => (c as { key: Uint8Array }).key));
          } else if (e.kind === 'TxnNotFound') {
            throw new PeerKVError('TxnAborted', 'the transaction\'s locks were resolved away before it committed');
          } else throw new PeerKVError('InvalidArgument', `prewrite refused: ${e.kind}`);
        }
        const res = await this.resolver.resolve(locks, 0n, this.o.signal);
        if (res.msBeforeExpired > 0) await sleepFor(this.routing.clock, Math.min(res.msBeforeExpired, LOCK_WAIT_STEP_MS_MAX), this.o.signal);
        next.push(part);
      }
      pending = next;
    }
    if (last === undefined) throw new PeerKVError('InvalidArgument', 'prewrite of no mutations');
    return last;
  }

  private sendPrewrite(route: RegionRoute, svc: KvService, mutations: Mutation[], mode: TxnCommitMode) {
    return svc.handle(
      {
        type: 'txnPrewrite',
        regionId: route.region.id,
        epoch: route.region.epoch,
        mutations,
        primary: this.primary,
        startTs: this.startTs,
        lockTtlMs: this.lockTtlMs(),
        txnSize: this.mutations.length,
        ...(this.o.forUpdateTs === undefined ? {} : { forUpdateTs: this.o.forUpdateTs }),
        ...(this.o.readTs === undefined ? {} : { readTs: this.o.readTs }),
        mode,
        timeoutMs: this.routing.requestTimeoutMs,
      },
      { signal: this.o.signal },
    );
  }

  /** The TTL a lock written now needs: it counts from the start ts, so the time since then is added. */
  private lockTtlMs(): number {
    return Math.min(LOCK_TTL_MS_MAX, Math.max(0, this.routing.clock.now() - this.o.beganAtMs) + this.o.lockTtlMs);
  }

  /**
   * Commits the primary at a fresh ts: the transaction's decision. Returns the commit ts the
   * store recorded: ours, or an earlier one of this transaction (a commit sent before whose
   * answer was lost, or a 1PC attempt that applied unanswered before the fall back to 2PC).
   */
  private async commitPrimary(): Promise<bigint> {
    let ambiguous = false;
    const fail = (kind: 'RetryBudgetExhausted' | 'Aborted', msg: string, last?: import('@peerkv/pd').RegionError): PeerKVError =>
      undeterminedIf(ambiguous, 'the commit of its primary was sent', new PeerKVError(kind, msg, last));
    let commitTs = await this.routing.getTimestamp({ signal: this.o.signal });
    for (let round = 0; round < this.routing.backoff.attemptsMax; round++) {
      const key = this.primary;
      const ts = commitTs;
      if (this.o.beforeCommitPrimary) {
        try {
          await this.o.beforeCommitPrimary(ts);
        } catch (e) {
          if (!ambiguous) this.rollbackQuietly();
          throw undeterminedIf(ambiguous, 'an attempt to commit the primary went unanswered, then the check before the next failed', e);
        }
      }
      const r = await this.routing.send(key, [key], (route, svc) =>
        svc.handle({ type: 'txnCommit', regionId: route.region.id, epoch: route.region.epoch, keys: [key], startTs: this.startTs, commitTs: ts, timeoutMs: this.routing.requestTimeoutMs }, { signal: this.o.signal }),
      );
      if (r.kind === 'regroup') continue;
      if (r.kind !== 'applied') {
        ambiguous ||= r.ambiguous;
        if (r.kind === 'aborted') throw fail('Aborted', 'aborted');
        if (!ambiguous) this.rollbackQuietly();
        throw fail('RetryBudgetExhausted', `commit failed after retries: ${r.lastError ? r.lastError.kind : 'no reachable replica'}`, r.lastError);
      }
      if (r.value.ok) return r.value.value.commitTs;
      const e = r.value.errors[0];
      if (e.kind === 'CommitTsExpired') {
        // A reader pushed the primary's minCommitTs: commit above it.
        do commitTs = await this.routing.getTimestamp({ signal: this.o.signal });
        while (commitTs < e.minCommitTs);
        continue;
      }
      if (e.kind === 'TxnNotFound') {
        // The lock is gone and no commit record of ours is there: a resolver rolled it back.
        // (An earlier attempt that applied would have left our commit record: retries find it.)
        throw new PeerKVError('TxnAborted', 'the transaction\'s primary lock was rolled back (its TTL ran out) before it committed');
      }
      throw fail('RetryBudgetExhausted', `commit refused: ${e.kind}`);
    }
    throw fail('RetryBudgetExhausted', 'commit did not settle within its attempts');
  }

  /** Commits the secondaries, region by region, a few requests at a time; failures are left to lock resolution. */
  private async commitSecondaries(secondaries: Mutation[], commitTs: bigint): Promise<void> {
    if (secondaries.length === 0) return;
    try {
      const batches = await batchesOf(this.routing, secondaries);
      let next = 0;
      let regroups = 0;
      const worker = async (): Promise<void> => {
        while (next < batches.length) {
          const b = batches[next++];
          const keys = b.mutations.map((m) => m.key);
          const r = await this.routing.send(keys[0], keys, (route, svc) =>
            svc.handle({ type: 'txnCommit', regionId: route.region.id, epoch: route.region.epoch, keys, startTs: this.startTs, commitTs, timeoutMs: this.routing.requestTimeoutMs }),
          );
          if (r.kind === 'regroup') {
            if (++regroups > this.routing.backoff.attemptsMax) {
              this.o.onBackgroundError?.(new PeerKVError('Unavailable', 'secondary commit left to lock resolution: its batch kept changing region'));
              continue;
            }
            await this.regroupPause(regroups);
            batches.push(...(await batchesOf(this.routing, b.mutations)));
            continue;
          }
          if (r.kind !== 'applied' || !r.value.ok) this.o.onBackgroundError?.(new PeerKVError('Unavailable', `secondary commit left to lock resolution: ${r.kind === 'applied' ? 'refused' : r.kind}`));
        }
      };
      await Promise.all(Array.from({ length: Math.min(SECONDARY_COMMITS_INFLIGHT_MAX, batches.length) }, worker));
    } catch (e) {
      this.o.onBackgroundError?.(e);
    }
  }

  /** The pause before a batch is cut again by region (see `prewrite`), growing with `attempt`. */
  private regroupPause(attempt: number): Promise<void> {
    return sleepFor(this.routing.clock, backoffDelayMs(this.routing.backoff, attempt, this.routing.random), this.o.signal);
  }

  /** Rolls back every key (best effort, in the background): the transaction did not commit. */
  private rollbackQuietly(): void {
    void (async () => {
      try {
        const batches = await batchesOf(this.routing, this.mutations);
        await Promise.all(
          batches.map((b) => {
            const keys = b.mutations.map((m) => m.key);
            return this.routing.send(keys[0], keys, (route, svc) =>
              svc.handle({ type: 'txnRollback', regionId: route.region.id, epoch: route.region.epoch, keys, startTs: this.startTs, timeoutMs: this.routing.requestTimeoutMs }),
            );
          }),
        );
      } catch (e) {
        this.o.onBackgroundError?.(e);
      }
    })();
  }

  /** Keeps the primary lock alive while the commit runs (every `lockTtlMs / 2`). */
  private startHeartbeats(): void {
    const interval = Math.max(1, Math.floor(this.o.lockTtlMs / 2));
    this.beating = true;
    const beat = (): void => {
      this.heartbeatTimer = this.routing.clock.setTimeout(() => {
        if (!this.beating) return;
        if (!this.primaryLocked) return beat();
        const key = this.primary;
        const adviseTtlMs = this.lockTtlMs();
        void this.routing
          .send(key, [key], (route, svc) =>
            svc.handle({ type: 'txnHeartbeat', regionId: route.region.id, epoch: route.region.epoch, primaryKey: key, startTs: this.startTs, adviseTtlMs, timeoutMs: this.routing.requestTimeoutMs }),
          )
          .catch((e: unknown) => this.o.onBackgroundError?.(e))
          .finally(() => {
            if (this.beating) beat();
          });
      }, interval);
    };
    beat();
  }

  private stopHeartbeats(): void {
    if (this.beating) this.routing.clock.clearTimeout(this.heartbeatTimer);
    this.beating = false;
  }
}
