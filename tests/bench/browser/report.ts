/**
 * The figures of `npm run bench:browser` (issue 16), from the rounds the browsers measured:
 * medians and spreads per system, the summary line, the table and the chart's lines. Pure
 * functions: no I/O, no clock.
 */
import type { TraceRound } from './trace-report.ts';

/** Which system a row measures. */
export type SystemId =
  | 'idb-strict'
  | 'idb-relaxed'
  | 'dexie'
  | 'dexie-strict'
  | 'rxdb'
  | 'yjs'
  | 'peerkv-one'
  | 'peerkv-embedded3'
  | 'peerkv-webrtc3';

/** Human names of the rows, in table order. */
export const SYSTEM_LABELS: Record<SystemId, string> = {
  'idb-strict': 'raw idb, strict, 1 put/tx',
  'idb-relaxed': 'raw idb, relaxed, 1 put/tx',
  dexie: 'Dexie (default durability)',
  'dexie-strict': 'Dexie, strict',
  rxdb: 'RxDB (Dexie storage)',
  yjs: 'Yjs + y-indexeddb, awaiting persistence',
  'peerkv-one': 'PeerKV, one store',
  'peerkv-embedded3': 'PeerKV, embedded 3 stores in one page',
  'peerkv-webrtc3': 'PeerKV, 3 browser processes over WebRTC',
};

/** One system's measurements in one round (all in the browser, `performance.now`). */
export interface RoundFigures {
  /** A fresh database opened (a PeerKV store created or joined) until its first read answered, ms. */
  createMs: number;
  /** Sequential awaited 100-byte writes: latency p50 and p99, ms, and writes per second. */
  putP50Ms: number;
  putP99Ms: number;
  putOpsPerS: number;
  /** 16 concurrent writers (each awaiting its own writes): writes per second. */
  put16OpsPerS: number;
  /** Sequential awaited reads of written keys (PeerKV: linearizable), per second. */
  readOpsPerS: number;
  /** PeerKV only: follower reads and stale (local replica) reads, per second. */
  followerReadOpsPerS?: number;
  staleReadOpsPerS?: number;
  /** One batch of `batchKeys` puts: puts per second. */
  batchOpsPerS: number;
  /** One scan of every key written: ms, and the pairs it returned. */
  scanMs: number;
  scanPairs: number;
  /** The database closed, then opened again until its first read answered, ms. */
  reopenMs: number;
  /** `--trace`, PeerKV rows: the traced writes' breakdown (`trace-report.ts`). */
  trace?: TraceRound;
}

/** One row: a system and its rounds. */
export interface SystemRounds {
  id: SystemId;
  rounds: RoundFigures[];
  /** Why the row has fewer rounds than asked (an error text), if it does. */
  error?: string;
}

/** The physical limit of a replicated write, measured in one round. */
export interface LimitRound {
  /** Raw simple-peer round trip between two of the browsers, p50, ms. */
  rttP50Ms: number;
  /** One strict IndexedDB put (1 put per transaction), p50, ms. */
  idbStrictPutP50Ms: number;
}

/** What a run measured. */
export interface BenchRun {
  systems: SystemRounds[];
  limit: LimitRound[];
  /** PeerKV 3-browser cluster formation: the last browser's store joined until it served, ms. */
  joinMs?: number;
  /** The page came from the dev server (unbundled modules) rather than a production build. */
  dev?: boolean;
  config: { rounds: number; writes: number; writers: number; writesPerWriter: number; reads: number; batchKeys: number };
}

/** The middle value (upper middle for an even count); NaN for none. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** The `p`th percentile (nearest rank) of unsorted samples; NaN for none. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

/** Median, least and greatest of one figure over rounds. */
export interface Spread {
  median: number;
  min: number;
  max: number;
}

/** The spread of `pick` over `rounds` (NaN everywhere when no round has it). */
export function spreadOf(rounds: readonly RoundFigures[], pick: (r: RoundFigures) => number | undefined): Spread {
  const xs = rounds.map(pick).filter((x): x is number => x !== undefined && Number.isFinite(x));
  return { median: median(xs), min: xs.length ? Math.min(...xs) : NaN, max: xs.length ? Math.max(...xs) : NaN };
}

