/**
 * Operators: what PD asks a region's leader to do, as a sequence of steps. The store layer
 * turns each step into a conf change, a leader transfer or a split proposed on the region.
 */
import type { PeerId, RegionEpoch, RegionId, StoreId } from '../meta.ts';

/** One step of an operator. */
export type OperatorStep =
  /**
   * Add a learner (catches up without voting). Done when present and no longer pending.
   * `witness`: the new peer is a witness (log and metadata only), on a witness store.
   */
  | { kind: 'addLearner'; storeId: StoreId; peerId: PeerId; witness?: true }
  /** Make a learner a voter. Done when the peer is a voter. */
  | { kind: 'promoteLearner'; storeId: StoreId; peerId: PeerId }
  /** Remove a peer. Done when it is gone. */
  | { kind: 'removePeer'; storeId: StoreId; peerId: PeerId }
  /** Move leadership. Done when the leader is on `toStoreId`. */
  | { kind: 'transferLeader'; fromStoreId: StoreId; toStoreId: StoreId }
  /** Split (the store picks the key when none is given). Done when the region's version grew. */
  | { kind: 'splitRegion'; splitKey?: Uint8Array };

/** Which checker or scheduler made an operator. */
export type OperatorKind =
  | 'addReplica'
  | 'replaceReplica'
  | 'removeReplica'
  | 'placement'
  | 'pdGroup'
  | 'drainLeader'
  | 'balanceLeader'
  | 'balanceRegion'
  | 'split';

/** An operator for one region (or PD's own group). */
export interface Operator {
  regionId: RegionId;
  kind: OperatorKind;
  /** Human-readable reason, for logs and the dashboard. */
  desc: string;
  steps: OperatorStep[];
  /** The region's epoch when the operator was made (checked on every heartbeat). */
  epoch: RegionEpoch;
  createdAtMs: number;
}

/** How an operator ended. */
export type OperatorOutcome =
  | 'success'
  /** Not done within `operatorTimeoutMs`. */
  | 'timeout'
  /** The region changed in a way the operator did not cause (split, merge, other conf changes). */
  | 'stale'
  | 'cancelled';

/** A finished operator. */
export interface OperatorEvent {
  operatorId: number;
  operator: Operator;
  outcome: OperatorOutcome;
  atMs: number;
}

/** Stores an operator touches (for per-store limits and influence). */
export function operatorStoreIds(op: Operator): StoreId[] {
  const ids = new Set<StoreId>();
  for (const s of op.steps) {
    if (s.kind === 'transferLeader') {
      ids.add(s.fromStoreId);
      ids.add(s.toStoreId);
    } else if (s.kind !== 'splitRegion') {
      ids.add(s.storeId);
    }
  }
  return [...ids].sort((a, b) => a - b);
}
