/**
 * One-fault mutations of a serial history (from `serialHistory`), each of a kind the checker
 * must catch, chosen so the fault is provable from the history alone:
 * - `stale-read`: a read-modify-write transaction's read loses its newest version (a list
 *   read drops its last element; a register read returns the value the latest writer read).
 *   With the write that follows, that is a G-single or a lost update.
 * - `aborted-read`: a committed read returns an aborted transaction's write (G1a).
 * - `lost-append`: an append seen by one read vanishes from every later read that has
 *   something after it (an incompatible order).
 * Each returns a mutated copy and a sentence, or `undefined` when the history offers no spot.
 */
import type { Rng } from '@peerkv/raft';
import type { Mop, Txn } from './types.ts';

export type FaultKind = 'stale-read' | 'aborted-read' | 'lost-append';

export interface InjectedFault {
  kind: FaultKind;
  history: Txn[];
  description: string;
}

/** A transaction whose mops may be replaced. */
type MutableTxn = Omit<Txn, 'mops'> & { mops: Mop[] };

/** A copy whose mops arrays are fresh (mops are replaced, never edited in place). */
function copy(history: readonly Txn[]): MutableTxn[] {
  return history.map((t) => ({ ...t, mops: [...t.mops] }));
}

const serial = (t: Txn | MutableTxn): number => t.id as number;

/** The writer of every (key, value): history index and the mop position. */
function writerIndex(history: readonly Txn[]): Map<string, number> {
  const writers = new Map<string, number>();
  history.forEach((t, i) => {
    for (const m of t.mops) if (m[0] !== 'r') writers.set(`${m[1]}\u0000${m[2]}`, i);
  });
  return writers;
}

/** Positions (txn, mop) of first reads of a key that a later write of the key in the txn follows. */
function rmwReads(history: readonly Txn[]): { txn: number; mop: number }[] {
  const spots: { txn: number; mop: number }[] = [];
  history.forEach((t, i) => {
    if (t.type !== 'ok') return;
    const firstRead = new Map<string, number>();
    const written = new Set<string>();
    t.mops.forEach((m, j) => {
      if (m[0] === 'r') {
        if (!firstRead.has(m[1]) && !written.has(m[1])) firstRead.set(m[1], j);
      } else {
        if (firstRead.has(m[1]) && !written.has(m[1])) spots.push({ txn: i, mop: firstRead.get(m[1]) as number });
        written.add(m[1]);
      }
    });
  });
  return spots;
}

function pickOne<T>(rng: Rng, items: readonly T[]): T | undefined {
  return items.length === 0 ? undefined : items[rng.nextInt(items.length)];
}

function staleRead(rng: Rng, history: readonly Txn[]): InjectedFault | undefined {
  const writers = writerIndex(history);
  const spots = rmwReads(history).flatMap(({ txn, mop }) => {
    const m = history[txn].mops[mop];
    const value = m[2];
    if (Array.isArray(value)) return value.length > 0 ? [{ txn, mop, stale: value.slice(0, -1) as number[] | number | null }] : [];
    if (value === null) return [];
    // The register's latest writer must be committed and have read the key: its read is the stale value.
    const w = writers.get(`${m[1]}\u0000${value as number}`);
    if (w === undefined || history[w].type !== 'ok') return [];
    const prior = history[w].mops.find((x) => x[0] === 'r' && x[1] === m[1]);
    return prior === undefined ? [] : [{ txn, mop, stale: prior[2] as number | null }];
  });
  const spot = pickOne(rng, spots);
  if (spot === undefined) return undefined;
  const out = copy(history);
  const m = out[spot.txn].mops[spot.mop];
  out[spot.txn].mops[spot.mop] = ['r', m[1], spot.stale] as Mop;
  return { kind: 'stale-read', history: out, description: `T${serial(out[spot.txn])} read ${m[1]} = ${JSON.stringify(spot.stale)} instead of ${JSON.stringify(m[2])}` };
}

function abortedRead(rng: Rng, history: readonly Txn[]): InjectedFault | undefined {
  const spots: { reader: number; mop: number; value: number }[] = [];
  const aborted = history.flatMap((t) => (t.type === 'fail' ? t.mops.filter((m) => m[0] !== 'r').map((m) => ({ key: m[1], value: m[2] as number, at: serial(t) })) : []));
  history.forEach((t, i) => {
    if (t.type !== 'ok') return;
    const j = t.mops.findIndex((m) => m[0] === 'r');
    if (j < 0) return;
    const key = t.mops[j][1];
    for (const a of aborted) if (a.key === key && a.at < serial(t)) spots.push({ reader: i, mop: j, value: a.value });
  });
  const spot = pickOne(rng, spots);
  if (spot === undefined) return undefined;
  const out = copy(history);
  const m = out[spot.reader].mops[spot.mop];
  const read = Array.isArray(m[2]) ? [...(m[2] as number[]), spot.value] : spot.value;
  out[spot.reader].mops[spot.mop] = ['r', m[1], read] as Mop;
  return { kind: 'aborted-read', history: out, description: `T${serial(out[spot.reader])} read ${m[1]} = ${JSON.stringify(read)}, showing aborted write ${spot.value}` };
}

/** All list reads of committed transactions: [txn, mop, list], in serial order. */
function listReads(history: readonly Txn[]): { txn: number; mop: number; list: number[] }[] {
  const reads = history.flatMap((t, i) =>
    t.type !== 'ok' ? [] : t.mops.flatMap((m, j) => (m[0] === 'r' && Array.isArray(m[2]) ? [{ txn: i, mop: j, list: m[2] as number[] }] : [])),
  );
  return reads.sort((a, b) => serial(history[a.txn]) - serial(history[b.txn]) || a.mop - b.mop);
}

function lostAppend(rng: Rng, history: readonly Txn[]): InjectedFault | undefined {
  const reads = listReads(history);
  const spots: { key: string; element: number; firstSeen: number }[] = [];
  reads.forEach((r, n) => {
    const key = history[r.txn].mops[r.mop][1];
    r.list.forEach((e, at) => {
      const firstSeen = reads.findIndex((x) => history[x.txn].mops[x.mop][1] === key && x.list.includes(e));
      if (firstSeen !== n) return;
      const later = reads.slice(n + 1).some((x) => history[x.txn].mops[x.mop][1] === key && x.list.length > at + 1);
      if (later) spots.push({ key, element: e, firstSeen: n });
    });
  });
  const spot = pickOne(rng, spots);
  if (spot === undefined) return undefined;
  const out = copy(history);
  for (const r of reads.slice(spot.firstSeen + 1)) {
    const m = out[r.txn].mops[r.mop];
    if (m[1] !== spot.key) continue;
    out[r.txn].mops[r.mop] = ['r', m[1], r.list.filter((e) => e !== spot.element)];
  }
  return { kind: 'lost-append', history: out, description: `append ${spot.element} to ${spot.key} vanished after T${serial(history[reads[spot.firstSeen].txn])} read it` };
}

/** Injects one fault of `kind` at a random spot. */
export function injectFault(rng: Rng, history: readonly Txn[], kind: FaultKind): InjectedFault | undefined {
  switch (kind) {
    case 'stale-read':
      return staleRead(rng, history);
    case 'aborted-read':
      return abortedRead(rng, history);
    case 'lost-append':
      return lostAppend(rng, history);
  }
}
