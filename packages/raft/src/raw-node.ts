/**
 * `RawNode`: the thread-unsafe, I/O-free driver interface to Raft (etcd `rawnode.go`).
 *
 * The caller ticks it, steps messages into it, and processes one `Ready` at a time:
 * `hasReady()` → `ready()` → persist, send, apply → `advance(rd)`. While a Ready is
 * outstanding, `hasReady()` is false and `ready()` refuses; ticks, steps and proposals are
 * still accepted and show up in the next Ready.
 */
import type { Config } from './config.ts';
import { encodeConfChange } from './confchange/codec.ts';
import { assert, ProposalDroppedError } from './errors.ts';
import { Raft } from './raft.ts';
import type { ProgressStatus, Ready, Status } from './ready.ts';
import {
  isLocalMessage,
  makeMessage,
  type ConfChangeV2,
  type Entry,
  type ConfState,
  type HardState,
  type Message,
  type NodeId,
  type Snapshot,
  type SoftState,
  type StateRole,
} from './types.ts';

/** Why `step` refused a message from the network. */
export class StepError extends Error {
  override readonly name = 'StepError';
  constructor(
    readonly kind: 'LocalMessage',
    message: string,
  ) {
    super(message);
  }
}

export class RawNode {
  private readonly raft: Raft;
  private prevSoftState: SoftState;
  private prevHardState: HardState;
  private outstanding: Ready | undefined;

  constructor(config: Config) {
    this.raft = new Raft(config);
    this.prevSoftState = this.raft.softState();
    this.prevHardState = this.raft.hardState();
  }

  /** This node's id. */
  get id(): NodeId {
    return this.raft.id;
  }

  /** Advances logical time by one tick (elections, heartbeats, CheckQuorum). */
  tick(): void {
    this.raft.tick();
  }

  /** Starts an election now (with PreVote if configured). */
  campaign(): void {
    this.raft.step(makeMessage({ type: 'MsgHup' }));
  }

  /**
   * Proposes `data` for the log. Throws `ProposalDroppedError` when there is no leader, a
   * transfer is in progress, or the uncommitted-size limit is reached. Acceptance is not
   * commitment: watch committed entries.
   */
  propose(data: Uint8Array): void {
    this.raft.step(makeMessage({ type: 'MsgProp', from: this.raft.id, entries: [{ term: 0, index: 0, type: 'normal', data }] }));
  }

  /**
   * Proposes a membership change. On the leader an invalid or premature change throws
   * `ProposalDroppedError('InvalidConfChange' | 'ConfChangePending')`; elsewhere it is
   * forwarded and the leader turns a refused change into a no-op entry.
   */
  proposeConfChange(cc: ConfChangeV2): void {
    const data = encodeConfChange(cc);
    if (this.raft.state === 'leader') {
      const why = this.raft.confChangeRefusal(data);
      if (why !== undefined) {
        const pending = why.startsWith('possible unapplied');
        throw new ProposalDroppedError(pending ? 'ConfChangePending' : 'InvalidConfChange', why);
      }
    }
    this.raft.step(makeMessage({ type: 'MsgProp', from: this.raft.id, entries: [{ term: 0, index: 0, type: 'confChange', data }] }));
  }

  /**
   * Steps a message received from the network. Local message types are refused (a caller
   * bug). Messages from peers outside the configuration are ignored by the protocol, and a
   * forwarded proposal the leader cannot accept is dropped silently (the proposer retries
   * on its own timeout).
   */
  step(m: Message): void {
    if (isLocalMessage(m.type)) throw new StepError('LocalMessage', `cannot step local message ${m.type}`);
    try {
      this.raft.step(m);
    } catch (e) {
      if (e instanceof ProposalDroppedError) return;
      throw e;
    }
  }

  /**
   * Requests a linearizable read point. The result arrives in a later `Ready.readStates`
   * with the same `ctx`; serve the read once applied ≥ its index.
   */
  readIndex(ctx: Uint8Array): void {
    this.raft.step(makeMessage({ type: 'MsgReadIndex', entries: [{ term: 0, index: 0, type: 'normal', data: ctx }] }));
  }

  /**
   * Whether this node leads and its commit index is an entry of its own term: every entry of
   * earlier terms in its log is then committed, and an entry it proposes now orders after
   * all of them (the precondition etcd's ReadIndex waits for).
   */
  leadsWithCommitInTerm(): boolean {
    return this.raft.state === 'leader' && this.raft.committedEntryInCurrentTerm();
  }

  /**
   * As a leader, the index of the first entry of its term (the empty entry it appended on
   * election): the entries below it are earlier terms', those from it on its own proposals.
   * Undefined when not leading.
   */
  leaderTermFirstIndex(): number | undefined {
    return this.raft.state === 'leader' ? this.raft.termFirstIndex : undefined;
  }

  /** Asks the leader to hand leadership to `to` (forwarded if we are not the leader). */
  transferLeader(to: NodeId): void {
    this.raft.step(makeMessage({ type: 'MsgTransferLeader', from: to }));
  }

  /** The transport could not deliver to `id`. */
  reportUnreachable(id: NodeId): void {
    this.raft.step(makeMessage({ type: 'MsgUnreachable', from: id }));
  }

  /**
   * As follower: the state a snapshot this node accepted carried was lost before it was
   * applied; ask for a snapshot at or above `requestIndex` (raft-rs `request_snapshot`, see
   * `Raft.requestSnapshot`). Call it on a node restarted from persisted state, so nothing
   * unpersisted (entries, acks) outlives the loss. The application carries the request to
   * the leader, which calls `handleSnapshotRequest`. False when leading.
   */
  requestSnapshot(requestIndex: number): boolean {
    return this.raft.requestSnapshot(requestIndex);
  }

