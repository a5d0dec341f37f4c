/**
 * G-single reachability: for every rw edge a -> b inside one SCC of the full graph (and not
 * also a non-rw edge), does b reach a over non-rw edges (the set N)? If so, a -> b closes a
 * cycle with exactly one anti-dependency. Answered for all such edges at once: SCCs of the N
 * subgraph, then bitset reachability on its condensation, chunked by target so memory stays
 * under REACH_WORDS_MAX whatever the graph.
 */
import { RW, type Graph } from './graph.ts';
import { stronglyConnected, type Components } from './scc.ts';
import type { Budget } from './sink.ts';

/** Bitset memory for the reachability pass, in 32-bit words. */
const REACH_WORDS_MAX = 8_000_000;

/** The answer, per edge slot of the graph. */
export interface SingleReach {
  /** SCCs of the full (N | rw) graph. */
  full: Components;
  /** 1: an rw edge, not also an N edge, inside one SCC of the full graph. */
  candidate: Uint8Array;
  /** 1: a candidate whose target reaches its source over N edges (it closes a G-single). */
  closes: Uint8Array;
}

/**
 * Answers, for every candidate rw edge a -> b at once, whether b reaches a over N edges.
 * `reachWordsMax` bounds the bitset memory (tests shrink it to force many chunks).
 */
export function gSingleReach(g: Graph, nonRw: number, budget: Budget, reachWordsMax = REACH_WORDS_MAX): SingleReach {
  const full = stronglyConnected(g, nonRw | RW);
  const inner = stronglyConnected(g, nonRw, full.comp);
  const slots = g.outTarget.length;
  const candidate = new Uint8Array(slots);
  const closes = new Uint8Array(slots);
  const targetOf = new Int32Array(inner.count).fill(-1);
  let targets = 0;
  const pending: number[] = [];
  for (let a = 0; a < g.nodeCount; a++) {
    for (let s = g.outStart[a]; s < g.outStart[a + 1]; s++) {
      const b = g.outTarget[s];
      const mask = g.outMask[s];
      if ((mask & RW) === 0 || (mask & nonRw) !== 0 || full.comp[a] !== full.comp[b]) continue;
      candidate[s] = 1;
      if (inner.comp[a] === inner.comp[b]) closes[s] = 1;
      else {
        if (targetOf[inner.comp[a]] === -1) targetOf[inner.comp[a]] = targets++;
        pending.push(s);
      }
    }
  }
  if (pending.length > 0) reachByBitsets(g, nonRw, full, inner, { targetOf, targets, pending, closes }, budget, reachWordsMax);
  return { full, candidate, closes };
}

/** Condensation of the N subgraph (within SCCs of the full graph) in CSR form. */
function condense(g: Graph, nonRw: number, full: Components, inner: Components): { start: Int32Array; next: Int32Array } {
  const pairs: number[] = [];
  for (let a = 0; a < g.nodeCount; a++) {
    for (let s = g.outStart[a]; s < g.outStart[a + 1]; s++) {
      const b = g.outTarget[s];
      if ((g.outMask[s] & nonRw) === 0 || full.comp[a] !== full.comp[b] || inner.comp[a] === inner.comp[b]) continue;
      pairs.push(inner.comp[a], inner.comp[b]);
    }
  }
  const start = new Int32Array(inner.count + 1);
  for (let i = 0; i < pairs.length; i += 2) start[pairs[i] + 1]++;
  for (let c = 0; c < inner.count; c++) start[c + 1] += start[c];
  const fill = start.slice(0, inner.count);
  const next = new Int32Array(pairs.length / 2);
  for (let i = 0; i < pairs.length; i += 2) next[fill[pairs[i]]++] = pairs[i + 1];
  return { start, next };
}

/** The rw edges still to decide, and the N components they must reach (numbered 0..count-1). */
interface Targets {
  /** N component -> target number, or -1. */
  targetOf: Int32Array;
  targets: number;
  /** Edge slots a -> b to decide: does comp(b) reach comp(a)? */
  pending: readonly number[];
  /** Set to 1 for each pending slot that closes. */
  closes: Uint8Array;
}

/**
 * Bitset reachability on the condensation. Tarjan numbers components sinks first, so every
 * successor of component c has a smaller id and one pass in id order is a topological pass.
 * Targets are processed in chunks of `words` * 32 so memory stays under `reachWordsMax`.
 */
function reachByBitsets(g: Graph, nonRw: number, full: Components, inner: Components, t: Targets, budget: Budget, reachWordsMax: number): void {
  const dag = condense(g, nonRw, full, inner);
  const words = Math.max(1, Math.min(Math.ceil(t.targets / 32), Math.floor(reachWordsMax / Math.max(1, inner.count))));
  const chunk = words * 32;
  const bits = new Uint32Array(inner.count * words);
  const sources = t.pending.map((s) => findSource(g, s));
  for (let lo = 0; lo < t.targets; lo += chunk) {
    if (!budget.spend((inner.count + dag.next.length) * words)) return;
    bits.fill(0);
    for (let c = 0; c < inner.count; c++) {
      const bit = t.targetOf[c] - lo;
      if (t.targetOf[c] >= 0 && bit >= 0 && bit < chunk) bits[c * words + (bit >>> 5)] |= 1 << (bit & 31);
      for (let e = dag.start[c]; e < dag.start[c + 1]; e++) {
        const d = dag.next[e];
        for (let w = 0; w < words; w++) bits[c * words + w] |= bits[d * words + w];
      }
    }
    t.pending.forEach((s, i) => {
      const bit = t.targetOf[inner.comp[sources[i]]] - lo;
      if (bit < 0 || bit >= chunk) return;
      const cb = inner.comp[g.outTarget[s]];
      if ((bits[cb * words + (bit >>> 5)] & (1 << (bit & 31))) !== 0) t.closes[s] = 1;
    });
  }
}

/** The source node of an edge slot (binary search over the CSR row starts). */
export function findSource(g: Graph, slot: number): number {
  let lo = 0;
  let hi = g.nodeCount - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (g.outStart[mid] <= slot) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
