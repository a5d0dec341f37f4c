/**
 * Cycle search over the dependency graph, Elle's way: strongly connected components first
 * (linear), then inside each component a BFS for a shortest cycle whose edges fit the class.
 *
 * Classes (Adya; N is the set of non-anti-dependency edges a pass allows, ww|wr plus any
 * order edges):
 * - G0: a cycle of ww edges. Found per SCC of the ww subgraph.
 * - G1c: a cycle of ww|wr edges with at least one wr. Per SCC of the ww|wr subgraph, through
 *   one of its wr edges.
 * - G-single: exactly one rw edge a -> b, closed by a path b ~> a over N edges. Whether b
 *   reaches a is a reachability question on the condensation of the N subgraph, answered for
 *   all rw edges at once with bitsets (chunked by target to bound memory), then one BFS per
 *   reported component gives the witness.
 * - G2: an rw edge in an SCC of the full graph that closes no G-single cycle; every cycle
 *   through it has two or more rw edges (write skew). Allowed by snapshot isolation: counted.
 * Order passes repeat G0/G1c and G-single with order edges in N, keeping only cycles that
 * need them, and name them `-process`, `-realtime` or `-timestamp`.
 */
import { RW, stepKind, WR, WW, type Graph } from './graph.ts';
import { txnLabel } from './prepare.ts';
import { findSource, gSingleReach, type SingleReach } from './reach.ts';
import { stronglyConnected, type Components } from './scc.ts';
import type { AnomalySink, Budget } from './sink.ts';
import type { CycleAnomaly, CycleAnomalyType, CycleStep, Txn } from './types.ts';

/** rw edges tried per component when looking for its shortest G-single witness. */
const WITNESS_CANDIDATES_MAX = 8;

/** What the search found besides the violations it reported. */
export interface CycleSearchResult {
  g2: number;
  g2Examples: CycleAnomaly[];
  sccs: number;
  sccSizeMax: number;
}

/** Reusable BFS state: a visit stamp per node avoids clearing arrays between searches. */
class Bfs {
  private readonly stamp: Int32Array;
  private readonly parent: Int32Array;
  private epoch = 0;
  private readonly queue: Int32Array;

  constructor(private readonly g: Graph, private readonly budget: Budget) {
    this.stamp = new Int32Array(g.nodeCount);
    this.parent = new Int32Array(g.nodeCount);
    this.queue = new Int32Array(g.nodeCount);
  }

  /** A shortest path from -> ... -> to over `allowed` edges inside `scope` of `within`. */
  path(from: number, to: number, allowed: number, within: Int32Array, scope: number): number[] | undefined {
    const g = this.g;
    this.epoch++;
    this.stamp[from] = this.epoch;
    this.parent[from] = -1;
    let head = 0;
    let tail = 0;
    this.queue[tail++] = from;
    while (head < tail) {
      const v = this.queue[head++];
      if (v === to) return this.unwind(to);
      if (!this.budget.spend(1 + g.outStart[v + 1] - g.outStart[v])) return undefined;
      for (let s = g.outStart[v]; s < g.outStart[v + 1]; s++) {
        const w = g.outTarget[s];
        if ((g.outMask[s] & allowed) === 0 || within[w] !== scope || this.stamp[w] === this.epoch) continue;
        this.stamp[w] = this.epoch;
        this.parent[w] = v;
        this.queue[tail++] = w;
      }
    }
    return undefined;
  }

  private unwind(to: number): number[] {
    const nodes: number[] = [];
    for (let v = to; v !== -1; v = this.parent[v]) nodes.push(v);
    return nodes.reverse();
  }
}

/** The cycle closing edge a -> b (read with `closing` kinds) then path b ~> a (read with `rest`). */
function buildCycle(g: Graph, history: readonly Txn[], a: number, path: number[], closing: number, rest: number): CycleStep[] {
  const nodes = [a, ...path];
  const steps: CycleStep[] = [];
  for (let i = 0; i + 1 < nodes.length; i++) {
    const [from, to] = [nodes[i], nodes[i + 1]];
    const kind = stepKind(g.maskOf(from, to), i === 0 ? closing : rest);
    const reason = g.reason(from, to, kind);
    steps.push({ from, to, kind, key: reason?.key, why: reason?.why ?? `${txnLabel(history[from], from)} -${kind}-> ${txnLabel(history[to], to)}` });
  }
  return steps;
}

/** The class of a cycle from the kinds of its steps. */
export function classify(steps: readonly CycleStep[]): CycleAnomalyType {
  const rw = steps.filter((s) => s.kind === 'rw').length;
  const kinds = new Set(steps.map((s) => s.kind));
  const base = rw === 0 ? (kinds.has('wr') ? 'G1c' : 'G0') : rw === 1 ? 'G-single' : 'G2';
  if (kinds.has('realtime')) return `${base}-realtime`;
  if (kinds.has('timestamp')) return `${base}-timestamp`;
  if (kinds.has('process')) return `${base}-process`;
  return base;
}

const MEANING: Record<string, string> = {
  G0: 'a cycle of write-write dependencies (dirty write): the writes were installed in an order no serial execution gives',
  G1c: 'a cycle of write-write and write-read dependencies (circular information flow): each transaction saw or overwrote the effects of the one before it',
  'G-single': 'a cycle with exactly one anti-dependency (read skew): a snapshot missed a write that, along the other edges, happened before it',
  G2: 'a cycle with two or more anti-dependencies (write skew); snapshot isolation allows it',
};