  /** Whether this follower waits for a snapshot it requested (`requestSnapshot`). */
  awaitingRequestedSnapshot(): boolean {
    return this.raft.pendingRequestSnapshot !== 0;
  }

  /**
   * As leader: follower `from` asked for a snapshot at or above `requestIndex`; its next
   * send is a snapshot. False when not leading or `from` is no follower.
   */
  handleSnapshotRequest(from: NodeId, requestIndex: number): boolean {
    return this.raft.handleSnapshotRequest(from, requestIndex);
  }

  /** A snapshot sent to `id` was applied (ok) or failed. */
  reportSnapshot(id: NodeId, ok: boolean): void {
    this.raft.step(makeMessage({ type: 'MsgSnapStatus', from: id, reject: !ok }));
  }

  /** Applies a committed conf change; call it when applying the entry. */
  applyConfChange(cc: ConfChangeV2): ConfState {
    return this.raft.applyConfChange(cc);
  }

  hasReady(): boolean {
    if (this.outstanding) return false;
    const r = this.raft;
    const ss = r.softState();
    if (ss.lead !== this.prevSoftState.lead || ss.role !== this.prevSoftState.role) return true;
    if (!sameHardState(r.hardState(), this.prevHardState)) return true;
    if (r.raftLog.unstable.snapshot) return true;
    return (
      r.msgs.length > 0 ||
      r.msgsAfterAppend.length > 0 ||
      r.raftLog.unstableEntries().length > 0 ||
      r.raftLog.hasNextCommittedEnts() ||
      r.readStates.length > 0
    );
  }

  /**
   * The committed entries the next `ready()` hands out (read-only; none while a Ready is
   * outstanding), so a driver can prepare their application (a store opens sealed payloads
   * asynchronously) before it takes the Ready.
   */
  peekCommittedEntries(): readonly Entry[] {
    if (this.outstanding) return [];
    return this.raft.raftLog.nextCommittedEnts();
  }

  /** Takes the pending work. Exactly one Ready may be outstanding until `advance`. */
  ready(): Ready {
    assert(!this.outstanding, 'ready() called again before advance()');
    const r = this.raft;
    const ss = r.softState();
    const hs = r.hardState();
    const entries = r.raftLog.unstableEntries().slice();
    const committedEntries = r.raftLog.nextCommittedEnts();
    const hardStateChanged = !sameHardState(hs, this.prevHardState);
    const rd: Ready = {
      readStates: r.readStates,
      entries,
      committedEntries,
      messages: r.msgs,
      persistedMessages: r.msgsAfterAppend,
      mustSync:
        entries.length > 0 ||
        r.raftLog.unstable.snapshot !== undefined ||
        hs.term !== this.prevHardState.term ||
        hs.vote !== this.prevHardState.vote,
    };
    if (ss.lead !== this.prevSoftState.lead || ss.role !== this.prevSoftState.role) {
      rd.softState = ss;
      this.prevSoftState = ss;
    }
    if (hardStateChanged) {
      rd.hardState = hs;
      this.prevHardState = hs;
    }
    const snap = r.raftLog.unstable.snapshot;
    if (snap) rd.snapshot = snap;
    r.msgs = [];
    r.msgsAfterAppend = [];
    r.readStates = [];
    if (committedEntries.length > 0) {
      r.raftLog.applying = committedEntries[committedEntries.length - 1].index;
      r.reduceUncommittedSize(committedEntries);
    }
    this.outstanding = rd;
    return rd;
  }

  /** Marks `rd` as persisted, sent and applied. */
  advance(rd: Ready): void {
    assert(this.outstanding === rd, 'advance() with a Ready that is not the outstanding one');
    this.outstanding = undefined;
    const r = this.raft;
    if (rd.snapshot) {
      r.raftLog.stableSnapTo(rd.snapshot.metadata.index);
      r.appliedTo(rd.snapshot.metadata.index);
    }
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1];
      r.raftLog.stableTo(last.index, last.term);
    }
    if (rd.committedEntries.length > 0) r.appliedTo(rd.committedEntries[rd.committedEntries.length - 1].index);
  }

  status(): Status {
    const r = this.raft;
    const st: Status = {
      id: r.id,
      term: r.term,
      vote: r.vote,
      commit: r.raftLog.committed,
      lead: r.lead,
      role: r.state,
      applied: r.raftLog.applied,
      lastIndex: r.raftLog.lastIndex(),
      leadTransferee: r.leadTransferee,
      config: r.trk.confState(),
    };
    if (r.state === 'leader') {
      const progress = new Map<NodeId, ProgressStatus>();
      r.trk.visit((id, pr) => {
        progress.set(id, {
          match: pr.match,
          next: pr.next,
          state: pr.state,
          paused: pr.isPaused(),
          pendingSnapshot: pr.pendingSnapshot,
          recentActive: pr.recentActive,
          isLearner: pr.isLearner,
          inflight: pr.inflights.count(),
        });
      });
      st.progress = progress;
    }
    return st;
  }

  /** This node's role now (`status().role` without copying the configuration and every peer's progress). */
  role(): StateRole {
    return this.raft.state;
  }

  /** The snapshot this node accepted and has not handed out in a `Ready` yet, if any. */
  pendingSnapshot(): Snapshot | undefined {
    return this.raft.raftLog.unstable.snapshot;
  }

  /** Test and tooling access to the protocol state (golden tests print from it). */
  get raftForTesting(): Raft {
    return this.raft;
  }
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}
