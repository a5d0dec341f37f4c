/**
 * The chaos workload: several `PeerKV` clients, each with a few operations in flight, doing
 * put/get/delete on a small key space with a unique value per write, recorded in a
 * `History` (the simulator's): an acknowledged write or read is `ok`; a write that threw is
 * `unknown` (it may have been applied, or may still be); a read that threw is `fail` (it
 * observed nothing). Invocation and completion are recorded in this process's event order,
 * which is the real-time order the linearizability checker needs.
 */
import type { SeededRng } from '@peerkv/raft';
import { History } from '@peerkv/sim';
import { PeerKVError, codec, type PeerKV } from 'peerkv';

/** The history and why operations threw (`kind: last region error` → count). */
export interface Recorder {
  history: History;
  errors: Map<string, number>;
}

function noteError(rec: Recorder, e: unknown): void {
  const what = e instanceof PeerKVError ? `${e.kind}${e.lastRegionError ? `:${e.lastRegionError.kind}` : ''}` : e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  rec.errors.set(what, (rec.errors.get(what) ?? 0) + 1);
}

/** What to run. */
export interface WorkloadOptions {
  clients: PeerKV[];
  /** Operations each client keeps in flight. */
  inflightPerClient: number;
  keys: readonly string[];
  /** Random pause after each operation, [0, pauseMsMax], ms: keeps the history checkable. */
  pauseMsMax: number;
  /** No operation starts after this (performance.now() ms). */
  endAtMs: number;
  /** Aborts operations still running (their writes are unknown). */
  signal: AbortSignal;
}

/** Share of operations that are reads; the rest are writes. */
const READ_SHARE = 0.5;
/** Share of writes that are deletes. */
const DELETE_SHARE = 0.15;

/** Runs the workload until `endAtMs`; every operation is in the history when it resolves. */
export async function runWorkload(rec: Recorder, rng: SeededRng, o: WorkloadOptions): Promise<void> {
  const workers: Promise<void>[] = [];
  let values = 0;
  const nextValue = (worker: number): string => `w${worker}-${values++}`;
  o.clients.forEach((kv, c) => {
    for (let i = 0; i < o.inflightPerClient; i++) {
      const worker = c * o.inflightPerClient + i;
      workers.push(runWorker(rec, kv, worker, rng.fork(), o, () => nextValue(worker)));
    }
  });
  await Promise.all(workers);
}

async function runWorker(rec: Recorder, kv: PeerKV, worker: number, rng: SeededRng, o: WorkloadOptions, nextValue: () => string): Promise<void> {
  while (performance.now() < o.endAtMs && !o.signal.aborted) {
    const key = o.keys[rng.nextInt(o.keys.length)];
    if (rng.chance(READ_SHARE)) await read(rec, kv, worker, key, o.signal);
    else if (rng.chance(DELETE_SHARE)) await write(rec, kv, worker, key, undefined, o.signal);
    else await write(rec, kv, worker, key, nextValue(), o.signal);
    const pauseMs = rng.nextInt(o.pauseMsMax + 1);
    if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
  }
}

/** A linearizable read, recorded; `ok: false` if it threw. */
async function read(rec: Recorder, kv: PeerKV, worker: number, key: string, signal?: AbortSignal): Promise<{ ok: boolean; value: string | null }> {
  const { history } = rec;
  const id = history.invoke({ clientId: worker, kind: 'get', key }, performance.now());
  try {
    const v = await kv.get(codec.text(key), { signal });
    const value = v === undefined ? null : codec.fromText(v);
    history.ok(id, performance.now(), value);
    return { ok: true, value };
  } catch (e) {
    history.fail(id, performance.now());
    noteError(rec, e);
    return { ok: false, value: null };
  }
}

/** A put (`value`) or delete (`undefined`), recorded. */
async function write(rec: Recorder, kv: PeerKV, worker: number, key: string, value: string | undefined, signal: AbortSignal): Promise<void> {
  const { history } = rec;
  const id = history.invoke(value === undefined ? { clientId: worker, kind: 'delete', key } : { clientId: worker, kind: 'put', key, value }, performance.now());
  try {
    if (value === undefined) await kv.delete(codec.text(key), { signal });
    else await kv.put(codec.text(key), codec.text(value), { signal });
    history.ok(id, performance.now());
  } catch (e) {
    noteError(rec, e);
    // Timed out, out of retries, aborted, Undetermined: it may or may not have happened.
    history.unknown(id, performance.now());
  }
}

/** One recorded linearizable read of every key (as `worker`), each tried up to `attemptsMax` times; throws if one never succeeds. */
export async function readEveryKey(rec: Recorder, kv: PeerKV, worker: number, keys: readonly string[], attemptsMax: number): Promise<void> {
  for (const key of keys) {
    let done = false;
    for (let i = 0; i < attemptsMax && !done; i++) done = (await read(rec, kv, worker, key)).ok;
    if (!done) throw new Error(`reading ${key} failed ${attemptsMax} times`);
  }
}
