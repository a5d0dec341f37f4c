/**
 * The nemesis: the seeded fault schedule of one run. At random virtual times it partitions
 * the network (symmetric splits, one-way cuts, an isolated leader), heals it, makes it slow
 * and lossy, crashes nodes (process crash or power loss, restarted later), transfers
 * leadership and changes membership (single changes and joint consensus). It can also crash a
 * node while one of its writes is in flight, more often when that write carries a new vote.
 */
import type { ConfChangeSingle, ConfChangeV2, Message, NodeId, SeededRng, Status } from '@peerkv/raft';
import type { MemoryNetwork } from '@peerkv/transport/memory';
import type { SimNode } from './node.ts';
import type { FaultProfile, NemesisWeights } from './options.ts';
import { intBetween, pick, shuffled, weightedPick } from './rng-utils.ts';
import type { StorageOp } from './sim-storage.ts';

/** Fault events counted for the run summary. */
export type CountedEvent = 'crash' | 'powerLoss' | 'crashMidWrite' | 'linkFault' | 'leaderTransfer' | 'confChangeProposed' | 'snapshotInstalled';

/** What the nemesis may touch. */
export interface ClusterControl {
  now(): number;
  schedule(delayMs: number, run: () => void): void;
  readonly nodes: readonly SimNode[];
  readonly network: MemoryNetwork<Message>;
  /** Initial number of voters (membership changes keep voters within one of it). */
  readonly votersInitial: number;
  trace(line: string): void;
  /** Counts a fault for the summary. */
  count(event: CountedEvent): void;
}

/** The fault schedule; see the module header. */
export class Nemesis {
  private running = false;
  /** Faults happen in storms separated by calm spells (network healed) so the cluster can recover and serve. */
  private storming = false;
  private phaseEndsAtMs = 0;

  constructor(
    private readonly cluster: ClusterControl,
    private readonly rng: SeededRng,
    private readonly profile: FaultProfile,
  ) {}

  /** Starts acting at random intervals. */
  start(): void {
    this.running = true;
    this.beginStorm();
    this.scheduleNext();
  }

  /** Stops acting (pending restarts still happen). */
  stop(): void {
    this.running = false;
    this.storming = false;
  }

  private beginStorm(): void {
    this.storming = true;
    this.phaseEndsAtMs = this.cluster.now() + intBetween(this.rng, this.profile.stormMsMin, this.profile.stormMsMax);
    this.cluster.network.setFaults(this.profile.network);
    this.cluster.trace('nemesis: storm');
  }

  private beginCalm(): void {
    this.storming = false;
    this.phaseEndsAtMs = this.cluster.now() + intBetween(this.rng, this.profile.calmMsMin, this.profile.calmMsMax);
    this.cluster.network.heal();
    this.cluster.network.setFaults(this.profile.network);
    this.cluster.trace('nemesis: calm');
  }

  /** Called by a node when a write begins: maybe crash it before the write completes. */
  onWriteBegun(node: SimNode, op: StorageOp, latencyMs: number): void {
    if (!this.storming || op.kind !== 'raft' || !this.mayTakeDown()) return;
    const persisted = node.storage.visible.initialState().hardState;
    const newVote = op.hardState !== undefined && op.hardState.vote !== 0 && (op.hardState.vote !== persisted.vote || op.hardState.term !== persisted.term);
    const rate = newVote ? this.profile.voteWriteCrashRate : this.profile.writeCrashRate;
    if (!this.rng.chance(rate)) return;
    const incarnation = node.incarnation;
    this.cluster.schedule(this.rng.nextInt(Math.max(1, latencyMs)), () => {
      if (node.incarnation === incarnation && this.storming) this.crash(node, false, newVote ? 'mid-vote-write' : 'mid-write');
    });
  }

  /**
   * Called when a node becomes leader: maybe crash it shortly after, while its first own-term
   * entry may not have reached a quorum yet (the window in which committing a previous-term
   * entry by counting replicas is unsafe, Raft §5.4.2 / Figure 8).
   */
  onLeaderElected(node: SimNode): void {
    if (!this.storming) return;
    const incarnation = node.incarnation;
    const delayMs = this.rng.nextInt(this.profile.newLeaderCrashDelayMsMax + 1);
    if (this.rng.chance(this.profile.newLeaderIsolateRate)) {
      // Isolated, it keeps taking client writes it cannot replicate; it comes back on its own.
      this.cluster.schedule(delayMs, () => {
        if (!this.storming || node.incarnation !== incarnation) return;
        this.cluster.network.isolate(node.id);
        this.cluster.count('linkFault');
        this.cluster.trace(`nemesis: isolate new leader n${node.id}`);
        this.cluster.schedule(intBetween(this.rng, this.profile.restartDelayMsMin, this.profile.restartDelayMsMax), () => this.cluster.network.reconnect(node.id));
      });
      return;
    }
    if (!this.mayTakeDown() || !this.rng.chance(this.profile.newLeaderCrashRate)) return;
    this.cluster.schedule(delayMs, () => {
      if (node.incarnation === incarnation && this.storming) this.crash(node, false, 'new leader');
    });
  }

  /** Crashes `node` and schedules its restart. */
  crash(node: SimNode, powerLoss: boolean, why: string): void {
    if (!node.alive) return;
    this.cluster.trace(`nemesis: ${powerLoss ? 'power loss' : 'crash'} n${node.id} (${why})`);
    this.cluster.count(powerLoss ? 'powerLoss' : 'crash');
    if (why.includes('write')) this.cluster.count('crashMidWrite');
    node.crash(powerLoss);
    const incarnation = node.incarnation;
    this.cluster.schedule(intBetween(this.rng, this.profile.restartDelayMsMin, this.profile.restartDelayMsMax), () => {
      if (node.incarnation === incarnation && !node.alive) node.start();
    });
  }

