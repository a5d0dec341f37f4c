/**
 * The interaction-test environment (etcd `rafttest/interaction_env*.go`): a set of RawNodes
 * over MemoryStorage, a message queue, and one handler per script command. Every handler
 * returns the text it prints, which golden files pin down.
 */
import {
  DEFAULT_CONFIG,
  MemoryStorage,
  RawNode,
  SeededRng,
  decodeConfChange,
  emptyConfState,
  type ConfChangeSingle,
  type ConfChangeV2,
  type ConfState,
  type Config,
  type Entry,
  type Message,
  type Ready,
} from '../../src/index.ts';
import { formatEntry, formatMessage, formatReady, formatConfState } from './format.ts';

/** One parsed script command: `name pos1 pos2 key=value key=(a,b)`. */
export interface Command {
  name: string;
  positional: string[];
  keys: Map<string, string>;
}

export interface Node {
  id: number;
  raw: RawNode;
  storage: MemoryStorage;
  /** The config's `ConfState` as applied by the state machine (for snapshots). */
  confState: ConfState;
  /** Applied normal entries, in order, for `raft-log`-style checks of the state machine. */
  applied: string[];
  /** Added with `witnesses=(...)`: `Config.witness` (kept across `restart`). */
  witness: boolean;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

export class InteractionEnv {
  nodes = new Map<number, Node>();
  queue: Message[] = [];
  /** Pairs `from->to` whose messages are dropped (partitions). */
  private cut = new Set<string>();
  private configOverrides: Partial<Config> = {};

  /** @param baseConfig overrides applied to every node (before script `config` lines). */
  constructor(baseConfig: Partial<Config> = {}) {
    this.configOverrides = { ...baseConfig };
  }

  handle(cmd: Command): string {
    const handler = this.handlers[cmd.name];
    if (!handler) throw new Error(`unknown command ${cmd.name}`);
    const out = handler(cmd).trimEnd();
    return out.length === 0 ? 'ok' : out;
  }

  private readonly handlers: Record<string, (cmd: Command) => string> = {
    'add-nodes': (c) => this.addNodes(c),
    campaign: (c) => this.withNode(c, (n) => n.raw.campaign()),
    propose: (c) => this.propose(c),
    'propose-conf-change': (c) => this.proposeConfChange(c),
    'process-ready': (c) => this.ids(c).map((id) => this.processReady(id)).join('\n'),
    'deliver-msgs': (c) => this.deliverMsgs(c),
    drop: (c) => this.drop(c),
    partition: (c) => this.partition(c),
    heal: () => {
      this.cut.clear();
      return 'ok';
    },
    stabilize: (c) => this.stabilize(this.ids(c)),
    // A follower's timeout is randomized in [electionTicks, 2*electionTicks): tick enough to fire.
    'tick-election': (c) => this.tick(c, DEFAULT_CONFIG.electionTicks, 2 * DEFAULT_CONFIG.electionTicks),
    'tick-heartbeat': (c) => this.tick(c, DEFAULT_CONFIG.heartbeatTicks, DEFAULT_CONFIG.heartbeatTicks),
    'transfer-leadership': (c) => this.transfer(c),
    'read-index': (c) => this.withNode(c, (n) => n.raw.readIndex(encoder.encode(c.positional[1] ?? ''))),
    compact: (c) => this.compact(c),
    'send-snapshot': (c) => this.sendSnapshot(c),
    'report-snapshot': (c) => this.withNode(c, (n) => n.raw.reportSnapshot(Number(c.positional[1]), c.keys.get('ok') !== 'false')),
    'report-unreachable': (c) => this.withNode(c, (n) => n.raw.reportUnreachable(Number(c.positional[1]))),
    status: (c) => this.status(c),
    'raft-log': (c) => this.raftLog(c),
    'raft-state': () => this.raftState(),
    'applied-data': (c) => this.ids(c).map((id) => `${id}: [${this.node(id).applied.join(' ')}]`).join('\n'),
    restart: (c) => this.restart(c),
    config: (c) => this.setConfig(c),
  };

