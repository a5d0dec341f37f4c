/**
 * `peerkv bench`: a go-ycsb-like benchmark. `load` inserts `records` keys
 * (`usertable/user<10 digits>`, values of `valueBytes` random bytes); `run` issues
 * `operations` requests of workload A (50% read, 50% update), B (95/5) or C (read only) on
 * keys drawn from those records, zipfian (YCSB's scrambled zipfian, constant 0.99: a few hot
 * keys, as YCSB's core workloads) or uniform, from `concurrency` workers. It reports per
 * operation the count, errors, throughput and latency (avg, p50, p99, max), like go-ycsb's
 * summary. Randomness is seeded (`--seed`), so two runs ask for the same keys.
 */
import { SeededRng } from '@peerkv/raft';
import type { PeerKV } from 'peerkv';

/** Records or operations one bench takes at most. */
export const BENCH_COUNT_MAX = 1_000_000;
/** Workers at most. */
export const BENCH_CONCURRENCY_MAX = 64;
/** Largest value, bytes. */
export const BENCH_VALUE_BYTES_MAX = 64 * 1024;
/** YCSB's zipfian constant. */
export const ZIPFIAN_CONSTANT = 0.99;

/** Read share of each workload (the rest are updates). */
export const WORKLOAD_READ_SHARE = { a: 0.5, b: 0.95, c: 1 } as const;
export type Workload = keyof typeof WORKLOAD_READ_SHARE;

/** Settings. */
export interface BenchOptions {
  phase: 'load' | 'run';
  workload: Workload;
  records: number;
  operations: number;
  concurrency: number;
  valueBytes: number;
  distribution: 'zipfian' | 'uniform';
  seed: number;
}

/** One operation's figures. */
export interface OpStats {
  operation: 'INSERT' | 'READ' | 'UPDATE';
  count: number;
  errors: number;
  opsPerSec: number;
  avgMs: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** A bench's result. */
export interface BenchResult {
  phase: 'load' | 'run';
  workload?: Workload;
  elapsedMs: number;
  /** All operations per second, errors included. */
  opsPerSec: number;
  ops: OpStats[];
  /** The first error seen, if any (the rest are counted). */
  firstError?: string;
}

/** The key of record `i`. */
export function benchKey(i: number): string {
  return `usertable/user${String(i).padStart(10, '0')}`;
}

/** A seeded PRNG (`SeededRng`, Raft's): floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  const rng = new SeededRng(seed);
  return () => rng.nextFloat();
}

/**
 * YCSB's ScrambledZipfianGenerator over [0, n): a zipfian rank (Gray et al., "Quickly
 * generating billion-record synthetic databases"), hashed (FNV-1a) so the hot items are spread
 * over the key space instead of being the first keys.
 */
export function zipfianPicker(n: number, random: () => number, theta = ZIPFIAN_CONSTANT): () => number {
  let zetan = 0;
  for (let i = 1; i <= n; i++) zetan += 1 / Math.pow(i, theta);
  const zeta2 = 1 + 1 / Math.pow(2, theta);
  const alpha = 1 / (1 - theta);
  const eta = (1 - Math.pow(2 / n, 1 - theta)) / (1 - zeta2 / zetan);
  const rank = (): number => {
    const u = random();
    const uz = u * zetan;
    if (uz < 1) return 0;
    if (uz < 1 + Math.pow(0.5, theta)) return Math.min(1, n - 1);
    return Math.min(n - 1, Math.floor(n * Math.pow(eta * u - eta + 1, alpha)));
  };
  return () => fnv1a(rank()) % n;
}

function fnv1a(x: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < 4; i++) {
    h ^= (x >>> (8 * i)) & 0xff;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** The value at fraction `q` of the sorted `sorted` (nearest rank); 0 when empty. */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** Figures of one operation from its latencies. */
export function opStats(operation: OpStats['operation'], latenciesMs: number[], errors: number, elapsedMs: number): OpStats {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  const sum = sorted.reduce((s, x) => s + x, 0);
  const r = (x: number): number => Math.round(x * 100) / 100;
  return {
    operation,
    count: sorted.length,
    errors,
    opsPerSec: r(((sorted.length + errors) * 1000) / Math.max(1, elapsedMs)),
    avgMs: r(sorted.length ? sum / sorted.length : 0),
    p50Ms: r(percentile(sorted, 0.5)),
    p99Ms: r(percentile(sorted, 0.99)),
    maxMs: r(sorted.length ? sorted[sorted.length - 1] : 0),
  };
}

/** Runs the bench against `kv`; see the module header. */
export async function runBench(kv: PeerKV, o: BenchOptions): Promise<BenchResult> {
  const random = seededRandom(o.seed);
  const enc = new TextEncoder();
  const value = (): Uint8Array => {
    const v = new Uint8Array(o.valueBytes);
    for (let i = 0; i < v.length; i++) v[i] = 97 + Math.floor(random() * 26);
    return v;
  };
  const lat = { INSERT: [] as number[], READ: [] as number[], UPDATE: [] as number[] };
  const errors = { INSERT: 0, READ: 0, UPDATE: 0 };
  let firstError: string | undefined;
  const total = o.phase === 'load' ? o.records : o.operations;
  const pick = o.distribution === 'zipfian' ? zipfianPicker(o.records, random) : () => Math.floor(random() * o.records);
  let next = 0;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (next < total) {
      const i = next++;
      const op: keyof typeof lat = o.phase === 'load' ? 'INSERT' : random() < WORKLOAD_READ_SHARE[o.workload] ? 'READ' : 'UPDATE';
      const key = enc.encode(benchKey(o.phase === 'load' ? i : pick()));
      const start = performance.now();
      try {
        if (op === 'READ') await kv.get(key);
        else await kv.put(key, value());
        lat[op].push(performance.now() - start);
      } catch (e) {
        errors[op]++;
        firstError ??= e instanceof Error ? `${'kind' in e ? String(e.kind) : e.name}: ${e.message}` : String(e);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.concurrency, total) }, worker));
  const elapsedMs = performance.now() - t0;
  const kinds = (o.phase === 'load' ? ['INSERT'] : ['READ', 'UPDATE']) as (keyof typeof lat)[];
  const ops = kinds.filter((k) => lat[k].length + errors[k] > 0 || o.phase === 'load').map((k) => opStats(k, lat[k], errors[k], elapsedMs));
  return {
    phase: o.phase,
    ...(o.phase === 'run' ? { workload: o.workload } : {}),
    elapsedMs: Math.round(elapsedMs),
    opsPerSec: Math.round((total * 1000) / Math.max(1, elapsedMs) * 100) / 100,
    ops,
    ...(firstError !== undefined ? { firstError } : {}),
  };
}
