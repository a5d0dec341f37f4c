/**
 * `Scheduler`: one PD leader's scheduling loop. Each `schedule` round derives a
 * `ClusterView` and runs, in priority order, the replica checker on PD's own group and on
 * the data regions its `CheckerController` selects (the dirty ones and the patrol's batch, or
 * all of them after a store or config change: no longer every region every round, issue 16),
 * drain-leader, the split checker on the same regions, balance-leader and balance-region,
 * handing operators to its `OperatorController` (which enforces the limits). On every
 * region heartbeat, `onRegionHeartbeat` returns the step that region's leader should carry
 * out. It also proposes tombstoning offline stores that hold no peer any more. Feed it every
 * apply result (`onApplied`): a changed region is checked in the next round.
 */
import type { PdApplyResult, PdCommand } from '../command.ts';
import type { RegionHeartbeat } from '../meta.ts';
import type { AddOperatorResult } from '../operator/controller.ts';
import { OperatorController } from '../operator/controller.ts';
import type { Operator, OperatorStep } from '../operator/types.ts';
import type { RegionInfo } from '../region-tree.ts';
import type { CheckerOptions, CheckSelection } from './checker-controller.ts';
import { CheckerController, DEFAULT_CHECKER_OPTIONS } from './checker-controller.ts';
import type { ScheduleInput } from './cluster-view.ts';
import { ClusterView } from './cluster-view.ts';
import { balanceLeaders, drainLeaders } from './leader-schedulers.ts';
import { balanceRegions, checkSplits } from './region-schedulers.ts';
import { checkReplicas } from './replica-checker.ts';

/** Batch sizes of the balance schedulers per round, and the checkers' patrol and dirty set. */
export interface SchedulerOptions extends CheckerOptions {
  /** Most leader moves balance-leader starts per round. */
  balanceLeaderBatchMax: number;
  /** Most replica moves balance-region starts per round. */
  balanceRegionBatchMax: number;
}

/** Defaults: four moves per balance scheduler per round (TiKV's batch size); `DEFAULT_CHECKER_OPTIONS`. */
export const DEFAULT_SCHEDULER_OPTIONS: Readonly<SchedulerOptions> = Object.freeze({
  balanceLeaderBatchMax: 4,
  balanceRegionBatchMax: 4,
  ...DEFAULT_CHECKER_OPTIONS,
});

/** What one round produced. */
export interface ScheduleOutput {
  /** Operators added to the controller this round, with their ids. */
  added: { operatorId: number; operator: Operator }[];
  /** Commands to propose through PD's Raft group. */
  commands: PdCommand[];
}

/** What the last round checked (for tests and status). */
export interface RoundChecks {
  /** Data regions the checkers looked at. */
  checked: number;
  /** Of those, taken from the dirty set. */
  dirty: number;
  /** Every region was checked. */
  all: boolean;
}

/** The PD leader's checkers and schedulers with their operator controller. */
export class Scheduler {
  readonly operators: OperatorController;
  /** Which regions each round checks (patrol cursor and dirty set). */
  readonly checkers: CheckerController;
  private readonly options: SchedulerOptions;
  /** What the last round checked. */
  lastRound: RoundChecks = { checked: 0, dirty: 0, all: false };
  /** PD's own group's region id, as of the last round (0 before it). */
  private pdRegionId = 0;

  constructor(options: Partial<SchedulerOptions> = {}) {
    this.options = { ...DEFAULT_SCHEDULER_OPTIONS, ...options };
    const o = this.options;
    this.checkers = new CheckerController({
      patrolRegionsPerRoundMin: o.patrolRegionsPerRoundMin,
      patrolRegionsPerRoundMax: o.patrolRegionsPerRoundMax,
      patrolLapRounds: o.patrolLapRounds,
      dirtyRegionsPerRoundMax: o.dirtyRegionsPerRoundMax,
      dirtyRegionsMax: o.dirtyRegionsMax,
    });
    // A region whose operator ended (done, timed out, stale, cancelled) may need the next at once.
    this.operators = new OperatorController({ operatorsMax: 0, operatorsPerStoreMax: 0, operatorTimeoutMs: 0 }, (e) => {
      this.operatorsEndedSinceRound++;
      this.markDirty(e.operator.regionId);
    });
  }

  /**
   * Operators that ended since the last round: their regions may need the next one now (a
   * second new store's replica waits for the first's operator to end), so the PD leader runs
   * a round at once instead of after the round interval (issue 16: each such wait was a
   * heartbeat interval of a store's join).
   */
  operatorsEndedSinceRound = 0;

  /** Call with every apply result on the PD leader: a region a heartbeat changed is checked next round. */
  onApplied(result: PdApplyResult): void {
    if (result.kind === 'regionUpdated') this.markDirty(result.regionId);
    else if (result.kind === 'configSet') this.checkers.markAll();
  }

  /** Marks a data region dirty (PD's own group is checked every round anyway). */
  private markDirty(regionId: number): void {
    if (regionId !== this.pdRegionId) this.checkers.markDirty(regionId);
  }

