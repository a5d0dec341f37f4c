/**
 * `runSeed`: one deterministic simulated run. Builds the cluster (nodes on simulated disks,
 * a seeded Raft network, a client network, clients, the nemesis), runs the fault phase until
 * the clients have invoked their operations, then heals everything and requires progress: a
 * final write and a final read of every key must finish within `livenessTimeoutMs`. Safety
 * invariants are checked as it runs; the history is checked for linearizability at the end.
 */
import { MemoryStorage, SeededRng, type Message, type NodeId } from '@peerkv/raft';
import { MemoryNetwork, type Delivery, type DropReason, type NetworkFaults } from '@peerkv/transport/memory';
import { SimClient, type ClientHost } from './client.ts';
import { EventQueue } from './event-queue.ts';
import { History, describeOp, type OpInput } from './history.ts';
import { InvariantChecker, type Violation } from './invariants.ts';
import { checkLinearizable, type CheckReport } from './linearizability.ts';
import { copyMessage, type ClientReply, type ClientRequest, type ClientTraffic } from './messages.ts';
import { Nemesis, type ClusterControl, type CountedEvent } from './nemesis.ts';
import { SimNode, type NodeHost, type NodeSettings } from './node.ts';
import type { SimOptions } from './options.ts';
import { pick } from './rng-utils.ts';
import { SimStorage, type StorageOp } from './sim-storage.ts';

/** What one seed produced. */
export interface SeedResult {
  seed: number;
  nodes: number;
  /** Client operations invoked (including the final ones). */
  ops: number;
  violations: Violation[];
  /** True when the linearizability check ran out of budget. */
  linearizabilityUnknown: boolean;
  /** Search steps the linearizability check spent (0 when it did not run). */
  checkSteps: number;
  /** Operations by outcome. */
  outcomes: Record<'ok' | 'fail' | 'unknown' | 'pending', number>;
  virtualMs: number;
  /** Counters worth printing with `--verbose`. */
  stats: {
    leaderTerms: number;
    messagesSent: number;
    messagesDropped: number;
    writesLostInCrash: number;
    writesLostInPowerLoss: number;
    /** Faults injected and recoveries exercised, by kind. */
    events: Record<CountedEvent, number>;
  };
  /** The trace (only when `options.trace`). */
  trace: string[];
}

/** Client ids start here so they never collide with node ids. */
const CLIENT_ID_BASE = 1000;
/** Spare nodes that membership changes can add. */
const SPARE_NODES = 2;
/** Bound on the kept trace lines. */
const TRACE_LINES_MAX = 5000;
/** The network once healed: slow-ish but reliable. */
const HEALED_NETWORK: NetworkFaults = { delayMsMin: 1, delayMsMax: 10, lossRate: 0, duplicateRate: 0, reorderRate: 0, reorderDelayMsMax: 0 };
/** The client network: short delays and a little loss. */
const CLIENT_NETWORK: NetworkFaults = { delayMsMin: 1, delayMsMax: 5, lossRate: 0.01, duplicateRate: 0, reorderRate: 0, reorderDelayMsMax: 0 };
/** The key the final liveness write goes to. */
const LIVENESS_KEY = 'live';

/** Runs one seed; see the module header. */
export function runSeed(options: SimOptions): SeedResult {
  return new Simulation(options).run();
}

class Simulation implements ClusterControl, NodeHost, ClientHost {
  readonly queue = new EventQueue();
  readonly invariants: InvariantChecker;
  readonly history = new History();
  readonly network: MemoryNetwork<Message>;
  readonly nodes: SimNode[] = [];
  readonly nodeIds: NodeId[];
  readonly votersInitial: number;
  private readonly rng: SeededRng;
  private readonly latencyRng: SeededRng;
  private readonly clientNet: MemoryNetwork<ClientTraffic>;
  private readonly nemesis: Nemesis;
  private readonly clients = new Map<number, SimClient>();
  private readonly traceLines: string[] = [];
  private ticketsTaken = 0;
  private readonly events: Record<CountedEvent, number> = {
    crash: 0,
    powerLoss: 0,
    crashMidWrite: 0,
    linkFault: 0,
    leaderTransfer: 0,
    confChangeProposed: 0,
    snapshotInstalled: 0,
  };
  private idleClients = 0;
  private phase: 'faults' | 'healed' | 'done' = 'faults';

