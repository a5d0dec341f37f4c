/**
 * The store's GC worker (TiKV's `gc_worker`, driven here by the store, not by a TiDB): every
 * `GC_WORKER_INTERVAL_MS` it learns PD's GC safe point and, on each data region this store
 * leads whose collected-up-to point is below it, runs `txnGc` pages (`handlers/txn-gc.ts`) at
 * that safe point, at most `GC_PAGES_PER_ROUND_MAX` pages per round over all regions, resuming
 * a region where the last round stopped.
 *
 * - **Where the safe point comes from**: this store's own PD replica if it has an up-to-date one
 *   (it may lag the leader's, never lead it: collecting less is safe), else `PdClient.getGcSafePoint`.
 *   The worker keeps the highest it has learned (`safePoint`), and the txn read handlers refuse
 *   a `txnGet`/`txnScan` below it (`SafePointPassed`): the versions such a read needs may be gone,
 *   so it fails loudly rather than returning an older value.
 * - **Collect one round late**: a round collects at the safe point known at the end of the
 *   previous round (or at start), not the one it just learned. Every store learns the safe point
 *   each round (and once when it starts), so by the time a leader collects at a safe point the
 *   other replicas, which may lead next, have learned it too and refuse reads below it (unless
 *   cut off from PD for a whole interval).
 * - **Progress** is per region, in memory (`collectedUpTo`, and a pass's cursor): a restart
 *   starts over, which is only repeated work (collecting is idempotent). A pass keeps the safe
 *   point it began with; a region whose epoch changed (split, merge) or whose leader moved
 *   drops its cursor and starts again from its start at the next round where it leads.
 * - **Locks first** (TiKV's GC worker resolves every lock below the safe point before it
 *   collects). A lock must never outlive the commit record of its primary: a client that died
 *   after committing its primary leaves its secondaries locked, and if a newer commit below the
 *   safe point superseded that record and GC dropped it, the reader that meets a secondary would
 *   find no trace of the commit and roll it back. So each round, before it learns the safe point:
 *   1. it reads every lock in this store's engine (all its replicas, led or not, so a leader
 *      change never leaves a region's locks unregistered; at most `GC_LOCKS_SCANNED_MAX`);
 *   2. it resolves the expired ones of the regions it leads (at most
 *      `GC_LOCKS_RESOLVED_PER_ROUND_MAX`): a 2PC lock whose primary is in a region it leads too
 *      with its own handlers (`txnCheckStatus` on the primary, rolling back one whose prewrite
 *      never came, then `txnResolveLock` on the locks); any other (primary on another store,
 *      async commit) through `StoreOptions.gcLockResolver`, a client's lock resolver (the store
 *      has no request path to other stores of its own; TiKV's GC worker, too, resolves as a
 *      client would). Without one, such a lock is left to the readers that meet it;
 *   3. it registers the oldest start ts of the locks left as its own GC service
 *      (`store-<id>-locks`, `PdClient.registerGcService`), so PD's keeper never moves the safe
 *      point past a lock (or removes the registration when none is left); a lock already below
 *      the safe point holds it where it is;
 *   4. it collects at no more than the oldest lock it saw (collecting less is always safe).
 *   A lock the worker cannot resolve thus holds GC back until a reader resolves it.
 */
import { compareKeys, type GcRegisterResult, type RegionEpoch } from '@peerkv/pd';
import { MvccReader, keyIsLocked, physicalMs, type Lock } from '@peerkv/txn';
import type { StoreContext } from './context.ts';
import type { GcLockResolver, LockMet } from './options.ts';
import type { PdService } from './pd-service.ts';
import { PD_REGION_ID } from './pd-host.ts';
import type { RegionPeer, Result } from './peer.ts';
import type { StoreService } from './request-types.ts';

/** Time between two GC rounds, ms (TiKV's GC runs every `tikv_gc_run_interval`, 10 min; a browser store rounds more often, with less to do each time). */
export const GC_WORKER_INTERVAL_MS = 30_000;
/** `txnGc` pages one round runs at most, over every region (each page is one bounded `txn` command). */
export const GC_PAGES_PER_ROUND_MAX = 64;
/** Pages one `txnGc` request asks for (the handler caps it at `TXN_GC_PAGES_PER_REQUEST_MAX`). */
export const GC_PAGES_PER_REQUEST = 8;
/** Store-side timeout of one `txnGc` request, ms. */
export const GC_REQUEST_TIMEOUT_MS = 5000;
/** Timeout of asking PD for the safe point, ms. */
export const GC_SAFE_POINT_TIMEOUT_MS = 2000;
/** Regions whose progress is remembered at most (a store holds far fewer; the oldest entries go first). */
export const GC_REGIONS_TRACKED_MAX = 65_536;
/** Locks one round reads from the engine, at most (more: the safe point is held where it is). */
export const GC_LOCKS_SCANNED_MAX = 65_536;
/** Expired locks one round tries to resolve, at most. */
export const GC_LOCKS_RESOLVED_PER_ROUND_MAX = 256;
/** The service id prefix of the stores' lock registrations with PD (`store-<id>-locks`). */
export const GC_LOCK_SERVICE_PREFIX = 'store-';
/** TTL of the lock registration, in rounds (refreshed every round; PD caps it at its `serviceTtlMsMax`). */
export const GC_LOCK_REGISTRATION_TTL_ROUNDS = 3;

