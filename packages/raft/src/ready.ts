/**
 * `Ready`: everything the driver must do, as plain data carrying its own ordering
 * (etcd `Ready`, raft-rs `persisted_messages`).
 *
 * Driver loop: (1) persist `snapshot`, `entries` and `hardState` in one atomic write (fsync
 * when `mustSync`); `messages` may go out before the write completes; (2) after the write,
 * send `persistedMessages`; (3) apply `snapshot` then `committedEntries`; (4) `advance(rd)`.
 */
import type { Entry, HardState, Message, NodeId, ReadState, Snapshot, SoftState, ConfState, StateRole } from './types.ts';

export interface Ready {
  /** Changed leader / role, if any. Need not be persisted. */
  softState?: SoftState;
  /** Changed hard state, to persist before sending `persistedMessages`. */
  hardState?: HardState;
  /** ReadIndex results whose reads can be served once applied ≥ index. */
  readStates: ReadState[];
  /** New entries to append to stable storage (truncating any conflicting suffix). */
  entries: Entry[];
  /** A snapshot to install in stable storage and apply. */
  snapshot?: Snapshot;
  /** Entries committed and ready to apply, in order; already persisted earlier. */
  committedEntries: Entry[];
  /** Messages to send now (a leader's appends may leave before its own write completes). */
  messages: Message[];
  /** Messages to send only after this Ready's write completes: votes, acks. */
  persistedMessages: Message[];
  /** True when the write must be durable (strict) before `persistedMessages` go. */
  mustSync: boolean;
}

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

/** The leader's view of one follower. */
export interface ProgressStatus {
  match: number;
  next: number;
  state: ProgressState;
  paused: boolean;
  pendingSnapshot: number;
  recentActive: boolean;
  isLearner: boolean;
  inflight: number;
}

export interface Status {
  id: NodeId;
  term: number;
  vote: NodeId;
  commit: number;
  lead: NodeId;
  role: StateRole;
  applied: number;
  lastIndex: number;
  leadTransferee: NodeId;
  config: ConfState;
  /** Only on the leader. */
  progress?: Map<NodeId, ProgressStatus>;
}
