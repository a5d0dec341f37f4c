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
 * - **Locks are not resolved here** (TiKV's GC resolves every lock below the safe point before
 *   collecting): `gc` never drops locks, and the keeper holds the safe point behind every live
 *   client's oldest start ts, but a lock left by a client that died after committing its primary
 *   whose primary's commit record is then superseded below the safe point could be rolled back
 *   by a later reader. See the store README's GC section.
 */
import type { RegionEpoch } from '@peerkv/pd';
import type { StoreContext } from './context.ts';
import type { PdService } from './pd-service.ts';
import { PD_REGION_ID } from './pd-host.ts';
import type { RequestOf, ResponseOf } from './request-types.ts';

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
}

/** The counters `status` and tests read. */
export interface GcWorkerStats {
  rounds: number;
  versionsDropped: number;
  regionsCollected: number;
  failures: number;
}

type GcHandle = (q: RequestOf<'txnGc'>) => Promise<ResponseOf<'txnGc'>>;

export class GcWorker {
  /** The highest PD safe point this store has learned (0 until one is): reads below it are refused. */
  safePoint = 0n;
  /** The safe point known one round ago (or at start): what the next round collects at. */
  private collectable = 0n;
  readonly stats: GcWorkerStats = { rounds: 0, versionsDropped: 0, regionsCollected: 0, failures: 0 };
  private readonly progress = new Map<number, RegionGcProgress>();
  private timer: unknown;
  private running: Promise<GcRoundResult> | undefined;
  private stopped = true;

  constructor(
    private readonly ctx: StoreContext,
    private readonly pd: Pick<PdService, 'pdState'>,
    private readonly handle: GcHandle,
    readonly intervalMs: number = GC_WORKER_INTERVAL_MS,
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
    const safePoint = this.collectable;
    this.collectable = await this.learnSafePoint();
    const out: GcRoundResult = { safePoint, pages: 0, versionsDropped: 0, regionsCollected: 0, failures: 0 };
    this.stats.rounds++;
    if (safePoint === 0n) return out;
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

function sameEpoch(a: RegionEpoch, b: RegionEpoch): boolean {
  return a.confVer === b.confVer && a.version === b.version;
}

function cmp(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