  /** One scheduling round over the applied state. */
  schedule(input: ScheduleInput): ScheduleOutput {
    const { sm, nowMs } = input;
    this.operatorsEndedSinceRound = 0;
    this.operators.setLimits(sm.config);
    this.operators.checkTimeouts(nowMs);
    const out: ScheduleOutput = { added: [], commands: [] };
    if (!sm.isBootstrapped) return out;
    this.pdRegionId = sm.pdRegionId;
    // A check that found no id at hand is retried next round (its region stays dirty).
    let idShort = false;
    const counted: ScheduleInput = {
      ...input,
      allocId: () => {
        const id = input.allocId();
        if (id === undefined) idShort = true;
        return id;
      },
    };
    let view = new ClusterView(counted, this.operators);
    if (this.cancelWaitingOnDownStores(view, nowMs) > 0) view = new ClusterView(counted, this.operators);
    this.checkers.observe(view);
    const selection: CheckSelection = this.checkers.select(sm);
    this.lastRound = { checked: selection.regions.length, dirty: selection.dirty, all: selection.all };
    // A region in a joint configuration is mid-change: its heartbeat shows transitional roles
    // (incoming/demoting voters) that no checker should act on until the change is left.
    const free = (info: RegionInfo): boolean =>
      this.operators.get(info.region.id) === undefined && !info.region.peers.some((p) => p.role === 'incomingVoter' || p.role === 'demotingVoter');
    const submit = (op: Operator): boolean => {
      const r: AddOperatorResult = this.operators.add(op);
      if (r.kind !== 'added') return false;
      view.applyInfluence(op);
      out.added.push({ operatorId: r.operatorId, operator: op });
      return true;
    };
    // A check's operator refused by the limits is retried next round, not a lap later.
    const submitOrRetry = (op: Operator): boolean => {
      if (submit(op)) return true;
      this.markDirty(op.regionId);
      return false;
    };
    const pd = sm.pdGroup;
    const pdOp = pd !== undefined && free(pd) ? checkReplicas(view, pd, 'pdGroup') : null;
    if (pdOp !== null) submit(pdOp);
    for (const info of selection.regions) {
      if (!free(info)) continue;
      idShort = false;
      const op = checkReplicas(view, info, 'data');
      if (op !== null) submitOrRetry(op);
      else if (idShort) this.markDirty(info.region.id);
    }
    if (this.leadersToDrain(view)) drainLeaders(view, free, submit);
    checkSplits(view, selection.regions, free, submitOrRetry);
    balanceLeaders(view, free, submit, this.options.balanceLeaderBatchMax);
    balanceRegions(view, free, submit, this.options.balanceRegionBatchMax);
    out.commands.push(...tombstoneEmptyOfflineStores(input));
    return out;
  }

  /**
   * Whether a draining or offline store leads a data region or PD's group (drain-leader walks
   * every region, so it runs only then; the counts are kept by the state machine).
   */
  private leadersToDrain(view: ClusterView): boolean {
    const sm = view.input.sm;
    for (const s of view.stores.values()) {
      if (!s.isDraining && s.meta.state !== 'offline') continue;
      if (sm.dataLeaderCountOnStore(s.id) > 0 || sm.pdGroup?.leader?.storeId === s.id) return true;
    }
    return false;
  }

  /**
   * Cancels operators whose next step waits on a store that can no longer hold a replica
   * (down past `maxStoreDownTimeMs`, offline): a learner added there never catches up, so the
   * operator would only end at its timeout. Cancelled, the replica checker places the replica
   * elsewhere and removes the leftover learner at once (TiKV cancels an operator whose target
   * store is down). So are operators whose learner's store reports it damaged (its snapshot
   * cannot be applied). Returns how many it cancelled.
   */
  private cancelWaitingOnDownStores(view: ClusterView, nowMs: number): number {
    let cancelled = 0;
    for (const r of this.operators.running()) {
      const step = r.operator.steps[r.stepIndex];
      if (step === undefined || (step.kind !== 'addLearner' && step.kind !== 'promoteLearner')) continue;
      const store = view.stores.get(step.storeId);
      if (store?.canHold !== false && !store?.damagedRegionIds.has(r.operator.regionId)) continue;
      this.operators.cancel(r.operator.regionId, nowMs);
      cancelled++;
    }
    return cancelled;
  }

  /**
   * Call for every region heartbeat PD receives (data regions and PD's group): the step the
   * region's leader should carry out now, or null.
   */
  onRegionHeartbeat(heartbeat: RegionHeartbeat, nowMs: number): OperatorStep | null {
    return this.operators.dispatch(heartbeat, nowMs);
  }

  /** Starts leading: the first round checks every region. */
  becomeLeader(): void {
    this.checkers.reset();
  }

  /** Drops every running operator and the checkers' memory (on losing PD leadership). */
  stepDown(nowMs: number): void {
    this.operators.clear(nowMs);
    this.checkers.reset();
  }
}

/** Offline stores whose last peer has moved away become tombstones. */
function tombstoneEmptyOfflineStores(input: ScheduleInput): PdCommand[] {
  return input.sm
    .listStores()
    .filter((s) => s.meta.state === 'offline' && input.sm.peerCountOnStore(s.meta.id) === 0)
    .map((s) => ({ kind: 'setStoreState', storeId: s.meta.id, state: 'tombstone', force: false }));
}
