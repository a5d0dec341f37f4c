/**
 * Linearizability checker for a key-value register history (Wing & Gong's search with Lowe's
 * memoization, as in Porcupine), partitioned by key (P-compositionality: a history is
 * linearizable iff each key's sub-history is).
 *
 * Outcome handling (Porcupine/Knossos): `ok` ops take effect between invocation and
 * completion; `fail` ops never took effect and are dropped; `unknown` writes may take effect
 * at any time after invocation, or never, so their completion is at +∞; `unknown` reads
 * observed nothing and are dropped. The search has a budget in work, not wall time (search
 * steps, so the verdict does not depend on machine load): when it runs out the verdict is
 * `unknown`, never `ok`.
 */
import type { Operation, Value } from './history.ts';

/** Verdict for one key, or for the whole history. */
export type Verdict = 'ok' | 'illegal' | 'unknown';

/** A non-`ok` verdict on one key. */
export interface KeyFinding {
  key: string;
  verdict: 'illegal' | 'unknown';
  /** The key's checked operations, in invocation order. */
  ops: Operation[];
  /** For `illegal`: an operation that no linearization could place (deepest search point). */
  stuckOp?: Operation;
}

/** The checker's answer. */
export interface CheckReport {
  verdict: Verdict;
  findings: KeyFinding[];
  keysChecked: number;
  /** Search steps spent, over all keys (each step considers one call or return entry). */
  steps: number;
}

export interface CheckOptions {
  /**
   * Search steps allowed for the whole history (each considers one call or return entry);
   * when spent, the keys not yet decided are `unknown`. A count of work, so the verdict is
   * the same on any machine, however loaded.
   */
  budgetSteps: number;
}

/**
 * Search steps a simulator seed's history may take (about 2 s of search on a laptop). Generous:
 * Raft-mode seeds take under 500 steps, cluster-mode seeds under 20 000 (measured over 200
 * and 40 seeds), so running out means a pathological history, reported as `unknown`.
 */
export const CHECK_BUDGET_STEPS_DEFAULT = 5_000_000;

/** A call or return event in the search's doubly linked list. */
interface ListEntry {
  opIndex: number;
  isCall: boolean;
  time: number;
  match: ListEntry | undefined;
  prev: ListEntry | undefined;
  next: ListEntry | undefined;
}

/** Applies `op` to register state `state`: the new state, or `undefined` if illegal. */
function step(state: Value, op: Operation): { ok: boolean; next: Value } {
  switch (op.kind) {
    case 'put':
      return { ok: true, next: op.value ?? null };
    case 'delete':
      return { ok: true, next: null };
    case 'get':
      return { ok: op.output === state, next: state };
  }
}

/**
 * The operations worth checking for one key: drops failures and unknown reads, and unknown
 * writes whose effect no read observed (placing such a write "never" is always allowed, so
 * it cannot change the verdict).
 */
export function relevantOps(ops: readonly Operation[]): Operation[] {
  const observed = new Set<Value>();
  for (const op of ops) if (op.kind === 'get' && op.status === 'ok') observed.add(op.output ?? null);
  return ops.filter((op) => {
    if (op.status === 'fail') return false;
    if (op.status === 'ok') return true;
    if (op.kind === 'get') return false;
    return observed.has(op.kind === 'put' ? (op.value ?? null) : null);
  });
}

function buildList(ops: readonly Operation[]): ListEntry {
  const entries: ListEntry[] = [];
  ops.forEach((op, opIndex) => {
    const ret: ListEntry = { opIndex, isCall: false, time: op.status === 'ok' ? (op.completeOrder ?? Infinity) : Infinity, match: undefined, prev: undefined, next: undefined };
    const call: ListEntry = { opIndex, isCall: true, time: op.invokeOrder, match: ret, prev: undefined, next: undefined };
    entries.push(call, ret);
  });
  entries.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? a.opIndex - b.opIndex : a.isCall ? -1 : 1));
  const head: ListEntry = { opIndex: -1, isCall: false, time: -Infinity, match: undefined, prev: undefined, next: undefined };
  let prev = head;
  for (const e of entries) {
    prev.next = e;
    e.prev = prev;
    prev = e;
  }
  return head;
}