  constructor(private readonly options: SimOptions) {
    this.invariants = new InvariantChecker(options.checkOnly);
    this.rng = new SeededRng(options.seed);
    this.latencyRng = this.rng.fork();
    this.votersInitial = options.nodes;
    this.network = new MemoryNetwork<Message>({ rng: this.rng.fork(), onDrop: (d, reason) => this.onRaftDrop(d, reason) });
    this.clientNet = new MemoryNetwork<ClientTraffic>({ rng: this.rng.fork(), faults: CLIENT_NETWORK });
    this.nemesis = new Nemesis(this, this.rng.fork(), options.faults);
    const voters = Array.from({ length: options.nodes }, (_, i) => i + 1);
    this.nodeIds = Array.from({ length: options.nodes + SPARE_NODES }, (_, i) => i + 1);
    const settings = this.nodeSettings();
    this.trace(`seed ${options.seed}: ${options.nodes} voters, settings ${JSON.stringify({ ...settings, mutations: undefined })}`);
    for (const id of this.nodeIds) {
      const storage = new SimStorage(MemoryStorage.withVoters(voters), options.durability);
      this.nodes.push(new SimNode(id, storage, this, this.rng.fork(), settings));
    }
  }

  /** Per-seed Raft and snapshot settings: drawn from the seed unless given. */
  private nodeSettings(): NodeSettings {
    const o = this.options;
    return {
      electionTicks: o.electionTicks,
      heartbeatTicks: o.heartbeatTicks,
      maxSizePerMsgBytes: o.maxSizePerMsgBytes ?? pick(this.rng, [1, 200, 4096, 1 << 20]),
      maxInflightMsgs: o.maxInflightMsgs ?? pick(this.rng, [1, 4, 256]),
      snapshotEveryEntries: o.snapshotEveryEntries ?? pick(this.rng, [10, 30, 100, 1000]),
      snapshotLagEntries: pick(this.rng, [0, 3, 20]),
      mutations: o.mutations,
      pendingRequestsMax: 1000,
    };
  }

  run(): SeedResult {
    for (const node of this.nodes) {
      node.start();
      this.scheduleTicks(node);
      if (this.options.durability === 'relaxed') this.scheduleFlushes(node);
    }
    for (let i = 0; i < this.options.client.clients; i++) this.addClient(CLIENT_ID_BASE + i);
    this.nemesis.start();
    this.loop();
    this.history.closePending(this.now());
    const report = this.invariants.failed ? undefined : checkLinearizable(this.history.operations(), { budgetSteps: this.options.checkBudgetSteps });
    if (report?.verdict === 'illegal') this.invariants.report('linearizability', this.now(), describeIllegal(report));
    return this.result(report);
  }

  private result(report: CheckReport | undefined): SeedResult {
    const storageStats = this.nodes.map((n) => n.storage.stats);
    return {
      seed: this.options.seed,
      nodes: this.options.nodes,
      ops: this.history.operations().length,
      violations: this.invariants.violations,
      linearizabilityUnknown: report?.verdict === 'unknown',
      checkSteps: report?.steps ?? 0,
      outcomes: this.history.counts(),
      virtualMs: this.now(),
      stats: {
        leaderTerms: this.invariants.leaderTermsSeen(),
        messagesSent: this.network.stats.sent,
        messagesDropped: Object.values(this.network.stats.dropped).reduce((a, b) => a + b, 0),
        writesLostInCrash: storageStats.reduce((a, s) => a + s.lostInCrash, 0),
        writesLostInPowerLoss: storageStats.reduce((a, s) => a + s.lostInPowerLoss, 0),
        events: { ...this.events },
      },
      trace: this.traceLines,
    };
  }

  /** The event loop: network deliveries and timed events in virtual-time order. */
  private loop(): void {
    const endMs = this.options.faultPhaseMsMax + this.options.client.opDeadlineMs + this.options.livenessTimeoutMs * 2;
    while (this.phase !== 'done' && !this.invariants.failed) {
      const t = minDefined(this.queue.peekTimeMs(), this.network.nextDeliveryAtMs(), this.clientNet.nextDeliveryAtMs());
      if (t === undefined || t > endMs) {
        this.invariants.report('liveness', this.now(), 'the simulation ran out of events or time');
        return;
      }
      this.queue.advanceTo(t);
      for (const d of this.network.takeDue(t)) this.deliverRaft(d);
      for (const d of this.clientNet.takeDue(t)) this.deliverClient(d);
      for (let run = this.queue.popDue(t); run !== undefined && !this.invariants.failed; run = this.queue.popDue(t)) run();
    }
  }

