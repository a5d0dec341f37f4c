/**
 * Joint quorums (Raft thesis §4.3): a decision needs a majority of the incoming AND of the
 * outgoing voter set. Outside a joint config the outgoing set is empty and, by the empty-set
 * convention of `majority.ts`, agrees with everything.
 */
import type { NodeId } from '../types.ts';
import { majorityCommittedIndex, majorityVoteResult, type AckedIndexer, type VoteResult } from './majority.ts';

export interface JointConfig {
  incoming: Set<NodeId>;
  outgoing: Set<NodeId>;
}

/** The smaller of the two halves' commit indexes. */
export function jointCommittedIndex(cfg: JointConfig, acked: AckedIndexer): number {
  return Math.min(majorityCommittedIndex(cfg.incoming, acked), majorityCommittedIndex(cfg.outgoing, acked));
}

/** Won only if both halves won; lost if either lost. */
export function jointVoteResult(cfg: JointConfig, votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  const r1 = majorityVoteResult(cfg.incoming, votes);
  const r2 = majorityVoteResult(cfg.outgoing, votes);
  if (r1 === r2) return r1;
  if (r1 === 'lost' || r2 === 'lost') return 'lost';
  return 'pending';
}

/** Every voter of either half. */
export function jointIds(cfg: JointConfig): Set<NodeId> {
  return new Set([...cfg.incoming, ...cfg.outgoing]);
}

export function isJoint(cfg: JointConfig): boolean {
  return cfg.outgoing.size > 0;
}
