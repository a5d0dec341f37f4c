/**
 * The `peerkv` commands: each runs against a connected client and answers what to print (a
 * table for people, a JSON value for `--json`) and its exit code. Errors are thrown and mapped
 * in one place (`exit-codes.ts`).
 */
import { prefixEnd, type PeerKV } from 'peerkv';
import type { JoinProgress } from '@peerkv/pd';
import type { SnapshotProgress } from '@peerkv/store';
import type { ClusterAdmin } from '../admin.ts';
import { BENCH_CONCURRENCY_MAX, BENCH_COUNT_MAX, BENCH_VALUE_BYTES_MAX, WORKLOAD_READ_SHARE, runBench, type BenchResult, type Workload } from './bench.ts';
import { CLI_WAIT_MS_MAX, CliUsageError, SCAN_LIMIT_DEFAULT, SCAN_LIMIT_MAX, WATCH_COUNT_MAX, bytesArg, intFlag, type CliCommand, type OutputOptions } from './args.ts';
import { EXIT, type ExitCode } from './exit-codes.ts';
import { showBound, showBytes, table, toJson } from './format.ts';
import { parseTxnOps, runTxnOps } from './txn-ops.ts';

/** What a command runs on: the client and its admin (`NodePeerKV`, or an in-process stand-in in tests). */
export type CliClient = PeerKV & { readonly admin: Pick<ClusterAdmin, 'status' | 'members' | 'region' | 'split' | 'transferLeader' | 'drain'> };

/** What a command answers. */
export interface CommandOutput {
  exitCode: ExitCode;
  /** Printed without `--json`. */
  text: string;
  /** Printed (as JSON) with `--json`; absent: the command printed as it went (`watch`). */
  json?: unknown;
}

/** What a command may use besides the client: stdin (`txn`), a line printer and a stop signal (`watch`). */
export interface CommandContext {
  stdin(): Promise<string>;
  /** Prints one line at once (a streaming command's output). */
  out(line: string): void;
  /** Fires on SIGINT/SIGTERM: a `watch` stops and exits 0. */
  signal?: AbortSignal;
}

const ok = (text: string, json: unknown): CommandOutput => ({ exitCode: EXIT.ok, text, json });

/** Runs `c` on `kv`. */
export async function runCommand(kv: CliClient, c: CliCommand, ctx: CommandContext): Promise<CommandOutput> {
  const o = c.output;
  const key = (i: number): Uint8Array => bytesArg('key', c.args[i], o);
  switch (c.command) {
    case 'get': {
      const k = key(0);
      const v = await kv.get(k);
      if (v === undefined) return { exitCode: EXIT.notFound, text: '', json: { key: k, found: false } };
      return ok(showBytes(v, o), { key: k, found: true, value: v });
    }
    case 'put':
      await kv.put(key(0), bytesArg('value', c.args[1], o));
      return ok('OK', { ok: true });
    case 'del':
      await kv.delete(key(0));
      return ok('OK', { ok: true });
    case 'scan':
      return scan(kv, c, o);
    case 'watch':
      return watch(kv, c, o, ctx);
    case 'txn': {
      const r = await runTxnOps(kv, parseTxnOps(await ctx.stdin(), o), c.switches.has('pessimistic'));
      const rows = r.results.map((x) => [x.op, showBytes(x.key, o), x.op === 'get' ? (x.value === null ? '(absent)' : showBytes(x.value!, o)) : '']);
      const head = `committed start_ts=${r.startTs} commit_ts=${r.commitTs ?? '(read-only)'} attempts=${r.attempts}`;
      return ok(`${head}\n${table(['op', 'key', 'value'], rows)}`, { committed: true, ...r });
    }
    case 'status':
      return status(kv, o);
    case 'members': {
      const view = await kv.admin.status();
      const members = view.stores.filter((s) => s.connected);
      const rows = members.map((s) => [s.storeId, s.meta?.address, labels(s.meta?.labels), s.meta?.state]);
      return ok(table(['store', 'address', 'labels', 'state'], rows), members.map((s) => ({ storeId: s.storeId, ...(s.meta ? { address: s.meta.address, labels: s.meta.labels, state: s.meta.state } : {}) })));
    }
    case 'region': {
      const r = await kv.admin.region(key(0));
      const row = [r.regionId, showBound(r.startKey, false, o), showBound(r.endKey, true, o), `${r.epoch.confVer}/${r.epoch.version}`, peers(r.peers), r.leaderStoreId];
      return ok(table(['region', 'start', 'end', 'epoch', 'peers', 'leader'], [row]), r);
    }
    case 'split': {
      const r = await kv.admin.split(key(0));
      return ok(`split region ${r.regionId} at ${showBytes(key(0), o)}: new region ${r.newRegionId}`, r);
    }
    case 'transfer-leader': {
      const regionId = intFlag('region', c.args[0], 1, Number.MAX_SAFE_INTEGER);
      const storeId = intFlag('store', c.args[1], 1, Number.MAX_SAFE_INTEGER);
      const waitMs = c.flags['wait-ms'] !== undefined ? intFlag('wait-ms', c.flags['wait-ms'], 0, CLI_WAIT_MS_MAX) : undefined;
      const r = await kv.admin.transferLeader(regionId, storeId, waitMs);
      return ok(r.alreadyLeader ? `store ${storeId} already leads region ${regionId}` : `store ${storeId} leads region ${regionId} (after ${r.waitedMs} ms)`, { regionId, storeId, ...r });
    }
    case 'drain': {
      const storeId = intFlag('store', c.args[0], 1, Number.MAX_SAFE_INTEGER);
      const waitMs = c.flags['wait-ms'] !== undefined ? intFlag('wait-ms', c.flags['wait-ms'], 0, CLI_WAIT_MS_MAX) : undefined;
      const r = await kv.admin.drain(storeId, { undo: c.switches.has('undo'), ...(waitMs !== undefined ? { waitMs } : {}) });
      return ok(r.draining ? `store ${storeId} drained: it leads no region (after ${r.waitedMs} ms)` : `store ${storeId} serves again (leads ${r.leaders} regions now)`, { storeId, ...r });
    }
    case 'bench':
      return bench(kv, c);
  }
}

