/**
 * `OperatorController`: the PD leader's running operators (at most one per region), their
 * limits (`operatorsMax` in all, `operatorsPerStoreMax` per touched store), their progress
 * on every region heartbeat and their timeouts. Leader-local memory: a new PD leader starts
 * empty and its checkers re-derive what is still needed from the replicated state.
 */
import type { ScheduleConfig } from '../config.ts';
import type { RegionId, StoreId } from '../meta.ts';
import type { RegionStatus } from './progress.ts';
import { isStale, isStepDone, predates } from './progress.ts';
import type { Operator, OperatorEvent, OperatorOutcome, OperatorStep } from './types.ts';
import { operatorStoreIds } from './types.ts';

/** The limits the controller enforces (a subset of `ScheduleConfig`). */
export type OperatorLimits = Pick<ScheduleConfig, 'operatorsMax' | 'operatorsPerStoreMax' | 'operatorTimeoutMs'>;

/** Finished-operator events kept until `takeEvents` (oldest dropped first). */
export const OPERATOR_EVENTS_MAX = 256;

/** An operator in flight. */
export interface RunningOperator {
  id: number;
  operator: Operator;
  /** Index of the first step not yet seen done. */
  stepIndex: number;
}

/** Why an operator was not added. */
export type AddOperatorRefusal = 'RegionBusy' | 'OperatorsMaxReached' | 'StoreLimitReached' | 'NoSteps';

/** The outcome of `OperatorController.add`. */
export type AddOperatorResult = { kind: 'added'; operatorId: number } | { kind: 'refused'; reason: AddOperatorRefusal };

/** The leader's running operators. */
export class OperatorController {
  private readonly byRegion = new Map<RegionId, RunningOperator>();
  private readonly events: OperatorEvent[] = [];
  private nextId = 1;

  /** `onFinished`: told each operator as it ends, whatever the outcome (the scheduler checks its region again at once). */
  constructor(
    private limits: OperatorLimits,
    private readonly onFinished?: (event: OperatorEvent) => void,
  ) {}

  /** Follows config changes (call with the state machine's config). */
  setLimits(limits: OperatorLimits): void {
    this.limits = { operatorsMax: limits.operatorsMax, operatorsPerStoreMax: limits.operatorsPerStoreMax, operatorTimeoutMs: limits.operatorTimeoutMs };
  }

  /** Number of running operators. */
  get size(): number {
    return this.byRegion.size;
  }

  get(regionId: RegionId): RunningOperator | undefined {
    return this.byRegion.get(regionId);
  }

  /** Running operators, oldest first. */
  running(): RunningOperator[] {
    return [...this.byRegion.values()].sort((a, b) => a.id - b.id);
  }

  /** Running operators touching `storeId`. */
  storeLoad(storeId: StoreId): number {
    let n = 0;
    for (const r of this.byRegion.values()) if (operatorStoreIds(r.operator).includes(storeId)) n++;
    return n;
  }

  /** Why `op` could not be added now, or null. */
  refusal(op: Operator): AddOperatorRefusal | null {
    if (op.steps.length === 0) return 'NoSteps';
    if (this.byRegion.has(op.regionId)) return 'RegionBusy';
    if (this.byRegion.size >= this.limits.operatorsMax) return 'OperatorsMaxReached';
    if (operatorStoreIds(op).some((s) => this.storeLoad(s) >= this.limits.operatorsPerStoreMax)) return 'StoreLimitReached';
    return null;
  }

  add(op: Operator): AddOperatorResult {
    const reason = this.refusal(op);
    if (reason !== null) return { kind: 'refused', reason };
    const id = this.nextId++;
    this.byRegion.set(op.regionId, { id, operator: op, stepIndex: 0 });
    return { kind: 'added', operatorId: id };
  }

  /**
   * Advances the region's operator from what `status` (a heartbeat) shows and returns the
   * step its leader should carry out now (send it again on every heartbeat until done), or
   * null when there is nothing to do (no operator; it just finished, timed out or went
   * stale; or the heartbeat is older than the operator and is ignored).
   */
  dispatch(status: RegionStatus, nowMs: number): OperatorStep | null {
    const running = this.byRegion.get(status.region.id);
    if (running === undefined) return null;
    const op = running.operator;
    if (predates(op, status)) return null;
    while (running.stepIndex < op.steps.length && isStepDone(op, op.steps[running.stepIndex], status)) running.stepIndex++;
    if (running.stepIndex === op.steps.length) return this.finish(running, 'success', nowMs);
    if (isStale(op, status, running.stepIndex)) return this.finish(running, 'stale', nowMs);
    if (this.isTimedOut(running, nowMs)) return this.finish(running, 'timeout', nowMs);
    return op.steps[running.stepIndex];
  }

  /** Drops operators past `operatorTimeoutMs` (call on every PD tick). */
  checkTimeouts(nowMs: number): void {
    for (const r of this.running()) if (this.isTimedOut(r, nowMs)) this.finish(r, 'timeout', nowMs);
  }

  cancel(regionId: RegionId, nowMs: number): void {
    const r = this.byRegion.get(regionId);
    if (r !== undefined) this.finish(r, 'cancelled', nowMs);
  }

  /** Cancels everything (on losing PD leadership). */
  clear(nowMs: number): void {
    for (const r of this.running()) this.finish(r, 'cancelled', nowMs);
  }

  /** Finished operators since the last call, oldest first (at most `OPERATOR_EVENTS_MAX`). */
  takeEvents(): OperatorEvent[] {
    return this.events.splice(0, this.events.length);
  }

  private isTimedOut(r: RunningOperator, nowMs: number): boolean {
    return nowMs - r.operator.createdAtMs > this.limits.operatorTimeoutMs;
  }

  private finish(r: RunningOperator, outcome: OperatorOutcome, nowMs: number): null {
    this.byRegion.delete(r.operator.regionId);
    const event: OperatorEvent = { operatorId: r.id, operator: r.operator, outcome, atMs: nowMs };
    this.events.push(event);
    if (this.events.length > OPERATOR_EVENTS_MAX) this.events.shift();
    this.onFinished?.(event);
    return null;
  }
}