  private deliverRaft(d: Delivery<Message>): void {
    const target = this.nodes[d.target - 1];
    const source = this.nodes[d.source - 1];
    const isSnap = d.message.type === 'MsgSnap';
    if (!target.alive) {
      if (isSnap) this.schedule(0, () => source.reportSnapshot(d.target, false));
      return;
    }
    target.receive(copyMessage(d.message));
    if (isSnap) this.schedule(0, () => source.reportSnapshot(d.target, true));
  }

  private onRaftDrop(d: Delivery<Message>, reason: DropReason): void {
    const source = this.nodes[d.source - 1];
    if (d.message.type === 'MsgSnap') this.schedule(0, () => source.reportSnapshot(d.target, false));
    else if (reason === 'partition' && d.message.type === 'MsgApp') this.schedule(0, () => source.reportUnreachable(d.target));
  }

  private deliverClient(d: Delivery<ClientTraffic>): void {
    const traffic = d.message;
    if (traffic.kind === 'request') this.nodes[d.target - 1]?.handleClient(traffic.request);
    else this.clients.get(d.target)?.onReply(traffic.reply);
  }

  private scheduleTicks(node: SimNode): void {
    const tickMs = this.options.tickMs;
    const tick = (): void => {
      node.tick();
      this.schedule(tickMs, tick);
    };
    this.schedule(1 + this.rng.nextInt(tickMs), tick);
  }

  private scheduleFlushes(node: SimNode): void {
    const flush = (): void => {
      node.storage.flush();
      this.schedule(this.options.storage.flushIntervalMs, flush);
    };
    this.schedule(this.rng.nextInt(this.options.storage.flushIntervalMs) + 1, flush);
  }

  private addClient(id: number, script?: OpInput[]): SimClient {
    const client = new SimClient(id, this, this.rng.fork(), this.options.client, script);
    this.clients.set(id, client);
    client.start();
    return client;
  }

  /** After the fault phase: heal everything, then require a final write and reads. */
  private heal(): void {
    this.phase = 'healed';
    this.nemesis.stop();
    this.network.heal();
    this.network.setFaults(HEALED_NETWORK);
    for (const node of this.nodes) if (!node.alive) node.start();
    this.trace(`heal at ${this.now()}ms`);
    const finalId = CLIENT_ID_BASE + this.options.client.clients;
    const script: OpInput[] = [{ clientId: finalId, kind: 'put', key: LIVENESS_KEY, value: 'final' }];
    for (let k = 0; k < this.options.client.keys; k++) script.push({ clientId: finalId, kind: 'get', key: `k${k}` });
    const healedAt = this.now();
    this.addClient(finalId, script);
    this.schedule(this.options.livenessTimeoutMs, () => {
      if (this.phase === 'done') return;
      const states = this.nodes.map((n) => describeNode(n)).join('; ');
      const diagnosis = diagnoseStall(this.nodes);
      this.invariants.report('liveness', this.now(), `no progress ${this.options.livenessTimeoutMs}ms after healing at ${healedAt}ms${diagnosis}: ${states}`);
    });
  }

  // ClusterControl, NodeHost, ClientHost

  now(): number {
    return this.queue.now();
  }

  schedule(delayMs: number, run: () => void): void {
    this.queue.schedule(delayMs, run);
  }

  trace(line: string): void {
    if (!this.options.trace) return;
    if (this.traceLines.length >= TRACE_LINES_MAX) this.traceLines.shift();
    this.traceLines.push(`${this.now()}ms ${line}`);
  }

  count(event: CountedEvent): void {
    this.events[event]++;
  }

  sendRaft(m: Message): void {
    const watched = this.options.traceMessagesOfNode;
    if (m.type === 'MsgVote' || m.type === 'MsgTimeoutNow' || (watched !== undefined && (m.to === watched || m.from === watched))) {
      this.trace(`n${m.from} ${m.type} -> n${m.to} term ${m.term} logTerm ${m.logTerm} index ${m.index} commit ${m.commit} reject ${m.reject} hint ${m.rejectHint} ents ${m.entries.length} snap ${m.snapshot?.metadata.index}`);
    }
    this.network.send(m.from, m.to, m, this.now());
  }

