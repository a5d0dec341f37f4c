/**
 * `PdLeader`: the leader-side services of one PD replica, in one object for the store layer
 * to drive: the timestamp oracle, the id allocator, the GC safe point and the scheduler. The store calls
 * `becomeLeader` once this replica leads PD's Raft group and has applied every entry
 * committed before its term, `stepDown` as soon as it learns leadership is lost (before
 * applying further entries), `onApplied` with every apply result, and `tick` periodically:
 * it returns the commands to propose (TSO windows, id batches, the GC safe point once per
 * scheduling round at most, tombstones) and the
 * operators a scheduling round started; `onStoreJoined` runs a round at once for a new store.
 */
import type { PdApplyResult, PdCommand } from './command.ts';
import type { GcConfig, GcRegisterResult } from './gc-safe-point.ts';
import { GcSafePointKeeper } from './gc-safe-point.ts';
import type { IdAllocatorConfig } from './id-allocator.ts';
import { IdAllocator } from './id-allocator.ts';
import type { RegionHeartbeat, StoreId } from './meta.ts';
import type { OperatorStep } from './operator/types.ts';
import type { ScheduleOutput, SchedulerOptions } from './schedulers/scheduler.ts';
import { Scheduler } from './schedulers/scheduler.ts';
import type { PdStateMachine } from './state-machine.ts';
import type { TsoConfig, TsoResult } from './tso.ts';
import { TsoAllocator } from './tso.ts';

/**
 * Most prompt scheduling rounds (`onStoreJoined`) per second: a burst of joins (a page opening
 * many stores at once) costs a round per join only up to this rate; a join past it is taken by
 * the next `tick` instead.
 */
export const PD_PROMPT_ROUNDS_PER_SECOND_MAX = 20;

/** Least ms between two prompt rounds, from `PD_PROMPT_ROUNDS_PER_SECOND_MAX`. */
const PROMPT_ROUND_SPACING_MS = 1000 / PD_PROMPT_ROUNDS_PER_SECOND_MAX;

/** Settings of the leader-side services. */
export interface PdLeaderOptions {
  tso: Partial<TsoConfig>;
  ids: Partial<IdAllocatorConfig>;
  /** The GC safe point: `gcLifeTimeMs` (default 10 min) and the registrations' bounds. */
  gc: Partial<GcConfig>;
  scheduler: Partial<SchedulerOptions>;
  /** Least time between two scheduling rounds. */
  scheduleIntervalMs: number;
}

/** What one `tick` produced. */
export interface PdLeaderTick {
  /** Propose these through PD's Raft group, in order. */
  commands: PdCommand[];
  /** Operators started by the scheduling round (empty when no round ran). */
  added: ScheduleOutput['added'];
}

/** TSO, id allocation and scheduling on the PD leader. */
export class PdLeader {
  readonly tso: TsoAllocator;
  readonly ids: IdAllocator;
  readonly scheduler: Scheduler;
  readonly gc: GcSafePointKeeper;
  private readonly scheduleIntervalMs: number;
  private leaderSinceMs: number | undefined;
  private lastRoundMs = Number.NEGATIVE_INFINITY;
  /** When the last prompt round (`onStoreJoined`) ran, on PD's clock. */
  private lastPromptRoundMs = Number.NEGATIVE_INFINITY;
  /** A join came while prompt rounds were capped: the next `tick` runs a round whatever the interval. */
  private joinWaiting = false;
  /**
   * Each store's last heartbeat that changed nothing (not proposed: heartbeat-filter.ts), on this
   * leader's clock: soft state, gone with leadership (the next leader counts from its own start).
   */
  private readonly storeHeartbeatsMs = new Map<StoreId, number>();

  /** `pdPeerId`: this replica's peer id in PD's group (tags its TSO windows and id batches). */
  constructor(
    readonly sm: PdStateMachine,
    readonly pdPeerId: number,
    options: Partial<PdLeaderOptions> = {},
  ) {
    this.tso = new TsoAllocator(pdPeerId, options.tso);
    this.ids = new IdAllocator(pdPeerId, options.ids);
    this.scheduler = new Scheduler(options.scheduler);
    this.gc = new GcSafePointKeeper(options.gc);
    this.scheduleIntervalMs = options.scheduleIntervalMs ?? 1000;
  }

  get isLeader(): boolean {
    return this.leaderSinceMs !== undefined;
  }

  /** Starts serving in `term` (after applying every entry committed before it). */
  becomeLeader(term: number, nowMs: number): void {
    this.leaderSinceMs = Math.floor(nowMs);
    this.lastRoundMs = Number.NEGATIVE_INFINITY;
    this.lastPromptRoundMs = Number.NEGATIVE_INFINITY;
    this.joinWaiting = false;
    this.storeHeartbeatsMs.clear();
    this.tso.becomeLeader(term, this.sm.maxPersistedPhysicalMs);
    this.ids.becomeLeader(term);
    this.gc.becomeLeader(nowMs);
    this.scheduler.becomeLeader();
  }

  /** Stops serving and drops running operators. */
  stepDown(nowMs: number): void {
    this.leaderSinceMs = undefined;
    this.joinWaiting = false;
    this.storeHeartbeatsMs.clear();
    this.tso.stepDown();
    this.ids.stepDown();
    this.gc.stepDown();
    this.scheduler.stepDown(nowMs);
  }

  /** Feed every result of `PdStateMachine.apply` on this replica (the allocators, and the scheduler's dirty regions on the leader). */
  onApplied(result: PdApplyResult): void {
    this.tso.onApplied(result);
    this.ids.onApplied(result);
    // Only the leader schedules: a follower keeps no dirty regions (a new leader checks every region first).
    if (this.isLeader) this.scheduler.onApplied(result);
  }

