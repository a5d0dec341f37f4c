/**
 * `SimNode`: one simulated replica — a Raft `RawNode`, its simulated disk, and the KV state
 * machine — driven by the Ready contract:
 * (1) persist snapshot + entries + hard state as one atomic write that takes virtual time;
 * (2) `messages` go out at once, `persistedMessages` only once the write completed;
 * (3) apply the snapshot, then committed entries in order (conf changes via applyConfChange);
 * (4) `advance`. A crash throws away everything volatile: the Raft node, the KV state, the
 * write in flight, pending client requests; a restart rebuilds from the disk.
 */
import {
  DEFAULT_CONFIG,
  ProposalDroppedError,
  RaftAssertionError,
  RawNode,
  StepError,
  decodeConfChange,
  type ConfChangeV2,
  type ConfState,
  type Entry,
  type Message,
  type NodeId,
  type Ready,
  type SeededRng,
  type StateRole,
  type Status,
} from '@peerkv/raft';
import type { InvariantChecker } from './invariants.ts';
import { KvStateMachine, decodeCommand, encodeCommand, type KvCommand } from './kv.ts';
import type { ClientReply, ClientRequest } from './messages.ts';
import { PendingRequests } from './pending-requests.ts';
import type { SimMutations } from './options.ts';
import type { SimStorage, StorageOp } from './sim-storage.ts';

/** What a node needs from the simulation around it. */
export interface NodeHost {
  now(): number;
  schedule(delayMs: number, run: () => void): void;
  sendRaft(m: Message): void;
  reply(clientId: number, from: NodeId, reply: ClientReply): void;
  readonly invariants: InvariantChecker;
  /** Latency of the write about to begin, virtual ms. */
  writeLatencyMs(): number;
  /** This node just became leader (the nemesis may crash it before its first entry commits). */
  onLeaderElected(node: SimNode): void;
  /** A write began (the nemesis may decide to crash the node before it completes). */
  onWriteBegun(node: SimNode, op: StorageOp, latencyMs: number): void;
  trace(line: string): void;
  /** Counts an event for the run summary. */
  count(event: 'snapshotInstalled'): void;
}

/** Per-run settings of every node. */
export interface NodeSettings {
  electionTicks: number;
  heartbeatTicks: number;
  maxSizePerMsgBytes: number;
  maxInflightMsgs: number;
  snapshotEveryEntries: number;
  /** Entries kept below the snapshot index when compacting (so slow followers can catch up without a snapshot). */
  snapshotLagEntries: number;
  mutations: SimMutations;
  /** Bound on client requests waiting at one node. */
  pendingRequestsMax: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One replica; see the module header. */
export class SimNode {
  alive = false;
  /** Bumped on every crash and restart: callbacks of an older life are ignored. */
  incarnation = 0;
  private raw: RawNode | undefined;
  private kv = new KvStateMachine();
  private confState: ConfState | undefined;
  private applied = 0;
  private lastSnapshotIndex = 0;
  private role: StateRole = 'follower';
  private lead: NodeId = 0;
  private readonly pending: PendingRequests;
  private readSeq = 0;
  /** Set when a conf change was applied: snapshot now (see `maybeSnapshot`). */
  private confChangedSinceSnapshot = false;
  /** The last term this node was reported as leader of. */
  private reportedLeaderTerm = 0;

  constructor(
    readonly id: NodeId,
    readonly storage: SimStorage,
    private readonly host: NodeHost,
    private readonly rng: SeededRng,
    private readonly settings: NodeSettings,
  ) {
    this.pending = new PendingRequests(settings.pendingRequestsMax);
  }

  /** Starts (or restarts) the node from what its disk holds. */
  start(): void {
    const disk = this.storage.visible;
    const snap = disk.snapshot();
    this.incarnation++;
    this.kv = KvStateMachine.restore(snap.data);
    this.applied = snap.metadata.index;
    this.lastSnapshotIndex = snap.metadata.index;
    this.confChangedSinceSnapshot = false;
    this.confState = disk.initialState().confState;
    this.role = 'follower';
    this.lead = 0;
    this.raw = new RawNode({
      ...DEFAULT_CONFIG,
      id: this.id,
      storage: disk,
      rng: this.rng.fork(),
      electionTicks: this.settings.electionTicks,
      heartbeatTicks: this.settings.heartbeatTicks,
      maxSizePerMsgBytes: this.settings.maxSizePerMsgBytes,
      maxInflightMsgs: this.settings.maxInflightMsgs,
      applied: this.applied,
      preVote: true,
      checkQuorum: true,
      readOnly: 'safe',
      unsafeTestMutations: this.settings.mutations.raft,
    });
    this.alive = true;
    this.host.trace(`n${this.id} start applied=${this.applied} hs=${JSON.stringify(disk.initialState().hardState)}`);
  }

