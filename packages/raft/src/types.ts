/**
 * The Raft data model: entries, hard state, membership, snapshots and messages.
 *
 * Plain data only, shaped after etcd's `raftpb`. The transport codec serialises these; the
 * storage layer persists them; the core never sees bytes on a wire or a disk.
 */

/** A replica's id inside one Raft group. 0 means "none". */
export type NodeId = number;

/** The "no node" id (etcd's `None`). */
export const NONE: NodeId = 0;

/** What an entry carries: an application command or a membership change (`ConfChangeV2`). */
export type EntryType = 'normal' | 'confChange';

/** One log entry. `data` is opaque to Raft for `normal` entries; empty data is a no-op. */
export interface Entry {
  term: number;
  index: number;
  type: EntryType;
  data: Uint8Array;
}

/** What must be persisted before voting or acknowledging (Raft paper §5.1, Figure 2). */
export interface HardState {
  term: number;
  vote: NodeId;
  commit: number;
}

/**
 * Membership. `votersOutgoing` is non-empty only in a joint configuration (§6);
 * `learnersNext` holds voters of the outgoing config that become learners when the joint
 * config is left; `autoLeave` asks the leader to propose leaving the joint config itself.
 */
export interface ConfState {
  voters: NodeId[];
  learners: NodeId[];
  votersOutgoing: NodeId[];
  learnersNext: NodeId[];
  autoLeave: boolean;
}

export interface SnapshotMetadata {
  confState: ConfState;
  index: number;
  term: number;
}

/** A state-machine snapshot; `data` is opaque to Raft. */
export interface Snapshot {
  data: Uint8Array;
  metadata: SnapshotMetadata;
}

/**
 * Message types. The order of `MESSAGE_TYPES` is the wire order used by codecs: append only.
 * Local messages (MsgHup, MsgBeat, MsgProp from the application, MsgUnreachable,
 * MsgSnapStatus, MsgCheckQuorum) never leave the node except MsgProp forwarded to a leader.
 */
export const MESSAGE_TYPES = [
  'MsgHup',
  'MsgBeat',
  'MsgProp',
  'MsgApp',
  'MsgAppResp',
  'MsgVote',
  'MsgVoteResp',
  'MsgSnap',
  'MsgHeartbeat',
  'MsgHeartbeatResp',
  'MsgUnreachable',
  'MsgSnapStatus',
  'MsgCheckQuorum',
  'MsgTransferLeader',
  'MsgTimeoutNow',
  'MsgReadIndex',
  'MsgReadIndexResp',
  'MsgPreVote',
  'MsgPreVoteResp',
] as const;

export type MessageType = (typeof MESSAGE_TYPES)[number];

/**
 * One Raft message. Field meanings follow etcd raftpb.Message:
 * - `logTerm`/`index`: for MsgApp the entry preceding `entries`; for votes the candidate's
 *   last entry; for MsgAppResp `index` is the acked or rejected index.
 * - `rejectHint`/`logTerm` on a rejected MsgAppResp let the leader skip back quickly.
 * - `commit` on MsgVote/MsgPreVote: the candidate's commit index. On a rejected
 *   MsgVoteResp/MsgPreVoteResp, `commit` and `logTerm` name the voter's committed entry
 *   (raft-rs sends `commit_term`; reusing `logTerm` keeps the wire format). Both let a node
 *   behind on commits catch up during an election (etcd-io/etcd#12359, `Raft.commitByVote`).
 * - `context`: ReadIndex request context, or `campaignTransfer` marker on votes.
 */
export interface Message {
  type: MessageType;
  to: NodeId;
  from: NodeId;
  term: number;
  logTerm: number;
  index: number;
  entries: Entry[];
  commit: number;
  snapshot?: Snapshot;
  reject: boolean;
  rejectHint: number;
  context?: Uint8Array;
}

/** A single membership change. */
export interface ConfChangeSingle {
  type: 'addNode' | 'removeNode' | 'addLearnerNode';
  nodeId: NodeId;
}

/**
 * A membership change (etcd ConfChangeV2). One change without `transition: 'explicit'` is a
 * simple one-step change; several changes (or `transition !== 'auto'`) use joint consensus.
 * - `auto`: simple if possible, else joint and left automatically.
 * - `implicit`: always joint, left automatically.
 * - `explicit`: always joint, left by proposing an empty ConfChangeV2.
 */
export interface ConfChangeV2 {
  transition: 'auto' | 'implicit' | 'explicit';
  changes: ConfChangeSingle[];
  context?: Uint8Array;
}

/** A ReadIndex result: reads issued with `requestCtx` may be served once applied ≥ `index`. */
export interface ReadState {
  index: number;
  requestCtx: Uint8Array;
}

/** Volatile leadership state surfaced in `Ready` when it changes. */
export type StateRole = 'follower' | 'candidate' | 'preCandidate' | 'leader';

export interface SoftState {
  lead: NodeId;
  role: StateRole;
}

/** An empty configuration. */
export function emptyConfState(): ConfState {
  return { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
}

/** A message with every optional field at its zero value, overridden by `fields`. */
export function makeMessage(fields: Partial<Message> & Pick<Message, 'type'>): Message {
  return {
    to: NONE,
    from: NONE,
    term: 0,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    ...fields,
  };
}

export function isEmptyHardState(hs: HardState): boolean {
  return hs.term === 0 && hs.vote === NONE && hs.commit === 0;
}

export function isEmptySnapshot(snap: Snapshot | undefined): boolean {
  return snap === undefined || snap.metadata.index === 0;
}

/** Byte size used for flow-control limits: payload plus a fixed per-entry overhead. */
export function entrySizeBytes(e: Entry): number {
  return e.data.length + 16;
}

/** Entry payload bytes counted against `maxUncommittedEntriesBytes` (etcd: payload only). */
export function payloadSizeBytes(e: Entry): number {
  return e.data.length;
}

/** True for responses and local messages, which carry no new information about the sender's term. */
export function isResponseMessage(type: MessageType): boolean {
  return (
    type === 'MsgAppResp' ||
    type === 'MsgVoteResp' ||
    type === 'MsgHeartbeatResp' ||
    type === 'MsgUnreachable' ||
    type === 'MsgPreVoteResp'
  );
}

/** True for messages generated and consumed inside one node. */
export function isLocalMessage(type: MessageType): boolean {
  return (
    type === 'MsgHup' ||
    type === 'MsgBeat' ||
    type === 'MsgUnreachable' ||
    type === 'MsgSnapStatus' ||
    type === 'MsgCheckQuorum'
  );
}

/** The response type paired with a (pre-)vote request. */
export function voteRespType(type: 'MsgVote' | 'MsgPreVote'): 'MsgVoteResp' | 'MsgPreVoteResp' {
  return type === 'MsgVote' ? 'MsgVoteResp' : 'MsgPreVoteResp';
}
