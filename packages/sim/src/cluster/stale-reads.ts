/**
 * The check of stale reads (`consistency: 'stale'`: a replica's local state, maybe behind).
 * They promise no linearizability, so they are kept out of that check. What they do promise:
 * a replica's state is the result of applying some prefix of the region's committed log, so
 * a value read was written by some write to that key, invoked before the read returned (no
 * value from nowhere, none from the future), or is absent (the initial state, or a delete).
 * Values are unique per key in a run, so the write is found by its value.
 */
import type { Operation } from '../history.ts';

/** A stale read that no write explains. */
export interface StaleReadProblem {
  atMs: number;
  message: string;
}

/** Checks every `ok` stale get of `ops` (the whole history, in invocation order). */
export function checkStaleReads(ops: readonly Operation[]): StaleReadProblem[] {
  const writes = new Map<string, Operation>();
  for (const op of ops) if (op.kind === 'put' && op.value !== undefined) writes.set(`${op.key}=${op.value}`, op);
  const out: StaleReadProblem[] = [];
  for (const r of ops) {
    if (r.via !== 'staleGet' || r.status !== 'ok' || r.output === null || r.output === undefined) continue;
    const w = writes.get(`${r.key}=${r.output}`);
    if (w === undefined) {
      out.push({ atMs: r.completeAtMs ?? r.invokeAtMs, message: `stale read #${r.id} of ${r.key} returned ${JSON.stringify(r.output)}, which no write of ${r.key} wrote` });
    } else if (w.invokeOrder > (r.completeOrder ?? Infinity)) {
      out.push({ atMs: r.completeAtMs ?? r.invokeAtMs, message: `stale read #${r.id} of ${r.key} [${r.invokeAtMs}ms, ${r.completeAtMs}ms] returned ${JSON.stringify(r.output)}, written by #${w.id} invoked only at ${w.invokeAtMs}ms` });
    }
  }
  return out;
}