  /** Crash (process) or power loss: all volatile state and the write in flight are lost. */
  crash(powerLoss: boolean): void {
    if (!this.alive) return;
    this.alive = false;
    this.incarnation++;
    this.raw = undefined;
    this.pending.clear();
    if (powerLoss) this.storage.powerLoss();
    else this.storage.crash();
    this.host.trace(`n${this.id} ${powerLoss ? 'power loss' : 'crash'}`);
  }

  /** True when alive and it believes it is the leader. */
  isLeader(): boolean {
    return this.alive && this.role === 'leader';
  }

  /** The Raft status, when alive. */
  status(): Status | undefined {
    return this.raw?.status();
  }

  /** Index applied to the KV state machine. */
  appliedIndex(): number {
    return this.applied;
  }

  /** One Raft tick. */
  tick(): void {
    this.withRaft((raw) => {
      raw.tick();
      this.handOffIfRemoved(raw);
    });
  }

  /**
   * A leader that applied its own removal keeps leading (so voters still in the joint config
   * learn the commit index) but refuses proposals; like etcd's server, the driver must end
   * that: it hands leadership to the most caught-up voter of the new config.
   */
  private handOffIfRemoved(raw: RawNode): void {
    const cs = this.confState;
    if (this.role !== 'leader' || cs === undefined || cs.voters.includes(this.id) || cs.votersOutgoing.includes(this.id)) return;
    const st = raw.status();
    if (st.role !== 'leader' || st.leadTransferee !== 0 || st.progress === undefined) return;
    let best: { id: NodeId; match: number } | undefined;
    for (const [id, pr] of st.progress) {
      if (id === this.id || pr.isLearner || !cs.voters.includes(id)) continue;
      if (best === undefined || pr.match > best.match) best = { id, match: pr.match };
    }
    if (best === undefined) return;
    this.host.trace(`n${this.id} removed leader hands off to n${best.id}`);
    raw.transferLeader(best.id);
  }

  /** A Raft message from the network. */
  receive(m: Message): void {
    this.withRaft((raw) => {
      try {
        raw.step(m);
      } catch (e) {
        if (!(e instanceof StepError)) throw e; // a response from a peer we no longer track
      }
    });
  }

  /** The transport reports the outcome of a snapshot this node sent. */
  reportSnapshot(to: NodeId, ok: boolean): void {
    this.withRaft((raw) => raw.reportSnapshot(to, ok));
  }

  /** The transport could not reach `to`. */
  reportUnreachable(to: NodeId): void {
    this.withRaft((raw) => raw.reportUnreachable(to));
  }

  /** Proposes a membership change; false when Raft refused it. */
  proposeConfChange(cc: ConfChangeV2): boolean {
    let accepted = false;
    this.withRaft((raw) => {
      try {
        raw.proposeConfChange(cc);
        accepted = true;
      } catch (e) {
        if (!(e instanceof ProposalDroppedError)) throw e;
      }
    });
    return accepted;
  }

  /** Asks this node (a leader) to hand leadership to `to`. */
  transferLeader(to: NodeId): void {
    this.withRaft((raw) => raw.transferLeader(to));
  }

  /** A client request arrived. */
  handleClient(request: ClientRequest): void {
    if (!this.alive) return;
    if (request.kind === 'get') this.handleRead(request);
    else this.handleWrite(request);
  }

  private handleWrite(request: ClientRequest): void {
    const { clientId, seq } = request;
    if (this.kv.hasApplied(clientId, seq)) {
      const result = this.kv.resultOf(clientId, seq);
      if (result !== undefined) this.replyOk(request);
      return;
    }
    if (this.pending.full) return this.replyDropped(request);
    const unwait = this.pending.addWrite(request);
    const cmd: KvCommand =
      request.kind === 'put'
        ? { kind: 'put', clientId, seq, key: request.key, value: request.value ?? '' }
        : { kind: 'delete', clientId, seq, key: request.key };
    this.withRaft((raw) => {
      try {
        raw.propose(encodeCommand(cmd));
      } catch (e) {
        if (!(e instanceof ProposalDroppedError)) throw e;
        unwait();
        this.replyDropped(request);
      }
    });
  }

