/**
 * `npm run bench:txn`: transactions against raw writes, in one run, on two PD-driven clusters
 * of three stores built the same way (LevelDB, `strict` durability): one in the `raw` data
 * model (the baseline, kept only for comparison) and one in `mvcc` (a store holds one data
 * model, never both, so "the same cluster" is the same configuration, not the same stores).
 * 16 concurrent clients each time. Prints a table and
 *   bench:txn put_1pc_vs_raw= txn2_ops_per_s= txn2_vs_put= async_commit_p50_ms= contention_commit_rate=
 * - put_1pc_vs_raw: mvcc `put` (a one-key transaction committed by 1PC) ops/s over raw `put` ops/s
 *   (goal ≥ 0.8);
 * - txn2_ops_per_s: transactions writing two keys in two regions (2PC) per second;
 *   txn2_vs_put: that over raw `put` ops/s;
 * - async_commit_p50_ms: p50 latency of those two-region transactions with async commit;
 * - contention_commit_rate: commits per run of the function when 16 clients increment 4 hot
 *   counters (1.0: no conflict ever re-ran a function).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LevelEngine } from '@peerkv/storage/level';
import { PdCluster, PeerKV, type TransactionOptions } from '../src/index.ts';
import { pct, until } from './bench-util.ts';

const CLIENTS = 16;
const OPS_PER_CLIENT = Number(process.env.BENCH_OPS ?? 200);
const VALUE_BYTES = 100;
const TXN_CFS = ['default', 'lock', 'write'];

const enc = new TextEncoder();

async function cluster(model: 'raw' | 'mvcc'): Promise<{ c: PdCluster; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), `peerkv-bench-txn-${model}-`));
  const c = new PdCluster({
    openEngine: (name, cfs) => LevelEngine.open({ location: join(dir, name), columnFamilies: cfs }),
    store: { tickIntervalMs: 20, heartbeatIntervalTicks: 5, hibernateAfterTicks: 1_000_000, logGcThresholdEntries: 5000, logGcKeepEntries: 100, ...(model === 'mvcc' ? { dataColumnFamilies: TXN_CFS, dataModel: 'mvcc' as const } : {}) },
    schedule: { regionSplitKeys: 1_000_000 },
  });
  await c.bootstrap('a');
  await c.join('b');
  await c.join('c');
  await until('three voters for the data region', () => c.regions().some((r) => r.id !== 1 && r.peers.filter((p) => p.role === 'voter').length === 3));
  // Two data regions: the two-key transactions below write one key in each.
  const route = (await c.getRegion(enc.encode('m')))!;
  const r = route.region;
  for (const s of c.stores.values()) {
    const id = 900_000 + s.storeId;
    const res = await s.handle({ type: 'split', regionId: r.id, epoch: r.epoch, splitKey: enc.encode('m'), newRegionId: id, newPeerIds: r.peers.map((_, i) => id * 10 + i) });
    if (res.ok) break;
  }
  await until('PD saw the split', async () => (await c.getRegion(enc.encode('m')))?.region.startKey.length === 1);
  return { c, dir };
}

async function timed(clients: PeerKV[], op: (kv: PeerKV, c: number, i: number) => Promise<unknown>, ops = OPS_PER_CLIENT): Promise<{ opsPerSec: number; p50Ms: number; p99Ms: number }> {
  const lat: number[] = [];
  const start = performance.now();
  await Promise.all(
    clients.map(async (kv, c) => {
      for (let i = 0; i < ops; i++) {
        const t0 = performance.now();
        await op(kv, c, i);
        lat.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  lat.sort((a, b) => a - b);
  return { opsPerSec: Math.round((clients.length * ops) / seconds), p50Ms: +pct(lat, 50).toFixed(2), p99Ms: +pct(lat, 99).toFixed(2) };
}

const value = new Uint8Array(VALUE_BYTES).fill(7);
const rows: { name: string; opsPerSec: number; p50Ms: number; p99Ms: number }[] = [];

const raw = await cluster('raw');
const rawClients = Array.from({ length: CLIENTS }, () => new PeerKV({ pd: raw.c, stores: raw.c }));
await Promise.all(rawClients.map((kv, i) => kv.put(enc.encode(`warm${i}`), value)));
const rawPut = await timed(rawClients, (kv, c, i) => kv.put(enc.encode(`c${c}-k${i}`), value));
rows.push({ name: 'raw put', ...rawPut });
for (const kv of rawClients) kv.close();
await raw.c.close();
rmSync(raw.dir, { recursive: true, force: true });

const mv = await cluster('mvcc');
const clients = Array.from({ length: CLIENTS }, () => new PeerKV({ pd: mv.c, stores: mv.c, dataModel: 'mvcc' }));
await Promise.all(clients.map((kv, i) => kv.put(enc.encode(`warm${i}`), value)));
const put1pc = await timed(clients, (kv, c, i) => kv.put(enc.encode(`c${c}-k${i}`), value));
rows.push({ name: 'mvcc put (1PC)', ...put1pc });
const twoRegions = (o: TransactionOptions) => (kv: PeerKV, c: number, i: number) =>
  kv.transaction(async (tx) => {
    tx.put(enc.encode(`a-c${c}-${i}`), value);
    tx.put(enc.encode(`z-c${c}-${i}`), value);
  }, o);
const txn2 = await timed(clients, twoRegions({}));
rows.push({ name: 'txn 2 keys 2 regions (2PC)', ...txn2 });
const asyncCommit = await timed(clients, twoRegions({ asyncCommit: true }));
rows.push({ name: 'txn 2 keys 2 regions (async commit)', ...asyncCommit });
const asyncP50 = String(asyncCommit.p50Ms);
// Contention: 16 clients increment 4 hot counters.
const HOT = 4;
for (let h = 0; h < HOT; h++) await clients[0].put(enc.encode(`hot${h}`), enc.encode('0'));
let runs = 0;
let commits = 0;
const contended = await timed(
  clients,
  async (kv, c, i) => {
    await kv.transaction(
      async (tx) => {
        runs++;
        const key = enc.encode(`hot${(c + i) % HOT}`);
        const n = Number(new TextDecoder().decode((await tx.get(key)) ?? enc.encode('0')));
        tx.put(key, enc.encode(String(n + 1)));
      },
      { retriesMax: 100 },
    );
    commits++;
  },
  Math.max(10, Math.floor(OPS_PER_CLIENT / 4)),
);
rows.push({ name: `contended increments (${HOT} hot keys)`, ...contended });
let total = 0;
for (let h = 0; h < HOT; h++) total += Number(new TextDecoder().decode((await clients[0].get(enc.encode(`hot${h}`)))!));
if (total !== commits) throw new Error(`bench: the hot counters sum to ${total}, but ${commits} increments committed`);
for (const kv of clients) kv.close();
await mv.c.close();
rmSync(mv.dir, { recursive: true, force: true });

console.log(`bench:txn ${CLIENTS} clients, ${OPS_PER_CLIENT} ops each, ${VALUE_BYTES} B values, 3 stores, LevelDB, strict durability`);
console.log('case                                   ops/s    p50_ms  p99_ms');
for (const r of rows) console.log(`${r.name.padEnd(38)} ${String(r.opsPerSec).padEnd(8)} ${String(r.p50Ms).padEnd(7)} ${r.p99Ms}`);
console.log(
  `bench:txn put_1pc_vs_raw=${(put1pc.opsPerSec / rawPut.opsPerSec).toFixed(3)} txn2_ops_per_s=${txn2.opsPerSec} txn2_vs_put=${(txn2.opsPerSec / rawPut.opsPerSec).toFixed(3)} async_commit_p50_ms=${asyncP50} contention_commit_rate=${(commits / runs).toFixed(3)}`,
);