  private scheduleNext(): void {
    const delay = intBetween(this.rng, this.profile.nemesisIntervalMsMin, this.profile.nemesisIntervalMsMax);
    this.cluster.schedule(delay, () => {
      if (!this.running) return;
      if (this.cluster.now() >= this.phaseEndsAtMs) {
        if (this.storming) this.beginCalm();
        else this.beginStorm();
      }
      if (this.storming) this.act(weightedPick<keyof NemesisWeights>(this.rng, this.profile.weights));
      this.scheduleNext();
    });
  }

  private act(action: keyof NemesisWeights): void {
    const net = this.cluster.network;
    const ids = this.cluster.nodes.map((n) => n.id);
    switch (action) {
      case 'partition': {
        const order = shuffled(this.rng, ids);
        const cut = intBetween(this.rng, 1, order.length - 1);
        net.partition([order.slice(0, cut), order.slice(cut)]);
        this.cluster.count('linkFault');
        return this.cluster.trace(`nemesis: partition ${JSON.stringify([order.slice(0, cut), order.slice(cut)])}`);
      }
      case 'asymmetricCut': {
        const [a, b] = shuffled(this.rng, ids);
        net.cutLink(a, b);
        this.cluster.count('linkFault');
        return this.cluster.trace(`nemesis: cut ${a}->${b}`);
      }
      case 'isolateLeader': {
        const leader = this.leader();
        if (leader === undefined) return;
        net.isolate(leader.node.id);
        this.cluster.count('linkFault');
        return this.cluster.trace(`nemesis: isolate leader n${leader.node.id}`);
      }
      case 'heal':
        net.heal();
        net.setFaults(this.profile.network);
        return this.cluster.trace('nemesis: heal');
      case 'networkSpike':
        net.setFaults(this.profile.spikeNetwork);
        return this.cluster.trace('nemesis: network spike');
      case 'crash':
      case 'powerLoss': {
        const alive = this.cluster.nodes.filter((n) => n.alive);
        if (alive.length === 0 || !this.mayTakeDown()) return;
        return this.crash(pick(this.rng, alive), action === 'powerLoss', 'random');
      }
      case 'powerLossAll':
        for (const node of this.cluster.nodes) this.crash(node, true, 'site outage');
        return;
      case 'crashLeader': {
        const leader = this.leader();
        if (leader !== undefined && this.mayTakeDown()) this.crash(leader.node, false, 'leader');
        return;
      }
      case 'transferLeader':
        return this.transferLeader();
      case 'membership':
        return this.changeMembership();
    }
  }

  private mayTakeDown(): boolean {
    return this.cluster.nodes.filter((n) => !n.alive).length < this.profile.downNodesMax;
  }

  /** The live leader with the highest term, with its status. */
  private leader(): { node: SimNode; status: Status } | undefined {
    let best: { node: SimNode; status: Status } | undefined;
    for (const node of this.cluster.nodes) {
      if (!node.isLeader()) continue;
      const status = node.status();
      if (status !== undefined && (best === undefined || status.term > best.status.term)) best = { node, status };
    }
    return best;
  }

  private transferLeader(): void {
    const leader = this.leader();
    if (leader === undefined) return;
    const others = leader.status.config.voters.filter((id) => id !== leader.node.id);
    if (others.length === 0) return;
    const to = pick(this.rng, others);
    this.cluster.trace(`nemesis: transfer leader n${leader.node.id} -> n${to}`);
    this.cluster.count('leaderTransfer');
    leader.node.transferLeader(to);
  }

  private changeMembership(): void {
    const leader = this.leader();
    if (leader === undefined) return;
    const cc = this.chooseConfChange(leader.status, this.profile.mayRemoveLeader ? 0 : leader.node.id);
    if (cc === undefined) return;
    const accepted = leader.node.proposeConfChange(cc);
    this.cluster.trace(`nemesis: conf change ${JSON.stringify(cc)} via n${leader.node.id}: ${accepted ? 'proposed' : 'refused'}`);
    if (accepted) this.cluster.count('confChangeProposed');
  }

  /** A random valid change; `keep` (the leader, unless 0) is never removed. */
  private chooseConfChange(status: Status, keep: NodeId): ConfChangeV2 | undefined {
    const { learners, votersOutgoing, autoLeave } = status.config;
    const voters = status.config.voters;
    const removable = voters.filter((v) => v !== keep);
    if (votersOutgoing.length > 0) return autoLeave ? undefined : { transition: 'auto', changes: [] }; // leave an explicit joint config
    const members = new Set([...voters, ...learners]);
    const outsiders = this.cluster.nodes.map((n) => n.id).filter((id) => !members.has(id));
    const votersMin = Math.max(2, this.cluster.votersInitial - 1);
    const votersMax = this.cluster.votersInitial + 1;
    const options: ConfChangeSingle[][] = [];
    const single = (type: ConfChangeSingle['type'], nodeId: NodeId): ConfChangeSingle[] => [{ type, nodeId }];
    for (const id of outsiders) {
      options.push(single('addLearnerNode', id));
      if (voters.length < votersMax) options.push(single('addNode', id));
      for (const v of removable) options.push([{ type: 'addNode', nodeId: id }, { type: 'removeNode', nodeId: v }]);
    }
    for (const id of learners) options.push(single('addNode', id), single('removeNode', id));
    if (voters.length > votersMin) for (const v of removable) options.push(single('removeNode', v));
    if (options.length === 0) return undefined;
    const changes = pick(this.rng, options);
    const transition = changes.length > 1 || this.rng.chance(0.2) ? pick(this.rng, ['auto', 'implicit', 'explicit'] as const) : 'auto';
    return { transition, changes };
  }
}
