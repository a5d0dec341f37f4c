/**
 * Randomized checks of the linearizability checker: histories generated from a real atomic
 * register (each op takes effect at a random instant inside its interval; unknown writes at
 * a random later instant or never) must pass; the same histories with one read corrupted to
 * a value nobody wrote must fail.
 */
import { describe, expect, it } from 'vitest';
import { SeededRng } from '@peerkv/raft';
import { History, type OpKind, type Value } from '../src/history.ts';
import { CHECK_BUDGET_STEPS_DEFAULT, checkLinearizable } from '../src/linearizability.ts';

interface PlannedOp {
  client: number;
  kind: OpKind;
  key: string;
  value?: string;
  invokeAt: number;
  effectAt: number;
  completeAt: number;
  outcome: 'ok' | 'unknown';
  output?: Value;
}

/** Builds a history of `count` ops over `keys` keys by `clients` sequential clients. */
function generate(rng: SeededRng, count: number, clients: number, keys: number): PlannedOp[] {
  const ops: PlannedOp[] = [];
  const clientFree = new Array<number>(clients).fill(0);
  for (let i = 0; i < count; i++) {
    const client = rng.nextInt(clients);
    const invokeAt = clientFree[client] + rng.nextInt(5);
    const completeAt = invokeAt + 1 + rng.nextInt(20);
    const x = rng.nextFloat();
    const kind: OpKind = x < 0.45 ? 'get' : x < 0.55 ? 'delete' : 'put';
    const unknown = kind !== 'get' && rng.chance(0.1);
    // An unknown write takes effect inside its interval, later, or never (+∞).
    const effectAt = unknown && rng.chance(0.3) ? Infinity : invokeAt + rng.nextFloat() * (unknown ? 60 : completeAt - invokeAt);
    ops.push({ client, kind, key: `k${rng.nextInt(keys)}`, value: kind === 'put' ? `v${i}` : undefined, invokeAt, effectAt, completeAt, outcome: unknown ? 'unknown' : 'ok' });
    clientFree[client] = completeAt + 1;
  }
  // Apply effects in effect order to compute what each read returned.
  const state = new Map<string, Value>();
  for (const op of [...ops].filter((o) => o.effectAt !== Infinity).sort((a, b) => a.effectAt - b.effectAt)) {
    if (op.kind === 'get') op.output = state.get(op.key) ?? null;
    else state.set(op.key, op.kind === 'put' ? (op.value ?? null) : null);
  }
  return ops;
}

/** Records planned ops in a History, events in time order. */
function record(ops: PlannedOp[]): History {
  const h = new History();
  const events: { t: number; isCall: boolean; op: PlannedOp }[] = [];
  for (const op of ops) events.push({ t: op.invokeAt, isCall: true, op }, { t: op.completeAt, isCall: false, op });
  events.sort((a, b) => a.t - b.t || (a.isCall === b.isCall ? 0 : a.isCall ? 1 : -1));
  const ids = new Map<PlannedOp, number>();
  for (const e of events) {
    if (e.isCall) ids.set(e.op, h.invoke({ clientId: e.op.client, kind: e.op.kind, key: e.op.key, value: e.op.value }, e.t));
    else if (e.op.outcome === 'ok') h.ok(ids.get(e.op)!, e.t, e.op.output);
    else h.unknown(ids.get(e.op)!, e.t);
  }
  return h;
}

describe('linearizability checker on generated histories', () => {
  it('accepts every history produced by an atomic register', () => {
    for (let seed = 1; seed <= 60; seed++) {
      const ops = generate(new SeededRng(seed), 120, 5, 3);
      const report = checkLinearizable(record(ops).operations(), { budgetSteps: CHECK_BUDGET_STEPS_DEFAULT });
      expect(report.verdict, `seed ${seed}`).toBe('ok');
    }
  });

  it('rejects the same histories with one read of a value nobody wrote', () => {
    let rejected = 0;
    for (let seed = 1; seed <= 60; seed++) {
      const rng = new SeededRng(seed);
      const ops = generate(rng, 120, 5, 3);
      const reads = ops.filter((o) => o.kind === 'get' && o.outcome === 'ok');
      if (reads.length === 0) continue;
      reads[rng.nextInt(reads.length)].output = 'never-written';
      const report = checkLinearizable(record(ops).operations(), { budgetSteps: CHECK_BUDGET_STEPS_DEFAULT });
      expect(report.verdict, `seed ${seed}`).toBe('illegal');
      rejected++;
    }
    expect(rejected).toBeGreaterThan(50);
  });
});