/** Where a region's collection stands. */
interface RegionGcProgress {
  /** Every version no read at or above this sees is gone (0: never collected here). */
  collectedUpTo: bigint;
  /** A pass in progress: its safe point, the region epoch it began in, where to resume. */
  pass?: { safePoint: bigint; epoch: RegionEpoch; nextKey: Uint8Array };
}

/** What one round did. */
export interface GcRoundResult {
  /** The safe point the round collected at: the one known at the end of the previous round (0: none, nothing done). */
  safePoint: bigint;
  pages: number;
  versionsDropped: number;
  /** Regions whose pass finished in this round. */
  regionsCollected: number;
  /** Requests answered with a region error or a refusal (the region is tried again next round). */
  failures: number;
  /** Locks in this store's engine when the round began (`GC_LOCKS_SCANNED_MAX` + 1: more than the scan reads). */
  locksSeen: number;
  /** Expired locks the round resolved (committed or rolled back). */
  locksResolved: number;
  /** The oldest start ts of the locks left, registered with PD (absent: none left). */
  oldestLockTs?: bigint;
}

/** The counters `status` and tests read. */
export interface GcWorkerStats {
  rounds: number;
  versionsDropped: number;
  regionsCollected: number;
  failures: number;
  locksResolved: number;
  /** Lock phases that failed to read the locks: that round collected nothing. */
  lockPhaseFailures: number;
  /** Registrations of the oldest lock PD did not take (unreachable, no leader). */
  registrationFailures: number;
}

type GcHandle = StoreService['handle'];

/** A lock the round read, with the region holding it when this store leads that region. */
interface FoundLock {
  key: Uint8Array;
  lock: Lock;
  led?: RegionPeer;
}

export class GcWorker {
  /** The highest PD safe point this store has learned (0 until one is): reads below it are refused. */
  safePoint = 0n;
  /** The safe point known one round ago (or at start): what the next round collects at. */
  private collectable = 0n;
  readonly stats: GcWorkerStats = { rounds: 0, versionsDropped: 0, regionsCollected: 0, failures: 0, locksResolved: 0, lockPhaseFailures: 0, registrationFailures: 0 };
  private readonly progress = new Map<number, RegionGcProgress>();
  private timer: unknown;
  private running: Promise<GcRoundResult> | undefined;
  private stopped = true;
  /** Whether this store's lock registration may be live at PD (removed once no lock is left). */
  private lockRegistered = false;
  private refreshTimer: unknown;

  constructor(
    private readonly ctx: StoreContext,
    private readonly pd: Pick<PdService, 'pdState' | 'pdIsLeader' | 'pdRegisterGcService'>,
    private readonly handle: GcHandle,
    readonly intervalMs: number = GC_WORKER_INTERVAL_MS,
    private readonly lockResolver?: GcLockResolver,
  ) {}