/** A cycle anomaly with its sentence. */
export function describeCycle(history: readonly Txn[], steps: CycleStep[]): CycleAnomaly {
  const type = classify(steps);
  const base = type.replace(/-(process|realtime|timestamp)$/, '');
  const chain = steps.map((s) => `${txnLabel(history[s.from], s.from)} -${s.kind}${s.key !== undefined ? `(${s.key})` : ''}-> `).join('') + txnLabel(history[steps[0].from], steps[0].from);
  const why = steps.map((s) => s.why).join('; ');
  return { type, cycle: steps, explanation: `${type}: ${chain}: ${MEANING[base]}. ${why}` };
}

/** Per non-trivial component: its first internal edge matching `pick`, as [from, slot]. */
function edgesOfComponents(g: Graph, comps: Components, pick: (mask: number) => boolean): Map<number, [number, number]> {
  const first = new Map<number, [number, number]>();
  for (let v = 0; v < g.nodeCount; v++) {
    const c = comps.comp[v];
    if (comps.size[c] < 2 || first.has(c)) continue;
    for (let s = g.outStart[v]; s < g.outStart[v + 1]; s++) {
      if (comps.comp[g.outTarget[s]] === c && pick(g.outMask[s])) {
        first.set(c, [v, s]);
        break;
      }
    }
  }
  return first;
}

/**
 * One cycle per SCC of the `allowed` subgraph, through an edge whose mask satisfies `pick`
 * (read with `closing` kinds), reported when `keep` accepts its class.
 */
function cyclesThroughEdges(
  g: Graph,
  history: readonly Txn[],
  bfs: Bfs,
  allowed: number,
  pick: (mask: number) => boolean,
  closing: number,
  sink: AnomalySink,
): void {
  const comps = stronglyConnected(g, allowed);
  for (const [, [a, slot]] of edgesOfComponents(g, comps, (m) => (m & allowed) !== 0 && pick(m))) {
    const b = g.outTarget[slot];
    const path = bfs.path(b, a, allowed, comps.comp, comps.comp[a]);
    if (path === undefined) return;
    const anomaly = describeCycle(history, buildCycle(g, history, a, path, closing, allowed));
    sink.report(anomaly.type, () => anomaly);
  }
}

/**
 * Reports one G-single per SCC of the full graph that has a closing rw edge not in `skip`:
 * the shortest cycle among the first few closing edges (the reachability is in `reach.ts`).
 */
function reportGSingle(g: Graph, history: readonly Txn[], bfs: Bfs, nonRw: number, reach: SingleReach, skip: Uint8Array | undefined, sink: AnomalySink): void {
  const best = new Map<number, CycleStep[]>();
  const tried = new Map<number, number>();
  for (let s = 0; s < reach.closes.length; s++) {
    if (reach.closes[s] === 0 || skip?.[s] === 1) continue;
    const a = findSource(g, s);
    const c = reach.full.comp[a];
    const n = tried.get(c) ?? 0;
    if (n >= WITNESS_CANDIDATES_MAX) continue;
    tried.set(c, n + 1);
    const path = bfs.path(g.outTarget[s], a, nonRw, reach.full.comp, c);
    if (path === undefined) continue;
    const current = best.get(c);
    if (current === undefined || path.length < current.length) best.set(c, buildCycle(g, history, a, path, RW, nonRw));
  }
  for (const steps of best.values()) {
    const anomaly = describeCycle(history, steps);
    sink.report(anomaly.type, () => anomaly);
  }
}

/** SCCs of the full graph with rw edges but no G-single: write skew, counted, a few shown. */
function countG2(g: Graph, history: readonly Txn[], bfs: Bfs, nonRw: number, reach: SingleReach, examplesMax: number): { count: number; examples: CycleAnomaly[] } {
  const closing = new Set<number>();
  const candidateOf = new Map<number, number>();
  for (let s = 0; s < reach.candidate.length; s++) {
    if (reach.candidate[s] === 0) continue;
    const c = reach.full.comp[findSource(g, s)];
    if (reach.closes[s] === 1) closing.add(c);
    if (!candidateOf.has(c)) candidateOf.set(c, s);
  }
  const examples: CycleAnomaly[] = [];
  let count = 0;
  for (const [c, s] of candidateOf) {
    if (closing.has(c)) continue;
    count++;
    if (examples.length >= examplesMax) continue;
    const a = findSource(g, s);
    const path = bfs.path(g.outTarget[s], a, nonRw | RW, reach.full.comp, c);
    if (path !== undefined) examples.push(describeCycle(history, buildCycle(g, history, a, path, RW, nonRw | RW)));
  }
  return { count, examples };
}

/** Runs every class; `orderMask` is the order edges enabled (0: none). */
export function searchCycles(g: Graph, history: readonly Txn[], orderMask: number, budget: Budget, sink: AnomalySink, examplesMax: number): CycleSearchResult {
  const bfs = new Bfs(g, budget);
  const data = WW | WR;
  cyclesThroughEdges(g, history, bfs, WW, () => true, WW, sink);
  cyclesThroughEdges(g, history, bfs, data, (m) => (m & WR) !== 0 && (m & WW) === 0, WR, sink);
  const plain = gSingleReach(g, data, budget);
  reportGSingle(g, history, bfs, data, plain, undefined, sink);
  const g2 = countG2(g, history, bfs, data, plain, examplesMax);
  if (orderMask !== 0) {
    const withOrder = data | orderMask;
    cyclesThroughEdges(g, history, bfs, withOrder, (m) => (m & orderMask) !== 0 && (m & data) === 0, orderMask, sink);
    const ordered = gSingleReach(g, withOrder, budget);
    reportGSingle(g, history, bfs, withOrder, ordered, plain.closes, sink);
  }
  let sccs = 0;
  let sccSizeMax = 0;
  for (const size of plain.full.size) {
    if (size < 2) continue;
    sccs++;
    sccSizeMax = Math.max(sccSizeMax, size);
  }
  return { g2: g2.count, g2Examples: g2.examples, sccs, sccSizeMax };
}
