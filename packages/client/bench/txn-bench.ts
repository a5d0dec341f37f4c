/**
 * `npm run bench:txn`: transactions against raw writes, in one run, on two PD-driven clusters
 * of three stores built the same way (LevelDB, `strict` durability): one in the `raw` data
 * model (the baseline, kept only for comparison) and one in `mvcc` (a store holds one data
 * model, never both, so "the same cluster" is the same configuration, not the same stores).
 * 16 concurrent clients each time. Prints a table and
 *   bench:txn put_1pc_vs_raw= txn2_ops_per_s= txn2_vs_put= async_commit_p50_ms= contention_commit_rate= put_1pc_vs_raw_min= put_1pc_vs_raw_max= put_rounds=
 * - put_1pc_vs_raw: mvcc `put` (a one-key transaction committed by 1PC) ops/s over raw `put`
 *   ops/s (goal ≥ 0.8), the median over `put_rounds` rounds. Both clusters are up for the whole
 *   comparison and each round measures both, one after the other, the order swapped every
 *   round, so load from elsewhere on the machine and warm-up fall on both alike; the per-round
 *   ratios' spread is `put_1pc_vs_raw_min`..`put_1pc_vs_raw_max`;
 * - txn2_ops_per_s: transactions writing two keys in two regions (2PC) per second;
 *   txn2_vs_put: that over the median raw `put` ops/s of the rounds;
 * - async_commit_p50_ms: p50 latency of those two-region transactions with async commit;
 * - contention_commit_rate: commits per run of the function when 16 clients increment 4 hot
 *   counters (1.0: no conflict ever re-ran a function).
 * Beside the ops/s, it prints what one put costs in calls (engine reads, snapshots and writes
 * on the three stores, PD timestamp requests): counts the machine's load does not move; and
 * the process's CPU time per put (every thread, LevelDB's included), which load moves far less
 * than wall time.
 * `BENCH_ROUNDS` (default 8) and `BENCH_OPS` (puts per client per round, default 100; the
 * transactions run 2 × that per client) change the sizes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LevelEngine } from '@peerkv/storage/level';
import { PdCluster, PeerKV, type TransactionOptions } from '../src/index.ts';
import { EngineCounts, median, pct, until, type EngineCallCounts } from './bench-util.ts';

const CLIENTS = 16;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 8);
const PUTS_PER_CLIENT_PER_ROUND = Number(process.env.BENCH_OPS ?? 100);
const WARMUP_PUTS_PER_CLIENT = 25;
const TXNS_PER_CLIENT = 2 * PUTS_PER_CLIENT_PER_ROUND;
const VALUE_BYTES = 100;
const TXN_CFS = ['default', 'lock', 'write'];

const enc = new TextEncoder();

interface Bench {
  c: PdCluster;
  dir: string;
  engine: EngineCounts;
  /** PD timestamp requests the clients made. */
  tso: { requests: number };
  clients: PeerKV[];
}