function lift(e: ListEntry): void {
  const m = e.match as ListEntry;
  (e.prev as ListEntry).next = e.next;
  if (e.next) e.next.prev = e.prev;
  (m.prev as ListEntry).next = m.next;
  if (m.next) m.next.prev = m.prev;
}

function unlift(e: ListEntry): void {
  const m = e.match as ListEntry;
  (m.prev as ListEntry).next = m;
  if (m.next) m.next.prev = m;
  (e.prev as ListEntry).next = e;
  if (e.next) e.next.prev = e;
}

type SingleResult = { verdict: 'ok' } | { verdict: 'unknown' } | { verdict: 'illegal'; stuckOpIndex: number };

/** Checks one key's operations; `budget.left` steps may be spent (it is decremented). */
function checkKey(ops: readonly Operation[], budget: { left: number }): SingleResult {
  const head = buildList(ops);
  const linearized = new Uint32Array(Math.ceil(ops.length / 32) + 1);
  const cache = new Set<string>();
  const calls: { entry: ListEntry; state: Value }[] = [];
  let definiteLeft = ops.filter((op) => op.status === 'ok').length;
  let state: Value = null;
  let entry = head.next;
  let deepest = { depth: -1, opIndex: 0 };
  while (entry !== undefined) {
    if (--budget.left < 0) return { verdict: 'unknown' };
    if (definiteLeft === 0) return { verdict: 'ok' }; // the rest are unknown writes: place them last
    if (entry.isCall) {
      const op = ops[entry.opIndex];
      const { ok, next } = step(state, op);
      if (ok) {
        const bit = entry.opIndex;
        linearized[bit >> 5] |= 1 << (bit & 31);
        const key = `${linearized.join(',')}|${next === null ? '' : `=${next}`}`;
        if (!cache.has(key)) {
          cache.add(key);
          calls.push({ entry, state });
          state = next;
          if (op.status === 'ok') definiteLeft--;
          lift(entry);
          entry = head.next;
          continue;
        }
        linearized[bit >> 5] &= ~(1 << (bit & 31));
      }
      entry = entry.next;
      continue;
    }
    // A return entry: the op it closes must already be linearized. Backtrack.
    if (calls.length > deepest.depth) deepest = { depth: calls.length, opIndex: entry.opIndex };
    const top = calls.pop();
    if (top === undefined) return { verdict: 'illegal', stuckOpIndex: deepest.opIndex };
    const bit = top.entry.opIndex;
    linearized[bit >> 5] &= ~(1 << (bit & 31));
    state = top.state;
    if (ops[bit].status === 'ok') definiteLeft++;
    unlift(top.entry);
    entry = top.entry.next;
  }
  return { verdict: 'ok' };
}

/** Groups operations by key, keeping invocation order. */
function byKey(ops: readonly Operation[]): Map<string, Operation[]> {
  const groups = new Map<string, Operation[]>();
  for (const op of ops) {
    const list = groups.get(op.key);
    if (list === undefined) groups.set(op.key, [op]);
    else list.push(op);
  }
  return groups;
}

/** Checks a whole history for linearizability against a per-key register model. */
export function checkLinearizable(ops: readonly Operation[], options: CheckOptions): CheckReport {
  const budget = { left: options.budgetSteps };
  const findings: KeyFinding[] = [];
  const groups = byKey(ops);
  for (const [key, all] of groups) {
    const keyOps = relevantOps(all);
    const result = checkKey(keyOps, budget);
    if (result.verdict === 'illegal') {
      findings.push({ key, verdict: 'illegal', ops: keyOps, stuckOp: keyOps[result.stuckOpIndex] });
    } else if (result.verdict === 'unknown') {
      findings.push({ key, verdict: 'unknown', ops: keyOps });
    }
  }
  const verdict: Verdict = findings.some((f) => f.verdict === 'illegal') ? 'illegal' : findings.length > 0 ? 'unknown' : 'ok';
  return { verdict, findings, keysChecked: groups.size, steps: options.budgetSteps - Math.max(0, budget.left) };
}