  private handleRead(request: ClientRequest): void {
    if (this.settings.mutations.staleFollowerReads && this.role !== 'leader') {
      return this.replyOk(request, this.kv.get(request.key)); // the bug: no ReadIndex
    }
    if (this.pending.full) return this.replyDropped(request);
    const ctx = `${this.id}:${this.incarnation}:${this.readSeq++}`;
    this.pending.addRead(ctx, request);
    this.withRaft((raw) => {
      try {
        raw.readIndex(encoder.encode(ctx));
      } catch (e) {
        if (!(e instanceof ProposalDroppedError)) throw e;
        this.pending.dropRead(ctx);
        this.replyDropped(request);
      }
    });
  }

  private replyOk(request: ClientRequest, output?: string | null): void {
    this.host.reply(request.clientId, this.id, { opId: request.opId, attempt: request.attempt, kind: 'ok', output, leaderHint: this.lead });
  }

  private replyDropped(request: ClientRequest): void {
    this.host.reply(request.clientId, this.id, { opId: request.opId, attempt: request.attempt, kind: 'dropped', leaderHint: this.lead });
  }

  /** Runs `fn` on the live Raft node, then processes Readies. Errors become violations. */
  private withRaft(fn: (raw: RawNode) => void): void {
    const raw = this.raw;
    if (!this.alive || raw === undefined) return;
    try {
      fn(raw);
      this.checkLeadership(raw);
      this.pump();
    } catch (e) {
      this.fail(e);
    }
  }

  /**
   * Reports leadership after every input, not only from `Ready.softState`: while a Ready is
   * outstanding a node can become leader and step down again before the next Ready, and such
   * a short reign must still count for "one leader per term". Reads the core's state through
   * its test accessor (cheap, unlike `status()`).
   */
  private checkLeadership(raw: RawNode): void {
    const r = raw.raftForTesting;
    if (r.state !== 'leader' || r.term === this.reportedLeaderTerm) return;
    this.reportedLeaderTerm = r.term;
    this.host.invariants.onLeader(this.id, r.term, r.raftLog.lastIndex(), (i) => this.persistedTerm(i), this.host.now());
  }

  private fail(e: unknown): void {
    const kind = e instanceof RaftAssertionError ? 'raftAssertion' : 'simError';
    const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    this.host.invariants.report(kind, this.host.now(), `node ${this.id}: ${msg}`);
    this.crash(false);
  }

  /** Takes Readies while there are some and none is outstanding. */
  private pump(): void {
    for (;;) {
      const raw = this.raw;
      if (!this.alive || raw === undefined || !raw.hasReady()) return;
      const rd = raw.ready();
      this.onReadyTaken(raw, rd);
      const op = storageOpOf(rd);
      if (op === undefined) {
        this.finish(raw, rd);
        continue;
      }
      this.beginWrite(raw, rd, op);
      return;
    }
  }

  private onReadyTaken(raw: RawNode, rd: Ready): void {
    if (rd.softState !== undefined) {
      this.role = rd.softState.role;
      this.lead = rd.softState.lead;
      this.host.trace(`n${this.id} ${this.role} lead=${this.lead} term=${raw.raftForTesting.term}`);
      if (this.role === 'leader') this.host.onLeaderElected(this);
    }
    for (const rs of rd.readStates) this.pending.onReadState(decoder.decode(rs.requestCtx), rs.index);
    for (const m of rd.messages) this.host.sendRaft(m);
  }

  private beginWrite(raw: RawNode, rd: Ready, op: StorageOp): void {
    const ticket = this.storage.begin(op);
    const incarnation = this.incarnation;
    const latencyMs = this.host.writeLatencyMs();
    this.host.schedule(latencyMs, () => {
      if (this.incarnation !== incarnation || !this.alive) return; // crashed: the write was lost
      try {
        const before = op.kind === 'raft' && op.hardState !== undefined ? this.storage.visible.initialState().hardState : undefined;
        this.storage.complete(ticket);
        if (before !== undefined && op.kind === 'raft' && op.hardState !== undefined) this.host.invariants.onHardState(this.id, before, op.hardState, this.host.now());
        if (op.kind === 'raft') this.checkPersisted(op.entries);
        this.finish(raw, rd);
        this.pump();
      } catch (e) {
        this.fail(e);
      }
    });
    this.host.onWriteBegun(this, op, latencyMs);
  }

