/**
 * `npm run bench:idle`: the CPU an idle store costs with many hibernating regions. One
 * in-process `PdCluster` on LevelDB (default store options: 100 ms ticks, hibernation after
 * 60 idle ticks, a PD heartbeat every 10 ticks) is split into `BENCH_IDLE_REGIONS` data
 * regions, left to hibernate, then measured: `process.cpuUsage` (user + system, every thread
 * of the process) over the wall time of `BENCH_IDLE_WINDOWS` windows of `BENCH_IDLE_WINDOW_MS`
 * (default 6 × 12,000 ms: together longer than the interval at which a hibernating region still
 * heartbeats to PD, `HIBERNATING_HEARTBEAT_INTERVAL_TICKS` × 100 ms = 60 s, so the measurement
 * holds every idle region's turn; shorter windows print `covers_refresh=0`).
 * A baseline cluster with one data region is measured the same way in the same run. Prints
 *   bench:idle regions=<n> stores=<n> cpu_pct=<median> cpu_pct_min=<> cpu_pct_max=<>
 *     base_cpu_pct=<median> ratio=<cpu_pct / base_cpu_pct> split_s=<s> awake_after=<n> covers_refresh=<0|1>
 * (`awake_after`: data replicas not hibernating when the last window ends.)
 * `cpu_pct` is a percentage of one core. Goal (issue 16): 10,000 idle regions < 1% CPU.
 * `BENCH_IDLE_STORES` (default 1) stores each hold a replica of every region.
 * `BENCH_IDLE_PROFILE=<file.cpuprofile>` writes a V8 CPU profile of the many-region windows
 * (not the split before them) to that file, for Chrome DevTools.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HIBERNATING_HEARTBEAT_INTERVAL_TICKS, type Store } from '@peerkv/store';
import { LevelEngine } from '@peerkv/storage/level';
import { compareKeys } from '@peerkv/pd';
import { PdCluster } from '../src/index.ts';
import { median, until } from './bench-util.ts';

/** Regions past this many are refused: splitting more does not fit a bench run. */
const REGIONS_MAX = 100_000;
const REGIONS = Number(process.env.BENCH_IDLE_REGIONS ?? 10_000);
const STORES = Number(process.env.BENCH_IDLE_STORES ?? 1);
const WINDOWS = Number(process.env.BENCH_IDLE_WINDOWS ?? 6);
const WINDOW_MS = Number(process.env.BENCH_IDLE_WINDOW_MS ?? 12_000);
const PROFILE = process.env.BENCH_IDLE_PROFILE;
/** The store's default tick (`StoreOptions.tickIntervalMs`), ms. */
const TICK_MS_DEFAULT = 100;
/** Split chains run concurrently (each splits its own key range, one split at a time). */
const LANES = 8;
/** How long the regions may take to hibernate once split, ms. */
const HIBERNATE_WAIT_MS = 120_000;

if (!Number.isSafeInteger(REGIONS) || REGIONS < 1 || REGIONS > REGIONS_MAX) throw new Error(`bench:idle: BENCH_IDLE_REGIONS must be 1..${REGIONS_MAX}`);
if (!Number.isSafeInteger(STORES) || STORES < 1 || STORES > 5) throw new Error('bench:idle: BENCH_IDLE_STORES must be 1..5');
if (!Number.isSafeInteger(WINDOWS) || WINDOWS < 1 || WINDOWS > 100) throw new Error('bench:idle: BENCH_IDLE_WINDOWS must be 1..100');
if (!Number.isSafeInteger(WINDOW_MS) || WINDOW_MS < 100 || WINDOW_MS > 600_000) throw new Error('bench:idle: BENCH_IDLE_WINDOW_MS must be 100..600000');

const enc = new TextEncoder();
/** The split key of region `i` (1-based; region 0 keeps the keys below the first). */
const splitKey = (i: number): Uint8Array => enc.encode(`idle/${String(i).padStart(6, '0')}`);

interface Measured {
  regions: number;
  cpuPct: number[];
  splitSeconds: number;
  /** Data replicas awake at the end of the last window (woken while measured), over every store. */
  awake: number;
}

/** Attempts at one split (a store that does not lead answers NotLeader; a stale epoch, EpochNotMatch). */
const SPLIT_ATTEMPTS_MAX = 20;

/** Splits the data region holding `splitKey(i)` at it, on the store whose replica leads, with ids from PD. */
async function splitAt(c: PdCluster, i: number): Promise<void> {
  const key = splitKey(i);
  let last = 'no store holds the key';
  for (let attempt = 0; attempt < SPLIT_ATTEMPTS_MAX; attempt++) {
    for (const s of c.stores.values()) {
      const region = s.regionForKey(key);
      if (!region) continue;
      // An earlier attempt that timed out under load may have applied: the split is done (a
      // split at a region's start is refused with EpochNotMatch, forever).
      if (compareKeys(region.startKey, key) === 0) return;
      const ids: number[] = [];
      while (ids.length < region.peers.length + 1) {
        const id = await c.pdClient.allocId();
        if (!id.ok) throw new Error(`bench:idle: no id from PD: ${id.error.kind}`);
        ids.push(id.value);
      }
      const r = await s.split(region.id, region.epoch, key, ids[0], ids.slice(1));
      if (r.ok) return;
      last = r.error.kind;
    }
    await new Promise((res) => setTimeout(res, 20));
  }
  throw new Error(`bench:idle: split at key ${i} kept failing: ${last}`);
}

