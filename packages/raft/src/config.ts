/**
 * `Config`: every knob and limit of a Raft node, with units in the names (etcd `Config`).
 */
import type { RaftStorage } from './storage.ts';
import type { NodeId } from './types.ts';
import type { Rng } from './rng.ts';

/**
 * Deliberate bugs for mutation tests of the simulator's checkers. Never set outside tests:
 * each one breaks a Raft safety rule on purpose.
 */
export interface UnsafeTestMutations {
  /**
   * Count replicas of any-term entries for commit (violates §5.4.2). As in the paper's
   * Figure 8, a new leader then also skips the empty entry of its term, which would
   * otherwise usually commit the older entries safely before the bug can show.
   */
  commitPreviousTermByCount?: boolean;
  /** Put vote responses in `messages` (sent before the vote is persisted) instead of `persistedMessages`. */
  votesBeforePersist?: boolean;
  /** Grant votes without the log up-to-date check (violates §5.4.1). */
  skipLogUpToDateCheck?: boolean;
  /** Answer ReadIndex before an entry of the leader's term is committed (violates thesis §6.4 step 1). */
  readIndexWithoutTermCommit?: boolean;
}

export interface Config {
  /** This node's id; never 0. */
  id: NodeId;
  /** Read-only access to persisted state. */
  storage: RaftStorage;
  /**
   * Ticks a follower waits without hearing from a leader before campaigning. The actual
   * timeout is randomized in [electionTicks, 2 * electionTicks) (§5.2).
   */
  electionTicks: number;
  /** Ticks between leader heartbeats. Must be < electionTicks. */
  heartbeatTicks: number;
  /** Last applied index, on restart. Entries ≤ applied are never returned as committed. */
  applied?: number;
  /** Max bytes of entries per MsgApp (one entry is always allowed). */
  maxSizePerMsgBytes: number;
  /** Max bytes of committed entries handed out in one Ready. */
  maxCommittedSizePerReadyBytes?: number;
  /** Max MsgApp in flight to one follower in the replicate state. */
  maxInflightMsgs: number;
  /** Max payload bytes of uncommitted entries a leader accepts; 0 means no limit. */
  maxUncommittedEntriesBytes: number;
  /** Run a pre-election so a partitioned node cannot disrupt the cluster (§9.6 of the thesis). */
  preVote: boolean;
  /** A leader that has not heard from a quorum within an election timeout steps down. */
  checkQuorum: boolean;
  /** 'safe' confirms leadership with a heartbeat round; 'lease' trusts the lease (needs checkQuorum). */
  readOnly: 'safe' | 'lease';
  /** Seeded randomness for election timeouts. */
  rng: Rng;
  /** Followers drop proposals instead of forwarding them to the leader. */
  disableProposalForwarding?: boolean;
  /**
   * A leader removed from (or demoted in) the configuration steps down as soon as it
   * applies the change. Off by default, as in etcd: stepping down at once can leave the
   * remaining voters, still in the joint config and short of the leader's vote, unable to
   * elect anyone (found by the simulator). A removed leader keeps replicating so followers
   * learn the commit; it refuses new proposals; its host shuts it down.
   */
  stepDownOnRemoval?: boolean;
  /**
   * This node is a witness (TiKV's witness peer): it votes and keeps the log, so it counts
   * toward every quorum, but it never campaigns (no election timeout, no MsgTimeoutNow) and
   * refuses a leader transfer to itself. It holds no state machine worth leading with: its
   * driver applies nothing but membership and region metadata. Its vote still follows §5.4.1
   * (log up-to-date check), so it never helps elect a candidate missing committed entries.
   */
  witness?: boolean;
  /** Test-only deliberate bugs. */
  unsafeTestMutations?: UnsafeTestMutations;
}

/** Sensible defaults for everything but id, storage and rng. */
export const DEFAULT_CONFIG = {
  electionTicks: 10,
  heartbeatTicks: 1,
  maxSizePerMsgBytes: 1024 * 1024,
  maxCommittedSizePerReadyBytes: 4 * 1024 * 1024,
  maxInflightMsgs: 256,
  maxUncommittedEntriesBytes: 0,
  preVote: true,
  checkQuorum: true,
  readOnly: 'safe',
} as const satisfies Partial<Config>;