  // ------------------------------------------------------------------ helpers

  private node(id: number): Node {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  private ids(c: Command): number[] {
    if (c.positional.length === 0) return [...this.nodes.keys()].sort((a, b) => a - b);
    return c.positional.map(Number);
  }

  private withNode(c: Command, f: (n: Node) => void): string {
    try {
      f(this.node(Number(c.positional[0])));
      return 'ok';
    } catch (e) {
      return `error: ${(e as Error).name}: ${(e as Error).message}`;
    }
  }

  private makeConfig(id: number, storage: MemoryStorage, applied?: number, witness = false): Config {
    return {
      ...DEFAULT_CONFIG,
      ...(witness ? { witness } : {}),
      // Golden scripts are deterministic: a fixed timeout of electionTicks (randomized in
      // [electionTicks, 2*electionTicks) by the rng) is pinned by a per-node seed.
      id,
      storage,
      rng: new SeededRng(id),
      ...(applied !== undefined ? { applied } : {}),
      ...this.configOverrides,
    };
  }

  /** `config key=value`: overrides for nodes added afterwards (preVote, checkQuorum, readOnly, ...). */
  private setConfig(c: Command): string {
    for (const [k, v] of c.keys) {
      const o = this.configOverrides as Record<string, unknown>;
      if (v === 'true' || v === 'false') o[k] = v === 'true';
      else if (/^\d+$/.test(v)) o[k] = Number(v);
      else o[k] = v;
    }
    return 'ok';
  }

  // ------------------------------------------------------------------ commands

  /** `add-nodes N [voters=(1,2,3)] [learners=(4)] [witnesses=(3)] [index=5]`. */
  private addNodes(c: Command): string {
    const n = Number(c.positional[0]);
    const firstId = this.nodes.size + 1;
    const defaultVoters = Array.from({ length: n }, (_, i) => firstId + i);
    const voters = c.keys.has('voters') ? parseList(c.keys.get('voters')) : defaultVoters;
    const learners = parseList(c.keys.get('learners'));
    const witnesses = new Set(parseList(c.keys.get('witnesses')));
    const index = Number(c.keys.get('index') ?? '0');
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const id = firstId + i;
      const storage = MemoryStorage.withVoters(voters, learners);
      const cs: ConfState = { ...emptyConfState(), voters: [...voters], learners: [...learners] };
      // A node added with index>0 starts from a snapshot at that index (term 1).
      if (index > 0) storage.applySnapshot({ data: new Uint8Array(), metadata: { index, term: 1, confState: cs } });
      const witness = witnesses.has(id);
      const raw = new RawNode(this.makeConfig(id, storage, index > 0 ? index : undefined, witness));
      this.nodes.set(id, { id, raw, storage, confState: cs, applied: [], witness });
      out.push(`INFO ${id} became ${witness ? 'witness ' : ''}follower at term ${raw.status().term} with config ${formatConfState(cs)}`);
    }
    return out.join('\n');
  }

  private propose(c: Command): string {
    return this.withNode(c, (n) => n.raw.propose(encoder.encode(c.positional[1] ?? '')));
  }

  /** `propose-conf-change ID v2 l3 r1 [transition=auto|implicit|explicit]`; no changes = leave joint. */
  private proposeConfChange(c: Command): string {
    const changes: ConfChangeSingle[] = c.positional.slice(1).map((tok) => {
      const id = Number(tok.slice(1));
      const kind = tok[0];
      if (kind === 'v') return { type: 'addNode', nodeId: id };
      if (kind === 'l') return { type: 'addLearnerNode', nodeId: id };
      if (kind === 'r') return { type: 'removeNode', nodeId: id };
      throw new Error(`bad conf change token ${tok}`);
    });
    const cc: ConfChangeV2 = { transition: (c.keys.get('transition') ?? 'auto') as ConfChangeV2['transition'], changes };
    return this.withNode(c, (n) => n.raw.proposeConfChange(cc));
  }

