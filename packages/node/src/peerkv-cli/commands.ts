/**
 * The `peerkv` commands: each runs against a connected client and answers what to print (a
 * table for people, a JSON value for `--json`) and its exit code. Errors are thrown and mapped
 * in one place (`exit-codes.ts`).
 */
import { prefixEnd, type PeerKV } from 'peerkv';
import type { ClusterAdmin } from '../admin.ts';
import { BENCH_CONCURRENCY_MAX, BENCH_COUNT_MAX, BENCH_VALUE_BYTES_MAX, WORKLOAD_READ_SHARE, runBench, type BenchResult, type Workload } from './bench.ts';
import { CLI_WAIT_MS_MAX, CliUsageError, SCAN_LIMIT_DEFAULT, SCAN_LIMIT_MAX, bytesArg, intFlag, type CliCommand, type OutputOptions } from './args.ts';
import { EXIT, type ExitCode } from './exit-codes.ts';
import { showBound, showBytes, table } from './format.ts';
import { parseTxnOps, runTxnOps } from './txn-ops.ts';

/** What a command runs on: the client and its admin (`NodePeerKV`, or an in-process stand-in in tests). */
export type CliClient = PeerKV & { readonly admin: Pick<ClusterAdmin, 'status' | 'members' | 'region' | 'split' | 'transferLeader'> };

/** What a command answers. */
export interface CommandOutput {
  exitCode: ExitCode;
  /** Printed without `--json`. */
  text: string;
  /** Printed (as JSON) with `--json`. */
  json: unknown;
}

const ok = (text: string, json: unknown): CommandOutput => ({ exitCode: EXIT.ok, text, json });

/** Runs `c` on `kv`; `stdin` is read only by `txn`. */
export async function runCommand(kv: CliClient, c: CliCommand, stdin: () => Promise<string>): Promise<CommandOutput> {
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
    case 'txn': {
      const r = await runTxnOps(kv, parseTxnOps(await stdin(), o), c.switches.has('pessimistic'));
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
    case 'bench':
      return bench(kv, c);
  }
}

async function scan(kv: CliClient, c: CliCommand, o: OutputOptions): Promise<CommandOutput> {
  const f = c.flags;
  if (f.prefix !== undefined && (f.start !== undefined || f.end !== undefined)) throw new CliUsageError('scan takes --prefix or --start/--end, not both');
  const limit = f.limit !== undefined ? intFlag('limit', f.limit, 1, SCAN_LIMIT_MAX) : SCAN_LIMIT_DEFAULT;
  const prefix = f.prefix !== undefined ? bytesArg('prefix', f.prefix, o) : undefined;
  const start = prefix ?? (f.start !== undefined ? bytesArg('start', f.start, o) : undefined);
  const end = prefix !== undefined ? prefixEnd(prefix) : f.end !== undefined ? bytesArg('end', f.end, o) : undefined;
  const pairs: { key: Uint8Array; value: Uint8Array }[] = [];
  for await (const p of kv.scan({ ...(start ? { start } : {}), ...(end ? { end } : {}), limit, reverse: c.switches.has('reverse') })) pairs.push(p);
  return ok(
    table(
      ['key', 'value'],
      pairs.map((p) => [showBytes(p.key, o), showBytes(p.value, o)]),
    ),
    pairs,
  );
}

async function status(kv: CliClient, o: OutputOptions): Promise<CommandOutput> {
  const v = await kv.admin.status();
  const head = `pd_leader=${v.pdLeaderStoreId ?? '(none)'} tso=${v.tso ?? '(no answer)'} stores=${v.stores.length} regions=${v.regions.filter((r) => !r.pd).length}`;
  const stores = table(
    ['store', 'address', 'labels', 'state', 'connected', 'up', 'replicas', 'leaders'],
    v.stores.map((s) => [s.storeId, s.meta?.address, labels(s.meta?.labels), s.meta?.state, s.connected, s.up, s.replicas, s.leaders]),
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

function labels(l: Record<string, string> | undefined): string | undefined {
  return l ? Object.entries(l).map(([k, v]) => `${k}=${v}`).join(',') : undefined;
}

function peers(ps: readonly { storeId: number; role: string }[]): string {
  return ps.map((p) => (p.role === 'voter' ? String(p.storeId) : `${p.storeId}(${p.role})`)).join(',');
}
