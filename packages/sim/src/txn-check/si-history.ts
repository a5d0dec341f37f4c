/**
 * Histories from a tiny snapshot-isolation database, for testing the checker against real
 * concurrency (serial histories never show write skew): multi-version storage, a snapshot per
 * transaction at `startTs`, first-committer-wins on write-write conflicts, commit at a fresh
 * `commitTs`. A seeded PRNG interleaves the micro-ops of `concurrency` open transactions.
 *
 * `bug` turns the model into a broken one the checker must catch:
 * - `no-write-conflict`: commits never abort on a write-write conflict (lost updates);
 * - `read-latest`: each read sees the latest committed version, not the snapshot (read
 *   committed: read skew).
 */
import type { Rng } from '@peerkv/raft';
import type { Mop, Txn, TxnType } from './types.ts';

export type SiBug = 'no-write-conflict' | 'read-latest';

export interface SiHistoryOptions {
  txns: number;
  keys: number;
  /** Open transactions at a time (each its own process slot). */
  concurrency: number;
  mopsMax: number;
  /** Percent of commits whose outcome the client never learns (`info`). */
  infoPercent: number;
  /** Percent of register writes not preceded by a read of the key (blind writes). */
  blindWritePercent: number;
  bug?: SiBug;
}

export const SI_HISTORY_DEFAULTS: SiHistoryOptions = {
  txns: 300,
  keys: 4,
  concurrency: 4,
  mopsMax: 4,
  infoPercent: 5,
  blindWritePercent: 20,
};

/** One committed version. */
interface Version {
  commitTs: number;
  value: number[] | number;
}

/** An open transaction: its plan, its progress and its buffered writes. */
interface Open {
  txn: Txn;
  mops: Mop[];
  planned: number;
  startTs: number;
  writes: Map<string, number[] | number>;
  read: Set<string>;
}

class SiModel {
  private readonly versions = new Map<string, Version[]>();
  ts = 0;
  private value = 0;

  constructor(private readonly rng: Rng, private readonly o: SiHistoryOptions) {}

  /** The value at `key` visible at `atTs`: the newest version committed at or before it. */
  private visible(key: string, atTs: number): number[] | number | null {
    const list = this.versions.get(key) ?? [];
    for (let i = list.length - 1; i >= 0; i--) if (list[i].commitTs <= atTs) return list[i].value;
    return null;
  }

  /** Runs the next micro-op of `t`. */
  step(t: Open): void {
    const key = `${this.rng.nextInt(2) === 0 ? 'l' : 'r'}${this.rng.nextInt(this.o.keys)}`;
    const list = key.startsWith('l');
    const snapshot = t.writes.get(key) ?? this.visible(key, this.o.bug === 'read-latest' ? this.ts : t.startTs);
    const write = this.rng.nextInt(2) === 0;
    if (!write || (!list && !t.read.has(key) && this.rng.nextInt(100) >= this.o.blindWritePercent)) {
      t.mops.push(list ? ['r', key, Array.isArray(snapshot) ? [...snapshot] : null] : ['r', key, snapshot as number | null]);
      t.read.add(key);
      if (!write) return;
    }
    const v = ++this.value;
    t.mops.push(list ? ['append', key, v] : ['w', key, v]);
    t.writes.set(key, list ? [...((snapshot as number[] | null) ?? []), v] : v);
  }

  /** Commits `t` (or aborts it on a conflict); returns how it ended. */
  commit(t: Open): TxnType {
    const conflict = [...t.writes.keys()].some((k) => (this.versions.get(k) ?? []).some((v) => v.commitTs > t.startTs));
    if (conflict && this.o.bug !== 'no-write-conflict') return 'fail';
    const commitTs = ++this.ts;
    const unknown = this.rng.nextInt(100) < this.o.infoPercent;
    // An `info` commit may or may not have happened: the model flips a coin.
    if (unknown && this.rng.nextInt(2) === 0) return 'info';
    // The buffered value is snapshot + own appends: the newest list whenever first committer
    // wins held; under `no-write-conflict` it overwrites concurrent appends.
    for (const [k, value] of t.writes) {
      const list = this.versions.get(k);
      if (list === undefined) this.versions.set(k, [{ commitTs, value }]);
      else list.push({ commitTs, value });
    }
    t.txn.commitTs = commitTs;
    return unknown ? 'info' : 'ok';
  }
}

/** A history of the model database; `id` is the order transactions began. */
export function siHistory(rng: Rng, options: Partial<SiHistoryOptions> = {}): Txn[] {
  const o = { ...SI_HISTORY_DEFAULTS, ...options };
  const db = new SiModel(rng, o);
  const history: Txn[] = [];
  const open: (Open | undefined)[] = Array.from({ length: o.concurrency }, () => undefined);
  let begun = 0;
  let event = 0;
  let nextProcess = o.concurrency;
  const processOf = Array.from({ length: o.concurrency }, (_, i) => i);
  while (begun < o.txns || open.some((t) => t !== undefined)) {
    const slot = rng.nextInt(o.concurrency);
    const t = open[slot];
    if (t === undefined) {
      if (begun >= o.txns) continue;
      const txn: Txn = { id: begun++, process: processOf[slot], type: 'ok', mops: [], invokeAt: event++, startTs: db.ts };
      history.push(txn);
      open[slot] = { txn, mops: [], planned: 1 + rng.nextInt(o.mopsMax), startTs: db.ts, writes: new Map(), read: new Set() };
      continue;
    }
    if (t.mops.length < t.planned) {
      db.step(t);
      continue;
    }
    const type = db.commit(t);
    t.txn.type = type;
    t.txn.mops = t.mops;
    if (type === 'info') processOf[slot] = nextProcess++;
    else t.txn.completeAt = event++;
    if (type !== 'ok') delete t.txn.commitTs;
    open[slot] = undefined;
  }
  return history;
}