  /** Starts the periodic rounds (the store calls this when it serves transactions). */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    // Learn at once: a restarted store refuses reads below the safe point before its first round.
    void this.learnSafePoint()
      .then((sp) => {
        if (sp > this.collectable) this.collectable = sp;
      })
      .catch(() => undefined);
    this.arm();
  }

  /** Stops the rounds (a round already running finishes on its own). */
  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.ctx.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.clearRefresh();
  }

  private arm(): void {
    if (this.stopped || this.ctx.closed) return;
    this.timer = this.ctx.timers.setTimeout(() => {
      this.timer = undefined;
      void this.round()
        .catch(() => undefined)
        .finally(() => this.arm());
    }, this.intervalMs);
  }

  /** Learns PD's safe point (never lowering the known one) and returns it. */
  async learnSafePoint(): Promise<bigint> {
    let learned: bigint | undefined = this.pd.pdState()?.gcSafePoint;
    if (learned === undefined && this.ctx.pdClient?.getGcSafePoint) {
      const r = await this.ctx.pdClient.getGcSafePoint({ timeoutMs: GC_SAFE_POINT_TIMEOUT_MS });
      if (r.ok) learned = r.value;
    }
    if (learned !== undefined && learned > this.safePoint) this.safePoint = learned;
    return this.safePoint;
  }

  /** One round now (a round already running is joined, not doubled). */
  round(): Promise<GcRoundResult> {
    this.running ??= this.runRound().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** The safe point a region is collected up to on this store (0: not yet). */
  collectedUpTo(regionId: number): bigint {
    return this.progress.get(regionId)?.collectedUpTo ?? 0n;
  }

  private async runRound(): Promise<GcRoundResult> {
    const out: GcRoundResult = { safePoint: this.collectable, pages: 0, versionsDropped: 0, regionsCollected: 0, failures: 0, locksSeen: 0, locksResolved: 0 };
    this.stats.rounds++;
    let locksGuarded = true;
    try {
      await this.guardLocks(out);
    } catch {
      locksGuarded = false;
    }
    if (!locksGuarded) this.stats.lockPhaseFailures++;
    this.stats.locksResolved += out.locksResolved;
    this.collectable = await this.learnSafePoint();
    // Never past a lock this store holds (a lock below the safe point is only possible when the
    // registration came too late: then collect less).
    const safePoint = out.oldestLockTs !== undefined && out.oldestLockTs < out.safePoint ? out.oldestLockTs : out.safePoint;
    out.safePoint = safePoint;
    if (safePoint === 0n || !locksGuarded) return out;
    for (const regionId of this.ledRegions()) {
      if (out.pages >= GC_PAGES_PER_ROUND_MAX || this.ctx.closed) break;
      await this.collectRegion(regionId, safePoint, out);
    }
    this.stats.versionsDropped += out.versionsDropped;
    this.stats.regionsCollected += out.regionsCollected;
    this.stats.failures += out.failures;
    return out;
  }

  /** Data regions this store leads now, least recently collected first. */
  private ledRegions(): number[] {
    const ids: number[] = [];
    for (const [id, p] of this.ctx.peers) if (id !== PD_REGION_ID && !p.destroyed && p.pd === undefined && p.isLeader()) ids.push(id);
    return ids.sort((a, b) => cmp(this.collectedUpTo(a), this.collectedUpTo(b)) || a - b);
  }

  /** Runs the region's pass until it finishes, fails, or the round's page budget is spent. */
  private async collectRegion(regionId: number, safePoint: bigint, out: GcRoundResult): Promise<void> {
    const progress = this.progressOf(regionId);
    if (progress.collectedUpTo >= safePoint && progress.pass === undefined) return;
    for (;;) {
      const peer = this.ctx.peers.get(regionId);
      if (!peer || peer.destroyed || !peer.isLeader()) return;
      const epoch = peer.region.epoch;
      const pass = progress.pass && sameEpoch(progress.pass.epoch, epoch) ? progress.pass : { safePoint, epoch, nextKey: new Uint8Array() };
      progress.pass = pass;
      const pagesMax = Math.min(GC_PAGES_PER_REQUEST, GC_PAGES_PER_ROUND_MAX - out.pages);
      if (pagesMax <= 0) return;
      const r = await this.handle({ type: 'txnGc', regionId, epoch, safePoint: pass.safePoint, startKey: pass.nextKey, pagesMax, timeoutMs: GC_REQUEST_TIMEOUT_MS });
      if (!r.ok || !r.value.ok) {
        // Try again next round; a changed epoch or leader starts the pass over there.
        out.failures++;
        if (!r.ok) progress.pass = undefined;
        return;
      }
      out.pages += pagesMax;
      out.versionsDropped += r.value.value.versionsDropped;
      if (r.value.value.nextKey === undefined) {
        progress.collectedUpTo = pass.safePoint;
        progress.pass = undefined;
        out.regionsCollected++;
        return;
      }
      pass.nextKey = r.value.value.nextKey;
    }
  }

  /**
   * The lock phase (see the module header): reads this store's locks, resolves the expired ones
   * it can, registers the oldest left. Throws when the locks could not be read (the round then
   * collects nothing); a registration PD did not take is counted, and the round still collects
   * no further than the oldest lock here.
   */
  private async guardLocks(out: GcRoundResult): Promise<void> {
    let found = await this.readLocks();
    out.locksSeen = found.length;
    if (found.length > 0 && this.ctx.pdClient !== undefined) {
      const ts = await this.ctx.pdClient.getTimestamps(1, { timeoutMs: GC_SAFE_POINT_TIMEOUT_MS });
      if (ts.ok) {
        const before = found.length;
        if (await this.resolveExpired(found.slice(0, GC_LOCKS_SCANNED_MAX), ts.value.first)) {
          // What is left, as this engine holds it now (resolutions elsewhere applied here too).
          found = await this.readLocks();
          out.locksResolved = Math.max(0, before - found.length);
        }
      }
    }
    const complete = found.length <= GC_LOCKS_SCANNED_MAX;
    let oldest: bigint | undefined;
    for (const f of found) if (oldest === undefined || f.lock.startTs < oldest) oldest = f.lock.startTs;
    // A scan cut short saw only some locks: hold the safe point where it is.
    if (!complete) oldest = oldest === undefined || this.safePoint < oldest ? this.safePoint : oldest;
    if (oldest !== undefined) out.oldestLockTs = oldest;
    if (!(await this.registerOldestLock(oldest))) this.stats.registrationFailures++;
  }

  /** Every lock in the engine (all of this store's replicas), up to one more than `GC_LOCKS_SCANNED_MAX`. */
  private async readLocks(): Promise<FoundLock[]> {
    const snap = await this.ctx.engine.snapshot();
    const found: FoundLock[] = [];
    try {
      for await (const { key, lock } of new MvccReader(snap).locks({}, GC_LOCKS_SCANNED_MAX + 1)) found.push({ key, lock });
    } finally {
      await snap.release();
    }
    const led = this.ledPeers();
    for (const f of found) {
      const peer = regionHolding(led, f.key);
      if (peer !== undefined) f.led = peer;
    }
    return found;
  }

  /**
   * Resolves the expired locks of regions this store leads (see the module header): a 2PC
   * transaction whose primary is in a region it leads with its own handlers, transaction by
   * transaction (the primary's status, then each region's locks of it committed or rolled back);
   * the others through `gcLockResolver`. True when it tried any.
   */
  private async resolveExpired(found: FoundLock[], currentTs: bigint): Promise<boolean> {
    const byTxn = new Map<bigint, FoundLock[]>();
    const elsewhere: LockMet[] = [];
    let budget = GC_LOCKS_RESOLVED_PER_ROUND_MAX;
    const led = this.ledPeers();
    for (const f of found) {
      if (budget === 0) break;
      if (f.led === undefined || physicalMs(f.lock.startTs) + f.lock.ttlMs >= physicalMs(currentTs)) continue;
      budget--;
      if (f.lock.useAsyncCommit || regionHolding(led, f.lock.primary) === undefined) {
        elsewhere.push(keyIsLocked(f.key, f.lock) as LockMet);
        continue;
      }
      const list = byTxn.get(f.lock.startTs) ?? [];
      list.push(f);
      byTxn.set(f.lock.startTs, list);
    }
    if (elsewhere.length > 0 && this.lockResolver !== undefined) await this.lockResolver.resolveLocks(elsewhere).catch(() => undefined);
    for (const [startTs, locks] of byTxn) {
      if (this.ctx.closed) break;
      const primary = locks[0].lock.primary;
      const primaryPeer = regionHolding(this.ledPeers(), primary);
      if (primaryPeer === undefined) continue;
      const status = await this.handle({
        type: 'txnCheckStatus',
        regionId: primaryPeer.region.id,
        epoch: primaryPeer.region.epoch,
        primaryKey: primary,
        lockTs: startTs,
        callerStartTs: 0n,
        currentTs,
        rollbackIfNotExist: true,
        timeoutMs: GC_REQUEST_TIMEOUT_MS,
      });
      if (!status.ok || !status.value.ok || status.value.value.kind === 'locked') continue;
      const commitTs = status.value.value.kind === 'committed' ? status.value.value.commitTs : undefined;
      const byRegion = new Map<RegionPeer, FoundLock[]>();
      for (const f of locks) byRegion.set(f.led!, [...(byRegion.get(f.led!) ?? []), f]);
      for (const [peer, group] of byRegion) {
        // A failure leaves the locks for the next round (the rescan still counts them).
        await this.handle({
          type: 'txnResolveLock',
          regionId: peer.region.id,
          epoch: peer.region.epoch,
          keys: group.map((f) => f.key),
          startTs,
          ...(commitTs === undefined ? {} : { commitTs }),
          timeoutMs: GC_REQUEST_TIMEOUT_MS,
        });
      }
    }
    return byTxn.size > 0 || (elsewhere.length > 0 && this.lockResolver !== undefined);
  }

  /** The data region peers this store leads now. */
  /**
   * Resolves the expired ones of `locks`, which another worker met (the resolved-ts worker: the
   * locks holding a region's resolved ts back), as a GC round resolves its own (bounded by
   * `GC_LOCKS_RESOLVED_PER_ROUND_MAX`). `currentTs` is a fresh TSO timestamp.
   */
  async resolveLocksMet(locks: readonly { key: Uint8Array; lock: Lock }[], currentTs: bigint): Promise<void> {
    const led = this.ledPeers();
    await this.resolveExpired(
      locks.map((l) => ({ key: l.key, lock: l.lock, led: regionHolding(led, l.key) })),
      currentTs,
    );
  }

  private ledPeers(): RegionPeer[] {
    return [...this.ctx.peers.values()].filter((p) => p.region.id !== PD_REGION_ID && p.pd === undefined && !p.destroyed && p.isLeader());
  }

  /**
   * Registers `oldest` (the oldest lock left; never below the safe point PD has, which it would
   * refuse: a lock already passed holds the safe point where it is) as this store's GC service,
   * or removes the registration when no lock is left. False when PD did not take it.
   */
  private async registerOldestLock(oldest: bigint | undefined): Promise<boolean> {
    if (oldest === undefined && !this.lockRegistered) return true;
    const serviceId = `${GC_LOCK_SERVICE_PREFIX}${this.ctx.storeId}-locks`;
    const ttlMs = oldest === undefined ? 0 : this.intervalMs * GC_LOCK_REGISTRATION_TTL_ROUNDS;
    const register = async (ts: bigint): Promise<Result<GcRegisterResult>> => {
      if (this.pd.pdIsLeader()) return this.pd.pdRegisterGcService(serviceId, ts, ttlMs);
      const client = this.ctx.pdClient;
      if (client?.registerGcService === undefined) return { ok: false, error: { kind: 'NotLeader', regionId: PD_REGION_ID } };
      return client.registerGcService(serviceId, ts, ttlMs, { timeoutMs: GC_SAFE_POINT_TIMEOUT_MS });
    };
    let ts = oldest ?? 0n;
    let r = await register(ts);
    if (r.ok && r.value.kind === 'error' && r.value.error.kind === 'SafePointPassed') r = await register((ts = r.value.error.gcSafePoint));
    const ok = r.ok && r.value.kind === 'ok';
    // After a failed removal, try again next round (it lapses with its TTL anyway).
    if (ok || oldest !== undefined) this.lockRegistered = oldest !== undefined;
    this.clearRefresh();
    // PD may grant less than a round's worth (its serviceTtlMsMax): refresh within the grant meanwhile.
    if (r.ok && r.value.kind === 'ok' && oldest !== undefined && r.value.ttlMs < this.intervalMs * 2) this.armRefresh(() => register(ts), r.value.ttlMs);
    return ok;
  }

  /** Re-registers every third of the granted TTL until the next round registers again. */
  private armRefresh(register: () => Promise<Result<GcRegisterResult>>, grantedMs: number): void {
    if (this.stopped || this.ctx.closed) return;
    this.refreshTimer = this.ctx.timers.setTimeout(() => {
      this.refreshTimer = undefined;
      void register()
        .then((r) => {
          if (r.ok && r.value.kind === 'ok' && this.refreshTimer === undefined && this.lockRegistered) this.armRefresh(register, r.value.ttlMs);
        })
        .catch(() => undefined);
    }, Math.max(1, Math.floor(grantedMs / 3)));
  }

  private clearRefresh(): void {
    if (this.refreshTimer !== undefined) this.ctx.timers.clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
  }

  private progressOf(regionId: number): RegionGcProgress {
    let p = this.progress.get(regionId);
    if (p === undefined) {
      if (this.progress.size >= GC_REGIONS_TRACKED_MAX) {
        // Forget regions no longer here first, else the oldest entry: it is only redone work.
        const gone = [...this.progress.keys()].find((id) => !this.ctx.peers.has(id)) ?? this.progress.keys().next().value!;
        this.progress.delete(gone);
      }
      p = { collectedUpTo: 0n };
      this.progress.set(regionId, p);
    }
    return p;
  }
}

/** The peer among `peers` whose region holds `key`. */
function regionHolding(peers: readonly RegionPeer[], key: Uint8Array): RegionPeer | undefined {
  return peers.find((p) => compareKeys(key, p.region.startKey) >= 0 && (p.region.endKey.length === 0 || compareKeys(key, p.region.endKey) < 0));
}

function sameEpoch(a: RegionEpoch, b: RegionEpoch): boolean {
  return a.confVer === b.confVer && a.version === b.version;
}

function cmp(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