  /** Handles one Ready of node `id`: persist, send, apply, advance; prints it. */
  processReady(id: number): string {
    const n = this.node(id);
    if (!n.raw.hasReady()) return `> ${id} has no Ready`;
    const rd = n.raw.ready();
    const out = [`> ${id} handling Ready`, ...formatReady(rd).map((l) => `  ${l}`)];
    this.persist(n, rd);
    this.queue.push(...rd.messages, ...rd.persistedMessages);
    out.push(...this.apply(n, rd));
    n.raw.advance(rd);
    return out.join('\n');
  }

  private persist(n: Node, rd: Ready): void {
    if (rd.snapshot) {
      n.storage.applySnapshot(rd.snapshot);
      n.confState = rd.snapshot.metadata.confState;
    }
    n.storage.append(rd.entries);
    if (rd.hardState) n.storage.setHardState(rd.hardState);
  }

  private apply(n: Node, rd: Ready): string[] {
    const out: string[] = [];
    for (const e of rd.committedEntries) {
      if (e.type === 'confChange') {
        const cs = n.raw.applyConfChange(decodeConfChange(e.data));
        n.confState = cs;
        out.push(`INFO ${n.id} switched to configuration ${formatConfState(cs)}`);
      } else if (e.data.length > 0) {
        n.applied.push(decoder.decode(e.data));
      }
    }
    return out;
  }

  /** `deliver-msgs [drop=true] ID...`: delivers (or drops) queued messages to those nodes. */
  private deliverMsgs(c: Command): string {
    const targets = new Set(this.ids(c));
    const drop = c.keys.get('drop') === 'true';
    const keep: Message[] = [];
    const deliver: Message[] = [];
    for (const m of this.queue) (targets.has(m.to) ? deliver : keep).push(m);
    this.queue = keep;
    const out: string[] = [];
    for (const m of deliver) {
      if (drop || this.cut.has(`${m.from}->${m.to}`)) {
        out.push(`dropped: ${formatMessage(m)}`);
        continue;
      }
      out.push(formatMessage(m));
      const n = this.nodes.get(m.to);
      if (!n) continue;
      try {
        n.raw.step(m);
      } catch (e) {
        out.push(`  error: ${(e as Error).message}`);
      }
    }
    return out.length ? out.join('\n') : 'no messages';
  }

  private drop(c: Command): string {
    return this.deliverMsgs({ ...c, keys: new Map([['drop', 'true']]) });
  }

  /** `partition 1 2 / 3`: messages between the two sides are dropped until `heal`. */
  private partition(c: Command): string {
    const slash = c.positional.indexOf('/');
    const a = c.positional.slice(0, slash).map(Number);
    const b = c.positional.slice(slash + 1).map(Number);
    for (const x of a) {
      for (const y of b) {
        this.cut.add(`${x}->${y}`);
        this.cut.add(`${y}->${x}`);
      }
    }
    return 'ok';
  }

  /** Processes Readies and delivers messages among `ids` until nothing is left. */
  stabilize(ids: number[]): string {
    const out: string[] = [];
    const set = new Set(ids);
    for (let round = 0; round < 1000; round++) {
      let done = true;
      for (const id of ids) {
        if (this.node(id).raw.hasReady()) {
          done = false;
          out.push(this.processReady(id));
        }
      }
      for (const id of ids) {
        if (this.queue.some((m) => m.to === id && set.has(m.to))) {
          done = false;
          out.push(`> ${id} receiving messages`);
          out.push(...this.deliverMsgs({ name: 'deliver-msgs', positional: [String(id)], keys: new Map() }).split('\n').map((l) => `  ${l}`));
        }
      }
      if (done) return out.join('\n');
    }
    throw new Error('stabilize did not converge in 1000 rounds');
  }

