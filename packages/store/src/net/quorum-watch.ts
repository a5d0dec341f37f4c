/**
 * `QuorumWatch`: whether a network store reaches a quorum, retried with backoff while it does
 * not. A store opens from its engine with no quorum (a restart needs neither PD nor a region
 * leader); this watch then keeps asking, in the background, what a store needs the cluster
 * for:
 *
 * - PD: a TSO timestamp through the store's `PdClient`, which only PD's leader hands out (its
 *   group has a quorum);
 * - every region replica here: a known leader, on this store or on a connected one (a leader
 *   that lost its quorum steps down within an election timeout, CheckQuorum).
 *
 * A round that finds both is `ok`; one that does not is `waiting` and counts an attempt, with
 * its reason. Rounds repeat every `QUORUM_OK_CHECK_MS` while `ok`, and back off from
 * `QUORUM_RETRY_MS_MIN` to `QUORUM_RETRY_MS_MAX` while `waiting`. The Raft groups need no
 * help to come back (followers keep campaigning with PreVote, and stores reconnect by
 * themselves); the watch reports, and `status()` also checks the regions on the spot so a
 * lost leader shows at once (and brings the next round forward), and while `waiting` with
 * every region led again it brings the next round forward too.
 */
import type { RegionError } from '@peerkv/pd';
import type { Result } from '../peer.ts';
import type { StoreStatus, Timers } from '../options.ts';
import type { RequestOptions } from '../request-options.ts';

/** First wait between rounds while waiting for a quorum, ms (doubles after each failed round). */
export const QUORUM_RETRY_MS_MIN = 250;
/** Longest wait between rounds while waiting for a quorum, ms. */
export const QUORUM_RETRY_MS_MAX = 5000;
/** Wait between rounds while the quorum is there, ms. */
export const QUORUM_OK_CHECK_MS = 5000;
/** Time one round may wait for PD's timestamp, ms. */
export const QUORUM_PROBE_TIMEOUT_MS = 2000;
/** Regions and stores named in a `waiting` reason (the rest are counted). */
export const QUORUM_REASON_IDS_MAX = 8;

/** What `status()` says about the quorum. */
export interface QuorumStatus {
  /** `ok`: PD answered the last round and every region here knows a reachable leader. */
  state: 'ok' | 'waiting';
  /** Rounds in a row that found no quorum (0 while `ok`). */
  attempts: number;
  /** Why the last round found no quorum (absent while `ok`). */
  lastError?: string;
  /** Time in this state, ms. */
  forMs: number;
  /** Whether PD answered the last round. */
  pdReachable: boolean;
  /** Regions of this store that know no leader on a reachable store, now. */
  regionsWithoutLeader: number[];
  /** Stores holding voters of those regions that this store is not connected to, now. */
  unreachableStores: number[];
}

/** What the watch reads from its store. */
export interface QuorumWatchDeps {
  storeId: number;
  status(): StoreStatus;
  /** Stores connected now (the transport's members). */
  members(): readonly number[];
  /** PD's TSO, through the store's PD client. */
  getTimestamps(count: number, o?: RequestOptions): Promise<Result<{ first: bigint; count: number }>>;
  timers: Timers;
  /** Monotonic ms clock. */
  now(): number;
}

/** The store's quorum, watched in the background; see the module header. */
export class QuorumWatch {
  private state: QuorumStatus['state'] = 'waiting';
  private attempts = 0;
  private lastError: string | undefined = 'not checked yet';
  private sinceMs: number;
  private pdReachable = false;
  private retryMs = QUORUM_RETRY_MS_MIN;
  private timer: unknown;
  /** When the scheduled round runs (`now()` clock), ms. */
  private nextRoundAt = Infinity;
  private roundRunning = false;
  private closed = false;

  constructor(private readonly d: QuorumWatchDeps) {
    this.sinceMs = d.now();
    this.schedule(0);
  }

  /** The last round's verdict, with the regions checked now (a lost leader shows at once). */
  status(): QuorumStatus {
    const now = this.leaderless();
    if (this.state === 'ok' && now.regions.length > 0) {
      // Lost since the last round: say so now and check again soon.
      this.enter('waiting');
      this.lastError = describeLeaderless(now);
      this.bringForward(QUORUM_RETRY_MS_MIN);
    } else if (this.state === 'waiting' && now.regions.length === 0) {
      // Every region has a reachable leader again: the backed-off round may be seconds away;
      // run it soon, so the recovery shows as fast as a loss does.
      this.bringForward(QUORUM_RETRY_MS_MIN);
    }
    const { state, lastError } = this;
    return {
      state,
      attempts: this.attempts,
      ...(state === 'waiting' && lastError ? { lastError } : {}),
      forMs: Math.max(0, Math.round(this.d.now() - this.sinceMs)),
      pdReachable: this.pdReachable,
      regionsWithoutLeader: now.regions,
      unreachableStores: now.stores,
    };
  }

