/**
 * `GcSafePointKeeper`: the PD leader's side of the GC safe point (TiKV PD's GC safe point
 * and service safe points). The safe point itself is replicated (`setGcSafePoint`, never
 * lower); this keeper decides, each scheduling round, how far it may move:
 *
 *   target = min(ts(now - gcLifeTimeMs), min startTs of every live registration)
 *
 * A client registers (and refreshes, before `ttlMs` runs out) the start ts of its oldest
 * live transaction under a service id; an expired registration holds nothing back and is
 * dropped. Registrations are the leader's soft state, not replicated: a new leader holds the
 * safe point still for `serviceTtlMsMax` after it takes over, so every registration still
 * alive has been refreshed with it (a client retries a refresh on NotLeader) before it moves.
 *
 * A transaction that has its start ts but has not registered yet is safe for
 * `gcLifeTimeMs`: the target never passes `now - gcLifeTimeMs`. Like TiKV, this assumes the
 * PD leaders' clocks differ by less than `gcLifeTimeMs - serviceTtlMsMax` (a new leader far
 * ahead could otherwise pass an unregistered young transaction).
 */
import type { SetGcSafePointCommand } from './command.ts';
import { TSO_LOGICAL_BITS, type Timestamp } from './timestamp.ts';

/** Knobs of the GC safe point (ms are PD-leader clock milliseconds). */
export interface GcConfig {
  /** Versions younger than this are kept whatever the registrations say (TiKV `tikv_gc_life_time`). */
  gcLifeTimeMs: number;
  /** Least time between two safe point proposals. */
  gcUpdateIntervalMs: number;
  /** Longest TTL a registration may ask for (and how long a new leader holds the safe point still). */
  serviceTtlMsMax: number;
  /** Most registrations at once; more are refused until some expire or are removed. */
  servicesMax: number;
}

/** Defaults: keep 10 minutes of versions (TiKV's default), registrations live at most a minute. */
export const DEFAULT_GC_CONFIG: Readonly<GcConfig> = Object.freeze({
  gcLifeTimeMs: 10 * 60_000,
  gcUpdateIntervalMs: 10_000,
  serviceTtlMsMax: 60_000,
  servicesMax: 1024,
});

/** Bytes of a service id. */
export const GC_SERVICE_ID_BYTES_MAX = 128;

/** Why a registration was refused. */
export type GcRegisterError =
  | { kind: 'NotLeader' }
  /** The start ts is already below the safe point: versions it needs may be gone; restart the transaction. */
  | { kind: 'SafePointPassed'; gcSafePoint: Timestamp }
  | { kind: 'TooManyServices'; servicesMax: number }
  | { kind: 'InvalidArgument'; reason: string };

/**
 * A registration's answer: the safe point now (as this leader's replica has applied it) and the
 * TTL granted (`ttlMs` capped at `serviceTtlMsMax`; 0 for a removal): refresh well within it.
 */
export type GcRegisterResult = { kind: 'ok'; gcSafePoint: Timestamp; ttlMs: number } | { kind: 'error'; error: GcRegisterError };

interface Registration {
  minStartTs: Timestamp;
  expiresAtMs: number;
}

/** The timestamp at the start of millisecond `physicalMs` (0 for a time before the epoch). */
function tsAtMs(physicalMs: number): Timestamp {
  return physicalMs <= 0 ? 0n : BigInt(Math.floor(physicalMs)) << BigInt(TSO_LOGICAL_BITS);
}

/** The leader-side registry and proposer; see the module header. */
export class GcSafePointKeeper {
  readonly config: GcConfig;
  private readonly services = new Map<string, Registration>();
  private leaderSinceMs: number | undefined;
  private lastProposalMs = Number.NEGATIVE_INFINITY;

  constructor(config: Partial<GcConfig> = {}) {
    this.config = { ...DEFAULT_GC_CONFIG, ...config };
  }

  /** Starts serving (registrations start empty: see the module header). */
  becomeLeader(nowMs: number): void {
    this.services.clear();
    this.leaderSinceMs = Math.floor(nowMs);
    this.lastProposalMs = Number.NEGATIVE_INFINITY;
  }

  /** Stops serving and forgets registrations. */
  stepDown(): void {
    this.services.clear();
    this.leaderSinceMs = undefined;
  }