/** The figures of the summary line; NaN where the run did not measure what they need. */
export interface Summary {
  /** The PeerKV row the figures come from: 3 browsers if it has rounds, else one store. */
  peerkvRow: SystemId | undefined;
  putP50Ms: number;
  limitP50Ms: number;
  latencyVsLimit: number;
  putOpsPerS16: number;
  vsRawIdbBatched: number;
  vsRxdb: number;
  vsYjs: number;
  readOpsPerS: number;
  /** A one-store PeerKV that exists already: closed and opened again until its first read, ms. */
  openMs: number;
}

const rowOf = (run: BenchRun, id: SystemId): SystemRounds | undefined => run.systems.find((s) => s.id === id && s.rounds.length > 0);
const med = (row: SystemRounds | undefined, pick: (r: RoundFigures) => number | undefined): number => (row ? spreadOf(row.rounds, pick).median : NaN);

/**
 * The summary's figures, each the median over rounds (a ratio: of the medians):
 * - `putP50Ms`: PeerKV's sequential write p50; `limitP50Ms`: the median of (raw simple-peer RTT
 *   p50 + one strict IndexedDB put p50) per round; `latencyVsLimit` their ratio;
 * - `putOpsPerS16`: PeerKV's 16-writer writes/s; `vsRawIdbBatched`: over raw idb's strict
 *   batched puts/s (one transaction of `batchKeys` puts);
 * - `vsRxdb`, `vsYjs`: PeerKV's sequential writes/s over RxDB's and Yjs's;
 * - `readOpsPerS`: PeerKV's linearizable reads/s;
 * - `openMs`: the one-store PeerKV's reopen.
 */
export function summarize(run: BenchRun): Summary {
  const peer = rowOf(run, 'peerkv-webrtc3') ?? rowOf(run, 'peerkv-one');
  const rawStrict = rowOf(run, 'idb-strict');
  const limit = median(run.limit.map((l) => l.rttP50Ms + l.idbStrictPutP50Ms));
  const putP50Ms = med(peer, (r) => r.putP50Ms);
  const putOps = med(peer, (r) => r.putOpsPerS);
  const put16 = med(peer, (r) => r.put16OpsPerS);
  return {
    peerkvRow: peer?.id,
    putP50Ms,
    limitP50Ms: limit,
    latencyVsLimit: putP50Ms / limit,
    putOpsPerS16: put16,
    vsRawIdbBatched: put16 / med(rawStrict, (r) => r.batchOpsPerS),
    vsRxdb: putOps / med(rowOf(run, 'rxdb'), (r) => r.putOpsPerS),
    vsYjs: putOps / med(rowOf(run, 'yjs'), (r) => r.putOpsPerS),
    readOpsPerS: med(peer, (r) => r.readOpsPerS),
    openMs: med(rowOf(run, 'peerkv-one'), (r) => r.reopenMs),
  };
}

/** A figure as printed: `digits` decimals, `NA` when it was not measured. */
export function fmt(x: number, digits: number): string {
  return Number.isFinite(x) ? x.toFixed(digits) : 'NA';
}

/** The line `npm run bench` collects: `bench:browser put_p50_ms=… … open_ms=…`. */
export function summaryLine(s: Summary): string {
  return (
    `bench:browser put_p50_ms=${fmt(s.putP50Ms, 2)} limit_p50_ms=${fmt(s.limitP50Ms, 2)} latency_vs_limit=${fmt(s.latencyVsLimit, 2)}` +
    ` put_ops_per_s_16=${fmt(s.putOpsPerS16, 1)} vs_raw_idb_batched=${fmt(s.vsRawIdbBatched, 3)} vs_rxdb=${fmt(s.vsRxdb, 3)}` +
    ` vs_yjs=${fmt(s.vsYjs, 3)} read_ops_per_s=${fmt(s.readOpsPerS, 1)} open_ms=${fmt(s.openMs, 0)}`
  );
}