async function cluster(model: 'raw' | 'mvcc'): Promise<Bench> {
  const dir = mkdtempSync(join(tmpdir(), `peerkv-bench-txn-${model}-`));
  const engine = new EngineCounts();
  const c = new PdCluster({
    openEngine: async (name, cfs) => engine.wrap(await LevelEngine.open({ location: join(dir, name), columnFamilies: cfs })),
    store: { tickIntervalMs: 20, heartbeatIntervalTicks: 5, hibernateAfterTicks: 1_000_000, logGcThresholdEntries: 5000, logGcKeepEntries: 100, ...(model === 'mvcc' ? { dataColumnFamilies: TXN_CFS, dataModel: 'mvcc' as const } : { dataModel: 'raw' as const }) },
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
  const tso = { requests: 0 };
  // PD as the clients see it, its timestamp requests counted.
  const pd = new Proxy(c, {
    get(target, prop) {
      if (prop === 'getTimestamps') return (count: number) => (tso.requests++, target.getTimestamps(count));
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  const clients = Array.from({ length: CLIENTS }, () => new PeerKV({ pd, stores: c, dataModel: model }));
  await Promise.all(clients.map((kv, i) => kv.put(enc.encode(`warm${i}`), value)));
  return { c, dir, engine, tso, clients };
}

async function close(b: Bench): Promise<void> {
  for (const kv of b.clients) kv.close();
  await b.c.close();
  rmSync(b.dir, { recursive: true, force: true });
}

/** Ops per second, each op's latency (ms), and the process's CPU time (every thread: LevelDB's too) per op, µs. */
type Timed = { opsPerSec: number; lat: number[]; cpuUsPerOp: number };

async function timed(clients: PeerKV[], op: (kv: PeerKV, c: number, i: number) => Promise<unknown>, ops: number): Promise<Timed> {
  const lat: number[] = [];
  const start = performance.now();
  const cpu = process.cpuUsage();
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
  const used = process.cpuUsage(cpu);
  return { opsPerSec: Math.round((clients.length * ops) / seconds), lat, cpuUsPerOp: (used.user + used.system) / (clients.length * ops) };
}

type Row = { name: string; opsPerSec: number; p50Ms: number; p99Ms: number };

function row(name: string, opsPerSec: number, lat: number[]): Row {
  const sorted = [...lat].sort((a, b) => a - b);
  return { name, opsPerSec: Math.round(opsPerSec), p50Ms: +pct(sorted, 50).toFixed(2), p99Ms: +pct(sorted, 99).toFixed(2) };
}

/** Engine calls and PD requests per put over the measured rounds of one model. */
type PerPut = EngineCallCounts & { tsoRequests: number };

const value = new Uint8Array(VALUE_BYTES).fill(7);
const rows: Row[] = [];

const raw = await cluster('raw');
const mv = await cluster('mvcc');
const put = (round: number) => (kv: PeerKV, c: number, i: number) => kv.put(enc.encode(`r${round}-c${c}-k${i}`), value);
// Warm-up (JIT, caches, the stores' first rounds), not measured.
await timed(raw.clients, put(-1), WARMUP_PUTS_PER_CLIENT);
await timed(mv.clients, put(-1), WARMUP_PUTS_PER_CLIENT);

const perRound: { raw: number; mvcc: number; ratio: number; rawCpuUs: number; mvccCpuUs: number }[] = [];
const lat = { raw: [] as number[], mvcc: [] as number[] };
const cost = { raw: zeroCost(), mvcc: zeroCost() };
for (let round = 0; round < ROUNDS; round++) {
  const measure = async (b: Bench, model: 'raw' | 'mvcc'): Promise<Timed> => {
    const before = b.engine.now();
    const tsoBefore = b.tso.requests;
    const t = await timed(b.clients, put(round), PUTS_PER_CLIENT_PER_ROUND);
    addCost(cost[model], before, b.engine.now(), b.tso.requests - tsoBefore);
    lat[model].push(...t.lat);
    return t;
  };
  // Swapped every round: neither model always runs first (or right after the other's writes).
  let r: Timed;
  let m: Timed;
  if (round % 2 === 0) {
    r = await measure(raw, 'raw');
    m = await measure(mv, 'mvcc');
  } else {
    m = await measure(mv, 'mvcc');
    r = await measure(raw, 'raw');
  }
  perRound.push({ raw: r.opsPerSec, mvcc: m.opsPerSec, ratio: m.opsPerSec / r.opsPerSec, rawCpuUs: r.cpuUsPerOp, mvccCpuUs: m.cpuUsPerOp });
}
await close(raw);

const rawMedian = median(perRound.map((r) => r.raw));
rows.push(row('raw put', rawMedian, lat.raw));
rows.push(row('mvcc put (1PC)', median(perRound.map((r) => r.mvcc)), lat.mvcc));
const ratios = perRound.map((r) => r.ratio);

const twoRegions = (o: TransactionOptions) => (kv: PeerKV, c: number, i: number) =>
  kv.transaction(async (tx) => {
    tx.put(enc.encode(`a-c${c}-${i}`), value);
    tx.put(enc.encode(`z-c${c}-${i}`), value);
  }, o);
const txn2 = await timed(mv.clients, twoRegions({}), TXNS_PER_CLIENT);
rows.push(row('txn 2 keys 2 regions (2PC)', txn2.opsPerSec, txn2.lat));
const asyncCommit = await timed(mv.clients, twoRegions({ asyncCommit: true }), TXNS_PER_CLIENT);
const asyncRow = row('txn 2 keys 2 regions (async commit)', asyncCommit.opsPerSec, asyncCommit.lat);
rows.push(asyncRow);
// Contention: 16 clients increment 4 hot counters.
const HOT = 4;
for (let h = 0; h < HOT; h++) await mv.clients[0].put(enc.encode(`hot${h}`), enc.encode('0'));
let runs = 0;
let commits = 0;
const contended = await timed(
  mv.clients,
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
  Math.max(10, Math.floor(TXNS_PER_CLIENT / 4)),
);
rows.push(row(`contended increments (${HOT} hot keys)`, contended.opsPerSec, contended.lat));
let total = 0;
for (let h = 0; h < HOT; h++) total += Number(new TextDecoder().decode((await mv.clients[0].get(enc.encode(`hot${h}`)))!));
if (total !== commits) throw new Error(`bench: the hot counters sum to ${total}, but ${commits} increments committed`);
await close(mv);

const puts = ROUNDS * CLIENTS * PUTS_PER_CLIENT_PER_ROUND;
console.log(`bench:txn ${CLIENTS} clients, ${VALUE_BYTES} B values, 3 stores, LevelDB, strict durability; puts: ${ROUNDS} rounds x ${PUTS_PER_CLIENT_PER_ROUND} per client per model, raw and mvcc alternating`);
console.log('round  raw_put_ops/s  mvcc_put_ops/s  ratio  raw_cpu_us/put  mvcc_cpu_us/put');
perRound.forEach((r, i) => console.log(`${String(i).padEnd(6)} ${String(r.raw).padEnd(14)} ${String(r.mvcc).padEnd(15)} ${r.ratio.toFixed(3).padEnd(6)} ${r.rawCpuUs.toFixed(0).padEnd(15)} ${r.mvccCpuUs.toFixed(0)}`));
const cpuRatio = median(perRound.map((r) => r.rawCpuUs / r.mvccCpuUs));
console.log(`CPU time per put (the process, every thread), median over rounds: raw ${median(perRound.map((r) => r.rawCpuUs)).toFixed(0)} us, mvcc ${median(perRound.map((r) => r.mvccCpuUs)).toFixed(0)} us; raw/mvcc ${cpuRatio.toFixed(3)} (what put_1pc_vs_raw would be if CPU alone bounded both)`);
console.log('case                                   ops/s    p50_ms  p99_ms');
for (const r of rows) console.log(`${r.name.padEnd(38)} ${String(r.opsPerSec).padEnd(8)} ${String(r.p50Ms).padEnd(7)} ${r.p99Ms}`);
console.log('per put (3 stores, background work included)  engine_gets  engine_scans  snapshots  engine_writes  pd_tso_requests');
for (const model of ['raw', 'mvcc'] as const) {
  const p = perPut(cost[model], puts);
  console.log(`${model.padEnd(45)} ${p.gets.toFixed(2).padEnd(12)} ${p.scans.toFixed(2).padEnd(13)} ${p.snapshots.toFixed(2).padEnd(10)} ${p.writes.toFixed(2).padEnd(14)} ${p.tsoRequests.toFixed(2)}`);
}
console.log(
  `bench:txn put_1pc_vs_raw=${median(ratios).toFixed(3)} txn2_ops_per_s=${txn2.opsPerSec} txn2_vs_put=${(txn2.opsPerSec / rawMedian).toFixed(3)} async_commit_p50_ms=${asyncRow.p50Ms} contention_commit_rate=${(commits / runs).toFixed(3)} put_1pc_vs_raw_min=${Math.min(...ratios).toFixed(3)} put_1pc_vs_raw_max=${Math.max(...ratios).toFixed(3)} put_rounds=${ROUNDS}`,
);

function zeroCost(): PerPut {
  return { gets: 0, scans: 0, snapshots: 0, writes: 0, tsoRequests: 0 };
}

function addCost(into: PerPut, before: EngineCallCounts, after: EngineCallCounts, tsoRequests: number): void {
  into.gets += after.gets - before.gets;
  into.scans += after.scans - before.scans;
  into.snapshots += after.snapshots - before.snapshots;
  into.writes += after.writes - before.writes;
  into.tsoRequests += tsoRequests;
}

function perPut(c: PerPut, n: number): PerPut {
  return { gets: c.gets / n, scans: c.scans / n, snapshots: c.snapshots / n, writes: c.writes / n, tsoRequests: c.tsoRequests / n };
}
