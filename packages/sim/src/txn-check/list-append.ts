/**
 * Version orders of list-append keys and the edges they give (Elle's `elle.list-append`).
 *
 * A list read shows the whole order of the appends it contains, so the longest read of a key
 * is its version order (as far as it was observed) and every other read must be a prefix of
 * it; a read that is not is an `incompatible-order` anomaly (and the longest read is still
 * used). Appends never read have no known place: they give no edges. The version after an
 * element is read is "the list up to that element", written by the element's appender.
 *
 * Edges, for each key (T(e) is the transaction that appended e):
 * - ww: T(order[i]) -> T(order[i+1]);
 * - wr: T(last element of an external read) -> the reader;
 * - rw: the reader of a prefix of length n -> T(order[n]), the next version's writer.
 */
import type { GraphBuilder } from './graph.ts';
import { txnLabel, type KeyRead, type Prepared, type WriteRecord } from './prepare.ts';
import type { AnomalySink } from './sink.ts';

/** Elements shown from each end of a long list in explanations. */
const LIST_SHOWN_MAX = 6;

/** A list for a sentence: whole when short, its ends and length when long. */
export function fmt(list: readonly number[]): string {
  if (list.length <= 2 * LIST_SHOWN_MAX) return JSON.stringify(list);
  return `[${list.slice(0, LIST_SHOWN_MAX).join(',')},…,${list.slice(-LIST_SHOWN_MAX).join(',')}] (${list.length} elements)`;
}

/** An element of a read that is wrong wherever it appears. */
interface BadElement {
  at: number;
  kind: 'duplicate-elements' | 'garbage-read' | 'G1a';
  element: number;
}

/** Duplicates, garbage and aborted (G1a) elements of one list, by position. */
function badElements(p: Prepared, key: string, list: readonly number[]): BadElement[] {
  const writes = p.writes.get(key);
  const seen = new Set<number>();
  const bad: BadElement[] = [];
  list.forEach((e, at) => {
    if (seen.has(e)) bad.push({ at, kind: 'duplicate-elements', element: e });
    seen.add(e);
    const w = writes?.get(e);
    if (w === undefined) bad.push({ at, kind: 'garbage-read', element: e });
    else if (p.history[w.txn].type === 'fail') bad.push({ at, kind: 'G1a', element: e });
  });
  return bad;
}

/** Reports the bad elements a read holds (one duplicate report per read). */
function reportBadElements(p: Prepared, key: string, read: KeyRead<readonly number[]>, bad: readonly BadElement[], sink: AnomalySink): void {
  const reader = txnLabel(p.history[read.txn], read.txn);
  let duplicateReported = false;
  for (const { at, kind, element: e } of bad) {
    if (at >= read.value.length) break;
    if (kind === 'duplicate-elements') {
      if (duplicateReported) continue;
      duplicateReported = true;
      sink.report(kind, () => ({
        type: kind,
        witness: { key, txns: [read.txn], values: [read.value] },
        explanation: `${reader} read ${key} = ${fmt(read.value)}, which holds ${e} twice: each append happens at most once`,
      }));
    } else if (kind === 'garbage-read') {
      sink.report(kind, () => ({
        type: kind,
        witness: { key, txns: [read.txn], values: [e, read.value] },
        explanation: `${reader} read ${key} = ${fmt(read.value)}, but no transaction appended ${e} to ${key}`,
      }));
    } else {
      const w = p.writes.get(key)?.get(e) as WriteRecord;
      sink.report(kind, () => ({
        type: kind,
        witness: { key, txns: [read.txn, w.txn], values: [e, read.value] },
        explanation: `${reader} read ${key} = ${fmt(read.value)}, which holds ${e}, appended by ${txnLabel(p.history[w.txn], w.txn)}, which aborted (aborted read)`,
      }));
    }
  }
}

/**
 * Checks the elements of every read. A prefix of the longest read holds only what the
 * longest holds at the same positions, so the longest is scanned once and prefixes reuse it;
 * only reads off the order are scanned on their own.
 */
function checkReadElements(p: Prepared, key: string, reads: readonly KeyRead<readonly number[]>[], order: readonly number[], sink: AnomalySink): void {
  const badInOrder = badElements(p, key, order);
  for (const r of reads) {
    const bad = isPrefix(r.value, order) ? badInOrder : badElements(p, key, r.value);
    if (bad.length > 0) reportBadElements(p, key, r, bad, sink);
  }
}

