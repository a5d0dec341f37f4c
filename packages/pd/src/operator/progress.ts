/**
 * Whether an operator's steps are done, judged from what a region heartbeat shows, and
 * whether the region moved on without it (TiKV's `checkStaleOperator`): the version must be
 * unchanged (splits and merges invalidate placement decisions) and the conf version may only
 * have grown by the operator's own conf changes: one per conf-change step done (a change
 * enters a joint configuration, bumping the conf version once, and leaves it), and one for
 * the current step when the region is in the joint configuration that step entered.
 */
import type { Peer, PeerId, Region } from '../meta.ts';
import type { Operator, OperatorStep } from './types.ts';

/** What a step check needs to see of a region (a `RegionInfo` or a `RegionHeartbeat`). */
export interface RegionStatus {
  region: Region;
  leader: Peer | undefined;
  pendingPeers: PeerId[];
}

/** Whether `step` shows as done in `status` (for `splitRegion`, against the operator's epoch). */
export function isStepDone(op: Operator, step: OperatorStep, status: RegionStatus): boolean {
  const peer = (id: PeerId): Peer | undefined => status.region.peers.find((p) => p.id === id);
  switch (step.kind) {
    case 'addLearner': {
      const p = peer(step.peerId);
      return p !== undefined && p.storeId === step.storeId && !status.pendingPeers.includes(step.peerId);
    }
    case 'promoteLearner':
      return peer(step.peerId)?.role === 'voter';
    case 'removePeer':
      return peer(step.peerId) === undefined;
    case 'transferLeader':
      return status.leader?.storeId === step.toStoreId;
    case 'splitRegion':
      return status.region.epoch.version > op.epoch.version;
  }
}

/** Whether `step` changes membership (each such step bumps the conf version once). */
function isConfChangeStep(step: OperatorStep): boolean {
  return step.kind === 'addLearner' || step.kind === 'promoteLearner' || step.kind === 'removePeer';
}

/**
 * Whether `status` shows `step` begun but not done: a learner added but still catching up,
 * or the region in the joint configuration the step entered.
 */
function isMidway(step: OperatorStep, status: RegionStatus): boolean {
  if (!isConfChangeStep(step) || step.kind === 'transferLeader' || step.kind === 'splitRegion') return false;
  const peer = status.region.peers.find((p) => p.id === step.peerId);
  if (step.kind === 'addLearner') return peer?.role === 'learner';
  return step.kind === 'promoteLearner' ? peer?.role === 'incomingVoter' : peer?.role === 'demotingVoter';
}

/**
 * Whether `status` predates the operator (an older heartbeat delivered late): it says
 * nothing about the operator's progress and must be ignored, not judged stale.
 */
export function predates(op: Operator, status: RegionStatus): boolean {
  const { version, confVer } = status.region.epoch;
  return version < op.epoch.version || confVer < op.epoch.confVer;
}

/**
 * Whether the region changed in ways the operator cannot explain (assumes `!predates`).
 * `stepIndex` is the operator's current step (every step before it shows as done). An
 * operator made from a stale view (PD had not yet heard of a change that finished) must go:
 * its next step would act on a region it never saw (cluster seed 91: "remove the extra
 * voter" ran after the extra voter was already gone, leaving two voters, one of them lost).
 */
export function isStale(op: Operator, status: RegionStatus, stepIndex: number): boolean {
  const { version, confVer } = status.region.epoch;
  if (op.steps.some((s) => s.kind === 'splitRegion')) return false;
  if (version !== op.epoch.version) return true;
  const done = op.steps.slice(0, stepIndex).filter(isConfChangeStep).length;
  const current = op.steps[stepIndex];
  const midway = current !== undefined && isMidway(current, status) ? 1 : 0;
  return confVer > op.epoch.confVer + done + midway;
}
