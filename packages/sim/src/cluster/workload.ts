/**
 * The clients: several `PeerKV` instances running put/delete/get/scan concurrently on a small
 * key space, each op recorded in the shared `History` with virtual times. Outcomes: a write
 * that throws is `unknown` (it may still apply), a read that throws is `fail`. A scan is
 * recorded as one `get` per key of its range (each key was read at some instant inside the
 * scan's interval, which is all per-key linearizability needs).
 */
import { SeededRng } from '@peerkv/raft';
import type { ReadConsistency } from '@peerkv/store';
import { PeerKV, codec } from 'peerkv';
import type { History } from '../history.ts';
import { intBetween, weightedPick } from '../rng-utils.ts';
import type { ClusterEnv } from './cluster-env.ts';
import { SimStoreResolver } from './client-net.ts';

/** The key of index `i` (fixed width, so byte order is index order). */
export function keyName(i: number): string {
  return `k${String(i).padStart(2, '0')}`;
}

/** What the workload did, beyond the history. */
export interface WorkloadStats {
  scans: number;
}

/** Creates client `i` of a run. */
export function makeClient(env: ClusterEnv, i: number, consistency: ReadConsistency): PeerKV {
  return new PeerKV({
    pd: env.pd,
    stores: new SimStoreResolver(env, new SeededRng((env.o.seed * 1_000_003 + i * 7_919 + 17) >>> 0)),
    clientId: `sim-${env.o.seed}-c${i}`,
    clock: env.sched.clock,
    requestTimeoutMs: env.o.requestTimeoutMs,
    backoff: { attemptsMax: 40, baseMs: 5, capMs: 400, budgetMs: env.o.clientBudgetMs },
    consistency,
  });
}

const OP_WEIGHTS = { put: 40, delete: 8, get: 40, scan: 12 } as const;

/** Runs one op of client `clientId` and records it. */
async function runOp(env: ClusterEnv, kv: PeerKV, history: History, clientId: number, rng: SeededRng, counter: { n: number }, stats: WorkloadStats): Promise<void> {
  const kind = weightedPick(rng, OP_WEIGHTS);
  const key = keyName(rng.nextInt(env.o.keys));
  const now = (): number => env.rel();
  if (kind === 'put' || kind === 'delete') {
    const value = `c${clientId}-${counter.n++}`;
    const id = history.invoke({ clientId, kind, key, ...(kind === 'put' ? { value } : {}) }, now());
    try {
      if (kind === 'put') await kv.put(codec.text(key), codec.text(value));
      else await kv.delete(codec.text(key));
      history.ok(id, now());
    } catch {
      history.unknown(id, now());
    }
    return;
  }
  if (kind === 'get') {
    const id = history.invoke({ clientId, kind: 'get', key }, now());
    try {
      const v = await kv.get(codec.text(key));
      history.ok(id, now(), v === undefined ? null : codec.fromText(v));
    } catch {
      history.fail(id, now());
    }
    return;
  }
  await runScan(env, kv, history, clientId, rng, stats);
}

/** A scan of a random key range, recorded as one read per key of the range. */
async function runScan(env: ClusterEnv, kv: PeerKV, history: History, clientId: number, rng: SeededRng, stats: WorkloadStats): Promise<void> {
  const a = rng.nextInt(env.o.keys);
  const b = intBetween(rng, a + 1, Math.min(env.o.keys, a + 5));
  const keys = Array.from({ length: b - a }, (_, j) => keyName(a + j));
  const ids = keys.map((key) => history.invoke({ clientId, kind: 'get', key }, env.rel()));
  stats.scans++;
  env.note(`scan c${clientId} [${keyName(a)}, ${keyName(b)}) as ops #${ids[0]}..#${ids[ids.length - 1]}`);
  try {
    const seen = new Map<string, string>();
    for await (const p of kv.scan({ start: codec.text(keyName(a)), end: codec.text(keyName(b)) })) seen.set(codec.fromText(p.key), codec.fromText(p.value));
    keys.forEach((key, j) => history.ok(ids[j], env.rel(), seen.get(key) ?? null));
  } catch {
    for (const id of ids) history.fail(id, env.rel());
  }
}

/** One client's loop: ops with think time until virtual time `untilMs`. */
export async function clientLoop(env: ClusterEnv, kv: PeerKV, history: History, clientId: number, rng: SeededRng, untilMs: number, stats: WorkloadStats): Promise<void> {
  const counter = { n: 0 };
  while (env.sched.now() < untilMs) {
    await runOp(env, kv, history, clientId, rng, counter, stats);
    await env.sched.sleep(rng.nextInt(env.o.thinkMsMax + 1));
  }
}

/** After healing: reads every key once, linearizably, in the history (acknowledged writes must be there). */
export async function finalReads(env: ClusterEnv, kv: PeerKV, history: History, clientId: number): Promise<number> {
  let failed = 0;
  for (let i = 0; i < env.o.keys; i++) {
    const key = keyName(i);
    const id = history.invoke({ clientId, kind: 'get', key }, env.rel());
    try {
      const v = await kv.get(codec.text(key), { consistency: 'linearizable' });
      history.ok(id, env.rel(), v === undefined ? null : codec.fromText(v));
    } catch {
      history.fail(id, env.rel());
      failed++;
    }
  }
  return failed;
}