  /**
   * Whether an operator ended since the last scheduling round (`Scheduler.operatorsEndedSinceRound`),
   * or a join found prompt rounds capped (`onStoreJoined`): `tick` then runs a round whatever
   * the interval, and a region heartbeat that ended one can be answered with the next
   * operator's first step.
   */
  get roundWanted(): boolean {
    return this.isLeader && (this.scheduler.operatorsEndedSinceRound > 0 || this.joinWaiting);
  }

  /**
   * A store joined (its `putStore` applied, `storePut` with `isNew`): a scheduling round now,
   * so its first replicas are placed at once instead of at the next periodic round (issue 16:
   * up to `scheduleIntervalMs` of every join). At most `PD_PROMPT_ROUNDS_PER_SECOND_MAX` such
   * rounds a second on `nowMs` (PD's clock); a join past the cap, or one while the id allocator
   * is low (`IdAllocator.low`), gets no round (only the id batch to propose) and the next `tick`,
   * or a call once the batch applied, runs it (`roundWanted`). Not leading: empty.
   */
  onStoreJoined(nowMsRaw: number): PdLeaderTick {
    const nowMs = Math.floor(nowMsRaw);
    // The round's checkers take the new replicas' peer ids from memory: an id batch comes first if low.
    const out = this.allocatorProposals(nowMs, false);
    if (this.leaderSinceMs === undefined) return out;
    // Without ids at hand the round could place nothing (a new leader has none until its first
    // batch applies): it waits for the batch, which `out` proposes, and the caller asks again.
    if (this.ids.low || nowMs - this.lastPromptRoundMs < PROMPT_ROUND_SPACING_MS) {
      this.joinWaiting = true;
      return out;
    }
    this.lastPromptRoundMs = nowMs;
    this.round(nowMs, out);
    return out;
  }

  /** Periodic work: commands to propose and a scheduling round every `scheduleIntervalMs`, or sooner when `roundWanted`. */
  tick(nowMsRaw: number): PdLeaderTick {
    const nowMs = Math.floor(nowMsRaw);
    const out = this.allocatorProposals(nowMs, true);
    if (this.leaderSinceMs === undefined) return out;
    if (nowMs - this.lastRoundMs < this.scheduleIntervalMs && !this.roundWanted) return out;
    this.round(nowMs, out);
    return out;
  }

  /** The TSO window (with `tso`) and id batch to propose now, if due, as a tick's start (empty off the leader). */
  private allocatorProposals(nowMs: number, tso: boolean): PdLeaderTick {
    const out: PdLeaderTick = { commands: [], added: [] };
    if (this.leaderSinceMs === undefined) return out;
    const window = tso ? this.tso.windowProposal(nowMs) : null;
    if (window !== null) out.commands.push(window);
    // Before bootstrap a batch is refused, and its retry would wait `proposalRetryMs`: none yet.
    const batch = this.sm.isBootstrapped ? this.ids.proposal(nowMs) : null;
    if (batch !== null) out.commands.push(batch);
    return out;
  }

  /** One scheduling round at `nowMs` (leading), its commands and operators added to `out`. */
  private round(nowMs: number, out: PdLeaderTick): void {
    if (this.leaderSinceMs === undefined) return;
    this.lastRoundMs = nowMs;
    this.joinWaiting = false;
    const safePoint = this.gc.proposal(nowMs, this.sm.gcSafePoint);
    if (safePoint !== null) out.commands.push(safePoint);
    const round = this.scheduler.schedule({ sm: this.sm, nowMs, leaderSinceMs: this.leaderSinceMs, storeHeartbeatsMs: this.storeHeartbeatsMs, allocId: () => this.ids.alloc() });
    out.commands.push(...round.commands);
    out.added.push(...round.added);
  }

  /** `count` timestamps (see `TsoAllocator.getTimestamps`). */
  getTimestamps(count: number, nowMs: number): TsoResult {
    return this.tso.getTimestamps(count, nowMs);
  }

  /**
   * Registers (or refreshes, or with `ttlMs` 0 removes) a client's oldest live start ts:
   * the GC safe point stays at or below it until the registration expires.
   */
  registerGcService(serviceId: string, minStartTs: bigint, ttlMs: number, nowMs: number): GcRegisterResult {
    if (!this.isLeader) return { kind: 'error', error: { kind: 'NotLeader' } };
    return this.gc.register(serviceId, minStartTs, ttlMs, nowMs, this.sm.gcSafePoint);
  }

  /** The oldest live GC registration (`GcSafePointKeeper.registrationsFloor`). */
  gcRegistrationsFloor(nowMs: number, servicePrefix?: string): bigint | undefined | 'hold' {
    return this.isLeader ? this.gc.registrationsFloor(nowMs, servicePrefix) : 'hold';
  }

  /** One unique id from memory, or undefined (an id batch proposal is pending). */
  allocId(): number | undefined {
    return this.isLeader ? this.ids.alloc() : undefined;
  }

  /** Records a store heartbeat taken without a Raft round (its stats unchanged), at `nowMs`. */
  onStoreHeartbeat(storeId: StoreId, nowMs: number): void {
    if (!this.isLeader) return;
    this.storeHeartbeatsMs.set(storeId, Math.max(this.storeHeartbeatsMs.get(storeId) ?? 0, Math.floor(nowMs)));
  }

  /** The step a region's leader should carry out now (see `Scheduler.onRegionHeartbeat`). */
  onRegionHeartbeat(heartbeat: RegionHeartbeat, nowMs: number): OperatorStep | null {
    return this.isLeader ? this.scheduler.onRegionHeartbeat(heartbeat, nowMs) : null;
  }
}
