/**
 * Builders of the common operators: add a replica, remove one, move one (add a learner,
 * promote it, move leadership off the source if needed, remove the source), transfer
 * leadership, split. Each takes the region's current info and the time of creation.
 */
import type { Peer, StoreId } from '../meta.ts';
import type { RegionInfo } from '../region-tree.ts';
import type { Operator, OperatorKind, OperatorStep } from './types.ts';

/** What every builder needs: the region, who asks, why, and when. */
export interface OperatorOrigin {
  info: RegionInfo;
  kind: OperatorKind;
  desc: string;
  nowMs: number;
}

function make(origin: OperatorOrigin, steps: OperatorStep[]): Operator {
  const { info, kind, desc, nowMs } = origin;
  return { regionId: info.region.id, kind, desc, steps, epoch: { ...info.region.epoch }, createdAtMs: nowMs };
}

/** Adds a voter on `storeId` (a witness when `witness`): a learner first, promoted once it has caught up. */
export function addVoterOperator(origin: OperatorOrigin, storeId: StoreId, peerId: number, witness = false): Operator {
  return make(origin, [
    { kind: 'addLearner', storeId, peerId, ...(witness ? { witness } : {}) },
    { kind: 'promoteLearner', storeId, peerId },
  ]);
}

/** Promotes an existing learner (one left behind by an operator a previous leader started). */
export function promoteLearnerOperator(origin: OperatorOrigin, storeId: StoreId, peerId: number): Operator {
  return make(origin, [{ kind: 'promoteLearner', storeId, peerId }]);
}

/** Removes `peer`, moving leadership to `leaderTargetStoreId` first when `peer` leads. */
export function removePeerOperator(origin: OperatorOrigin, peer: Peer, leaderTargetStoreId: StoreId | undefined): Operator {
  const steps: OperatorStep[] = [];
  if (origin.info.leader?.id === peer.id && leaderTargetStoreId !== undefined) {
    steps.push({ kind: 'transferLeader', fromStoreId: peer.storeId, toStoreId: leaderTargetStoreId });
  }
  steps.push({ kind: 'removePeer', storeId: peer.storeId, peerId: peer.id });
  return make(origin, steps);
}

/**
 * Moves `source` to `targetStoreId` with a new peer id: add a learner, promote it (when the
 * source votes), move leadership to it when the source leads, then remove the source. The
 * region never has fewer replicas than before. A witness moves as a witness.
 */
export function movePeerOperator(origin: OperatorOrigin, source: Peer, targetStoreId: StoreId, peerId: number): Operator {
  const steps: OperatorStep[] = [{ kind: 'addLearner', storeId: targetStoreId, peerId, ...(source.witness ? { witness: true as const } : {}) }];
  if (source.role !== 'learner') steps.push({ kind: 'promoteLearner', storeId: targetStoreId, peerId });
  if (origin.info.leader?.id === source.id) steps.push({ kind: 'transferLeader', fromStoreId: source.storeId, toStoreId: targetStoreId });
  steps.push({ kind: 'removePeer', storeId: source.storeId, peerId: source.id });
  return make(origin, steps);
}

/** Moves leadership from the current leader's store to `toStoreId`. */
export function transferLeaderOperator(origin: OperatorOrigin, fromStoreId: StoreId, toStoreId: StoreId): Operator {
  return make(origin, [{ kind: 'transferLeader', fromStoreId, toStoreId }]);
}

/** Splits the region (the store chooses the key when `splitKey` is absent). */
export function splitOperator(origin: OperatorOrigin, splitKey?: Uint8Array): Operator {
  return make(origin, [splitKey === undefined ? { kind: 'splitRegion' } : { kind: 'splitRegion', splitKey }]);
}