/** The key range of `--prefix`, or `--start`/`--end` (absent: everything). */
function rangeOf(c: CliCommand, o: OutputOptions): { start?: Uint8Array; end?: Uint8Array } {
  const f = c.flags;
  if (f.prefix !== undefined && (f.start !== undefined || f.end !== undefined)) throw new CliUsageError(`${c.command} takes --prefix or --start/--end, not both`);
  if (f.prefix !== undefined) {
    const prefix = bytesArg('prefix', f.prefix, o);
    return { start: prefix, end: prefixEnd(prefix) };
  }
  return { ...(f.start !== undefined ? { start: bytesArg('start', f.start, o) } : {}), ...(f.end !== undefined ? { end: bytesArg('end', f.end, o) } : {}) };
}

async function scan(kv: CliClient, c: CliCommand, o: OutputOptions): Promise<CommandOutput> {
  const range = rangeOf(c, o);
  const limit = c.flags.limit !== undefined ? intFlag('limit', c.flags.limit, 1, SCAN_LIMIT_MAX) : SCAN_LIMIT_DEFAULT;
  const pairs: { key: Uint8Array; value: Uint8Array }[] = [];
  for await (const p of kv.scan({ ...range, limit, reverse: c.switches.has('reverse') })) pairs.push(p);
  return ok(
    table(
      ['key', 'value'],
      pairs.map((p) => [showBytes(p.key, o), showBytes(p.value, o)]),
    ),
    pairs,
  );
}

/**
 * Prints each committed change of the range as it arrives (one line, or one JSON object per
 * line with `--json`), watermarks too with `--resolved`; stops after `--count` changes, or
 * when `ctx.signal` fires (exit 0).
 */
async function watch(kv: CliClient, c: CliCommand, o: OutputOptions, ctx: CommandContext): Promise<CommandOutput> {
  const range = rangeOf(c, o);
  const fromTs = c.flags['from-ts'];
  if (fromTs !== undefined && !/^\d{1,20}$/.test(fromTs)) throw new CliUsageError(`--from-ts needs a TSO timestamp (decimal), got '${fromTs}'`);
  const count = c.flags.count !== undefined ? intFlag('count', c.flags.count, 1, WATCH_COUNT_MAX) : Infinity;
  const resolved = c.switches.has('resolved');
  let changes = 0;
  try {
    for await (const e of kv.watch(range, { ...(fromTs !== undefined ? { fromTs: BigInt(fromTs) } : {}), ...(ctx.signal ? { signal: ctx.signal } : {}) })) {
      if (e.type === 'resolved') {
        if (resolved) ctx.out(o.json ? toJson(e, o) : `RESOLVED ${e.ts}`);
        continue;
      }
      if (o.json) ctx.out(toJson(e, o));
      else ctx.out(e.type === 'put' ? `PUT ${showBytes(e.key, o)} ${showBytes(e.value, o)} commit_ts=${e.commitTs}` : `DELETE ${showBytes(e.key, o)} commit_ts=${e.commitTs}`);
      if (++changes >= count) break;
    }
  } catch (e) {
    if (!ctx.signal?.aborted) throw e;
  }
  return { exitCode: EXIT.ok, text: '' };
}

