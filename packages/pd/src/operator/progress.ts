/**
 * Whether an operator's steps are done, judged from what a region heartbeat shows, and
 * whether the region moved on without it (TiKV's `checkStaleOperator`): the version must be
 * unchanged (splits and merges invalidate placement decisions) and the conf version may only
 * have grown by the operator's own conf changes (two per step at most: a joint change enters
 * and leaves).
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

/** Steps that change membership (each bumps the conf version). */
function confChangeSteps(op: Operator): number {
  return op.steps.filter((s) => s.kind === 'addLearner' || s.kind === 'promoteLearner' || s.kind === 'removePeer').length;
}

/**
 * Whether `status` predates the operator (an older heartbeat delivered late): it says
 * nothing about the operator's progress and must be ignored, not judged stale.
 */
export function predates(op: Operator, status: RegionStatus): boolean {
  const { version, confVer } = status.region.epoch;
  return version < op.epoch.version || confVer < op.epoch.confVer;
}

/** Whether the region changed in ways the operator cannot explain (assumes `!predates`). */
export function isStale(op: Operator, status: RegionStatus): boolean {
  const { version, confVer } = status.region.epoch;
  if (op.steps.some((s) => s.kind === 'splitRegion')) return false;
  if (version !== op.epoch.version) return true;
  return confVer > op.epoch.confVer + 2 * confChangeSteps(op);
}
