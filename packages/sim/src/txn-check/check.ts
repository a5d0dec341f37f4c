/**
 * `checkSnapshotIsolation`: the entry point. Indexes the history, infers version orders per
 * key (list-append or register), builds the dependency graph (ww, wr, rw, and the order edges
 * asked for), then searches it for cycles and reports every anomaly with a witness.
 *
 * Under snapshot isolation G0, G1a, G1b, G1c, G-single and lost update are violations, as
 * are the anomalies that show the data itself is inconsistent (incompatible orders,
 * duplicates, garbage and internal reads, cyclic versions). G2 (write skew) is allowed and
 * only counted in `seen`.
 */
import { GraphBuilder, PROCESS, REALTIME, TIMESTAMP } from './graph.ts';
import { addListKey } from './list-append.ts';
import { checkLostUpdates } from './lost-update.ts';
import { addProcessEdges, addRealtimeEdges, addTimestampEdges } from './order-edges.ts';
import { isNode, prepare, type KeyRead, type Prepared, type ReadValue } from './prepare.ts';
import { addRegisterKey } from './rw-register.ts';
import { searchCycles } from './cycles.ts';
import { ANOMALIES_PER_TYPE_MAX_DEFAULT, AnomalySink, Budget, BUDGET_STEPS_DEFAULT } from './sink.ts';
import type { CheckOptions, CheckReport, Txn } from './types.ts';

/** G2 cycles shown in `seenExamples`. */
const SEEN_EXAMPLES_MAX = 3;

/** Reads grouped by key: every read, and the external ones (both from committed txns). */
function readsByKey(p: Prepared): Map<string, { all: KeyRead<ReadValue>[]; ext: KeyRead<ReadValue>[] }> {
  const byKey = new Map<string, { all: KeyRead<ReadValue>[]; ext: KeyRead<ReadValue>[] }>();
  const entry = (key: string) => {
    let e = byKey.get(key);
    if (e === undefined) byKey.set(key, (e = { all: [], ext: [] }));
    return e;
  };
  p.reads.forEach((reads, txn) => {
    const ext = p.extReads[txn];
    for (const r of reads) {
      const read = { txn, value: r.value };
      const e = entry(r.key);
      e.all.push(read);
      // The external read is the txn's first read of the key, when it has one; the same object
      // is kept in both lists so register checks can tell external reads apart.
      if (ext.has(r.key) && (e.ext.length === 0 || e.ext[e.ext.length - 1].txn !== txn)) e.ext.push(read);
    }
  });
  return byKey;
}

/** Adds every key's data edges and reports its read anomalies. */
function addDataEdges(p: Prepared, graph: GraphBuilder, sink: AnomalySink): void {
  const byKey = readsByKey(p);
  for (const [key, kind] of p.keyKind) {
    const reads = byKey.get(key) ?? { all: [], ext: [] };
    if (kind === 'list') {
      const asList = (r: KeyRead<ReadValue>) => ({ txn: r.txn, value: (r.value ?? []) as readonly number[] });
      addListKey(p, key, reads.all.map(asList), reads.ext.map(asList), graph, sink);
    } else {
      addRegisterKey(p, key, reads.all as KeyRead<number | null>[], reads.ext as KeyRead<number | null>[], graph, sink);
    }
  }
}

/** Checks `history` for snapshot-isolation violations. Pure: same history, same report. */
export function checkSnapshotIsolation(history: readonly Txn[], opts: CheckOptions = {}): CheckReport {
  const p = prepare(history);
  const sink = new AnomalySink(opts.anomaliesPerTypeMax ?? ANOMALIES_PER_TYPE_MAX_DEFAULT);
  const budget = new Budget(opts.budgetSteps ?? BUDGET_STEPS_DEFAULT);
  for (const a of p.internal) sink.report(a.type, () => a);
  const graph = new GraphBuilder(history.length, (i) => isNode(history, i));
  addDataEdges(p, graph, sink);
  checkLostUpdates(p, sink);
  let orderMask = 0;
  if (opts.process === true) {
    addProcessEdges(history, graph);
    orderMask |= PROCESS;
  }
  if (opts.realtime === true) {
    addRealtimeEdges(history, graph);
    orderMask |= REALTIME;
  }
  if (opts.timestamps === true) {
    addTimestampEdges(history, graph);
    orderMask |= TIMESTAMP;
  }
  const search = searchCycles(graph.freeze(), history, orderMask, budget, sink, SEEN_EXAMPLES_MAX);
  const violated = sink.anomalies.length > 0;
  const kinds = [...p.keyKind.values()];
  return {
    valid: violated ? false : budget.exhausted ? 'unknown' : true,
    anomalies: sink.anomalies,
    anomalyCounts: sink.counts,
    seen: { G2: search.g2 },
    seenExamples: search.g2Examples,
    stats: {
      txns: history.length,
      ok: history.filter((t) => t.type === 'ok').length,
      fail: history.filter((t) => t.type === 'fail').length,
      info: history.filter((t) => t.type === 'info').length,
      listKeys: kinds.filter((k) => k === 'list').length,
      registerKeys: kinds.filter((k) => k === 'register').length,
      edges: graph.edgeCounts,
      sccs: search.sccs,
      sccSizeMax: search.sccSizeMax,
      steps: budget.steps,
    },
  };
}
