/**
 * The first pass over a history: checks its format, decides which workload each key belongs
 * to, indexes every write by (key, value), extracts each transaction's external reads and
 * writes, and finds internal inconsistencies. Everything later passes need, nothing they
 * infer.
 *
 * External read (Elle's `ext-reads`): a transaction's first read of a key before it writes
 * that key; it shows the snapshot. External write: its last write of a key; the only one that
 * may become a version other transactions see.
 */
import { HistoryFormatError, type Mop, type Txn, type WitnessAnomaly } from './types.ts';

export type KeyKind = 'list' | 'register';

/** Who wrote a value of a key, and whether it was that writer's last write of the key. */
export interface WriteRecord {
  txn: number;
  final: boolean;
}

/** A read value: a list (list-append), a register value, or `null` (initial state). */
export type ReadValue = readonly number[] | number | null;

/** A read of one key by one (committed) transaction. */
export interface KeyRead<V> {
  txn: number;
  value: V;
}

/** The indexed history. */
export interface Prepared {
  history: readonly Txn[];
  keyKind: Map<string, KeyKind>;
  /** key -> value -> its write (every type, `fail` included: G1a needs them). */
  writes: Map<string, Map<number, WriteRecord>>;
  /** Per transaction: key -> its external read (`ok` transactions only). */
  extReads: Map<string, ReadValue>[];
  /** Per transaction: key -> every value it wrote to the key, in order (`ok`/`info`). */
  writesByTxn: Map<string, number[]>[];
  /** Per transaction: every read it made (`ok` only), in order, for version-order inference. */
  reads: { key: string; value: ReadValue }[][];
  internal: WitnessAnomaly[];
}

/** Is transaction `i` a node of the dependency graph (possibly committed)? */
export function isNode(history: readonly Txn[], i: number): boolean {
  return history[i].type !== 'fail';
}

/** The key's workload kind from one mop, or `undefined` when the mop does not say. */
function mopKind(mop: Mop): KeyKind | undefined {
  if (mop[0] === 'append') return 'list';
  if (mop[0] === 'w') return 'register';
  if (mop[2] === null) return undefined;
  return Array.isArray(mop[2]) ? 'list' : 'register';
}

function classifyKeys(history: readonly Txn[]): Map<string, KeyKind> {
  const keyKind = new Map<string, KeyKind>();
  const nullOnly = new Set<string>();
  history.forEach((txn, i) => {
    for (const mop of txn.mops) {
      if (mop[0] !== 'append' && mop[0] !== 'w' && mop[0] !== 'r') {
        throw new HistoryFormatError(`txn #${i}: unknown micro-op ${String(mop[0])}`);
      }
      const kind = mopKind(mop);
      const known = keyKind.get(mop[1]);
      if (kind !== undefined && known !== undefined && kind !== known) {
        throw new HistoryFormatError(`key ${mop[1]} is used both as a list and as a register (txn #${i})`);
      }
      if (kind !== undefined) keyKind.set(mop[1], kind);
      else nullOnly.add(mop[1]);
    }
  });
  // A key only ever read as null says nothing about its workload; either reading is the same.
  for (const key of nullOnly) if (!keyKind.has(key)) keyKind.set(key, 'register');
  return keyKind;
}

function indexWrites(history: readonly Txn[]): Map<string, Map<number, WriteRecord>> {
  const writes = new Map<string, Map<number, WriteRecord>>();
  history.forEach((txn, i) => {
    const lastOfKey = new Map<string, WriteRecord>();
    for (const mop of txn.mops) {
      if (mop[0] === 'r') continue;
      const [, key, value] = mop;
      let byValue = writes.get(key);
      if (byValue === undefined) writes.set(key, (byValue = new Map()));
      if (byValue.has(value)) {
        throw new HistoryFormatError(`value ${value} written to ${key} twice (txn #${byValue.get(value)?.txn} and #${i}): values must be unique per key`);
      }
      const record = { txn: i, final: true };
      const previous = lastOfKey.get(key);
      if (previous !== undefined) previous.final = false;
      lastOfKey.set(key, record);
      byValue.set(value, record);
    }
  });
  return writes;
}

/**
 * A transaction's view of one key while we replay it. A list is kept as the last list read
 * (`base`, shared with the history, never copied) plus the appends since, so replaying a
 * transaction costs its own operations, not the length of the lists it read.
 */
