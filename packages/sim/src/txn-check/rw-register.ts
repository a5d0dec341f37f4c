/**
 * Version orders of read-write register keys and the edges they give (Elle's
 * `elle.rw-register`).
 *
 * A register read shows one value, not its history, so the version order is only partly
 * known. What the data proves, and all this module uses:
 * - the initial state (`null`) precedes every version;
 * - writes follow reads: a committed transaction that read v and then wrote v' installed v'
 *   after v (its snapshot held v, and it committed after its snapshot was taken).
 * What cannot be inferred: the order of two blind writes nobody read in between, or of writes
 * by transactions with no reads of the key. Such pairs get no ww or rw edge, so anomalies
 * that hinge on them go unseen (a workload of read-then-write transactions avoids the gap).
 * Only final writes of committed or `info` transactions are versions.
 *
 * Edges, per known version edge v -> v' (T(v) wrote v): ww T(v) -> T(v'); a reader of v gets
 * wr T(v) -> reader and rw reader -> T(v') for each known successor v' (for `null`: every
 * version).
 */
import { GraphBuilder } from './graph.ts';
import { txnLabel, type KeyRead, type Prepared, type WriteRecord } from './prepare.ts';
import { stronglyConnected } from './scc.ts';
import type { AnomalySink } from './sink.ts';

/** G1a, G1b and garbage reads of one read. */
function checkRead(p: Prepared, key: string, r: KeyRead<number | null>, external: boolean, sink: AnomalySink): void {
  if (r.value === null) return;
  const value = r.value;
  const w = p.writes.get(key)?.get(value);
  const reader = txnLabel(p.history[r.txn], r.txn);
  if (w === undefined) {
    sink.report('garbage-read', () => ({
      type: 'garbage-read',
      witness: { key, txns: [r.txn], values: [value] },
      explanation: `${reader} read ${key} = ${value}, but no transaction wrote ${value} to ${key}`,
    }));
    return;
  }
  const writer = txnLabel(p.history[w.txn], w.txn);
  if (p.history[w.txn].type === 'fail') {
    sink.report('G1a', () => ({
      type: 'G1a',
      witness: { key, txns: [r.txn, w.txn], values: [value] },
      explanation: `${reader} read ${key} = ${value}, written by ${writer}, which aborted (aborted read)`,
    }));
    return;
  }
  if (external && !w.final && w.txn !== r.txn) {
    sink.report('G1b', () => ({
      type: 'G1b',
      witness: { key, txns: [r.txn, w.txn], values: [value] },
      explanation: `${reader} read ${key} = ${value}, an intermediate write of ${writer}, which wrote ${key} again later (intermediate read)`,
    }));
  }
}

/** Is `w` a version: the final write of a possibly committed transaction? */
function isVersion(p: Prepared, w: WriteRecord | undefined): w is WriteRecord {
  return w !== undefined && w.final && p.history[w.txn].type !== 'fail';
}

/** Known version edges v -> v' from writes-follow-reads (keyed by value). */
function versionEdges(p: Prepared, key: string, writes: Map<number, WriteRecord>, extReads: readonly KeyRead<number | null>[]): Map<number, number[]> {
  const successors = new Map<number, number[]>();
  for (const r of extReads) {
    if (r.value === null || !isVersion(p, writes.get(r.value))) continue;
    const written = p.writesByTxn[r.txn].get(key);
    if (written === undefined) continue;
    const next = written[written.length - 1];
    const list = successors.get(r.value);
    if (list === undefined) successors.set(r.value, [next]);
    else list.push(next);
  }
  return successors;
}

/** Reports cycles in the version order (each one a contradiction in what reads showed). */
function checkVersionCycles(p: Prepared, key: string, successors: Map<number, number[]>, sink: AnomalySink): void {
  const values = [...new Set([...successors.keys(), ...[...successors.values()].flat()])];
  if (values.length < 2) return;
  const index = new Map(values.map((v, i) => [v, i]));
  const builder = new GraphBuilder(values.length, () => true);
  for (const [v, nexts] of successors) {
    for (const n of nexts) builder.add(index.get(v) as number, index.get(n) as number, 'ww', () => ({ why: '' }));
  }
  const { comp, size } = stronglyConnected(builder.freeze(), ~0);
  const reported = new Set<number>();
  values.forEach((_, i) => {
    const c = comp[i];
    if (size[c] < 2 || reported.has(c)) return;
    reported.add(c);
    const cycle = values.filter((__, j) => comp[j] === c);
    const txns = cycle.map((v) => p.writes.get(key)?.get(v)?.txn ?? -1);
    sink.report('cyclic-versions', () => ({
      type: 'cyclic-versions',
      witness: { key, txns, values: cycle },
      explanation: `the versions ${JSON.stringify(cycle)} of ${key} must each precede another (each was read, then overwritten, by a committed transaction): no version order exists`,
    }));
  });
}

/** Infers one register key's version order, reports its read anomalies and adds its edges. */
export function addRegisterKey(
  p: Prepared,
  key: string,
  reads: readonly KeyRead<number | null>[],
  extReads: readonly KeyRead<number | null>[],
  graph: GraphBuilder,
  sink: AnomalySink,
): void {
  const external = new Set(extReads);
  for (const r of reads) checkRead(p, key, r, external.has(r), sink);
  const writes = p.writes.get(key) ?? new Map<number, WriteRecord>();
  const versions = [...writes.entries()].filter(([, w]) => isVersion(p, w));
  const successors = versionEdges(p, key, writes, extReads);
  checkVersionCycles(p, key, successors, sink);
  const label = (i: number): string => txnLabel(p.history[i], i);
  for (const [v, nexts] of successors) {
    const wv = writes.get(v) as WriteRecord;
    for (const n of nexts) {
      const wn = writes.get(n) as WriteRecord;
      graph.add(wv.txn, wn.txn, 'ww', () => ({ key, why: `${label(wn.txn)} read ${key} = ${v} (written by ${label(wv.txn)}) and overwrote it with ${n}` }));
    }
  }
  for (const r of extReads) {
    const reader = label(r.txn);
    if (r.value === null) {
      for (const [n, wn] of versions) {
        graph.add(r.txn, wn.txn, 'rw', () => ({ key, why: `${reader} read ${key} = null (initial state), missing ${label(wn.txn)}'s write ${n}` }));
      }
      continue;
    }
    const value = r.value;
    const wv = writes.get(value);
    if (!isVersion(p, wv)) continue;
    graph.add(wv.txn, r.txn, 'wr', () => ({ key, why: `${reader} read ${key} = ${value}, written by ${label(wv.txn)}` }));
    for (const n of successors.get(value) ?? []) {
      const wn = writes.get(n) as WriteRecord;
      graph.add(r.txn, wn.txn, 'rw', () => ({ key, why: `${reader} read ${key} = ${value}, which ${label(wn.txn)} overwrote with ${n}` }));
    }
  }
}