  /** The term of entry `index` on disk, or undefined when the disk does not hold it. */
  private persistedTerm(index: number): number | undefined {
    const disk = this.storage.visible;
    if (index < disk.firstIndex() - 1 || index > disk.lastIndex()) return undefined;
    return disk.term(index);
  }

  private checkPersisted(entries: Entry[]): void {
    if (entries.length === 0) return;
    let prevTerm: number | undefined;
    try {
      prevTerm = this.storage.visible.term(entries[0].index - 1);
    } catch {
      prevTerm = undefined; // compacted
    }
    this.host.invariants.onPersist(this.id, entries, prevTerm, this.host.now());
  }

  /** Steps (2)–(4) of the Ready contract, after the write completed. */
  private finish(raw: RawNode, rd: Ready): void {
    for (const m of rd.persistedMessages) this.host.sendRaft(m);
    if (rd.snapshot !== undefined && rd.snapshot.metadata.index > 0) this.applySnapshot(rd.snapshot.metadata.index, rd.snapshot.data, rd.snapshot.metadata.confState);
    for (const e of rd.committedEntries) this.applyEntry(raw, e);
    raw.advance(rd);
    this.serveReads();
    this.maybeSnapshot();
  }

  private applySnapshot(index: number, data: Uint8Array, confState: ConfState): void {
    if (index <= this.applied) throw new Error(`snapshot ${index} is not ahead of applied ${this.applied}`);
    this.kv = KvStateMachine.restore(data);
    this.host.trace(`n${this.id} install snapshot @${index} over applied ${this.applied}`);
    this.host.count('snapshotInstalled');
    this.applied = index;
    this.lastSnapshotIndex = index;
    this.confState = confState;
    this.confChangedSinceSnapshot = false;
    for (const r of this.pending.takeAppliedWrites(this.kv)) this.replyOk(r);
  }

  private applyEntry(raw: RawNode, e: Entry): void {
    if (e.index !== this.applied + 1) throw new Error(`applying index ${e.index} after ${this.applied}`);
    this.host.invariants.onApply(this.id, e, this.host.now());
    this.applied = e.index;
    if (e.type === 'confChange') {
      this.confState = raw.applyConfChange(decodeConfChange(e.data));
      this.confChangedSinceSnapshot = true;
      this.host.trace(`n${this.id} conf ${JSON.stringify(this.confState)} @${e.index} role=${raw.raftForTesting.state}`);
      return;
    }
    if (e.data.length === 0) return; // a new leader's no-op
    const cmd = decodeCommand(e.data);
    const outcome = this.kv.apply(cmd);
    const waiting = this.pending.takeWrites(cmd.clientId, cmd.seq);
    if (outcome.kind !== 'stale') for (const r of waiting) this.replyOk(r);
  }

  private serveReads(): void {
    for (const r of this.pending.takeServableReads(this.applied)) this.replyOk(r, this.kv.get(r.key));
  }

  /**
   * Snapshot the applied state and compact the log every `snapshotEveryEntries`, and right
   * after a conf change: a follower refuses a snapshot whose ConfState does not contain it,
   * so a leader whose latest snapshot predates a node's addition could never catch that node
   * up once the log is compacted (etcd's server builds a fresh snapshot for each MsgSnap for
   * the same reason).
   */
  private maybeSnapshot(): void {
    if (this.confState === undefined || this.applied === this.lastSnapshotIndex) return;
    if (!this.confChangedSinceSnapshot && this.applied - this.lastSnapshotIndex < this.settings.snapshotEveryEntries) return;
    this.confChangedSinceSnapshot = false;
    this.storage.writeNow({
      kind: 'snapshot',
      index: this.applied,
      confState: this.confState,
      data: this.kv.serialize(),
      compactIndex: this.applied - this.settings.snapshotLagEntries,
    });
    this.lastSnapshotIndex = this.applied;
  }
}

/** The atomic write a Ready asks for, or undefined when there is nothing to persist. */
function storageOpOf(rd: Ready): StorageOp | undefined {
  const snapshot = rd.snapshot !== undefined && rd.snapshot.metadata.index > 0 ? rd.snapshot : undefined;
  if (snapshot === undefined && rd.entries.length === 0 && rd.hardState === undefined) return undefined;
  return { kind: 'raft', snapshot, entries: rd.entries, hardState: rd.hardState };
}