interface KeyState {
  /** The register's value, once read or written. */
  known?: number | null;
  /** The list last read (undefined: not read yet). */
  base?: readonly number[];
  /** Appends since `base` was read (or since the start). */
  appended: number[];
  wrote: boolean;
}

/** Does `list` end with `suffix`, and (when `base` is known) start with exactly `base`? */
function listMatches(list: readonly number[], base: readonly number[] | undefined, suffix: readonly number[]): boolean {
  if (base !== undefined && list.length !== base.length + suffix.length) return false;
  if (suffix.length > list.length) return false;
  const offset = list.length - suffix.length;
  for (let i = 0; i < suffix.length; i++) if (list[offset + i] !== suffix[i]) return false;
  if (base === undefined) return true;
  for (let i = 0; i < base.length; i++) if (list[i] !== base[i]) return false;
  return true;
}

/**
 * What a read should have returned given the transaction's own earlier ops on the key, or
 * `undefined` when it is consistent. For a list never read before, only the suffix (its own
 * appends) is known.
 */
function internalMismatch(state: KeyState, value: ReadValue, kind: KeyKind): string | undefined {
  if (kind === 'register') {
    if (state.known === undefined || state.known === value) return undefined;
    return `expected ${JSON.stringify(state.known)}`;
  }
  if (listMatches((value ?? []) as readonly number[], state.base, state.appended)) return undefined;
  if (state.base !== undefined) return `expected ${JSON.stringify([...state.base, ...state.appended])}`;
  return `expected a list ending with its own appends ${JSON.stringify(state.appended)}`;
}

/** Replays one committed transaction: its external reads, reads, and internal anomalies. */
function replay(txn: Txn, i: number, keyKind: Map<string, KeyKind>, out: Prepared): void {
  const states = new Map<string, KeyState>();
  const extReads = out.extReads[i];
  for (const mop of txn.mops) {
    const key = mop[1];
    const kind = keyKind.get(key) as KeyKind;
    let state = states.get(key);
    if (state === undefined) states.set(key, (state = { appended: [], wrote: false }));
    if (mop[0] === 'append') {
      state.appended.push(mop[2]);
      state.wrote = true;
      continue;
    }
    if (mop[0] === 'w') {
      state.known = mop[2];
      state.wrote = true;
      continue;
    }
    const value = mop[2];
    out.reads[i].push({ key, value });
    if (!state.wrote && !extReads.has(key)) extReads.set(key, value);
    const mismatch = internalMismatch(state, value, kind);
    if (mismatch !== undefined) {
      const expected = kind === 'list' ? [...(state.base ?? []), ...state.appended] : state.known;
      out.internal.push({
        type: 'internal',
        witness: { key, txns: [i], values: [value, expected] },
        explanation: `${txnLabel(txn, i)} read ${key} = ${JSON.stringify(value)} but its own earlier operations on ${key} imply it should read otherwise: ${mismatch}`,
      });
    }
    if (kind === 'list') {
      state.base = (value ?? []) as readonly number[];
      state.appended = [];
    } else {
      state.known = value as number | null;
    }
  }
}

/** The name of a transaction in explanations: `T<id>` or `T#<index>`. */
export function txnLabel(txn: Txn, i: number): string {
  return txn.id !== undefined ? `T${String(txn.id)}` : `T#${i}`;
}

/** Checks the format and indexes the history. Throws `HistoryFormatError` on a malformed one. */
export function prepare(history: readonly Txn[]): Prepared {
  const keyKind = classifyKeys(history);
  const out: Prepared = {
    history,
    keyKind,
    writes: indexWrites(history),
    extReads: history.map(() => new Map()),
    writesByTxn: history.map(() => new Map()),
    reads: history.map(() => []),
    internal: [],
  };
  history.forEach((txn, i) => {
    if (txn.type === 'fail') return;
    for (const mop of txn.mops) {
      if (mop[0] === 'r') continue;
      const list = out.writesByTxn[i].get(mop[1]);
      if (list === undefined) out.writesByTxn[i].set(mop[1], [mop[2]]);
      else list.push(mop[2]);
    }
    if (txn.type === 'ok') replay(txn, i, keyKind, out);
  });
  return out;
}
