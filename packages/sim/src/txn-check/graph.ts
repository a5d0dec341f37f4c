/**
 * The transaction dependency graph: nodes are history indices, edges carry a bit mask of
 * kinds (a pair can be linked by ww and rw at once, through different keys) and, per kind,
 * the first reason found, kept so a cycle can be explained without recomputing inference.
 * Built incrementally, then frozen into compressed sparse rows for the searches.
 */
import type { EdgeKind } from './types.ts';

export const WW = 1;
export const WR = 2;
export const RW = 4;
export const PROCESS = 8;
export const REALTIME = 16;
export const TIMESTAMP = 32;
/** The order edges (not data dependencies): they never count as anti-dependencies. */
export const ORDER = PROCESS | REALTIME | TIMESTAMP;

const KINDS: readonly EdgeKind[] = ['ww', 'wr', 'rw', 'process', 'realtime', 'timestamp'];

/** The bit of an edge kind. */
export function kindBit(kind: EdgeKind): number {
  return 1 << KINDS.indexOf(kind);
}

/** Why an edge exists: the key it is about (none for order edges) and a sentence. */
export interface EdgeReason {
  key?: string;
  why: string;
}

/** The graph under construction. */
export class GraphBuilder {
  private readonly masks = new Map<number, number>();
  /** Reasons are kept as thunks: most edges are never explained, and sentences cost. */
  private readonly reasons = new Map<number, () => EdgeReason>();
  readonly edgeCounts: Record<EdgeKind, number> = { ww: 0, wr: 0, rw: 0, process: 0, realtime: 0, timestamp: 0 };

  /** `nodeCount` bounds the node ids; `isNode(i)` says which take part (not `fail` ones). */
  constructor(
    readonly nodeCount: number,
    private readonly isNode: (i: number) => boolean,
  ) {}

  /**
   * Adds `from -kind-> to`. Self-loops and edges touching a non-node are dropped: a
   * transaction does not depend on itself, and a failed one is not in the graph. `reason` is
   * kept for the first edge of its kind between the pair, and called only to explain it.
   */
  add(from: number, to: number, kind: EdgeKind, reason: () => EdgeReason): void {
    if (from === to || !this.isNode(from) || !this.isNode(to)) return;
    const pair = from * this.nodeCount + to;
    const bit = kindBit(kind);
    const mask = this.masks.get(pair) ?? 0;
    if ((mask & bit) !== 0) return;
    this.masks.set(pair, mask | bit);
    this.reasons.set(pair * KINDS.length + KINDS.indexOf(kind), reason);
    this.edgeCounts[kind]++;
  }

  /** The frozen graph. */
  freeze(): Graph {
    const n = this.nodeCount;
    const outStart = new Int32Array(n + 1);
    for (const pair of this.masks.keys()) outStart[Math.floor(pair / n) + 1]++;
    for (let i = 0; i < n; i++) outStart[i + 1] += outStart[i];
    const fill = outStart.slice(0, n);
    const outTarget = new Int32Array(this.masks.size);
    const outMask = new Uint8Array(this.masks.size);
    for (const [pair, mask] of this.masks) {
      const from = Math.floor(pair / n);
      const slot = fill[from]++;
      outTarget[slot] = pair - from * n;
      outMask[slot] = mask;
    }
    return new Graph(n, outStart, outTarget, outMask, this.reasons);
  }
}

/** A frozen graph in compressed sparse rows: node v's edges are slots outStart[v]..outStart[v+1]. */
export class Graph {
  constructor(
    readonly nodeCount: number,
    readonly outStart: Int32Array,
    readonly outTarget: Int32Array,
    readonly outMask: Uint8Array,
    private readonly reasons: ReadonlyMap<number, () => EdgeReason>,
  ) {}

  /** The mask of the edge `from -> to` (0: none). */
  maskOf(from: number, to: number): number {
    for (let s = this.outStart[from]; s < this.outStart[from + 1]; s++) {
      if (this.outTarget[s] === to) return this.outMask[s];
    }
    return 0;
  }

  /** The first reason recorded for `from -kind-> to`. */
  reason(from: number, to: number, kind: EdgeKind): EdgeReason | undefined {
    const pair = from * this.nodeCount + to;
    return this.reasons.get(pair * KINDS.length + KINDS.indexOf(kind))?.();
  }
}

/**
 * The kind a step of a cycle is read as, given the kinds the search allowed for it: data
 * dependencies first (ww, then wr), order edges next, rw last. Reading a step as rw only when
 * nothing else links the pair keeps the rw count of a cycle minimal, so a cycle is never
 * classified as weaker than it is.
 */
export function stepKind(mask: number, allowed: number): EdgeKind {
  const usable = mask & allowed;
  for (let i = 0; i < KINDS.length; i++) {
    const bit = 1 << i;
    if (bit !== RW && (usable & bit) !== 0) return KINDS[i];
  }
  if ((usable & RW) !== 0) return 'rw';
  throw new Error(`stepKind: mask ${mask} has nothing in ${allowed}`);
}