async function status(kv: CliClient, o: OutputOptions): Promise<CommandOutput> {
  const v = await kv.admin.status();
  // The join column's n follows PD's own settings: shown so a figure can be checked.
  const schedule = v.schedule ? ` max_replicas=${v.schedule.maxReplicas} region_tolerance=${v.schedule.regionScheduleTolerance}` : '';
  const head = `pd_leader=${v.pdLeaderStoreId ?? '(none)'} tso=${v.tso ?? '(no answer)'} stores=${v.stores.length} regions=${v.regions.filter((r) => !r.pd).length}${schedule}`;
  const stores = table(
    ['store', 'address', 'labels', 'state', 'connected', 'up', 'replicas', 'leaders', 'join', 'snapshots'],
    v.stores.map((s) => [s.storeId, s.meta?.address, labels(s.meta?.labels), s.meta?.state, s.connected, s.up, s.replicas, s.leaders, joining(s.join, s.snapshots), snapshots(s.snapshots)]),
  );
  const regions = table(
    ['region', 'start', 'end', 'epoch', 'peers', 'leader', 'term'],
    v.regions.map((r) => [r.pd ? `${r.regionId} (pd)` : r.regionId, r.pd ? '' : showBound(r.startKey, false, o), r.pd ? '' : showBound(r.endKey, true, o), `${r.epoch.confVer}/${r.epoch.version}`, peers(r.peers), r.leaderStoreId, r.term]),
  );
  return { exitCode: v.tso === undefined ? EXIT.unavailable : EXIT.ok, text: `${head}\n\n${stores}\n\n${regions}`, json: v };
}

async function bench(kv: CliClient, c: CliCommand): Promise<CommandOutput> {
  const f = c.flags;
  const phase = c.args[0];
  if (phase !== 'load' && phase !== 'run') throw new CliUsageError(`bench takes load or run, got '${phase}'`);
  const workload = (f.workload ?? 'a').toLowerCase();
  if (!(workload in WORKLOAD_READ_SHARE)) throw new CliUsageError(`--workload is a, b or c, got '${f.workload}'`);
  const distribution = f.distribution ?? 'zipfian';
  if (distribution !== 'zipfian' && distribution !== 'uniform') throw new CliUsageError(`--distribution is zipfian or uniform, got '${distribution}'`);
  const records = f.records !== undefined ? intFlag('records', f.records, 1, BENCH_COUNT_MAX) : 1000;
  const r: BenchResult = await runBench(kv, {
    phase,
    workload: workload as Workload,
    records,
    operations: f.operations !== undefined ? intFlag('operations', f.operations, 1, BENCH_COUNT_MAX) : 1000,
    concurrency: f.concurrency !== undefined ? intFlag('concurrency', f.concurrency, 1, BENCH_CONCURRENCY_MAX) : 8,
    valueBytes: f['value-bytes'] !== undefined ? intFlag('value-bytes', f['value-bytes'], 1, BENCH_VALUE_BYTES_MAX) : 100,
    distribution,
    seed: f.seed !== undefined ? intFlag('seed', f.seed, 0, 2 ** 32 - 1) : 1,
  });
  const head = `${r.phase}${r.workload ? ` workload ${r.workload.toUpperCase()}` : ''}: ${r.elapsedMs} ms, ${r.opsPerSec} ops/s${r.firstError ? `, first error: ${r.firstError}` : ''}`;
  const rows = r.ops.map((x) => [x.operation, x.count, x.errors, x.opsPerSec, x.avgMs, x.p50Ms, x.p99Ms, x.maxMs]);
  const failed = r.ops.some((x) => x.errors > 0);
  return { exitCode: failed ? EXIT.unavailable : EXIT.ok, text: `${head}\n${table(['operation', 'count', 'errors', 'ops/s', 'avg_ms', 'p50_ms', 'p99_ms', 'max_ms'], rows)}`, json: r };
}

/**
 * A store's snapshot progress in one cell: transfers in flight with the bytes moved so far, and
 * each region applying one with its chunks applied of all ("send 1 (2.0 MiB), recv 1 (512 KiB), apply r7 3/9").
 */
export function snapshots(p: SnapshotProgress | undefined): string | undefined {
  if (p === undefined) return undefined;
  const parts: string[] = [];
  if (p.sending > 0) parts.push(`send ${p.sending} (${showSize(p.bytesSent)} sent)`);
  if (p.receiving > 0) parts.push(`recv ${p.receiving} (${showSize(p.bytesReceived)} received)`);
  for (const a of p.applying) parts.push(`apply r${a.regionId} ${a.chunksApplied}/${a.chunks}${a.failed !== undefined ? ' failed' : ''}`);
  return parts.length > 0 ? parts.join(', ') : '-';
}

/**
 * A store's join progress in one cell (`admin-join.ts`): "joined (n)" once every region PD
 * places on it is placed and caught up, else "k of n placed, m caught up" and the snapshot
 * bytes it received since it started.
 */
export function joining(j: JoinProgress | undefined, p: SnapshotProgress | undefined): string | undefined {
  if (j === undefined) return undefined;
  if (j.joined) return `joined (${j.target})`;
  return `${j.placed} of ${j.target} placed, ${j.caughtUp} caught up${p !== undefined && p.bytesReceived > 0 ? `, ${showSize(p.bytesReceived)} received` : ''}`;
}

function showSize(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KiB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}

function labels(l: Record<string, string> | undefined): string | undefined {
  return l ? Object.entries(l).map(([k, v]) => `${k}=${v}`).join(',') : undefined;
}

function peers(ps: readonly { storeId: number; role: string }[]): string {
  return ps.map((p) => (p.role === 'voter' ? String(p.storeId) : `${p.storeId}(${p.role})`)).join(',');
}
