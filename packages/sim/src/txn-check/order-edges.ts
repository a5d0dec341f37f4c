/**
 * Order edges that are not data dependencies: process (session) order, real-time order and
 * timestamp order. Under plain snapshot isolation none is required; strong session SI adds
 * process order and strong SI (what a TSO gives) adds real-time order.
 *
 * Real-time and timestamp order are interval orders, O(n^2) edges if written out; like Elle's
 * `realtime-graph` we add only a transitive reduction: sweeping events in time order, a
 * transaction's invocation links from the "frontier", the completed transactions not yet
 * known to precede another completed one. Its size is bounded by the concurrency.
 */
import type { GraphBuilder } from './graph.ts';
import { txnLabel } from './prepare.ts';
import type { Txn } from './types.ts';

/** Process order: each process's committed transaction precedes its next transaction. */
export function addProcessEdges(history: readonly Txn[], graph: GraphBuilder): void {
  const lastCommitted = new Map<number, number>();
  history.forEach((txn, i) => {
    if (txn.type === 'fail') return;
    const previous = lastCommitted.get(txn.process);
    if (previous !== undefined) {
      graph.add(previous, i, 'process', () => ({
        why: `${txnLabel(history[previous], previous)} ran before ${txnLabel(txn, i)} in process ${txn.process}`,
      }));
    }
    // After an `info` the process's next transaction may overlap it, so it does not advance.
    if (txn.type === 'ok') lastCommitted.set(txn.process, i);
  });
}

/** An interval endpoint for the sweep. */
interface SweepEvent {
  at: number;
  txn: number;
  isStart: boolean;
}

/**
 * Adds `kind` edges a -> b whenever a committed and `end(a) < start(b)` (strictly). At equal
 * times starts sweep before ends, so touching intervals are not ordered.
 */
function addIntervalEdges(
  history: readonly Txn[],
  graph: GraphBuilder,
  kind: 'realtime' | 'timestamp',
  start: (t: Txn) => number | undefined,
  end: (t: Txn) => number | undefined,
): void {
  const events: SweepEvent[] = [];
  history.forEach((txn, i) => {
    if (txn.type === 'fail') return;
    const s = start(txn);
    if (s !== undefined) events.push({ at: s, txn: i, isStart: true });
    const e = end(txn);
    if (txn.type === 'ok' && e !== undefined) events.push({ at: e, txn: i, isStart: false });
  });
  events.sort((x, y) => x.at - y.at || Number(y.isStart) - Number(x.isStart));
  const frontier = new Set<number>();
  const precededBy = new Map<number, number[]>();
  const verb = kind === 'realtime' ? 'completed before' : 'committed (commitTs) before the snapshot (startTs) of';
  for (const ev of events) {
    if (ev.isStart) {
      const before = [...frontier];
      precededBy.set(ev.txn, before);
      for (const a of before) {
        graph.add(a, ev.txn, kind, () => ({ why: `${txnLabel(history[a], a)} ${verb} ${txnLabel(history[ev.txn], ev.txn)}` }));
      }
      continue;
    }
    for (const a of precededBy.get(ev.txn) ?? []) frontier.delete(a);
    frontier.add(ev.txn);
  }
}

/** Real-time order from `invokeAt`/`completeAt`. */
export function addRealtimeEdges(history: readonly Txn[], graph: GraphBuilder): void {
  addIntervalEdges(history, graph, 'realtime', (t) => t.invokeAt, (t) => t.completeAt);
}

/** Timestamp order from `startTs`/`commitTs`. */
export function addTimestampEdges(history: readonly Txn[], graph: GraphBuilder): void {
  addIntervalEdges(history, graph, 'timestamp', (t) => t.startTs, (t) => t.commitTs);
}
