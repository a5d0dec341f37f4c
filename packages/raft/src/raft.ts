/**
 * The Raft protocol state machine (etcd `raft.go`): roles, elections (with PreVote and
 * CheckQuorum), replication, commitment, ReadIndex, membership changes, leader transfer and
 * snapshots. Pure: time is `tick()`, chance is `config.rng`, and I/O leaves as messages and
 * log state that `RawNode` packages into `Ready`.
 *
 * Section numbers (§) refer to the Raft paper (Ongaro & Ousterhout 2014) unless "thesis"
 * (Ongaro's dissertation) is named.
 */
import type { Config, UnsafeTestMutations } from './config.ts';
import { DEFAULT_CONFIG } from './config.ts';
import { Changer, ConfChangeError, enterJointMode, leavesJoint, restore, type ChangeResult } from './confchange/changer.ts';
import { decodeConfChange, encodeConfChange } from './confchange/codec.ts';
import { assert, ProposalDroppedError, RaftStorageError } from './errors.ts';
import { RaftLog } from './log.ts';
import { jointVoteResult } from './quorum/joint.ts';
import type { VoteResult } from './quorum/majority.ts';
import { ReadOnly } from './read-only.ts';
import type { Rng } from './rng.ts';
import { Progress } from './tracker/progress.ts';
import { ProgressTracker, type ProgressMap, type TrackerConfig } from './tracker/tracker.ts';
import {
  isEmptyHardState,
  isEmptySnapshot,
  makeMessage,
  NONE,
  payloadSizeBytes,
  voteRespType,
  type ConfChangeV2,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type MessageType,
  type NodeId,
  type ReadState,
  type Snapshot,
  type SoftState,
  type StateRole,
} from './types.ts';

/** Marks a vote request caused by leader transfer: it overrides the leader lease (§3.10 thesis). */
export const CAMPAIGN_TRANSFER = new TextEncoder().encode('CampaignTransfer');

/** Bound on ReadIndex requests queued on one leader; more are dropped until some complete. */
export const READ_INDEX_PENDING_MAX = 4096;

/** Bound on ReadIndex requests held until the leader commits an entry of its term. */
export const READ_INDEX_WAITING_MAX = 4096;

type CampaignType = 'preElection' | 'election' | 'transfer';