  /** Stops the rounds. */
  close(): void {
    this.closed = true;
    this.d.timers.clearTimeout(this.timer);
  }

  private schedule(ms: number): void {
    if (this.closed || this.roundRunning) return;
    this.d.timers.clearTimeout(this.timer);
    this.nextRoundAt = this.d.now() + ms;
    this.timer = this.d.timers.setTimeout(() => void this.round(), ms);
  }

  /** Runs the next round within `ms` (never later than already scheduled). */
  private bringForward(ms: number): void {
    if (this.d.now() + ms < this.nextRoundAt) this.schedule(ms);
  }

  private async round(): Promise<void> {
    if (this.closed || this.roundRunning) return;
    this.roundRunning = true;
    this.nextRoundAt = Infinity;
    let next: number;
    try {
      const pd = await this.d.getTimestamps(1, { timeoutMs: QUORUM_PROBE_TIMEOUT_MS });
      this.pdReachable = pd.ok;
      const missing = this.leaderless();
      if (pd.ok && missing.regions.length === 0) {
        this.enter('ok');
        this.attempts = 0;
        this.lastError = undefined;
        this.retryMs = QUORUM_RETRY_MS_MIN;
        next = QUORUM_OK_CHECK_MS;
      } else {
        this.enter('waiting');
        this.attempts++;
        const reasons = [...(pd.ok ? [] : [`PD unreachable (${describeError(pd.error)})`]), ...(missing.regions.length > 0 ? [describeLeaderless(missing)] : [])];
        this.lastError = reasons.join('; ');
        next = this.retryMs;
        this.retryMs = Math.min(this.retryMs * 2, QUORUM_RETRY_MS_MAX);
      }
    } catch (e) {
      // The store closed under the round (its PD client throws): the next round, if any, says more.
      this.enter('waiting');
      this.attempts++;
      this.lastError = e instanceof Error ? e.message : String(e);
      next = this.retryMs;
      this.retryMs = Math.min(this.retryMs * 2, QUORUM_RETRY_MS_MAX);
    } finally {
      this.roundRunning = false;
    }
    this.schedule(next);
  }

  private enter(state: QuorumStatus['state']): void {
    if (this.state === state) return;
    this.state = state;
    this.sinceMs = this.d.now();
  }

  /** Regions here without a leader on this or a connected store, and their voters' unreachable stores. */
  private leaderless(): { regions: number[]; stores: number[] } {
    let st: StoreStatus;
    try {
      st = this.d.status();
    } catch {
      return { regions: [], stores: [] };
    }
    const members = new Set(this.d.members());
    const reachable = (storeId: number): boolean => storeId === this.d.storeId || members.has(storeId);
    const regions: number[] = [];
    const stores = new Set<number>();
    for (const r of st.regions) {
      const leader = r.lead === 0 ? undefined : r.peers.find((p) => p.id === r.lead);
      if (leader && reachable(leader.storeId)) continue;
      regions.push(r.regionId);
      for (const p of r.peers) if (p.role !== 'learner' && !reachable(p.storeId)) stores.add(p.storeId);
    }
    return { regions: regions.sort((a, b) => a - b), stores: [...stores].sort((a, b) => a - b) };
  }
}

function describeLeaderless(m: { regions: number[]; stores: number[] }): string {
  const list = (ids: number[]): string => ids.slice(0, QUORUM_REASON_IDS_MAX).join(', ') + (ids.length > QUORUM_REASON_IDS_MAX ? ` and ${ids.length - QUORUM_REASON_IDS_MAX} more` : '');
  const away = m.stores.length > 0 ? ` (stores ${list(m.stores)} not connected)` : '';
  return `no leader for region${m.regions.length === 1 ? '' : 's'} ${list(m.regions)}${away}`;
}

function describeError(e: RegionError): string {
  return e.kind === 'Timeout' ? `Timeout: ${e.what}` : e.kind;
}
