/**
 * `npm run bench:cluster`: puts and linearizable gets from 16 concurrent clients against a
 * 3-store and a 1-store cluster in one Node process, on the memory engine and on LevelDB,
 * side by side in one run. Prints ops/s and p50/p99 latency for each, and
 *   bench:cluster put_ops_3=<n> put_ops_1=<n> get_ops_3=<n> ratio_put=<r>
 * (LevelDB figures, `strict` durability as the store's default), then the same puts against a
 * 3-store and a 1-store cluster with each store in its own worker thread, as stores are
 * deployed (`threads/`: LevelDB, linked over BroadcastChannel, joined through PD, the clients
 * in the main thread reaching them as a client that is not a store):
 *   bench:cluster_threads put_ops_3=<n> put_ops_1=<n> ratio_put=<r>
 * Goal (issue 16): ratio_put ≥ 0.5 with a store per thread.
 * `--trace` also prints where a put's time went on its leader's store (`status().writeTrace`,
 * the last `WRITE_TRACE_SAMPLES_MAX` puts of each one-thread put phase), p50s in ms, and what the
 * client saw beyond the store's total (routing, the in-process transport, the answer's way back):
 *   bench:cluster trace engine=<e> stores=<n> put_p50_ms= store_total_p50_ms= before_propose_p50_ms=
 *     propose_to_commit_p50_ms= commit_to_applied_p50_ms= applied_to_durable_p50_ms= outside_store_p50_ms= samples=
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryDisk, MemoryEngine } from '@peerkv/storage';
import { LevelEngine } from '@peerkv/storage/level';
import { nodeEntryCipher } from '@peerkv/node/cipher';
import type { EntryCipher, WriteTraceSummary } from '@peerkv/store';
import { deriveMemberKeys } from '@peerkv/transport';
import { LocalCluster, PeerKV } from '../src/index.ts';
import { startThreadCluster } from './threads/cluster-threads.ts';

const TRACE = process.argv.includes('--trace');
/** Each put phase's write trace, from the store leading the data region. */
const traces: { engine: string; stores: number; putP50Ms: number; trace: WriteTraceSummary }[] = [];

const CLIENTS = 16;
const OPS_PER_CLIENT = Number(process.env.BENCH_OPS ?? 300);
const VALUE_BYTES = 100;

interface Row {
  engine: string;
  stores: number;
  op: 'put' | 'get';
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

async function waitLeader(c: LocalCluster): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if ([...c.stores.values()].some((s) => s.status().regions.some((r) => r.role === 'leader'))) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('no leader');
}