function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  if (!a || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class Raft {
  readonly id: NodeId;
  term = 0;
  vote: NodeId = NONE;
  readStates: ReadState[] = [];
  readonly raftLog: RaftLog;
  readonly trk: ProgressTracker;
  state: StateRole = 'follower';
  /** Whether this node is a learner in its current configuration. */
  isLearner = false;
  /** Messages that may be sent as soon as the Ready is taken. */
  msgs: Message[] = [];
  /** Messages that may be sent only after the Ready's write completed (votes, acks). */
  msgsAfterAppend: Message[] = [];
  lead: NodeId = NONE;
  /** The node leadership is being transferred to, or NONE. */
  leadTransferee: NodeId = NONE;
  /**
   * Only one conf change may be pending (in the log, not yet applied) at a time. This is the
   * index of the latest one; proposals are refused while applied < pendingConfIndex. With the
   * auto-leave proposed only once the joint config is applied (`appliedTo`), this is what
   * etcd-io/raft does; it does not prevent the election deadlock of etcd-io/etcd#12359,
   * which `commitByVote` removes.
   */
  pendingConfIndex = 0;
  /**
   * As leader, the index of the first entry of its term (its empty entry): every entry below it
   * is of an earlier term, every entry from it on is this leader's own proposal. 0 otherwise.
   */
  termFirstIndex = 0;
  /** Payload bytes of entries appended by this leader and not yet committed+handed out. */
  uncommittedSizeBytes = 0;
  /** As follower: the index a requested snapshot must reach (`requestSnapshot`); 0 when none is awaited. Not persisted. */
  pendingRequestSnapshot = 0;
  readonly readOnly: ReadOnly;
  /** ReadIndex requests waiting for the first commit of this leader's term. */
  pendingReadIndexMessages: Message[] = [];

  /** Ticks since the last election timeout (follower/candidate) or reset (leader). */
  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;

  private readonly cfg: Required<Omit<Config, 'applied' | 'unsafeTestMutations' | 'storage' | 'rng'>>;
  private readonly rng: Rng;
  private readonly mutations: UnsafeTestMutations;

  constructor(config: Config) {
    validateConfig(config);
    this.id = config.id;
    this.rng = config.rng;
    this.mutations = config.unsafeTestMutations ?? {};
    this.cfg = {
      id: config.id,
      electionTicks: config.electionTicks,
      heartbeatTicks: config.heartbeatTicks,
      maxSizePerMsgBytes: config.maxSizePerMsgBytes,
      maxCommittedSizePerReadyBytes: config.maxCommittedSizePerReadyBytes ?? DEFAULT_CONFIG.maxCommittedSizePerReadyBytes,
      maxInflightMsgs: config.maxInflightMsgs,
      maxUncommittedEntriesBytes: config.maxUncommittedEntriesBytes,
      preVote: config.preVote,
      checkQuorum: config.checkQuorum,
      readOnly: config.readOnly,
      disableProposalForwarding: config.disableProposalForwarding ?? false,
      stepDownOnRemoval: config.stepDownOnRemoval ?? false,
      witness: config.witness ?? false,
    };
    this.raftLog = new RaftLog(config.storage, this.cfg.maxCommittedSizePerReadyBytes);
    this.trk = new ProgressTracker(config.maxInflightMsgs);
    this.readOnly = new ReadOnly(config.readOnly, READ_INDEX_PENDING_MAX);

    const { hardState, confState } = config.storage.initialState();
    const restored = restore(confState, this.raftLog.lastIndex(), this.cfg.maxInflightMsgs);
    this.switchToConfig(restored.config, restored.progress);
    if (!isEmptyHardState(hardState)) this.loadState(hardState);
    if (config.applied !== undefined && config.applied > 0) this.raftLog.appliedTo(config.applied);
    this.becomeFollower(this.term, NONE);
  }

  // ---------------------------------------------------------------- state accessors

  softState(): SoftState {
    return { lead: this.lead, role: this.state };
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.raftLog.committed };
  }

  private loadState(hs: HardState): void {
    assert(
      hs.commit >= this.raftLog.committed && hs.commit <= this.raftLog.lastIndex(),
      `${this.id} state.commit ${hs.commit} is out of range [${this.raftLog.committed}, ${this.raftLog.lastIndex()}]`,
    );
    this.raftLog.committed = hs.commit;
    this.term = hs.term;
    this.vote = hs.vote;
  }

  /** Whether this node is a witness (votes, never leads: `Config.witness`). */
  get isWitness(): boolean {
    return this.cfg.witness;
  }

  /**
   * Whether this node may campaign: a voter with no snapshot pending, not a witness, and not
   * waiting for a snapshot it requested (its state machine is missing what its log claims: as
   * leader it could serve nothing and no one would send it the state).
   */
  promotable(): boolean {
    if (this.cfg.witness || this.pendingRequestSnapshot !== 0) return false;
    const pr = this.trk.progress.get(this.id);
    return pr !== undefined && !pr.isLearner && this.raftLog.unstable.snapshot === undefined;
  }

  /**
   * As a follower: ask for a snapshot at or above `requestIndex` (raft-rs `request_snapshot`).
   * The application lost the state a snapshot it accepted carried (the log is intact, the
   * state machine is not). Until one arrives this node appends nothing (entries would apply
   * on top of missing state), does not campaign, and accepts a snapshot at or above
   * `requestIndex` even if its log already covers that index. The request itself travels
   * outside Raft (the application tells the leader, which calls `handleSnapshotRequest`).
   * False (nothing changes) when leading or `requestIndex` is 0.
   */
  requestSnapshot(requestIndex: number): boolean {
    if (this.state === 'leader' || requestIndex <= 0) return false;
    this.pendingRequestSnapshot = requestIndex;
    return true;
  }

  /**
   * As leader: follower `from` asked for a snapshot at or above `requestIndex` (raft-rs
   * `MsgAppendResponse.request_snapshot`). Its next send is a snapshot (the application
   * checks its snapshot's index is at least `requestIndex`). False when not leading or `from`
   * is not a follower; true (and nothing more) while a snapshot to it is already under way.
   */
  handleSnapshotRequest(from: NodeId, requestIndex: number): boolean {
    if (this.state !== 'leader' || from === this.id || requestIndex <= 0) return false;
    const pr = this.trk.progress.get(from);
    if (!pr) return false;
    if (pr.state === 'snapshot') return true;
    // The request is news from the follower: it is alive even though it acks nothing.
    pr.recentActive = true;
    pr.becomeProbe();
    pr.pendingRequestSnapshot = requestIndex;
    this.sendAppend(from);
    return true;
  }

  // ---------------------------------------------------------------- sending

  /** Queues `m`, stamping sender and term, into the list its durability needs. */
  private send(m: Message): void {
    if (m.from === NONE) m.from = this.id;
    if (m.type === 'MsgVote' || m.type === 'MsgVoteResp' || m.type === 'MsgPreVote' || m.type === 'MsgPreVoteResp') {
      // Vote messages carry the term they are about (for PreVote, the future term).
      assert(m.term !== 0, `term should be set when sending ${m.type}`);
    } else {
      assert(m.term === 0, `term should not be set when sending ${m.type} (was ${m.term})`);
      // MsgProp and MsgReadIndex are forwarded as local messages: no term.
      if (m.type !== 'MsgProp' && m.type !== 'MsgReadIndex') m.term = this.term;
    }
    if (this.mustPersistBeforeSending(m.type)) this.msgsAfterAppend.push(m);
    else this.msgs.push(m);
  }

  /**
   * Acks and votes promise durable state, so they wait for the write (§5.1: "respond to RPCs
   * only after updating stable storage"). A candidate's own vote requests wait too: its
   * self-vote must be durable before anyone can help elect it.
   */
  private mustPersistBeforeSending(type: MessageType): boolean {
    if (type === 'MsgVoteResp' && this.mutations.votesBeforePersist) return false;
    return type === 'MsgAppResp' || type === 'MsgVoteResp' || type === 'MsgPreVoteResp' || type === 'MsgVote';
  }

  sendAppend(to: NodeId): void {
    this.maybeSendAppend(to, true);
  }

  /**
   * Sends entries (or a snapshot, if the entries are compacted) to `to` unless its progress
   * is paused. With `sendIfEmpty` false an empty MsgApp is not sent. Returns whether a message
   * was sent.
   */
  maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.trk.progress.get(to);
    if (!pr || pr.isPaused()) return false;
    if (pr.pendingRequestSnapshot !== 0) return this.maybeSendSnapshot(to, pr);
    let prevTerm: number;
    let ents: Entry[];
    try {
      prevTerm = this.raftLog.term(pr.next - 1);
      // A replicating follower with a full window gets only an empty MsgApp: if all the
      // in-flight messages were lost, its ack or rejection clears the window (heartbeat
      // responses unpause it to send this).
      const throttled = pr.state === 'replicate' && pr.inflights.full();
      ents = throttled ? [] : this.raftLog.entries(pr.next, this.cfg.maxSizePerMsgBytes);
    } catch (e) {
      if (!(e instanceof RaftStorageError)) throw e;
      if (e.kind === 'LogTemporarilyUnavailable') return false;
      return this.maybeSendSnapshot(to, pr);
    }
    if (ents.length === 0 && !sendIfEmpty) return false;
    let bytes = 0;
    for (const e of ents) bytes += payloadSizeBytes(e);
    this.send(
      makeMessage({
        type: 'MsgApp',
        to,
        index: pr.next - 1,
        logTerm: prevTerm,
        entries: ents,
        commit: this.raftLog.committed,
      }),
    );
    pr.sentEntries(ents.length > 0 ? ents[ents.length - 1].index : pr.next - 1, ents.length, bytes);
    return true;
  }

  /** The follower needs entries we compacted: send the snapshot instead. */
  private maybeSendSnapshot(to: NodeId, pr: Progress): boolean {
    if (!pr.recentActive) return false;
    let snap: Snapshot;
    try {
      snap = this.raftLog.snapshot();
    } catch (e) {
      if (e instanceof RaftStorageError && e.kind === 'SnapshotTemporarilyUnavailable') return false;
      throw e;
    }
    assert(!isEmptySnapshot(snap), 'need non-empty snapshot');
    pr.becomeSnapshot(snap.metadata.index);
    this.send(makeMessage({ type: 'MsgSnap', to, snapshot: snap }));
    return true;
  }

  /** Heartbeats carry commit = min(match, committed): a follower must not commit past its log. */
  private sendHeartbeat(to: NodeId, ctx: Uint8Array | undefined): void {
    const pr = this.trk.progress.get(to)!;
    const commit = Math.min(pr.match, this.raftLog.committed);
    this.send(makeMessage({ type: 'MsgHeartbeat', to, commit, ...(ctx ? { context: ctx } : {}) }));
  }

  bcastAppend(): void {
    this.trk.visit((id) => {
      if (id !== this.id) this.sendAppend(id);
    });
  }

  private bcastHeartbeat(): void {
    this.bcastHeartbeatWithCtx(this.readOnly.lastPendingRequestCtx());
  }

  private bcastHeartbeatWithCtx(ctx: Uint8Array | undefined): void {
    this.trk.visit((id) => {
      if (id !== this.id) this.sendHeartbeat(id, ctx);
    });
  }

  // ---------------------------------------------------------------- commit and append

  /**
   * Advances the commit index to what a quorum has replicated, but only through an entry of
   * the current term (§5.4.2: counting replicas of older-term entries is unsafe, Figure 8).
   */
  maybeCommit(): boolean {
    const mci = this.trk.committed();
    if (!Number.isFinite(mci)) return false;
    if (this.mutations.commitPreviousTermByCount) {
      if (mci > this.raftLog.committed && mci <= this.raftLog.lastIndex()) {
        this.raftLog.commitTo(mci);
        return true;
      }
      return false;
    }
    return this.raftLog.maybeCommit(mci, this.term);
  }

  /** Appends entries as leader; false if the uncommitted-size limit refuses them. */
  appendEntry(es: Entry[]): boolean {
    let li = this.raftLog.lastIndex();
    for (let i = 0; i < es.length; i++) {
      es[i] = { ...es[i], term: this.term, index: li + 1 + i };
    }
    if (!this.increaseUncommittedSize(es)) return false;
    li = this.raftLog.append(es);
    // The leader's own entry counts toward commit now; entries are applied only after the
    // Ready that carries them was persisted, and commit indexes reach followers only in
    // later Readies (the driver takes one Ready at a time).
    this.trk.progress.get(this.id)?.maybeUpdate(li);
    this.maybeCommit();
    return true;
  }

  private increaseUncommittedSize(ents: Entry[]): boolean {
    let s = 0;
    for (const e of ents) s += payloadSizeBytes(e);
    const max = this.cfg.maxUncommittedEntriesBytes;
    // Always admit one proposal when nothing is outstanding, so huge entries can still go.
    if (max > 0 && this.uncommittedSizeBytes > 0 && s > 0 && this.uncommittedSizeBytes + s > max) return false;
    this.uncommittedSizeBytes += s;
    return true;
  }

  /** Called as committed entries are handed out: they no longer count as uncommitted. */
  reduceUncommittedSize(ents: Entry[]): void {
    if (this.state !== 'leader') return;
    let s = 0;
    for (const e of ents) s += payloadSizeBytes(e);
    this.uncommittedSizeBytes = Math.max(0, this.uncommittedSizeBytes - s);
  }

  // ---------------------------------------------------------------- ticks

  tick(): void {
    if (this.state === 'leader') this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.step(makeMessage({ type: 'MsgHup', from: this.id }));
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.cfg.electionTicks) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum) this.step(makeMessage({ type: 'MsgCheckQuorum', from: this.id }));
      // A transfer that did not finish within an election timeout is abandoned (thesis §3.10).
      if (this.state === 'leader' && this.leadTransferee !== NONE) this.abortLeaderTransfer();
    }
    if (this.state !== 'leader') return;
    if (this.heartbeatElapsed >= this.cfg.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.step(makeMessage({ type: 'MsgBeat', from: this.id }));
    }
  }

  private resetRandomizedElectionTimeout(): void {
    this.randomizedElectionTimeout = this.cfg.electionTicks + this.rng.nextInt(this.cfg.electionTicks);
  }

  // ---------------------------------------------------------------- role changes

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.abortLeaderTransfer();
    this.trk.resetVotes();
    const last = this.raftLog.lastIndex();
    const fresh: ProgressMap = new Map();
    this.trk.visit((id, pr) => {
      const np = new Progress(last + 1, this.cfg.maxInflightMsgs, pr.isLearner);
      if (id === this.id) np.match = last;
      fresh.set(id, np);
    });
    this.trk.progress = fresh;
    this.pendingConfIndex = 0;
    this.termFirstIndex = 0;
    this.uncommittedSizeBytes = 0;
    this.readOnly.reset();
    this.pendingReadIndexMessages = [];
  }

  becomeFollower(term: number, lead: NodeId): void {
    this.reset(term);
    this.lead = lead;
    this.state = 'follower';
  }

  becomeCandidate(): void {
    assert(this.state !== 'leader', 'invalid transition [leader -> candidate]');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.state = 'candidate';
  }

  /** A pre-candidate changes neither term nor vote (thesis §9.6). */
  becomePreCandidate(): void {
    assert(this.state !== 'leader', 'invalid transition [leader -> pre-candidate]');
    this.trk.resetVotes();
    this.lead = NONE;
    this.state = 'preCandidate';
  }

  becomeLeader(): void {
    assert(this.state !== 'follower', 'invalid transition [follower -> leader]');
    this.reset(this.term);
    this.lead = this.id;
    this.state = 'leader';
    const self = this.trk.progress.get(this.id);
    if (self) {
      self.becomeReplicate();
      self.recentActive = true;
    }
    // Conservatively treat everything up to our last index as possibly holding a conf
    // change: no new one until it is applied.
    this.pendingConfIndex = this.raftLog.lastIndex();
    this.termFirstIndex = this.raftLog.lastIndex() + 1;
    if (this.mutations.commitPreviousTermByCount) return;
    // An empty entry of the new term lets us commit (and learn the commit index) (§5.4.2).
    const ok = this.appendEntry([{ term: 0, index: 0, type: 'normal', data: new Uint8Array() }]);
    assert(ok, 'empty entry was dropped');
  }

  // ---------------------------------------------------------------- elections

  private hup(t: CampaignType): void {
    if (this.state === 'leader') return;
    if (!this.promotable()) return;
    // Campaigning with an unapplied conf change could elect us under a config we do not yet
    // know we have.
    if (this.hasConfChangesIn(this.raftLog.applied + 1, this.raftLog.committed + 1)) return;
    this.campaign(t);
  }

  /** Whether any entry in [lo, hi) is a conf change (read in pages of at most 1 MiB). */
  private hasConfChangesIn(lo: number, hi: number): boolean {
    let next = lo;
    while (next < hi) {
      const ents = this.raftLog.slice(next, hi, 1024 * 1024);
      for (const e of ents) if (e.type === 'confChange') return true;
      next += ents.length;
    }
    return false;
  }

  campaign(t: CampaignType): void {
    if (!this.promotable()) return;
    let voteMsg: 'MsgVote' | 'MsgPreVote';
    let term: number;
    if (t === 'preElection') {
      this.becomePreCandidate();
      voteMsg = 'MsgPreVote';
      // PreVote asks about the next term without incrementing ours.
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      voteMsg = 'MsgVote';
      term = this.term;
    }
    if (this.poll(this.id, voteRespType(voteMsg), true) === 'won') {
      // Only a single-voter config wins on its own vote.
      if (t === 'preElection') this.campaign('election');
      else this.becomeLeader();
      return;
    }
    const ids = [...this.trk.voterIds()].sort((a, b) => a - b);
    for (const id of ids) {
      if (id === this.id) continue;
      this.send(
        makeMessage({
          type: voteMsg,
          to: id,
          term,
          index: this.raftLog.lastIndex(),
          logTerm: this.raftLog.lastTerm(),
          // What we know is committed, for a voter that refuses us (see commitByVote).
          commit: this.raftLog.committed,
          ...(t === 'transfer' ? { context: CAMPAIGN_TRANSFER } : {}),
        }),
      );
    }
  }

  private poll(id: NodeId, _t: MessageType, granted: boolean): VoteResult {
    this.trk.recordVote(id, granted);
    return this.trk.tallyVotes().result;
  }

  // ---------------------------------------------------------------- step

  /** Handles one message (§5.1: any message with a higher term makes us a follower). */
  step(m: Message): void {
    if (m.term === 0) {
      // Local message (or a forwarded MsgProp/MsgReadIndex/MsgTransferLeader).
    } else if (m.term > this.term) {
      if (m.type === 'MsgVote' || m.type === 'MsgPreVote') {
        const force = sameBytes(m.context, CAMPAIGN_TRANSFER);
        const inLease = this.cfg.checkQuorum && this.lead !== NONE && this.electionElapsed < this.cfg.electionTicks;
        // With CheckQuorum, a node that heard from a leader within the election timeout
        // ignores votes: a partitioned node rejoining must not depose a healthy leader
        // (thesis §4.2.3). A leader transfer overrides this.
        if (!force && inLease) return;
      }
      if (m.type === 'MsgPreVote') {
        // Never change our term in response to a PreVote.
      } else if (m.type === 'MsgPreVoteResp' && !m.reject) {
        // The future term of a granted pre-vote; we bump our term only on winning.
      } else if (m.type === 'MsgApp' || m.type === 'MsgHeartbeat' || m.type === 'MsgSnap') {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NONE);
      }
    } else if (m.term < this.term) {
      this.stepStaleTerm(m);
      return;
    }

    switch (m.type) {
      case 'MsgHup':
        this.hup(this.cfg.preVote ? 'preElection' : 'election');
        return;
      case 'MsgVote':
      case 'MsgPreVote':
        this.stepVoteRequest(m);
        return;
      default:
        this.stepByRole(m);
    }
  }

  /**
   * A message from an older term. With CheckQuorum or PreVote, a stale leader that keeps
   * sending would never learn of the new term (its peers ignore it and it cannot win a
   * pre-vote), so answer its appends/heartbeats to make it step down. A stale pre-vote
   * gets an explicit rejection so the pre-candidate does not wait forever.
   */
  private stepStaleTerm(m: Message): void {
    if ((this.cfg.checkQuorum || this.cfg.preVote) && (m.type === 'MsgHeartbeat' || m.type === 'MsgApp')) {
      this.send(makeMessage({ type: 'MsgAppResp', to: m.from }));
    } else if (m.type === 'MsgPreVote') {
      this.send(makeMessage({ type: 'MsgPreVoteResp', to: m.from, term: this.term, reject: true }));
    }
  }

  /** §5.2, §5.4.1: one vote per term, only for a log at least as up-to-date as ours. */
  private stepVoteRequest(m: Message): void {
    const canVote =
      this.vote === m.from ||
      // We have not voted and know of no leader in this term.
      (this.vote === NONE && this.lead === NONE) ||
      // A PreVote for a future term: we would vote then.
      (m.type === 'MsgPreVote' && m.term > this.term);
    const upToDate = this.mutations.skipLogUpToDateCheck || this.raftLog.isUpToDate(m.index, m.logTerm);
    const resp = voteRespType(m.type as 'MsgVote' | 'MsgPreVote');
    if (canVote && upToDate) {
      // The response carries the request's term: for a PreVote, the future term.
      this.send(makeMessage({ type: resp, to: m.from, term: m.term }));
      if (m.type === 'MsgVote') {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      // Unlike raft-rs we do not require lead === NONE here: a pre-vote leaves a stale
      // leader in place, and a learner holding the longest log must learn its promotion
      // from a pre-candidate (confchange-apply-time-liveness-learner.txt). Committing entries
      // we already hold that a peer knows are committed is safe whoever leads.
      this.commitByVote(m.commit, m.index, m.logTerm);
      this.send(makeMessage({ type: resp, to: m.from, term: this.term, reject: true, ...this.commitInfo() }));
    }
  }

  /**
   * Our commit index and its term, as a rejected vote response carries them (`commit` and
   * `logTerm`, see `Message`). Empty if the term is unknown (compacted), which disables
   * commitByVote for that response.
   */
  private commitInfo(): Partial<Pick<Message, 'commit' | 'logTerm'>> {
    const commit = this.raftLog.committed;
    const logTerm = this.raftLog.termOrUndefined(commit);
    return commit > 0 && logTerm !== undefined && logTerm > 0 ? { commit, logTerm } : {};
  }

  /**
   * Commits through `commit`, which the sender of a vote message knows to be committed, if our
   * log holds the sender's entry (`index`, `logTerm`) with `commit` ≤ `index`: by Log Matching
   * (§5.3) our log then equals the sender's through `commit`. A candidate that learns this way
   * of a conf change it has not applied steps down: it was counting votes in an outdated
   * config. It campaigns again once the change is applied (`hup` waits for that).
   *
   * Why (etcd-io/etcd#12359, "liveness problems during apply-time configuration change"):
   * configs take effect when applied, not when appended. A voter removed by the leave of a
   * joint config applies its removal and never campaigns again; voters that have not learned
   * that the leave committed still count votes in the joint config and need its vote; if its
   * log is longer than theirs it refuses, and no node can ever win (simulator seed 60815).
   * Its refusal now carries its commit index, so they commit the leave, apply it and elect a
   * leader in the new config without it. The same works the other way for a node that is a
   * learner in its applied config and holds the longest log: a candidate's request tells it
   * the commit, it applies its promotion and campaigns. Fixed upstream in raft-rs
   * (tikv/raft-rs#411, a port of etcd-io/etcd#12435, which etcd-io/raft never merged);
   * entries committed this way were committed already, only the news travels differently.
   */
  private commitByVote(commit: number, index: number, logTerm: number): void {
    const before = this.raftLog.committed;
    if (this.state === 'leader' || commit <= before || commit > index || logTerm === 0) return;
    if (!this.raftLog.matchTerm(index, logTerm)) return;
    this.raftLog.commitTo(commit);
    if (this.state === 'follower') return;
    if (this.hasConfChangesIn(before + 1, commit + 1)) this.becomeFollower(this.term, NONE);
  }

  private stepByRole(m: Message): void {
    switch (this.state) {
      case 'leader':
        this.stepLeader(m);
        return;
      case 'candidate':
      case 'preCandidate':
        this.stepCandidate(m);
        return;
      case 'follower':
        this.stepFollower(m);
        return;
    }
  }

  // ---------------------------------------------------------------- leader

  private stepLeader(m: Message): void {
    switch (m.type) {
      case 'MsgBeat':
        this.bcastHeartbeat();
        return;
      case 'MsgCheckQuorum':
        this.checkQuorumActive();
        return;
      case 'MsgProp':
        this.stepLeaderPropose(m);
        return;
      case 'MsgReadIndex':
        this.stepLeaderReadIndex(m);
        return;
    }
    const pr = this.trk.progress.get(m.from);
    if (!pr) return; // not (or no longer) a member
    switch (m.type) {
      case 'MsgAppResp':
        this.handleAppendResponse(m, pr);
        return;
      case 'MsgHeartbeatResp':
        this.handleHeartbeatResponse(m, pr);
        return;
      case 'MsgSnapStatus':
        this.handleSnapStatus(m, pr);
        return;
      case 'MsgUnreachable':
        // The transport lost a message: stop streaming optimistically, probe instead.
        if (pr.state === 'replicate') pr.becomeProbe();
        return;
      case 'MsgTransferLeader':
        this.handleTransferLeader(m, pr);
        return;
    }
  }

  /** CheckQuorum: step down if a quorum has not been heard from in an election timeout. */
  private checkQuorumActive(): void {
    if (!this.trk.quorumActive()) this.becomeFollower(this.term, NONE);
    this.trk.visit((id, pr) => {
      if (id !== this.id) pr.recentActive = false;
    });
  }

  private stepLeaderPropose(m: Message): void {
    assert(m.entries.length > 0, `${this.id} stepped empty MsgProp`);
    if (!this.trk.progress.has(this.id)) {
      throw new ProposalDroppedError('NotLeader', 'leader was removed from the configuration');
    }
    if (this.leadTransferee !== NONE) throw new ProposalDroppedError('LeaderTransferring');
    const ents = m.entries.map((e) => ({ ...e }));
    for (let i = 0; i < ents.length; i++) {
      if (ents[i].type !== 'confChange') continue;
      const refused = this.confChangeRefusal(ents[i].data);
      if (refused) {
        // Keep the slot (the proposer may wait on it) but make it a no-op (etcd does the same).
        ents[i] = { ...ents[i], type: 'normal', data: new Uint8Array() };
      } else {
        this.pendingConfIndex = this.raftLog.lastIndex() + i + 1;
      }
    }
    if (!this.appendEntry(ents)) throw new ProposalDroppedError('UncommittedSizeExceeded');
    this.bcastAppend();
  }

  /** Why a conf change cannot be proposed now, or undefined if it can. */
  confChangeRefusal(data: Uint8Array): string | undefined {
    let cc: ConfChangeV2;
    try {
      cc = decodeConfChange(data);
    } catch (e) {
      return `undecodable conf change: ${(e as Error).message}`;
    }
    const alreadyPending = this.pendingConfIndex > this.raftLog.applied;
    const alreadyJoint = this.trk.isJoint();
    const wantsLeaveJoint = leavesJoint(cc);
    if (alreadyPending) return `possible unapplied conf change at index ${this.pendingConfIndex} (applied to ${this.raftLog.applied})`;
    if (alreadyJoint && !wantsLeaveJoint) return 'must transition out of joint config first';
    if (!alreadyJoint && wantsLeaveJoint) return 'not in joint state; refusing empty conf change';
    try {
      this.dryRunConfChange(cc);
    } catch (e) {
      if (e instanceof ConfChangeError) return e.message;
      throw e;
    }
    return undefined;
  }

  private stepLeaderReadIndex(m: Message): void {
    // A single voter is its own quorum.
    if (this.trk.isSingleton()) {
      const resp = this.responseToReadIndexReq(m, this.raftLog.committed);
      if (resp) this.send(resp);
      return;
    }
    // Until an entry of this term is committed, our commit index may be behind what earlier
    // leaders committed (thesis §6.4 step 1): hold the request.
    if (!this.committedEntryInCurrentTerm() && !this.mutations.readIndexWithoutTermCommit) {
      if (this.pendingReadIndexMessages.length >= READ_INDEX_WAITING_MAX) {
        throw new ProposalDroppedError('NotLeader', 'too many read requests waiting for the first commit');
      }
      this.pendingReadIndexMessages.push(m);
      return;
    }
    this.sendMsgReadIndexResponse(m);
  }

  private sendMsgReadIndexResponse(m: Message): void {
    if (this.readOnly.option === 'lease') {
      const resp = this.responseToReadIndexReq(m, this.raftLog.committed);
      if (resp) this.send(resp);
      return;
    }
    if (this.readOnly.isFull()) throw new ProposalDroppedError('NotLeader', 'too many pending read requests');
    const ctx = m.entries[0].data;
    this.readOnly.addRequest(this.raftLog.committed, m);
    this.readOnly.recvAck(this.id, ctx);
    this.bcastHeartbeatWithCtx(ctx);
  }

  private responseToReadIndexReq(req: Message, readIndex: number): Message | undefined {
    if (req.from === NONE || req.from === this.id) {
      this.readStates.push({ index: readIndex, requestCtx: req.entries[0].data });
      return undefined;
    }
    return makeMessage({ type: 'MsgReadIndexResp', to: req.from, index: readIndex, entries: req.entries });
  }

  committedEntryInCurrentTerm(): boolean {
    return this.raftLog.termOrUndefined(this.raftLog.committed) === this.term;
  }

  private releasePendingReadIndexMessages(): void {
    if (this.pendingReadIndexMessages.length === 0 || !this.committedEntryInCurrentTerm()) return;
    const msgs = this.pendingReadIndexMessages;
    this.pendingReadIndexMessages = [];
    for (const m of msgs) {
      try {
        this.sendMsgReadIndexResponse(m);
      } catch (e) {
        if (!(e instanceof ProposalDroppedError)) throw e;
      }
    }
  }

  private handleAppendResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    if (m.reject) {
      this.handleAppendReject(m, pr);
      return;
    }
    const oldPaused = pr.isPaused();
    // A probe acked at exactly match still confirms the follower: switch to replicate.
    if (!pr.maybeUpdate(m.index) && !(pr.match === m.index && pr.state === 'probe')) return;
    if (pr.state === 'probe') {
      pr.becomeReplicate();
    } else if (pr.state === 'snapshot' && pr.match + 1 >= this.raftLog.firstIndex()) {
      // The follower caught up through the snapshot (or past it): resume replication.
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === 'replicate') {
      pr.inflights.freeLE(m.index);
    }
    if (this.maybeCommit()) {
      this.releasePendingReadIndexMessages();
      this.bcastAppend();
    } else if (oldPaused) {
      // The follower was paused and is not anymore: it may be missing entries.
      this.sendAppend(m.from);
    }
    // Fill the inflight window.
    while (this.maybeSendAppend(m.from, false)) {
      // keep sending
    }
    if (m.from === this.leadTransferee && pr.match === this.raftLog.lastIndex()) {
      this.sendTimeoutNow(m.from);
    }
  }

  /**
   * The follower's log does not contain (m.index, term at m.index). It hints the largest
   * index ≤ m.index whose term ≤ the term we sent (rejectHint, logTerm). We skip to the last
   * index of ours with term ≤ that term: every entry above it cannot match.
   *
   * ```
   *   idx        1 2 3 4 5 6 7 8 9
   *              -----------------
   *   term (L)   1 3 3 3 5 5 5 5 5
   *   term (F)   1 1 1 1 2 2
   * ```
   * L probes at 9; F answers hint 6 term 2; L's last index with term ≤ 2 is 1: probe at 1.
   */
  private handleAppendReject(m: Message, pr: Progress): void {
    let nextProbeIdx = m.rejectHint;
    if (m.logTerm > 0) nextProbeIdx = this.raftLog.findConflictByTerm(m.rejectHint, m.logTerm).index;
    if (pr.maybeDecrTo(m.index, nextProbeIdx)) {
      if (pr.state === 'replicate') pr.becomeProbe();
      this.sendAppend(m.from);
    }
  }

  private handleHeartbeatResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    pr.msgAppFlowPaused = false;
    if (pr.match < this.raftLog.lastIndex() || pr.state === 'probe') this.sendAppend(m.from);
    if (this.readOnly.option !== 'safe' || !m.context || m.context.length === 0) return;
    const acks = this.readOnly.recvAck(m.from, m.context);
    if (!acks) return;
    if (jointVoteResult(this.trk.config.voters, acks) !== 'won') return;
    for (const rs of this.readOnly.advance(m.context)) {
      const resp = this.responseToReadIndexReq(rs.req, rs.index);
      if (resp) this.send(resp);
    }
  }

  private handleSnapStatus(m: Message, pr: Progress): void {
    if (pr.state !== 'snapshot') return;
    if (m.reject) pr.pendingSnapshot = 0;
    pr.becomeProbe();
    // Wait for the follower's MsgAppResp (or a heartbeat) before sending more: if the
    // snapshot failed, sending immediately would likely fail again.
    pr.msgAppFlowPaused = true;
  }

  /** Leader transfer (thesis §3.10): catch the transferee up, then tell it to campaign now. */
  private handleTransferLeader(m: Message, pr: Progress): void {
    if (pr.isLearner) return;
    const transferee = m.from;
    if (this.leadTransferee !== NONE) {
      if (this.leadTransferee === transferee) return;
      this.abortLeaderTransfer();
    }
    if (transferee === this.id) return;
    // The transfer must finish within an election timeout.
    this.electionElapsed = 0;
    this.leadTransferee = transferee;
    if (pr.match === this.raftLog.lastIndex()) this.sendTimeoutNow(transferee);
    else this.sendAppend(transferee);
  }

  private sendTimeoutNow(to: NodeId): void {
    this.send(makeMessage({ type: 'MsgTimeoutNow', to }));
  }

  abortLeaderTransfer(): void {
    this.leadTransferee = NONE;
  }

  // ---------------------------------------------------------------- candidate

  private stepCandidate(m: Message): void {
    const myVoteResp: MessageType = this.state === 'preCandidate' ? 'MsgPreVoteResp' : 'MsgVoteResp';
    switch (m.type) {
      case 'MsgProp':
        throw new ProposalDroppedError('NoLeader');
      case 'MsgApp':
        this.becomeFollower(m.term, m.from);
        this.handleAppendEntries(m);
        return;
      case 'MsgHeartbeat':
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case 'MsgSnap':
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      case 'MsgTimeoutNow':
        return;
      case 'MsgReadIndex':
        throw new ProposalDroppedError('NoLeader');
      case 'MsgTransferLeader':
        return;
    }
    if (m.type !== myVoteResp) return;
    if (m.reject) {
      // The voter's commit index names its own entry (commit, logTerm): see commitByVote.
      this.commitByVote(m.commit, m.commit, m.logTerm);
      if (this.state === 'follower') return;
    }
    const result = this.poll(m.from, m.type, !m.reject);
    if (result === 'won') {
      if (this.state === 'preCandidate') {
        this.campaign('election');
      } else {
        this.becomeLeader();
        this.bcastAppend();
      }
    } else if (result === 'lost') {
      // The term is unchanged; a pre-candidate returns to follower in its old term.
      this.becomeFollower(this.term, NONE);
    }
  }

  // ---------------------------------------------------------------- follower

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'MsgProp':
        if (this.lead === NONE) throw new ProposalDroppedError('NoLeader');
        if (this.cfg.disableProposalForwarding) throw new ProposalDroppedError('NotLeader', 'proposal forwarding disabled');
        this.send({ ...m, to: this.lead, term: 0 });
        return;
      case 'MsgApp':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppendEntries(m);
        return;
      case 'MsgHeartbeat':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return;
      case 'MsgSnap':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return;
      case 'MsgTransferLeader':
        if (this.lead === NONE) return;
        // A witness never leads: a transfer to it would only stall the leader's proposals
        // (LeaderTransferring) until the transfer times out.
        if (this.cfg.witness && m.from === this.id) return;
        this.send({ ...m, to: this.lead, term: 0 });
        return;
      case 'MsgTimeoutNow':
        // Leadership transfers never use PreVote: the leader asked us to campaign.
        this.hup('transfer');
        return;
      case 'MsgReadIndex':
        if (this.lead === NONE) throw new ProposalDroppedError('NoLeader');
        this.send({ ...m, to: this.lead, term: 0 });
        return;
      case 'MsgReadIndexResp':
        if (m.entries.length !== 1) return;
        this.readStates.push({ index: m.index, requestCtx: m.entries[0].data });
        return;
    }
  }

  /** §5.3: append if the entry before the new ones matches; else reject with a hint. */
  private handleAppendEntries(m: Message): void {
    // Waiting for a requested snapshot: entries would apply on top of state this node lacks.
    // No answer either: the leader keeps probing, and the request reaches it outside Raft.
    if (this.pendingRequestSnapshot !== 0) return;
    if (m.index < this.raftLog.committed) {
      // Everything up to committed already matches the leader (Log Matching): say so.
      this.send(makeMessage({ type: 'MsgAppResp', to: m.from, index: this.raftLog.committed }));
      return;
    }
    const lastNew = this.raftLog.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      this.send(makeMessage({ type: 'MsgAppResp', to: m.from, index: lastNew }));
      return;
    }
    const hintIndex = Math.min(m.index, this.raftLog.lastIndex());
    const hint = this.raftLog.findConflictByTerm(hintIndex, m.logTerm);
    this.send(
      makeMessage({
        type: 'MsgAppResp',
        to: m.from,
        index: m.index,
        reject: true,
        rejectHint: hint.index,
        logTerm: hint.term,
      }),
    );
  }

  private handleHeartbeat(m: Message): void {
    this.raftLog.commitTo(m.commit);
    this.send(makeMessage({ type: 'MsgHeartbeatResp', to: m.from, ...(m.context ? { context: m.context } : {}) }));
  }

  private handleSnapshot(m: Message): void {
    const s = m.snapshot;
    if (!s) return;
    if (this.restore(s)) {
      this.send(makeMessage({ type: 'MsgAppResp', to: m.from, index: this.raftLog.lastIndex() }));
    } else {
      this.send(makeMessage({ type: 'MsgAppResp', to: m.from, index: this.raftLog.committed }));
    }
  }

  /**
   * Installs a snapshot from the leader. Returns false if it is stale or already covered;
   * while a requested snapshot is awaited, one at or above the requested index is installed
   * even if the log covers it (the state machine does not), and one below it is stale.
   */
  restore(s: Snapshot): boolean {
    const requested = this.pendingRequestSnapshot;
    if (requested !== 0 ? s.metadata.index < requested : s.metadata.index <= this.raftLog.committed) return false;
    if (this.state !== 'follower') {
      // Only followers receive snapshots; being here means a bug elsewhere, but stepping
      // down keeps us safe.
      this.becomeFollower(this.term + 1, NONE);
      return false;
    }
    const cs = s.metadata.confState;
    const member = [cs.voters, cs.learners, cs.votersOutgoing].some((ids) => ids.includes(this.id));
    // A snapshot whose config does not include us cannot be meant for us.
    if (!member) return false;
    if (requested === 0 && this.raftLog.matchTerm(s.metadata.index, s.metadata.term)) {
      // We already have the snapshot's last entry: just fast-forward the commit index.
      this.raftLog.commitTo(s.metadata.index);
      return false;
    }
    this.raftLog.restore(s);
    this.pendingRequestSnapshot = 0;
    const restored = restore(cs, this.raftLog.lastIndex(), this.cfg.maxInflightMsgs);
    this.switchToConfig(restored.config, restored.progress);
    const pr = this.trk.progress.get(this.id)!;
    pr.maybeUpdate(pr.next - 1);
    return true;
  }

  // ---------------------------------------------------------------- membership

  /** Applies a committed conf change (at apply time) and returns the new ConfState. */
  applyConfChange(cc: ConfChangeV2): ConfState {
    let res: ChangeResult;
    try {
      res = this.dryRunConfChange(cc);
    } catch (e) {
      // Proposals are validated against the config they will apply to, and only one is
      // pending at a time, so this is unexpected; keep the current config rather than stop.
      if (e instanceof ConfChangeError) return this.trk.confState();
      throw e;
    }
    return this.switchToConfig(res.config, res.progress);
  }

  private dryRunConfChange(cc: ConfChangeV2): ChangeResult {
    const changer = new Changer(this.trk.config, this.trk.progress, this.raftLog.lastIndex(), this.cfg.maxInflightMsgs);
    if (leavesJoint(cc)) return changer.leaveJoint();
    const mode = enterJointMode(cc);
    if (mode.use) return changer.enterJoint(mode.autoLeave, cc.changes);
    return changer.simple(cc.changes);
  }

  /** Installs a new configuration and reacts to it (commit may move, transfers may abort). */
  switchToConfig(config: TrackerConfig, progress: ProgressMap): ConfState {
    this.trk.config = config;
    this.trk.progress = progress;
    const cs = this.trk.confState();
    const self = progress.get(this.id);
    this.isLearner = self?.isLearner ?? false;
    if ((!self || this.isLearner) && this.state === 'leader') {
      // Removed or demoted leader. Stepping down now could strand voters still in the joint
      // config (they need our vote, and our log is ahead of theirs): by default keep leading
      // so they learn the commit index; proposals are refused (stepLeaderPropose).
      if (this.cfg.stepDownOnRemoval) {
        this.becomeFollower(this.term, NONE);
        return cs;
      }
    }
    if (this.state !== 'leader' || cs.voters.length === 0) return cs;
    // The quorum changed: the commit index may move, and new peers need entries.
    if (this.maybeCommit()) {
      this.bcastAppend();
    } else {
      this.trk.visit((id) => {
        if (id !== this.id) this.maybeSendAppend(id, false);
      });
    }
    if (this.leadTransferee !== NONE && !this.trk.voterIds().has(this.leadTransferee)) this.abortLeaderTransfer();
    return cs;
  }

  /**
   * Records that entries up to `index` were applied. A leader whose joint config asks to be
   * left automatically proposes the leave once the entering entry is applied (thesis §4.3).
   */
  appliedTo(index: number): void {
    const old = this.raftLog.applied;
    this.raftLog.appliedTo(Math.max(old, index));
    if (this.trk.config.autoLeave && index >= this.pendingConfIndex && this.state === 'leader') {
      const ent: Entry = { term: 0, index: 0, type: 'confChange', data: encodeConfChange({ transition: 'auto', changes: [] }) };
      // An empty conf change cannot be refused by the uncommitted-size limit (no payload
      // beyond a few bytes, and it is admitted when nothing is outstanding).
      if (this.appendEntry([ent])) {
        this.pendingConfIndex = this.raftLog.lastIndex();
        this.bcastAppend();
      }
    }
  }
}

function validateConfig(c: Config): void {
  assert(c.id !== NONE, 'cannot use none as id');
  assert(c.heartbeatTicks > 0, 'heartbeat tick must be greater than 0');
  assert(c.electionTicks > c.heartbeatTicks, 'election tick must be greater than heartbeat tick');
  assert(c.maxInflightMsgs > 0, 'max inflight messages must be greater than 0');
  assert(c.maxSizePerMsgBytes > 0, 'max message size must be greater than 0');
  assert(c.maxUncommittedEntriesBytes >= 0, 'max uncommitted size must not be negative');
  assert(!(c.readOnly === 'lease' && !c.checkQuorum), 'lease reads need checkQuorum (the lease is only safe with it)');
}
