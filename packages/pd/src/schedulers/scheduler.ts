/**
 * `Scheduler`: one PD leader's scheduling loop. Each `schedule` round derives a
 * `ClusterView` and runs, in priority order, the replica checker on PD's own group and on
 * every data region, drain-leader, the split checker, balance-leader and balance-region,
 * handing operators to its `OperatorController` (which enforces the limits). On every
 * region heartbeat, `onRegionHeartbeat` returns the step that region's leader should carry
 * out. It also proposes tombstoning offline stores that hold no peer any more.
 */
import type { PdCommand } from '../command.ts';
import type { RegionHeartbeat } from '../meta.ts';
import type { AddOperatorResult } from '../operator/controller.ts';
import { OperatorController } from '../operator/controller.ts';
import type { Operator, OperatorStep } from '../operator/types.ts';
import type { RegionInfo } from '../region-tree.ts';
import type { ScheduleInput } from './cluster-view.ts';
import { ClusterView } from './cluster-view.ts';
import { balanceLeaders, drainLeaders } from './leader-schedulers.ts';
import { balanceRegions, checkSplits } from './region-schedulers.ts';
import { checkReplicas } from './replica-checker.ts';

/** Batch sizes of the balance schedulers per round. */
export interface SchedulerOptions {
  /** Most leader moves balance-leader starts per round. */
  balanceLeaderBatchMax: number;
  /** Most replica moves balance-region starts per round. */
  balanceRegionBatchMax: number;
}

/** Defaults: four moves per balance scheduler per round (TiKV's batch size). */
export const DEFAULT_SCHEDULER_OPTIONS: Readonly<SchedulerOptions> = Object.freeze({
  balanceLeaderBatchMax: 4,
  balanceRegionBatchMax: 4,
});

/** What one round produced. */
export interface ScheduleOutput {
  /** Operators added to the controller this round, with their ids. */
  added: { operatorId: number; operator: Operator }[];
  /** Commands to propose through PD's Raft group. */
  commands: PdCommand[];
}

/** The PD leader's checkers and schedulers with their operator controller. */
export class Scheduler {
  readonly operators: OperatorController;
  private readonly options: SchedulerOptions;

  constructor(options: Partial<SchedulerOptions> = {}) {
    this.options = { ...DEFAULT_SCHEDULER_OPTIONS, ...options };
    this.operators = new OperatorController({ operatorsMax: 0, operatorsPerStoreMax: 0, operatorTimeoutMs: 0 });
  }

  /** One scheduling round over the applied state. */
  schedule(input: ScheduleInput): ScheduleOutput {
    const { sm, nowMs } = input;
    this.operators.setLimits(sm.config);
    this.operators.checkTimeouts(nowMs);
    const out: ScheduleOutput = { added: [], commands: [] };
    if (!sm.isBootstrapped) return out;
    let view = new ClusterView(input, this.operators);
    if (this.cancelWaitingOnDownStores(view, nowMs) > 0) view = new ClusterView(input, this.operators);
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
    const pd = sm.pdGroup;
    const pdOp = pd !== undefined && free(pd) ? checkReplicas(view, pd, 'pdGroup') : null;
    if (pdOp !== null) submit(pdOp);
    for (const info of view.regions()) {
      const op = free(info) ? checkReplicas(view, info, 'data') : null;
      if (op !== null) submit(op);
    }
    drainLeaders(view, free, submit);
    checkSplits(view, free, submit);
    balanceLeaders(view, free, submit, this.options.balanceLeaderBatchMax);
    balanceRegions(view, free, submit, this.options.balanceRegionBatchMax);
    out.commands.push(...tombstoneEmptyOfflineStores(input));
    return out;
  }

  /**
   * Call for every region heartbeat PD receives (data regions and PD's group): the step the
   * region's leader should carry out now, or null.
   */
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

  onRegionHeartbeat(heartbeat: RegionHeartbeat, nowMs: number): OperatorStep | null {
    return this.operators.dispatch(heartbeat, nowMs);
  }

  /** Drops every running operator (on losing PD leadership). */
  stepDown(nowMs: number): void {
    this.operators.clear(nowMs);
  }
}

/** Offline stores whose last peer has moved away become tombstones. */
function tombstoneEmptyOfflineStores(input: ScheduleInput): PdCommand[] {
  return input.sm
    .listStores()
    .filter((s) => s.meta.state === 'offline' && input.sm.peerCountOnStore(s.meta.id) === 0)
    .map((s) => ({ kind: 'setStoreState', storeId: s.meta.id, state: 'tombstone', force: false }));
}
