/**
 * The safety properties of Raft (paper Figure 3), each checked over randomized runs of a
 * small cluster with message loss, reordering, partitions and crash-restarts that lose
 * unpersisted state. The full simulator (packages/sim) checks client-visible
 * linearizability; these check the protocol's own invariants directly on every step.
 */
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_CONFIG,
  MemoryStorage,
  RawNode,
  SeededRng,
  type Config,
  type Entry,
  type Message,
  type UnsafeTestMutations,
} from '../src/index.ts';

interface SimNode {
  id: number;
  raw: RawNode;
  storage: MemoryStorage;
  applied: Entry[];
  up: boolean;
}

interface RunResult {
  violations: string[];
  committedCount: number;
  leadersByTerm: Map<number, Set<number>>;
}

/** Runs one seeded cluster and returns the invariant violations it saw. */
function runCluster(
  seed: number,
  opts: { nodes?: number; steps?: number; mutations?: UnsafeTestMutations; preVote?: boolean; maxSizePerMsgBytes?: number; crashChance?: number } = {},
): RunResult {
  const rng = new SeededRng(seed);
  const n = opts.nodes ?? 3;
  const ids = Array.from({ length: n }, (_, i) => i + 1);
  const makeConfig = (id: number, storage: MemoryStorage): Config => ({
    ...DEFAULT_CONFIG,
    id,
    storage,
    rng: rng.fork(),
    preVote: opts.preVote ?? rng.chance(0.5),
    checkQuorum: true,
    maxSizePerMsgBytes: opts.maxSizePerMsgBytes ?? DEFAULT_CONFIG.maxSizePerMsgBytes,
    unsafeTestMutations: opts.mutations,
  });
  const nodes = new Map<number, SimNode>();
  for (const id of ids) {
    const storage = MemoryStorage.withVoters(ids);
    nodes.set(id, { id, raw: new RawNode(makeConfig(id, storage)), storage, applied: [], up: true });
  }
  let network: Message[] = [];
  const violations: string[] = [];
  const leadersByTerm = new Map<number, Set<number>>();
  /** index → committed entry (term + data) as first applied anywhere. */
  const committed = new Map<number, Entry>();
  let partitioned = new Set<number>();
  let proposals = 0;

  const sameEntry = (a: Entry, b: Entry): boolean =>
    a.term === b.term && a.type === b.type && a.data.length === b.data.length && a.data.every((x, i) => x === b.data[i]);

  const handleReady = (node: SimNode): void => {
    if (!node.raw.hasReady()) return;
    const rd = node.raw.ready();
    // Crash mid-write: nothing of this Ready is persisted or sent but `messages`.
    network.push(...rd.messages);
    if (rng.chance(opts.crashChance ?? 0.002)) {
      crash(node);
      return;
    }
    if (rd.snapshot) node.storage.applySnapshot(rd.snapshot);
    node.storage.append(rd.entries);
    if (rd.hardState) node.storage.setHardState(rd.hardState);
    network.push(...rd.persistedMessages);
    for (const e of rd.committedEntries) {
      node.applied.push(e);
      // State machine safety: no two nodes apply different entries at the same index.
      const prev = committed.get(e.index);
      if (prev && !sameEntry(prev, e)) violations.push(`state machine safety: index ${e.index} applied differently on ${node.id}`);
      if (!prev) committed.set(e.index, e);
    }
    node.raw.advance(rd);
    const st = node.raw.status();
    if (st.role === 'leader') {
      const set = leadersByTerm.get(st.term) ?? new Set();
      set.add(node.id);
      leadersByTerm.set(st.term, set);
      // Election safety: at most one leader per term.
      if (set.size > 1) violations.push(`election safety: leaders ${[...set]} in term ${st.term}`);
      // Leader completeness: a leader holds every entry committed before its term.
      for (const [index, e] of committed) {
        if (e.term >= st.term) continue;
        if (index < node.storage.firstIndex()) continue;
        if (index > node.storage.lastIndex()) {
          violations.push(`leader completeness: leader ${node.id} of term ${st.term} lacks committed ${index}`);
          continue;
        }
        if (node.storage.term(index) !== e.term) violations.push(`leader completeness: leader ${node.id} has another entry at ${index}`);
      }
    }
  };

  const crash = (node: SimNode): void => {
    node.up = false;
    network = network.filter((m) => m.to !== node.id);
  };
  const restart = (node: SimNode): void => {
    node.raw = new RawNode(makeConfig(node.id, node.storage));
    node.applied = [];
    node.up = true;
  };

  const checkLogMatching = (): void => {
    // Log matching: if two logs have an entry with the same index and term, the logs are
    // identical in all entries up through that index.
    const logs = [...nodes.values()].map((nd) => {
      const s = nd.storage;
      return s.lastIndex() >= s.firstIndex() ? s.entries(s.firstIndex(), s.lastIndex() + 1, Infinity) : [];
    });
    for (let a = 0; a < logs.length; a++) {
      for (let b = a + 1; b < logs.length; b++) {
        const la = logs[a];
        const lb = new Map(logs[b].map((e) => [e.index, e]));
        let matchedFrom = -1;
        for (let i = la.length - 1; i >= 0; i--) {
          const other = lb.get(la[i].index);
          if (matchedFrom < 0 && other && other.term === la[i].term) matchedFrom = i;
          if (matchedFrom >= 0 && other && !sameEntry(other, la[i])) {
            violations.push(`log matching: ${a + 1} and ${b + 1} differ at ${la[i].index} below a matching entry`);
            return;
          }
        }
      }
    }
  };

  const steps = opts.steps ?? 3000;
  for (let step = 0; step < steps && violations.length === 0; step++) {
    const r = rng.nextFloat();
    const live = [...nodes.values()].filter((nd) => nd.up);
    if (r < 0.25) {
      for (const nd of live) nd.raw.tick();
    } else if (r < 0.3 && live.length > 0) {
      const nd = live[rng.nextInt(live.length)];
      try {
        nd.raw.propose(new TextEncoder().encode(`p${proposals++}`));
      } catch {
        // dropped: no leader
      }
    } else if (r < 0.3 + (opts.crashChance ?? 0.002)) {
      const nd = [...nodes.values()][rng.nextInt(n)];
      if (nd.up) crash(nd);
      else restart(nd);
    } else if (r < 0.31) {
      partitioned = rng.chance(0.5) ? new Set([ids[rng.nextInt(n)]]) : new Set();
    } else if (network.length > 0) {
      // Deliver a random message (reordering), sometimes drop or duplicate it.
      const i = rng.nextInt(network.length);
      const m = network[i];
      if (!rng.chance(0.1)) network.splice(i, 1);
      const target = nodes.get(m.to)!;
      const cut = partitioned.has(m.from) !== partitioned.has(m.to);
      if (target.up && !cut && !rng.chance(0.05)) target.raw.step(m);
    }
    for (const nd of nodes.values()) if (nd.up) handleReady(nd);
    if (step % 50 === 0) checkLogMatching();
    // Bound the network so runs stay fast.
    if (network.length > 500) network.splice(0, network.length - 500);
  }
  for (const nd of nodes.values()) if (!nd.up) restart(nd);
  return { violations, committedCount: committed.size, leadersByTerm };
}

describe('Raft paper safety rules (Figure 3) over randomized runs', () => {
  const seeds = Array.from({ length: 60 }, (_, i) => i + 1);

  it('election safety, log matching, leader completeness, state machine safety hold', () => {
    let committed = 0;
    let terms = 0;
    for (const seed of seeds) {
      const r = runCluster(seed, { nodes: seed % 3 === 0 ? 5 : 3 });
      expect(r.violations, `seed ${seed}`).toEqual([]);
      committed += r.committedCount;
      terms += r.leadersByTerm.size;
    }
    // The runs did real work: entries were committed and leadership changed hands.
    expect(committed).toBeGreaterThan(seeds.length * 10);
    expect(terms).toBeGreaterThan(seeds.length);
  });

  it('the checks catch votes granted without the log up-to-date check', () => {
    const found = seeds.some((seed) => runCluster(seed, { mutations: { skipLogUpToDateCheck: true }, steps: 4000 }).violations.length > 0);
    expect(found).toBe(true);
  });
});
