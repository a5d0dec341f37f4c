/**
 * A client's GC registration (TiDB registers a session's oldest running start ts the same way,
 * as a PD "service safe point"): while this client reads at timestamps that may grow old — a
 * running transaction, a `kv.snapshot()`, an mvcc read — it registers the oldest of them with PD
 * under its client id (`PdService.registerGcService`), so PD's GC safe point stays at or below
 * it and the stores keep every version those reads need.
 *
 * - **Holds.** Each reader takes a `GcHold` on its ts. A transaction's hold is pinned until its
 *   run ends (`release`); a snapshot's or an mvcc read's lapses `GC_HOLD_IDLE_MS` after its last
 *   read (JavaScript has no destructor: a snapshot that is no longer read stops holding, and a
 *   read after that is covered again only if the safe point has not passed it meanwhile).
 * - **Registration.** The oldest live hold's ts is registered for `GC_REGISTRATION_TTL_MS` (PD
 *   grants at most its `serviceTtlMsMax`) and refreshed every third of the granted TTL while a
 *   hold lives; a failed attempt is retried with backoff (`GC_REGISTER_BACKOFF_MS_MIN`..`_MAX`).
 *   When no hold is left the refreshes stop and the registration lapses with its TTL (no
 *   remove per transaction: a stream of short transactions costs one registration per
 *   refresh, not one per transaction); `close()` removes it. The refresh timer does not keep a
 *   Node process alive.
 * - **Safe point passed.** A registration PD refuses with `SafePointPassed` (the oldest hold is
 *   already below PD's safe point: the versions it reads may be gone) fails every hold below that
 *   safe point: their reads and commits throw `PeerKVError('SafePointPassed')`, which
 *   `transaction()` treats like a conflict (the function runs again at a new start ts). The
 *   next-oldest hold is registered at once.
 * - **Commit.** `ensureCovered(ts)` before a commit: a live registration at or below `ts` covers
 *   it (no request); otherwise it waits for a registration attempt (at most one per call).
 *   With PD unreachable it goes on: PD never moves the safe point past `now - gcLifeTimeMs`, so
 *   a young transaction that has not registered yet is safe (the keeper's rule).
 */
import { backoffDelayMs, type Clock } from '../backoff.ts';
import { PeerKVError } from '../errors.ts';
import type { PdService } from '../services.ts';

/** The registration TTL asked of PD, ms (PD grants at most its `serviceTtlMsMax`, 60 s by default). */
export const GC_REGISTRATION_TTL_MS = 30_000;
/** A snapshot's or an mvcc read's hold lapses this long after its last read, ms. */
export const GC_HOLD_IDLE_MS = 60_000;
/** Holds tracked at most; past it a new hold is not tracked (it then relies on `gcLifeTimeMs`). */
export const GC_HOLDS_MAX = 65_536;
/** First wait after a failed registration attempt, ms (doubling, with jitter). */
export const GC_REGISTER_BACKOFF_MS_MIN = 50;
/** Longest wait between registration attempts, ms. */
export const GC_REGISTER_BACKOFF_MS_MAX = 5000;

/** A reader's claim on its ts. */
export interface GcHold {
  readonly ts: bigint;
  /** A read is about to run: throws `SafePointPassed` if the safe point passed the ts; renews an idle hold. */
  check(): void;
  /** Keep holding until `release` (a transaction's run). */
  pin(): void;
  release(): void;
}

interface HoldEntry {
  ts: bigint;
  pinned: boolean;
  lastUsedMs: number;
}

type GcPd = Pick<PdService, 'registerGcService' | 'removeGcService'>;

export class GcRegistration {
  /** The highest safe point PD has answered (0 until one answer). */
  safePoint = 0n;
  private readonly holds = new Set<HoldEntry>();
  /** What PD last accepted: the registered ts, when (client clock) and for how long. */
  private registered: { minStartTs: bigint; atMs: number; ttlMs: number } | undefined;
  private refreshing: Promise<void> | undefined;
  private timer: unknown;
  private failures = 0;
  private closed = false;

  constructor(
    private readonly pd: GcPd,
    private readonly serviceId: string,
    private readonly clock: Clock,
    private readonly random: () => number,
  ) {}

  /** A hold on `ts` (see the module header); registers it soon unless a live registration covers it. */
  hold(ts: bigint): GcHold {
    const entry: HoldEntry = { ts, pinned: false, lastUsedMs: this.clock.now() };
    const tracked = !this.closed && this.pd.registerGcService !== undefined && this.holds.size < GC_HOLDS_MAX;
    if (tracked) {
      this.holds.add(entry);
      if (!this.covers(ts)) this.kick();
      else this.armRefresh();
    }
    return {
      ts,
      check: () => {
        this.throwIfPassed(ts);
        entry.lastUsedMs = this.clock.now();
        if (tracked && !this.holds.has(entry)) {
          // A lapsed hold read again: hold it again.
          this.holds.add(entry);
          if (!this.covers(ts)) this.kick();
        }
      },
      pin: () => {
        entry.pinned = true;
      },
      release: () => {
        this.holds.delete(entry);
      },
    };
  }

