import { SeededRng } from '@peerkv/raft';
import { describe, expect, it } from 'vitest';
import { searchCycles } from '../src/txn-check/cycles.ts';
import { GraphBuilder, RW, WR, WW, type Graph } from '../src/txn-check/graph.ts';
import { gSingleReach } from '../src/txn-check/reach.ts';
import { AnomalySink, Budget } from '../src/txn-check/sink.ts';
import type { EdgeKind, Txn } from '../src/txn-check/types.ts';

/**
 * The cycle search against a brute-force oracle on random graphs: plain DFS reachability per
 * edge decides each class, and the bitset reachability must agree edge by edge, also when its
 * memory is shrunk so that targets are processed in many chunks.
 */
const KINDS: EdgeKind[] = ['ww', 'wr', 'rw'];

function randomGraph(rng: SeededRng, n: number, edges: number): Graph {
  const b = new GraphBuilder(n, () => true);
  for (let i = 0; i < edges; i++) {
    b.add(rng.nextInt(n), rng.nextInt(n), KINDS[rng.nextInt(KINDS.length)], () => ({ why: 'random' }));
  }
  return b.freeze();
}

/** Does `from` reach `to` over edges with a kind in `allowed` (DFS)? */
function reaches(g: Graph, from: number, to: number, allowed: number): boolean {
  const seen = new Set([from]);
  const stack = [from];
  while (stack.length > 0) {
    const v = stack.pop() as number;
    if (v === to) return true;
    for (let s = g.outStart[v]; s < g.outStart[v + 1]; s++) {
      const w = g.outTarget[s];
      if ((g.outMask[s] & allowed) !== 0 && !seen.has(w)) {
        seen.add(w);
        stack.push(w);
      }
    }
  }
  return false;
}

/** The classes some cycle of the graph falls in, by brute force over edges. */
function oracle(g: Graph): Set<string> {
  const found = new Set<string>();
  for (let a = 0; a < g.nodeCount; a++) {
    for (let s = g.outStart[a]; s < g.outStart[a + 1]; s++) {
      const b = g.outTarget[s];
      const m = g.outMask[s];
      if ((m & WW) !== 0 && reaches(g, b, a, WW)) found.add('G0');
      if ((m & WR) !== 0 && (m & WW) === 0 && reaches(g, b, a, WW | WR)) found.add('G1c');
      if (m === RW && reaches(g, b, a, WW | WR)) found.add('G-single');
    }
  }
  return found;
}

const history = (n: number): Txn[] => Array.from({ length: n }, () => ({ process: 0, type: 'ok', mops: [] }));

describe('cycle search against a brute-force oracle', () => {
  it('finds exactly the classes the oracle finds, on 300 random graphs', () => {
    const rng = new SeededRng(11);
    for (let round = 0; round < 300; round++) {
      const n = 2 + rng.nextInt(25);
      const g = randomGraph(rng, n, rng.nextInt(2 * n));
      const sink = new AnomalySink(100);
      searchCycles(g, history(n), 0, new Budget(1e9), sink, 0);
      const found = new Set(Object.keys(sink.counts).filter((t) => t !== 'G2'));
      expect([...found].sort(), `round ${round}`).toEqual([...oracle(g)].sort());
      for (const a of sink.anomalies) {
        if (!('cycle' in a)) continue;
        a.cycle.forEach((step, i) => expect(step.to).toBe(a.cycle[(i + 1) % a.cycle.length].from));
      }
    }
  });

  it('bitset reachability agrees with DFS edge by edge, in one chunk or many', () => {
    const rng = new SeededRng(12);
    for (let round = 0; round < 30; round++) {
      const n = 50 + rng.nextInt(250);
      const g = randomGraph(rng, n, n + rng.nextInt(2 * n));
      for (const wordsMax of [8_000_000, n]) {
        const reach = gSingleReach(g, WW | WR, new Budget(1e9), wordsMax);
        for (let a = 0; a < n; a++) {
          for (let s = g.outStart[a]; s < g.outStart[a + 1]; s++) {
            const expected = g.outMask[s] === RW && reaches(g, g.outTarget[s], a, WW | WR) ? 1 : 0;
            expect(reach.closes[s], `round ${round} wordsMax ${wordsMax} slot ${s}`).toBe(expected);
          }
        }
      }
    }
  });
});