  private tick(c: Command, leaderTicks: number, otherTicks: number): string {
    for (const id of this.ids(c)) {
      const raw = this.node(id).raw;
      const times = raw.status().role === 'leader' ? leaderTicks : otherTicks;
      for (let i = 0; i < times; i++) raw.tick();
    }
    return 'ok';
  }

  /** `transfer-leadership from=1 to=2`. */
  private transfer(c: Command): string {
    const from = Number(c.keys.get('from'));
    const to = Number(c.keys.get('to'));
    this.node(from).raw.transferLeader(to);
    return 'ok';
  }

  /** `compact ID INDEX`: snapshots the applied state at INDEX and drops the log up to it. */
  private compact(c: Command): string {
    const n = this.node(Number(c.positional[0]));
    const index = Number(c.positional[1]);
    n.storage.createSnapshot(index, n.confState, encoder.encode(n.applied.join(',')));
    n.storage.compact(index);
    return this.raftLog({ name: 'raft-log', positional: [String(n.id)], keys: new Map() });
  }

  /** `send-snapshot FROM TO`: queues FROM's latest snapshot as a MsgSnap to TO. */
  private sendSnapshot(c: Command): string {
    const from = this.node(Number(c.positional[0]));
    const to = Number(c.positional[1]);
    const st = from.raw.status();
    const m: Message = {
      type: 'MsgSnap',
      from: from.id,
      to,
      term: st.term,
      logTerm: 0,
      index: 0,
      entries: [],
      commit: 0,
      reject: false,
      rejectHint: 0,
      snapshot: from.storage.snapshot(),
    };
    this.queue.push(m);
    return formatMessage(m);
  }

  private status(c: Command): string {
    const st = this.node(Number(c.positional[0])).raw.status();
    if (!st.progress) return `${st.id} is ${st.role} at term ${st.term}, lead ${st.lead}`;
    const lines: string[] = [];
    for (const [id, p] of st.progress) {
      const flags = [p.state.toUpperCase(), p.isLearner ? 'learner' : '', p.paused ? 'paused' : '', p.pendingSnapshot ? `pendingSnap=${p.pendingSnapshot}` : '']
        .filter(Boolean)
        .join(' ');
      lines.push(`${id}: ${flags} match=${p.match} next=${p.next}${p.inflight ? ` inflight=${p.inflight}` : ''}`);
    }
    return lines.join('\n');
  }

  private raftLog(c: Command): string {
    const n = this.node(Number(c.positional[0]));
    const s = n.storage;
    const first = s.firstIndex();
    const last = s.lastIndex();
    if (last < first) return `log is empty: first index=${first}, last index=${last}`;
    return s
      .entries(first, last + 1, Number.MAX_SAFE_INTEGER)
      .map((e: Entry) => formatEntry(e))
      .join('\n');
  }

  private raftState(): string {
    return [...this.nodes.values()]
      .map((n) => {
        const st = n.raw.status();
        return `${n.id}: ${st.role} term=${st.term} lead=${st.lead} commit=${st.commit} applied=${st.applied}`;
      })
      .join('\n');
  }

  /** `restart ID`: a crash and restart from stable storage (everything unpersisted is lost). */
  private restart(c: Command): string {
    const n = this.node(Number(c.positional[0]));
    const snapIndex = n.storage.snapshot().metadata.index;
    n.raw = new RawNode(this.makeConfig(n.id, n.storage, snapIndex > 0 ? snapIndex : undefined, n.witness));
    n.applied = n.applied.slice(0, 0);
    // Messages in flight to the crashed node are lost; those it already sent are not.
    this.queue = this.queue.filter((m) => m.to !== n.id);
    const st = n.raw.status();
    return `INFO ${n.id} restarted at term ${st.term} commit=${st.commit} lastIndex=${st.lastIndex}`;
  }
}

function parseList(v: string | undefined): number[] {
  if (!v) return [];
  return v
    .replace(/[()]/g, '')
    .split(',')
    .filter((s) => s.length > 0)
    .map(Number);
}
