/**
 * Histories with a known answer, for testing the checker (and any workload recorder against
 * it): a seeded PRNG drives a tiny in-memory serial database, so the history is serializable
 * by construction, then its timing and interleaving are scrambled in ways that keep the
 * serial order a valid one: every transaction's interval contains its serial point, each
 * process runs one transaction at a time, and the array interleaves processes at random.
 *
 * Transactions `fail` (writes discarded) or end `info` (writes applied or not, at random) at
 * the given rates. Register writes always follow a read of the key in the same transaction
 * (read-modify-write), so version orders are fully inferable; blind writes would leave gaps.
 */
import type { Rng } from '@peerkv/raft';
import type { Mop, Txn, TxnType } from './types.ts';

export type SerialWorkload = 'list-append' | 'rw-register' | 'mixed';

export interface SerialHistoryOptions {
  workload: SerialWorkload;
  txns: number;
  keys: number;
  /** Micro-ops per transaction: 1..mopsMax (a register write adds its read). */
  mopsMax: number;
  /** Probabilities, in percent. */
  failPercent: number;
  infoPercent: number;
  /** Interval slack around each serial point, in event-order units (invoke/complete jitter). */
  jitterMax: number;
  /** End with one committed transaction reading every key (what makes lost appends visible). */
  finalRead: boolean;
}

export const SERIAL_HISTORY_DEFAULTS: SerialHistoryOptions = {
  workload: 'mixed',
  txns: 200,
  keys: 5,
  mopsMax: 4,
  failPercent: 10,
  infoPercent: 5,
  jitterMax: 40,
  finalRead: true,
};

/** The database: one value per key, a list or a register. */
type Db = Map<string, number[] | number | null>;

/** Serial points are this far apart, so jittered intervals overlap but contain their point. */
const POINT_SPACING = 10;

function keyName(workload: SerialWorkload, k: number): string {
  const list = workload === 'list-append' || (workload === 'mixed' && k % 2 === 0);
  return `${list ? 'l' : 'r'}${k}`;
}

function isListKey(key: string): boolean {
  return key.startsWith('l');
}

function readOf(view: Db, key: string): number[] | number | null {
  const v = view.get(key) ?? null;
  return Array.isArray(v) ? [...v] : v;
}

/** Runs one transaction's random micro-ops against `db`, returning its mops and writes. */
function runTxn(rng: Rng, db: Db, o: SerialHistoryOptions, nextValue: () => number): { mops: Mop[]; writes: Db } {
  const writes: Db = new Map();
  const view = (key: string) => (writes.has(key) ? writes.get(key) ?? null : db.get(key) ?? null);
  const mops: Mop[] = [];
  const read = new Set<string>();
  const count = 1 + rng.nextInt(o.mopsMax);
  for (let m = 0; m < count; m++) {
    const key = keyName(o.workload, rng.nextInt(o.keys));
    const doWrite = rng.nextInt(2) === 0;
    const current = view(key);
    if (!doWrite || (!isListKey(key) && !read.has(key))) {
      const value = Array.isArray(current) ? [...current] : current;
      mops.push(isListKey(key) ? ['r', key, value as number[] | null] : ['r', key, value as number | null]);
      read.add(key);
      if (!doWrite) continue;
    }
    const v = nextValue();
    if (isListKey(key)) {
      mops.push(['append', key, v]);
      writes.set(key, [...((current as number[] | null) ?? []), v]);
    } else {
      mops.push(['w', key, v]);
      writes.set(key, v);
    }
  }
  return { mops, writes };
}

function chooseType(rng: Rng, o: SerialHistoryOptions): TxnType {
  const roll = rng.nextInt(100);
  if (roll < o.failPercent) return 'fail';
  if (roll < o.failPercent + o.infoPercent) return 'info';
  return 'ok';
}

/** Assigns each transaction a process free at its invocation (a new one if none is). */
function assignProcesses(rng: Rng, txns: Txn[]): void {
  const busyUntil: number[] = [];
  for (const txn of txns) {
    const free = busyUntil.flatMap((until, p) => (until < (txn.invokeAt as number) ? [p] : []));
    const process = free.length > 0 ? free[rng.nextInt(free.length)] : busyUntil.length;
    txn.process = process;
    // An `info` transaction never ends, as far as its process knows: the process retires.
    busyUntil[process] = txn.completeAt ?? Infinity;
  }
}

/** A random interleaving of the processes' transaction sequences (each kept in order). */
function interleave(rng: Rng, txns: readonly Txn[]): Txn[] {
  const queues = new Map<number, Txn[]>();
  for (const t of txns) {
    const q = queues.get(t.process);
    if (q === undefined) queues.set(t.process, [t]);
    else q.push(t);
  }
  const live = [...queues.values()];
  const out: Txn[] = [];
  while (live.length > 0) {
    const i = rng.nextInt(live.length);
    out.push(live[i].shift() as Txn);
    if (live[i].length === 0) live.splice(i, 1);
  }
  return out;
}

/**
 * A serializable history: `id` is each transaction's serial position. Timestamps, intervals
 * and process order all agree with the serial order.
 */
export function serialHistory(rng: Rng, options: Partial<SerialHistoryOptions> = {}): Txn[] {
  const o = { ...SERIAL_HISTORY_DEFAULTS, ...options };
  const db: Db = new Map();
  let value = 0;
  const txns: Txn[] = [];
  const total = o.txns + (o.finalRead ? 1 : 0);
  for (let i = 0; i < total; i++) {
    const final = o.finalRead && i === o.txns;
    const type = final ? 'ok' : chooseType(rng, o);
    const run = final ? finalRead(db, o) : runTxn(rng, db, o, () => ++value);
    const applied = type === 'ok' || (type === 'info' && rng.nextInt(2) === 0);
    if (applied) for (const [k, v] of run.writes) db.set(k, v);
    const point = (i + 1) * POINT_SPACING * 4;
    const txn: Txn = { id: i, process: 0, type, mops: run.mops, invokeAt: point - rng.nextInt(o.jitterMax + 1), startTs: 2 * point };
    if (type !== 'info') txn.completeAt = point + rng.nextInt(o.jitterMax + 1);
    if (type === 'ok') txn.commitTs = 2 * point + 1;
    txns.push(txn);
  }
  assignProcesses(rng, txns);
  return interleave(rng, txns);
}

/** Reads every key. */
function finalRead(db: Db, o: SerialHistoryOptions): { mops: Mop[]; writes: Db } {
  const mops: Mop[] = [];
  for (let k = 0; k < o.keys; k++) {
    const key = keyName(o.workload, k);
    const v = readOf(db, key);
    mops.push(isListKey(key) ? ['r', key, v as number[] | null] : ['r', key, v as number | null]);
  }
  return { mops, writes: new Map() };
}