  /** Live registrations (after dropping expired ones). */
  serviceCount(nowMs: number): number {
    this.dropExpired(nowMs);
    return this.services.size;
  }

  /**
   * Registers or refreshes `serviceId`'s oldest live start ts for `ttlMs` (capped at
   * `serviceTtlMsMax`); `ttlMs` 0 removes it. `gcSafePoint` is the applied safe point.
   */
  register(serviceId: string, minStartTs: Timestamp, ttlMs: number, nowMs: number, gcSafePoint: Timestamp): GcRegisterResult {
    if (this.leaderSinceMs === undefined) return { kind: 'error', error: { kind: 'NotLeader' } };
    if (serviceId.length === 0 || serviceId.length > GC_SERVICE_ID_BYTES_MAX) return invalid(`service id must be 1..${GC_SERVICE_ID_BYTES_MAX} characters`);
    if (!Number.isSafeInteger(ttlMs) || ttlMs < 0) return invalid('ttlMs must be a non-negative integer');
    if (typeof minStartTs !== 'bigint' || minStartTs < 0n) return invalid('minStartTs must be a non-negative bigint');
    this.dropExpired(nowMs);
    if (ttlMs === 0) {
      this.services.delete(serviceId);
      return { kind: 'ok', gcSafePoint, ttlMs: 0 };
    }
    if (minStartTs < gcSafePoint) return { kind: 'error', error: { kind: 'SafePointPassed', gcSafePoint } };
    if (!this.services.has(serviceId) && this.services.size >= this.config.servicesMax) {
      return { kind: 'error', error: { kind: 'TooManyServices', servicesMax: this.config.servicesMax } };
    }
    const granted = Math.min(ttlMs, this.config.serviceTtlMsMax);
    this.services.set(serviceId, { minStartTs, expiresAtMs: Math.floor(nowMs) + granted });
    return { kind: 'ok', gcSafePoint, ttlMs: granted };
  }

  /** Where the safe point may move now, or undefined while the leader is still in its hold. */
  target(nowMsRaw: number): Timestamp | undefined {
    const nowMs = Math.floor(nowMsRaw);
    if (this.leaderSinceMs === undefined || nowMs - this.leaderSinceMs < this.config.serviceTtlMsMax) return undefined;
    this.dropExpired(nowMs);
    let target = tsAtMs(nowMs - this.config.gcLifeTimeMs);
    for (const r of this.services.values()) if (r.minStartTs < target) target = r.minStartTs;
    return target;
  }

  /**
   * How far the registrations alone let the safe point move (TiDB's GC worker learns this from
   * PD's `UpdateServiceGCSafePoint`): the oldest live registration's start ts, `undefined`
   * when none is live, or `hold` while not leading or in the hold after taking over (the
   * registrations of the previous leader are not known here yet). With `servicePrefix`, only
   * the registrations whose service id starts with it.
   */
  registrationsFloor(nowMsRaw: number, servicePrefix = ''): Timestamp | undefined | 'hold' {
    const nowMs = Math.floor(nowMsRaw);
    if (this.leaderSinceMs === undefined || nowMs - this.leaderSinceMs < this.config.serviceTtlMsMax) return 'hold';
    this.dropExpired(nowMs);
    let floor: Timestamp | undefined;
    for (const [id, r] of this.services) if (id.startsWith(servicePrefix) && (floor === undefined || r.minStartTs < floor)) floor = r.minStartTs;
    return floor;
  }

  /**
   * A `setGcSafePoint` command to propose in this scheduling round, or null (not leading,
   * holding after a leader change, proposed too recently, or nothing to advance).
   */
  proposal(nowMsRaw: number, gcSafePoint: Timestamp): SetGcSafePointCommand | null {
    const nowMs = Math.floor(nowMsRaw);
    if (nowMs - this.lastProposalMs < this.config.gcUpdateIntervalMs) return null;
    const target = this.target(nowMs);
    if (target === undefined || target <= gcSafePoint) return null;
    this.lastProposalMs = nowMs;
    return { kind: 'setGcSafePoint', safePoint: target };
  }

  private dropExpired(nowMs: number): void {
    for (const [id, r] of this.services) if (r.expiresAtMs <= nowMs) this.services.delete(id);
  }
}

function invalid(reason: string): GcRegisterResult {
  return { kind: 'error', error: { kind: 'InvalidArgument', reason } };
}
