/**
 * The workloads of `npm run bench:browser`, run on any `KvSystem` in the page: sequential
 * awaited writes, 16 concurrent writers, sequential reads, one batch, one scan; every figure
 * from `performance.now`. The scan's count and a reopened read check that the system kept
 * what it acknowledged (a benchmark of a system that loses writes would be meaningless).
 */
import type { RoundFigures } from './report.ts';
import { percentile } from './report.ts';
import type { KvSystem } from './systems.ts';
import type { TraceRound } from './trace-report.ts';

/** Bytes of every value. */
export const VALUE_BYTES = 100;

/** Sizes of one round. */
export interface WorkloadConfig {
  /** Sequential awaited writes. */
  writes: number;
  /** Concurrent writers, and the writes each makes. */
  writers: number;
  writesPerWriter: number;
  /** Sequential awaited reads (of the sequentially written keys, in turn), at least; see `READ_LOOP_MS_MIN`. */
  reads: number;
  /** Puts of the one batch. */
  batchKeys: number;
  /** PeerKV: also read `follower` and `stale` (the same count each). */
  peerkvReads: boolean;
  /** `--trace`: sequential writes made with the latency trace on after the workloads, on a system that has one (0: none). */
  traceWrites: number;
}

/** A distinct 100-byte value for `i`. */
export function valueOf(i: number): Uint8Array {
  const v = new Uint8Array(VALUE_BYTES);
  for (let j = 0; j < VALUE_BYTES; j++) v[j] = (i * 31 + j) & 0xff;
  return v;
}

const pad = (i: number): string => String(i).padStart(6, '0');
/** The end of the key range of `prefix` (every key is ASCII). */
export const prefixEnd = (prefix: string): string => `${prefix}\uffff`;

/**
 * A read loop runs at least this long, ms: reads served from memory (Yjs, RxDB's document
 * cache) finish `reads` faster than the page's coarse clock ticks.
 */
const READ_LOOP_MS_MIN = 50;
/** And at most this many reads, whatever the clock says. */
const READ_LOOP_READS_MAX = 1_000_000;

/** Sequential awaited reads of the sequentially written keys, in turn, each checked; per second. */
async function readsPerS(sys: KvSystem, prefix: string, cfg: WorkloadConfig, consistency?: 'linearizable' | 'follower' | 'stale'): Promise<number> {
  const t0 = performance.now();
  let i = 0;
  for (; i < READ_LOOP_READS_MAX && (i < cfg.reads || performance.now() - t0 < READ_LOOP_MS_MIN); i++) {
    const n = await sys.get(`${prefix}s${pad(i % cfg.writes)}`, consistency);
    if (n !== VALUE_BYTES) throw new Error(`read ${prefix}s${pad(i % cfg.writes)} (${consistency ?? 'default'}): ${n} bytes, wrote ${VALUE_BYTES}`);
  }
  return i / ((performance.now() - t0) / 1000);
}

/**
 * One round on `sys` (open already) under key prefix `prefix`: every figure of
 * `RoundFigures` but the open times, which the caller measures.
 */
export async function runWorkload(sys: KvSystem, prefix: string, cfg: WorkloadConfig): Promise<Omit<RoundFigures, 'createMs' | 'reopenMs'>> {
  const lat: number[] = [];
  const tSeq = performance.now();
  for (let i = 0; i < cfg.writes; i++) {
    const t = performance.now();
    await sys.put(`${prefix}s${pad(i)}`, valueOf(i));
    lat.push(performance.now() - t);
  }
  const seqMs = performance.now() - tSeq;

  let next = 0;
  const total = cfg.writers * cfg.writesPerWriter;
  const writer = async (): Promise<void> => {
    while (next < total) {
      const i = next++;
      await sys.put(`${prefix}c${pad(i)}`, valueOf(i));
    }
  };
  const tConc = performance.now();
  await Promise.all(Array.from({ length: cfg.writers }, writer));
  const concMs = performance.now() - tConc;

  const readOpsPerS = await readsPerS(sys, prefix, cfg, cfg.peerkvReads ? 'linearizable' : undefined);
  const followerReadOpsPerS = cfg.peerkvReads ? await readsPerS(sys, prefix, cfg, 'follower') : undefined;
  const staleReadOpsPerS = cfg.peerkvReads ? await readsPerS(sys, prefix, cfg, 'stale') : undefined;

  const pairs: [string, Uint8Array][] = Array.from({ length: cfg.batchKeys }, (_, i) => [`${prefix}b${pad(i)}`, valueOf(i)]);
  const tBatch = performance.now();
  await sys.batchPut(pairs);
  const batchMs = performance.now() - tBatch;

  const tScan = performance.now();
  const scanPairs = await sys.scan(prefix, prefixEnd(prefix));
  const scanMs = performance.now() - tScan;
  const expected = cfg.writes + total + cfg.batchKeys;
  if (scanPairs !== expected) throw new Error(`scan of ${prefix}: ${scanPairs} pairs, wrote ${expected}`);

  return {
    putP50Ms: percentile(lat, 50),
    putP99Ms: percentile(lat, 99),
    putOpsPerS: cfg.writes / (seqMs / 1000),
    put16OpsPerS: total / (concMs / 1000),
    readOpsPerS,
    ...(followerReadOpsPerS !== undefined ? { followerReadOpsPerS, staleReadOpsPerS } : {}),
    batchOpsPerS: cfg.batchKeys / (batchMs / 1000),
    scanMs,
    scanPairs,
  };
}

/**
 * A full round on a fresh database `name`: open it (timed until its first read answers), run
 * the workloads, close it, open it again (timed the same way; the read checks a value written
 * before), close it.
 */
export async function freshRound(open: (name: string) => Promise<KvSystem>, name: string, cfg: WorkloadConfig): Promise<RoundFigures> {
  const t0 = performance.now();
  const sys = await open(name);
  await sys.get('absent');
  const createMs = performance.now() - t0;
  const figures = await runWorkload(sys, 'k/', cfg);
  const trace = cfg.traceWrites > 0 && sys.trace ? await tracedWrites(sys, 't/', cfg.traceWrites) : undefined;
  await sys.close();
  const t1 = performance.now();
  const again = await open(name);
  const n = await again.get('k/s000000');
  const reopenMs = performance.now() - t1;
  await again.close();
  if (n !== VALUE_BYTES) throw new Error(`reopened ${name}: first write reads ${n} bytes`);
  return { createMs, reopenMs, ...figures, ...(trace ? { trace } : {}) };
}

/**
 * `writes` sequential awaited writes under `prefix` with `sys`'s latency trace on (turned on
 * afresh before, off after): the page's own latencies and what the host recorded. The other
 * browsers of a cluster are switched by the caller around it (`run.ts`).
 */
export async function tracedWrites(sys: KvSystem, prefix: string, writes: number): Promise<TraceRound> {
  if (!sys.trace) throw new Error('this system has no latency trace');
  await sys.trace(true);
  const lat: number[] = [];
  for (let i = 0; i < writes; i++) {
    const t = performance.now();
    await sys.put(`${prefix}${pad(i)}`, valueOf(i));
    lat.push(performance.now() - t);
  }
  const view = await sys.trace(false);
  const meanMs = lat.reduce((a, b) => a + b, 0) / lat.length;
  return { writes, tab: { samples: writes, p50Ms: percentile(lat, 50), p99Ms: percentile(lat, 99), meanMs }, views: [view] };
}