  reply(clientId: number, from: NodeId, reply: ClientReply): void {
    this.clientNet.send(from, clientId, { kind: 'reply', reply }, this.now());
  }

  send(target: NodeId, request: ClientRequest): void {
    this.clientNet.send(request.clientId, target, { kind: 'request', request }, this.now());
  }

  writeLatencyMs(): number {
    const s = this.options.storage;
    return s.writeLatencyMsMin + this.latencyRng.nextInt(s.writeLatencyMsMax - s.writeLatencyMsMin + 1);
  }

  onLeaderElected(node: SimNode): void {
    this.nemesis.onLeaderElected(node);
  }

  onWriteBegun(node: SimNode, op: StorageOp, latencyMs: number): void {
    this.nemesis.onWriteBegun(node, op, latencyMs);
  }

  takeTicket(): boolean {
    if (this.phase !== 'faults' || this.ticketsTaken >= this.options.ops || this.now() >= this.options.faultPhaseMsMax) return false;
    this.ticketsTaken++;
    return true;
  }

  onIdle(client: SimClient): void {
    if (client.id >= CLIENT_ID_BASE + this.options.client.clients) {
      this.phase = 'done';
      return;
    }
    if (++this.idleClients === this.options.client.clients) this.heal();
  }
}

/** A node's last persisted (index, term). */
function lastEntry(n: SimNode): { index: number; term: number } {
  const disk = n.storage.visible;
  return { index: disk.lastIndex(), term: disk.term(disk.lastIndex()) };
}

/**
 * Names the apply-time conf change deadlock (etcd-io/etcd#12359) when it is what stalls the
 * cluster: a node that is no voter in its own applied config never campaigns, yet holds a
 * longer log than a candidate whose (older, e.g. joint) config still needs its vote.
 */
function diagnoseStall(nodes: readonly SimNode[]): string {
  const isVoter = (n: SimNode, id: NodeId): boolean => {
    const c = n.status()?.config;
    return c !== undefined && (c.voters.includes(id) || c.votersOutgoing.includes(id));
  };
  for (const removed of nodes) {
    if (!removed.alive || isVoter(removed, removed.id)) continue;
    const r = lastEntry(removed);
    for (const c of nodes) {
      if (!c.alive || !isVoter(c, c.id) || !isVoter(c, removed.id)) continue;
      const mine = lastEntry(c);
      if (r.term > mine.term || (r.term === mine.term && r.index > mine.index)) {
        return ` (apply-time conf change deadlock: n${removed.id} left the config and never campaigns, but n${c.id}'s config still needs its vote and its log is longer; see FINDINGS.md)`;
      }
    }
  }
  return '';
}

/** One node's Raft state in one line, for liveness reports. */
function describeNode(n: SimNode): string {
  const st = n.status();
  if (st === undefined) return `n${n.id} down`;
  const c = st.config;
  const conf = `${c.voters.join(',')}${c.votersOutgoing.length > 0 ? `&${c.votersOutgoing.join(',')}` : ''}${c.learners.length > 0 ? ` L${c.learners.join(',')}` : ''}`;
  const progress = st.progress === undefined ? '' : ` progress=${JSON.stringify([...st.progress])}`;
  const disk = n.storage.visible;
  const tail: string[] = [];
  for (let i = Math.max(disk.firstIndex(), disk.lastIndex() - 5); i <= disk.lastIndex(); i++) tail.push(`${i}:${disk.term(i)}`);
  return `n${n.id} ${st.role} t${st.term} vote=${st.vote} lead=${st.lead} log=[${tail.join(' ')}] commit=${st.commit} applied=${n.appliedIndex()} last=${st.lastIndex} conf=[${conf}]${progress}`;
}

function minDefined(...xs: (number | undefined)[]): number | undefined {
  let min: number | undefined;
  for (const x of xs) if (x !== undefined && (min === undefined || x < min)) min = x;
  return min;
}

/** A readable account of a non-linearizable key history. */
function describeIllegal(report: CheckReport): string {
  const f = report.findings.find((x) => x.verdict === 'illegal');
  if (f === undefined) return 'not linearizable';
  const lines = f.ops.slice(-40).map((op) => `    ${describeOp(op)}`);
  const stuck = f.stuckOp ? `; no linearization can place ${describeOp(f.stuckOp)}` : '';
  return `key ${f.key} is not linearizable${stuck}\n${lines.join('\n')}`;
}