/** Is `a` a prefix of `b`? */
function isPrefix(a: readonly number[], b: readonly number[]): boolean {
  if (a.length > b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The longest read, after reporting the first read that is not a prefix of it. */
function versionOrder(p: Prepared, key: string, reads: readonly KeyRead<readonly number[]>[], sink: AnomalySink): readonly number[] {
  let longest: KeyRead<readonly number[]> | undefined;
  for (const r of reads) if (longest === undefined || r.value.length > longest.value.length) longest = r;
  if (longest === undefined) return [];
  const order = longest;
  const bad = reads.find((r) => !isPrefix(r.value, order.value));
  if (bad !== undefined) {
    sink.report('incompatible-order', () => ({
      type: 'incompatible-order',
      witness: { key, txns: [bad.txn, order.txn], values: [bad.value, order.value] },
      explanation: `${txnLabel(p.history[bad.txn], bad.txn)} read ${key} = ${fmt(bad.value)} and ${txnLabel(p.history[order.txn], order.txn)} read ${key} = ${fmt(order.value)}: neither is a prefix of the other, so the appends were not applied in one order`,
    }));
  }
  return order.value;
}

/** G1b: an external read ending at an append its writer followed with another append to the key. */
function checkIntermediate(p: Prepared, key: string, read: KeyRead<readonly number[]>, w: WriteRecord, sink: AnomalySink): void {
  if (w.final || w.txn === read.txn || p.history[w.txn].type === 'fail') return;
  const last = read.value[read.value.length - 1];
  sink.report('G1b', () => ({
    type: 'G1b',
    witness: { key, txns: [read.txn, w.txn], values: [last, read.value] },
    explanation: `${txnLabel(p.history[read.txn], read.txn)} read ${key} = ${fmt(read.value)}, ending at ${last}, an intermediate append of ${txnLabel(p.history[w.txn], w.txn)}, which appended to ${key} again later (intermediate read)`,
  }));
}

/** ww edges between the installers of consecutive installed elements of `order`. */
function addWwEdges(p: Prepared, key: string, order: readonly number[], installer: (e: number) => number, graph: GraphBuilder): void {
  let previous = -1;
  for (let j = 0; j < order.length; j++) {
    const wb = installer(order[j]);
    if (wb < 0) continue;
    if (previous >= 0) {
      const [a, b, wa] = [order[previous], order[j], installer(order[previous])];
      graph.add(wa, wb, 'ww', () => ({ key, why: `${txnLabel(p.history[wa], wa)} appended ${a} to ${key}, then ${txnLabel(p.history[wb], wb)} appended ${b} right after it` }));
    }
    previous = j;
  }
}

/** What the edges of one list key are computed from. */
interface ListOrder {
  order: readonly number[];
  position: Map<number, number>;
  /** The installing transaction of an element, or -1 (aborted writer, or none: garbage). */
  installer: (e: number) => number;
  /** nextInstalled[i]: the first index >= i whose element has an installer, or -1. */
  nextInstalled: Int32Array;
}

/**
 * The order with its lookups. Elements without an installer (already reported) are skipped
 * over, so the versions around them stay ordered.
 */
function listOrder(p: Prepared, key: string, order: readonly number[]): ListOrder {
  const writes = p.writes.get(key) ?? new Map<number, WriteRecord>();
  const installer = (e: number): number => {
    const w = writes.get(e);
    return w === undefined || p.history[w.txn].type === 'fail' ? -1 : w.txn;
  };
  const position = new Map<number, number>();
  order.forEach((e, i) => position.set(e, i));
  const nextInstalled = new Int32Array(order.length + 1).fill(-1);
  for (let i = order.length - 1; i >= 0; i--) nextInstalled[i] = installer(order[i]) >= 0 ? i : nextInstalled[i + 1];
  return { order, position, installer, nextInstalled };
}

/** The wr and rw edges of one external read (and its G1b check). */
function addReadEdges(p: Prepared, key: string, r: KeyRead<readonly number[]>, lo: ListOrder, graph: GraphBuilder, sink: AnomalySink): void {
  const reader = txnLabel(p.history[r.txn], r.txn);
  let next = 0;
  if (r.value.length > 0) {
    const last = r.value[r.value.length - 1];
    const w = p.writes.get(key)?.get(last);
    if (w !== undefined) {
      checkIntermediate(p, key, r, w, sink);
      graph.add(w.txn, r.txn, 'wr', () => ({ key, why: `${reader} read ${key} = ${fmt(r.value)}, which ends with ${txnLabel(p.history[w.txn], w.txn)}'s append ${last}` }));
    }
    const at = lo.position.get(last);
    if (at === undefined) return;
    next = at + 1;
  }
  const j = lo.nextInstalled[next];
  if (j < 0) return;
  const w = lo.installer(lo.order[j]);
  graph.add(r.txn, w, 'rw', () => ({ key, why: `${reader} read ${key} = ${fmt(r.value)}, missing ${lo.order[j]}, appended next by ${txnLabel(p.history[w], w)}` }));
}

/**
 * Infers one list key's version order, reports its read anomalies and adds its edges.
 * `reads`: every read of the key by a committed transaction; `extReads`: the external ones.
 */
export function addListKey(
  p: Prepared,
  key: string,
  reads: readonly KeyRead<readonly number[]>[],
  extReads: readonly KeyRead<readonly number[]>[],
  graph: GraphBuilder,
  sink: AnomalySink,
): void {
  const order = versionOrder(p, key, reads, sink);
  checkReadElements(p, key, reads, order, sink);
  const lo = listOrder(p, key, order);
  addWwEdges(p, key, order, lo.installer, graph);
  for (const r of extReads) addReadEdges(p, key, r, lo, graph, sink);
}