  /** Throws `SafePointPassed` when PD's safe point (as last answered) is above `ts`. */
  throwIfPassed(ts: bigint): void {
    if (ts < this.safePoint) throw passed(ts, this.safePoint);
  }

  /**
   * Before a commit or an explicit-ts snapshot: `ts` is covered by a live registration, or one
   * attempt is made to register it; throws `SafePointPassed` if PD's safe point is above it.
   */
  async ensureCovered(ts: bigint): Promise<void> {
    this.throwIfPassed(ts);
    if (this.covers(ts) || this.pd.registerGcService === undefined || this.closed) return;
    await this.refresh();
    this.throwIfPassed(ts);
  }

  /** Stops refreshing and removes the registration (best effort). */
  async close(): Promise<void> {
    this.closed = true;
    this.holds.clear();
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    if (this.registered === undefined || !this.pd.removeGcService) return;
    this.registered = undefined;
    await this.pd.removeGcService(this.serviceId).catch(() => undefined);
  }

  /** Live holds (idle ones dropped), for status and tests. */
  liveHolds(): number {
    this.dropIdle();
    return this.holds.size;
  }

  /** What PD last accepted (undefined: nothing registered). */
  registration(): { minStartTs: bigint; ttlMs: number } | undefined {
    return this.registered && { minStartTs: this.registered.minStartTs, ttlMs: this.registered.ttlMs };
  }

  /** Whether a registration PD accepted, still well within its TTL, keeps the safe point at or below `ts`. */
  private covers(ts: bigint): boolean {
    const r = this.registered;
    return r !== undefined && r.minStartTs <= ts && this.clock.now() - r.atMs < r.ttlMs / 2;
  }

  /** A registration attempt now (joining one under way). */
  private kick(): void {
    void this.refresh();
  }

  /** One registration of the oldest live hold (joins one under way). */
  refresh(): Promise<void> {
    this.refreshing ??= this.register().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async register(): Promise<void> {
    // A refused oldest hold fails and the next-oldest is tried: bounded by the holds it drops.
    for (let round = 0; round <= this.holds.size && !this.closed; round++) {
      const min = this.oldestLive();
      if (min === undefined) return; // nothing to hold: the registration lapses with its TTL
      const atMs = this.clock.now();
      let answer: Awaited<ReturnType<NonNullable<GcPd['registerGcService']>>>;
      try {
        answer = await this.pd.registerGcService!(this.serviceId, min, GC_REGISTRATION_TTL_MS);
      } catch {
        return this.retryLater();
      }
      if (answer.kind === 'ok') {
        this.learn(answer.gcSafePoint);
        this.registered = { minStartTs: min, atMs, ttlMs: answer.ttlMs };
        this.failures = 0;
        return this.armRefresh();
      }
      if (answer.error.kind !== 'SafePointPassed') return this.retryLater();
      this.learn(answer.error.gcSafePoint);
      for (const h of this.holds) if (h.ts < this.safePoint) this.holds.delete(h);
    }
  }

  private learn(safePoint: bigint): void {
    if (safePoint > this.safePoint) this.safePoint = safePoint;
  }

  private retryLater(): void {
    this.failures++;
    const ms = Math.max(GC_REGISTER_BACKOFF_MS_MIN, Math.min(GC_REGISTER_BACKOFF_MS_MAX, backoffDelayMs({ attemptsMax: Infinity, baseMs: GC_REGISTER_BACKOFF_MS_MIN, capMs: GC_REGISTER_BACKOFF_MS_MAX, budgetMs: Infinity }, this.failures, this.random)));
    this.armAt(ms);
  }

  /** The next refresh a third of the granted TTL after the last one (if holds live then). */
  private armRefresh(): void {
    const r = this.registered;
    if (r === undefined) return this.kick();
    this.armAt(Math.max(0, r.atMs + Math.floor(r.ttlMs / 3) - this.clock.now()));
  }

  private armAt(ms: number): void {
    if (this.closed || this.timer !== undefined) return;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      if (this.oldestLive() !== undefined) this.kick();
    }, ms);
    // Upkeep only: in Node it does not keep the process alive (a script that is done exits, and
    // the registration lapses with its TTL, as after a crash). A browser's or a test clock's
    // handle has no `unref`.
    (this.timer as { unref?: () => void }).unref?.();
  }

  private oldestLive(): bigint | undefined {
    this.dropIdle();
    let min: bigint | undefined;
    for (const h of this.holds) if (min === undefined || h.ts < min) min = h.ts;
    return min;
  }

  private dropIdle(): void {
    const now = this.clock.now();
    for (const h of this.holds) if (!h.pinned && now - h.lastUsedMs >= GC_HOLD_IDLE_MS) this.holds.delete(h);
  }
}

function passed(ts: bigint, safePoint: bigint): PeerKVError {
  return new PeerKVError('SafePointPassed', `reads at ts ${ts} are below PD's GC safe point ${safePoint}: the versions they need may be collected; start again at a new ts`);
}
