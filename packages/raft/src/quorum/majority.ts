/**
 * Majority quorums: commit index and vote outcome for one voter set (etcd `quorum/majority.go`).
 *
 * By convention, an empty voter set has committed everything (`Infinity`) and its elections
 * are won: this lets a joint config with an empty outgoing half behave like its incoming half.
 */
import type { NodeId } from '../types.ts';

export type VoteResult = 'won' | 'pending' | 'lost';

/** Looks up a voter's acknowledged index; undefined when the voter has no progress. */
export type AckedIndexer = (id: NodeId) => number | undefined;

/**
 * The largest index acknowledged by a majority of `voters`: sort acked indexes descending
 * and take the one at position ⌊n/2⌋ (the n/2+1-th largest).
 */
export function majorityCommittedIndex(voters: ReadonlySet<NodeId>, acked: AckedIndexer): number {
  const n = voters.size;
  if (n === 0) return Infinity;
  const indexes: number[] = [];
  for (const id of voters) indexes.push(acked(id) ?? 0);
  indexes.sort((a, b) => b - a);
  return indexes[Math.floor(n / 2)];
}

/**
 * Election outcome: `won` with a majority of yes votes, `lost` when a majority can no longer
 * be reached, `pending` otherwise. `votes` maps voter → granted; missing voters have not answered.
 */
export function majorityVoteResult(voters: ReadonlySet<NodeId>, votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  if (voters.size === 0) return 'won';
  let granted = 0;
  let missing = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === undefined) missing++;
    else if (v) granted++;
  }
  const q = Math.floor(voters.size / 2) + 1;
  if (granted >= q) return 'won';
  if (granted + missing >= q) return 'pending';
  return 'lost';
}
