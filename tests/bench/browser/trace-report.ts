/**
 * `npm run bench:browser -- --trace` (issue 16): where one PeerKV write's time goes, stage by
 * stage, from what one traced run measured. Per round the writing page makes `writes`
 * sequential awaited writes with the latency trace on (`kv.trace(true)`, `host-trace.ts`)
 * in every browser of the row, and keeps:
 *
 * - `tab`: each write as the page saw it (`kv.put` until it resolved);
 * - the writer's host spans: `host:<type>` (a tab request in the Worker, arrival to reply), its
 *   client's `tso`, `route` and `send:<type>` (one attempt at a store request, sent until
 *   answered);
 * - the leader store's spans (`store:<span>`, `StoreStatus.writeTrace`): of the browsers'
 *   stores, the one that led the most writes.
 *
 * Each stage has its p50, p99 and mean, and its time per write (mean × samples ÷ writes; a
 * write makes two region lookups, for instance). Two stages are derived from those per-write
 * times, having no samples of their own: `tab<->host` (the tab's time less its host's
 * `host:*` spans: the page ↔ Worker hops) and `transport` (the `send:*` spans less the leader
 * store's `total`: both ways over the link, the RPC codec and the queues). Per-write times add
 * up; percentiles do not.
 *
 * Pure functions: no I/O, no clock.
 */
import type { SpanSummary, TraceView } from 'peerkv/browser';
import { median } from './report.ts';

/** What one traced round measured. */
export interface TraceRound {
  /** Sequential awaited writes made while tracing. */
  writes: number;
  /** The writes as the page saw them. */
  tab: SpanSummary;
  /** What each browser's host recorded (`kv.trace(false)`): the writer's first. */
  views: TraceView[];
}

/** One stage of the breakdown, ms (NaN: the stage has no samples of its own). */
export interface StageFigures {
  stage: string;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  perWriteMs: number;
}

/** The client spans' order: the host's requests, then what its client did in them. */
function clientOrder(name: string): number {
  if (name.startsWith('host:')) return 0;
  if (name === 'tso') return 1;
  if (name === 'route') return 2;
  return 3;
}

/** The stages of one round, in the order a write passes them (see the module header). */
export function traceStages(r: TraceRound): StageFigures[] {
  const perWrite = (s: SpanSummary): number => (s.meanMs * s.samples) / r.writes;
  const spanRow = (stage: string, s: SpanSummary): StageFigures => ({ stage, p50Ms: s.p50Ms, p99Ms: s.p99Ms, meanMs: s.meanMs, perWriteMs: perWrite(s) });
  const derived = (stage: string, perWriteMs: number): StageFigures => ({ stage, p50Ms: NaN, p99Ms: NaN, meanMs: NaN, perWriteMs });
  const host = Object.entries(r.views[0]?.host?.spans ?? {}).sort(([a], [b]) => clientOrder(a) - clientOrder(b) || (a < b ? -1 : 1));
  const hostPerWrite = host.filter(([n]) => n.startsWith('host:')).reduce((sum, [, s]) => sum + perWrite(s), 0);
  const sendPerWrite = host.filter(([n]) => n.startsWith('send:')).reduce((sum, [, s]) => sum + perWrite(s), 0);
  const rows: StageFigures[] = [spanRow('tab', r.tab)];
  if (host.length > 0) rows.push(derived('tab<->host', r.tab.meanMs - hostPerWrite));
  for (const [name, s] of host) rows.push(spanRow(name, s));
  let leader: TraceView['store'];
  for (const v of r.views) if (v.store && (leader === undefined || v.store.summary.samples > leader.summary.samples)) leader = v.store;
  if (leader) {
    const w = leader.summary;
    const storeRow = (span: keyof typeof w.meanMs): StageFigures => spanRow(`store:${span}`, { samples: w.samples, p50Ms: w.p50Ms[span], p99Ms: w.p99Ms[span], meanMs: w.meanMs[span] });
    if (sendPerWrite > 0) rows.push(derived('transport', sendPerWrite - (w.meanMs.total * w.samples) / r.writes));
    for (const span of ['beforePropose', 'proposeToCommit', 'commitToApplied', 'appliedToDurable', 'total'] as const) rows.push(storeRow(span));
  }
  return rows;
}

/** A figure as printed: NaN (not measured) as `-`. */
const ms = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '-');

/** `median (min–max)` over rounds, or `-`. */
function cell(xs: number[]): string {
  const finite = xs.filter((x) => Number.isFinite(x));
  if (finite.length === 0) return '-';
  if (finite.length === 1) return ms(finite[0]);
  return `${ms(median(finite))} (${ms(Math.min(...finite))}–${ms(Math.max(...finite))})`;
}

/** Each stage's figures over the rounds, in first-seen order. */
function byStage(rounds: readonly TraceRound[]): Map<string, StageFigures[]> {
  const out = new Map<string, StageFigures[]>();
  for (const r of rounds) for (const row of traceStages(r)) out.set(row.stage, [...(out.get(row.stage) ?? []), row]);
  return out;
}

/** The breakdown table of one row: one line per stage, each cell the median over rounds with its range. */
export function traceTable(label: string, rounds: readonly TraceRound[]): string {
  const head = ['stage', 'rounds', 'p50 ms', 'p99 ms', 'mean ms', 'per write ms'];
  const lines = [`trace: ${label}, ${rounds.map((r) => r.writes).join('+')} traced sequential writes`, `| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const [stage, rows] of byStage(rounds)) {
    lines.push(`| ${stage} | ${rows.length} | ${cell(rows.map((x) => x.p50Ms))} | ${cell(rows.map((x) => x.p99Ms))} | ${cell(rows.map((x) => x.meanMs))} | ${cell(rows.map((x) => x.perWriteMs))} |`);
  }
  return lines.join('\n');
}

/** A stage as a figure name (`send:txnPrewrite` → `send_txnPrewrite`, `tab<->host` → `tab_host`). */
const figureName = (stage: string): string => stage.replace(/<->/g, '_').replace(/[^A-Za-z0-9_]/g, '_');

/**
 * The row's breakdown as one line `bench:browser_trace_<row> <stage>_p50_ms=… <stage>_p99_ms=…
 * <stage>_per_write_ms=…` (medians over rounds; a derived stage has only its per-write time).
 */
export function traceLine(row: string, rounds: readonly TraceRound[]): string {
  const figures: string[] = [];
  for (const [stage, rows] of byStage(rounds)) {
    const name = figureName(stage);
    const p50 = median(rows.map((x) => x.p50Ms).filter(Number.isFinite));
    if (Number.isFinite(p50)) figures.push(`${name}_p50_ms=${ms(p50)}`, `${name}_p99_ms=${ms(median(rows.map((x) => x.p99Ms)))}`);
    figures.push(`${name}_per_write_ms=${ms(median(rows.map((x) => x.perWriteMs)))}`);
  }
  return `bench:browser_trace_${row.replace(/-/g, '_')} ${figures.join(' ')}`;
}