/** `median (min–max)` of one figure, or `-` when no round has it. */
function cell(rounds: readonly RoundFigures[], pick: (r: RoundFigures) => number | undefined, digits: number): string {
  const s = spreadOf(rounds, pick);
  if (!Number.isFinite(s.median)) return '-';
  return `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;
}

/** The table: one row per system, each cell the median over rounds with its range. */
export function table(run: BenchRun): string {
  const head = ['system', 'rounds', 'writes/s', 'write p50 ms', 'write p99 ms', '16 writers/s', 'reads/s', 'follower/s', 'stale/s', 'batch puts/s', 'scan ms', 'create ms', 'reopen ms'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const row of run.systems) {
    const r = row.rounds;
    const cells = [
      SYSTEM_LABELS[row.id],
      `${r.length}${row.error ? ` (error: ${row.error.slice(0, 80)})` : ''}`,
      cell(r, (x) => x.putOpsPerS, 0),
      cell(r, (x) => x.putP50Ms, 2),
      cell(r, (x) => x.putP99Ms, 1),
      cell(r, (x) => x.put16OpsPerS, 0),
      cell(r, (x) => x.readOpsPerS, 0),
      cell(r, (x) => x.followerReadOpsPerS, 0),
      cell(r, (x) => x.staleReadOpsPerS, 0),
      cell(r, (x) => x.batchOpsPerS, 0),
      cell(r, (x) => x.scanMs, 1),
      cell(r, (x) => x.createMs, 0),
      cell(r, (x) => x.reopenMs, 0),
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  if (run.limit.length > 0) {
    const sum = run.limit.map((l) => l.rttP50Ms + l.idbStrictPutP50Ms);
    const rtt = run.limit.map((l) => l.rttP50Ms);
    lines.push(
      `| limit: simple-peer RTT p50 ${fmt(median(rtt), 2)} ms (${fmt(Math.min(...rtt), 2)}–${fmt(Math.max(...rtt), 2)}) + strict put p50 | ${run.limit.length} | - | ` +
        `${fmt(median(sum), 2)} (${fmt(Math.min(...sum), 2)}–${fmt(Math.max(...sum), 2)}) | - | - | - | - | - | - | - | - | - |`,
    );
  }
  return lines.join('\n');
}

/** The summary figures' spread over rounds for the chosen PeerKV row: `bench:browser_spread …`. */
export function spreadLine(run: BenchRun, s: Summary): string {
  const peer = s.peerkvRow ? rowOf(run, s.peerkvRow) : undefined;
  if (!peer) return 'bench:browser_spread (no PeerKV row measured)';
  const p = spreadOf(peer.rounds, (r) => r.putP50Ms);
  const w = spreadOf(peer.rounds, (r) => r.put16OpsPerS);
  const rd = spreadOf(peer.rounds, (r) => r.readOpsPerS);
  return (
    `bench:browser_spread put_p50_ms_min=${fmt(p.min, 2)} put_p50_ms_max=${fmt(p.max, 2)} put_ops_per_s_16_min=${fmt(w.min, 1)} put_ops_per_s_16_max=${fmt(w.max, 1)}` +
    ` read_ops_per_s_min=${fmt(rd.min, 1)} read_ops_per_s_max=${fmt(rd.max, 1)} rounds=${peer.rounds.length}`
  );
}

/** Names usable as figure names in a `bench:` line (`peerkv-one` → `peerkv_one`). */
const figureName = (id: SystemId): string => id.replace(/-/g, '_');

/**
 * The chart's lines (plotted by `bench-plot.ts`): one panel per figure (sequential writes/s,
 * write p50, 16 writers/s, reads/s), one bar per system, medians.
 */
export function chartLines(run: BenchRun): string[] {
  const panel = (name: string, pick: (r: RoundFigures) => number, digits: number): string => {
    const bars = run.systems.filter((s) => s.rounds.length > 0).map((s) => `${figureName(s.id)}=${spreadOf(s.rounds, pick).median.toFixed(digits)}`);
    return `bench:browser_${name} ${bars.join(' ')}`;
  };
  const lines = [panel('writes_per_s', (r) => r.putOpsPerS, 1), panel('write_p50_ms', (r) => r.putP50Ms, 2), panel('writers16_per_s', (r) => r.put16OpsPerS, 1), panel('reads_per_s', (r) => r.readOpsPerS, 1)];
  if (run.limit.length > 0) lines[1] += ` limit=${median(run.limit.map((l) => l.rttP50Ms + l.idbStrictPutP50Ms)).toFixed(2)}`;
  return lines;
}