async function runPhase(kv: PeerKV[], op: 'put' | 'get'): Promise<{ opsPerSec: number; p50Ms: number; p99Ms: number }> {
  const lat: number[] = [];
  const value = new Uint8Array(VALUE_BYTES).fill(7);
  const start = performance.now();
  await Promise.all(
    kv.map(async (client, c) => {
      for (let i = 0; i < OPS_PER_CLIENT; i++) {
        const key = new TextEncoder().encode(`c${c}-k${i}`);
        const t0 = performance.now();
        if (op === 'put') await client.put(key, value);
        else await client.get(key);
        lat.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  lat.sort((a, b) => a - b);
  return { opsPerSec: Math.round((CLIENTS * OPS_PER_CLIENT) / seconds), p50Ms: +pct(lat, 50).toFixed(2), p99Ms: +pct(lat, 99).toFixed(2) };
}

/**
 * Every write sealed with a data key, as in a deployed cluster (a store given the cluster
 * secret seals: `@peerkv/store`'s sealing.ts), with the cipher a Node store runs
 * (`@peerkv/node`'s `nodeEntryCipher`, as `peerkv-store` does); `BENCH_SEAL=0` measures without.
 */
export async function benchSealing(): Promise<{ entryCipher?: EntryCipher }> {
  if (process.env.BENCH_SEAL === '0') return {};
  return { entryCipher: nodeEntryCipher((await deriveMemberKeys('bench', BENCH_SECRET, 1)).dataKey) };
}
const BENCH_SECRET = 'pk1_benchbenchbenchbenchbenchbenchbenchbenchben';

async function bench(engine: 'memory' | 'level', stores: number): Promise<Row[]> {
  const dir = mkdtempSync(join(tmpdir(), 'peerkv-bench-'));
  const disks = new Map<number, MemoryDisk>();
  const c = new LocalCluster({
    openEngine: async (id, cfs) => {
      if (engine === 'level') return LevelEngine.open({ location: join(dir, `store-${id}`), columnFamilies: cfs });
      disks.set(id, disks.get(id) ?? new MemoryDisk());
      return MemoryEngine.open({ columnFamilies: cfs, disk: disks.get(id) });
    },
    store: { dataModel: 'raw', tickIntervalMs: 50, hibernateAfterTicks: 1_000_000, logGcThresholdEntries: 5000, logGcKeepEntries: 100, ...(await benchSealing()) },
  });
  const ids = Array.from({ length: stores }, (_, i) => i + 1);
  for (const id of ids) await c.startStore(id);
  await c.bootstrap(ids);
  await waitLeader(c);
  const clients = Array.from({ length: CLIENTS }, () => new PeerKV({ pd: c, stores: c, dataModel: 'raw' }));
  // Warm-up: route every client and the JIT.
  await Promise.all(clients.map((k, i) => k.put(new TextEncoder().encode(`warm${i}`), new Uint8Array(1))));
  const put = await runPhase(clients, 'put');
  const trace = [...c.stores.values()].map((s) => s.status().writeTrace).find((t) => t !== undefined && t.samples >= 100);
  if (trace) traces.push({ engine, stores, putP50Ms: put.p50Ms, trace });
  const get = await runPhase(clients, 'get');
  await c.close();
  rmSync(dir, { recursive: true, force: true });
  return [
    { engine, stores, op: 'put', ...put },
    { engine, stores, op: 'get', ...get },
  ];
}

const rows: Row[] = [];
for (const engine of ['memory', 'level'] as const) {
  for (const stores of [3, 1]) rows.push(...(await bench(engine, stores)));
}
console.log(`bench:cluster ${CLIENTS} clients x ${OPS_PER_CLIENT} ops, ${VALUE_BYTES} B values, strict durability`);
console.log('engine  stores  op   ops/s    p50_ms  p99_ms');
for (const r of rows) {
  console.log(`${r.engine.padEnd(7)} ${String(r.stores).padEnd(7)} ${r.op.padEnd(4)} ${String(r.opsPerSec).padEnd(8)} ${String(r.p50Ms).padEnd(7)} ${r.p99Ms}`);
}
const find = (engine: string, stores: number, op: string): Row => rows.find((r) => r.engine === engine && r.stores === stores && r.op === op)!;
const p3 = find('level', 3, 'put').opsPerSec;
const p1 = find('level', 1, 'put').opsPerSec;
const g3 = find('level', 3, 'get').opsPerSec;
if (TRACE) {
  for (const { engine, stores, putP50Ms, trace: t } of traces) {
    const p = t.p50Ms;
    console.log(
      `bench:cluster trace engine=${engine} stores=${stores} put_p50_ms=${putP50Ms} store_total_p50_ms=${p.total} before_propose_p50_ms=${p.beforePropose} propose_to_commit_p50_ms=${p.proposeToCommit} commit_to_applied_p50_ms=${p.commitToApplied} applied_to_durable_p50_ms=${p.appliedToDurable} outside_store_p50_ms=${(putP50Ms - p.total).toFixed(3)} samples=${t.samples}`,
    );
  }
}
console.log(`bench:cluster put_ops_3=${p3} put_ops_1=${p1} get_ops_3=${g3} ratio_put=${(p3 / p1).toFixed(3)}`);

// A store per thread: LevelDB, as above; puts only (the one-thread rows keep the gets).
const threadRows: Row[] = [];
for (const stores of [3, 1]) {
  const c = await startThreadCluster(stores, CLIENTS, 50);
  await Promise.all(c.clients.map((k, i) => k.put(new TextEncoder().encode(`warm${i}`), new Uint8Array(1))));
  threadRows.push({ engine: 'level', stores, op: 'put', ...(await runPhase(c.clients, 'put')) });
  await c.close();
}
console.log('threads engine  stores  op   ops/s    p50_ms  p99_ms');
for (const r of threadRows) {
  console.log(`threads ${r.engine.padEnd(7)} ${String(r.stores).padEnd(7)} ${r.op.padEnd(4)} ${String(r.opsPerSec).padEnd(8)} ${String(r.p50Ms).padEnd(7)} ${r.p99Ms}`);
}
const t3 = threadRows.find((r) => r.stores === 3)!.opsPerSec;
const t1 = threadRows.find((r) => r.stores === 1)!.opsPerSec;
console.log(`bench:cluster_threads put_ops_3=${t3} put_ops_1=${t1} ratio_put=${(t3 / t1).toFixed(3)}`);
