/**
 * Strongly connected components (Tarjan, iterative so a 100 000-transaction chain does not
 * overflow the stack) of the subgraph whose edges have a kind in `allowed`, optionally only
 * between nodes that share a label in `within` (the components of a larger subgraph).
 */
import type { Graph } from './graph.ts';

/** Components: `comp[v]` is v's component id, in Tarjan's emission order (sinks first). */
export interface Components {
  comp: Int32Array;
  count: number;
  size: Int32Array;
}

/** Does `from -> to` belong to the subgraph? */
function inSubgraph(g: Graph, slot: number, from: number, allowed: number, within: Int32Array | undefined): boolean {
  if ((g.outMask[slot] & allowed) === 0) return false;
  return within === undefined || within[from] === within[g.outTarget[slot]];
}

/** Tarjan's algorithm over the subgraph; O(V + E). */
export function stronglyConnected(g: Graph, allowed: number, within?: Int32Array): Components {
  const n = g.nodeCount;
  const index = new Int32Array(n).fill(-1);
  const low = new Int32Array(n);
  const comp = new Int32Array(n).fill(-1);
  const onStack = new Uint8Array(n);
  const stack: number[] = [];
  const callNode: number[] = [];
  const callSlot: number[] = [];
  const sizes: number[] = [];
  let nextIndex = 0;
  for (let root = 0; root < n; root++) {
    if (index[root] !== -1) continue;
    callNode.push(root);
    callSlot.push(g.outStart[root]);
    index[root] = low[root] = nextIndex++;
    stack.push(root);
    onStack[root] = 1;
    while (callNode.length > 0) {
      const v = callNode[callNode.length - 1];
      const slot = callSlot[callSlot.length - 1];
      if (slot < g.outStart[v + 1]) {
        callSlot[callSlot.length - 1] = slot + 1;
        if (!inSubgraph(g, slot, v, allowed, within)) continue;
        const w = g.outTarget[slot];
        if (index[w] === -1) {
          index[w] = low[w] = nextIndex++;
          stack.push(w);
          onStack[w] = 1;
          callNode.push(w);
          callSlot.push(g.outStart[w]);
        } else if (onStack[w] === 1 && index[w] < low[v]) {
          low[v] = index[w];
        }
        continue;
      }
      callNode.pop();
      callSlot.pop();
      if (callNode.length > 0) {
        const parent = callNode[callNode.length - 1];
        if (low[v] < low[parent]) low[parent] = low[v];
      }
      if (low[v] !== index[v]) continue;
      const id = sizes.length;
      let size = 0;
      for (;;) {
        const w = stack.pop() as number;
        onStack[w] = 0;
        comp[w] = id;
        size++;
        if (w === v) break;
      }
      sizes.push(size);
    }
  }
  return { comp, count: sizes.length, size: Int32Array.from(sizes) };
}