/** Measures `WINDOWS` windows of process CPU, as a percentage of one core each. */
async function measureCpu(): Promise<number[]> {
  const out: number[] = [];
  for (let w = 0; w < WINDOWS; w++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await new Promise((res) => setTimeout(res, WINDOW_MS));
    const c = process.cpuUsage(c0);
    const wallMs = performance.now() - t0;
    out.push(((c.user + c.system) / 1000 / wallMs) * 100);
  }
  return out;
}

async function run(regions: number): Promise<Measured> {
  const dir = mkdtempSync(join(tmpdir(), 'peerkv-idle-'));
  // Raw, named: the figure is the idle cost of the Raft and PD machinery, as measured before mvcc became the default.
  const c = new PdCluster({ store: { dataModel: 'raw' }, openEngine: (name, cfs) => LevelEngine.open({ location: join(dir, name), columnFamilies: cfs }) });
  try {
    await c.bootstrap('node-1');
    for (let s = 2; s <= STORES; s++) await c.join(`node-${s}`);
    const replicated = (): boolean => c.regions().length >= 1 && c.regions().every((r) => r.peers.length === STORES && r.peers.every((p) => p.role === 'voter'));
    await until(`the data region on ${STORES} store(s)`, replicated, 60_000);
    await until('a data region leader', async () => (await c.getRegion(splitKey(1)))?.leader !== undefined, 30_000);

    const t0 = performance.now();
    const splits = regions - 1;
    const lanes = Math.min(LANES, Math.max(1, splits));
    const perLane = Math.ceil(splits / lanes);
    // Lane heads first, one at a time; then each lane splits its own range from the left.
    for (let l = 1; l < lanes; l++) if (l * perLane + 1 <= splits) await splitAt(c, l * perLane + 1);
    await Promise.all(
      Array.from({ length: lanes }, async (_, l) => {
        for (let i = l * perLane + 2; i <= Math.min(splits, (l + 1) * perLane); i++) await splitAt(c, i);
        if (l === 0 && splits >= 1) await splitAt(c, 1);
      }),
    );
    const splitSeconds = (performance.now() - t0) / 1000;

    // PD's own group is busy by design (store heartbeats are its commands): only data regions are counted.
    const pdRegionId = [...c.stores.values()].find((s) => s.pdIsLeader())?.pdState()?.pdGroup?.region.id;
    const data = (s: Store): ReturnType<Store['status']>['regions'] => s.status().regions.filter((r) => r.regionId !== pdRegionId);
    for (const s of c.stores.values()) if (data(s).length !== regions) throw new Error(`bench:idle: store ${s.storeId} has ${data(s).length} data regions, expected ${regions}`);
    await until(`${regions} regions hibernating`, () => [...c.stores.values()].every((s) => data(s).every((r) => r.hibernating)), HIBERNATE_WAIT_MS);
    const profiler = PROFILE !== undefined && regions > 1 ? new Session() : undefined;
    if (profiler) {
      profiler.connect();
      await profiler.post('Profiler.enable');
      await profiler.post('Profiler.start');
    }
    const cpuPct = await measureCpu();
    if (profiler) {
      const { profile } = await profiler.post('Profiler.stop');
      writeFileSync(PROFILE!, JSON.stringify(profile));
      profiler.disconnect();
    }
    const awake = [...c.stores.values()].reduce((n, s) => n + data(s).filter((r) => !r.hibernating).length, 0);
    return { regions, cpuPct, splitSeconds, awake };
  } finally {
    await c.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const fmt = (x: number): string => x.toFixed(3);
const base = await run(1);
const idle = await run(REGIONS);
const m = median(idle.cpuPct);
const b = median(base.cpuPct);
console.log(`bench:idle ${STORES} store(s), LevelDB, default store options, ${WINDOWS} windows x ${WINDOW_MS} ms`);
console.log(`  1 region:      cpu_pct median ${fmt(b)} (${base.cpuPct.map(fmt).join(' ')})`);
console.log(`  ${idle.regions} regions: cpu_pct median ${fmt(m)} (${idle.cpuPct.map(fmt).join(' ')}), split in ${idle.splitSeconds.toFixed(1)} s`);
console.log(
  `bench:idle regions=${idle.regions} stores=${STORES} cpu_pct=${fmt(m)} cpu_pct_min=${fmt(Math.min(...idle.cpuPct))} cpu_pct_max=${fmt(Math.max(...idle.cpuPct))} base_cpu_pct=${fmt(b)} ratio=${(m / Math.max(b, 1e-9)).toFixed(2)} split_s=${idle.splitSeconds.toFixed(1)} awake_after=${idle.awake} covers_refresh=${WINDOWS * WINDOW_MS >= HIBERNATING_HEARTBEAT_INTERVAL_TICKS * TICK_MS_DEFAULT ? 1 : 0}`,
);
