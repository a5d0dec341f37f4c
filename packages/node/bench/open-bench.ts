/**
 * `npm run bench:open` (issue 16, "open ≤ 200 ms for an existing store"): how long a store that
 * already exists takes to open, in Node, as `peerkv-store` opens it: LevelDB
 * (`openLevelStoreEngine`, mvcc), the Node entry cipher, `startNetworkStore` restarting from the
 * engine's identity (no bootstrap probe, no join). The store is a lone store of its own cluster
 * (created once: `BENCH_OPEN_REGIONS` data regions holding `BENCH_OPEN_KEYS` keys, then closed);
 * it talks over a BroadcastChannel transport, which opens without a network round (the WebRTC
 * transport's signaling connection is not waited for either).
 *
 * Each of `BENCH_OPEN_ROUNDS` rounds, on the same directory:
 * - `engine_open_ms` (the baseline): LevelDB opened, one data key read, closed;
 * - `store_open_ms`: LevelDB opened and `startNetworkStore` returned (the store serves);
 * - `open_ms`: the same until a client read of a key written at creation answered (every region
 *   this store leads has a leader again: the first read needs its region's);
 * then the store and engine are closed. Prints
 *   bench:open open_ms=<median> open_ms_min=<> open_ms_max=<> store_open_ms=<median>
 *     load_regions_ms=<median of Store.openTrace().regionsMs> engine_open_ms=<median> open_vs_engine=<open_ms / engine_open_ms> regions=<n> keys=<n>
 * and, with `BENCH_OPEN_TRACE=1`, the store's open phases of each round (`Store.openTrace`).
 * `BENCH_OPEN_PROFILE=<file.cpuprofile>` writes a V8 CPU profile of the rounds (not the creation).
 * Goal (issue 16): open_ms ≤ 200.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MVCC_DATA_CFS, startNetworkStore, type NetworkStore, type NetworkStoreOptions } from '@peerkv/store';
import { BroadcastChannelTransport, deriveClusterKeys, type ClusterKeys } from '@peerkv/transport';
import { storeClient } from 'peerkv';
import { openLevelStoreEngine } from '../src/level-store.ts';
import { nodeEntryCipher } from '../src/node-cipher.ts';

/** Upper bounds of the settings, so a typo does not run for an hour. */
const REGIONS_MAX = 1000;
const KEYS_MAX = 100_000;
const ROUNDS_MAX = 50;
const REGIONS = Number(process.env.BENCH_OPEN_REGIONS ?? 50);
const KEYS = Number(process.env.BENCH_OPEN_KEYS ?? 2000);
const ROUNDS = Number(process.env.BENCH_OPEN_ROUNDS ?? 7);
const TRACE = process.env.BENCH_OPEN_TRACE === '1';
const PROFILE = process.env.BENCH_OPEN_PROFILE;
/** Concurrent writers filling the store at creation. */
const WRITERS = 16;
/** One client request's timeout, ms (the first read waits for its region's election). */
const REQUEST_TIMEOUT_MS = 10_000;
/** Attempts at one split (a split right after the previous one may meet a stale epoch). */
const SPLIT_ATTEMPTS_MAX = 20;

const check = (name: string, v: number, max: number): void => {
  if (!Number.isSafeInteger(v) || v < 1 || v > max) throw new Error(`bench:open: ${name} must be 1..${max}`);
};
check('BENCH_OPEN_REGIONS', REGIONS, REGIONS_MAX);
check('BENCH_OPEN_KEYS', KEYS, KEYS_MAX);
check('BENCH_OPEN_ROUNDS', ROUNDS, ROUNDS_MAX);

const enc = new TextEncoder();
const CLUSTER = `bench-open-${process.pid}`;
const keyOf = (i: number): Uint8Array => enc.encode(`open/${String(i).padStart(6, '0')}`);
/** Region `i` (1-based) starts at key `i * KEYS / REGIONS`. */
const splitKeyOf = (i: number): Uint8Array => keyOf(Math.floor((i * KEYS) / REGIONS));
const log = (s: string): void => void process.stderr.write(`bench:open: ${s}\n`);

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

async function startStore(dir: string, keys: ClusterKeys, dataKey: CryptoKey, bootstrap: boolean): Promise<{ ns: NetworkStore; close(): Promise<void> }> {
  const engine = await openLevelStoreEngine(dir, 'mvcc');
  const o: NetworkStoreOptions = {
    engine,
    clusterId: CLUSTER,
    bootstrap,
    address: `bench:${dir}`,
    store: { entryCipher: nodeEntryCipher(dataKey), dataColumnFamilies: MVCC_DATA_CFS, dataModel: 'mvcc' },
    transportFactory: (storeId, identity) => new BroadcastChannelTransport({ localStoreId: storeId, keys, ...identity }),
  };
  const ns = await startNetworkStore(o);
  return {
    ns,
    close: async () => {
      await ns.close();
      await engine.close();
    },
  };
}

/** Creates the store: bootstrapped, filled with `KEYS` keys, split into `REGIONS` data regions. */
async function create(dir: string, keys: ClusterKeys, dataKey: CryptoKey): Promise<void> {
  const s = await startStore(dir, keys, dataKey, true);
  const { kv } = storeClient(s.ns, { requestTimeoutMs: REQUEST_TIMEOUT_MS, pdBudgetMs: REQUEST_TIMEOUT_MS, dataModel: 'mvcc' });
  try {
    let next = 0;
    await Promise.all(
      Array.from({ length: WRITERS }, async () => {
        for (let i = next++; i < KEYS; i = next++) await kv.put(keyOf(i), enc.encode(`value-${i}`));
      }),
    );
    for (let i = 1; i < REGIONS; i++) await splitAt(s.ns, splitKeyOf(i));
  } finally {
    await kv.close();
    await s.close();
  }
}

async function splitAt(ns: NetworkStore, key: Uint8Array): Promise<void> {
  let last = 'no region holds the key';
  for (let attempt = 0; attempt < SPLIT_ATTEMPTS_MAX; attempt++) {
    const region = ns.store.regionForKey(key);
    if (region) {
      const ids: number[] = [];
      while (ids.length < region.peers.length + 1) {
        const id = await ns.pdClient.allocId();
        if (!id.ok) throw new Error(`bench:open: no id from PD: ${id.error.kind}`);
        ids.push(id.value);
      }
      const r = await ns.store.split(region.id, region.epoch, key, ids[0], ids.slice(1));
      if (r.ok) return;
      last = r.error.kind;
    }
    await new Promise((res) => setTimeout(res, 20));
  }
  throw new Error(`bench:open: split kept failing: ${last}`);
}

/** The baseline: LevelDB opened and one data key read, ms. */
async function engineOpenMs(dir: string): Promise<number> {
  const t0 = performance.now();
  const engine = await openLevelStoreEngine(dir, 'mvcc');
  await engine.get('default', keyOf(0));
  const ms = performance.now() - t0;
  await engine.close();
  return ms;
}

interface OpenRound {
  storeOpenMs: number;
  openMs: number;
  regions: number;
  /** `Store.openTrace().regionsMs`. */
  loadRegionsMs: number;
  trace?: string;
}

async function reopen(dir: string, keys: ClusterKeys, dataKey: CryptoKey, key: Uint8Array): Promise<OpenRound> {
  const t0 = performance.now();
  const s = await startStore(dir, keys, dataKey, false);
  const storeOpenMs = performance.now() - t0;
  const { kv } = storeClient(s.ns, { requestTimeoutMs: REQUEST_TIMEOUT_MS, pdBudgetMs: REQUEST_TIMEOUT_MS, dataModel: 'mvcc' });
  try {
    if (s.ns.started !== 'restarted') throw new Error(`bench:open: the store ${s.ns.started}, not restarted`);
    const v = await kv.get(key);
    const openMs = performance.now() - t0;
    if (v === undefined) throw new Error('bench:open: a key written at creation reads absent');
    const regions = s.ns.store.regionIds().length;
    const t = s.ns.store.openTrace();
    const trace = Object.entries(t).map(([k, x]) => `${k}=${Number.isInteger(x) ? x : x.toFixed(1)}`).join(' ');
    return { storeOpenMs, openMs, regions, loadRegionsMs: t.regionsMs, ...(TRACE ? { trace } : {}) };
  } finally {
    await kv.close();
    await s.close();
  }
}

const dir = mkdtempSync(join(tmpdir(), 'peerkv-open-'));
try {
  const keys = await deriveClusterKeys(CLUSTER, 'bench-open-secret', 1);
  const dataKey = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, true, ['encrypt', 'decrypt']);
  const t0 = performance.now();
  await create(dir, keys, dataKey);
  log(`created ${REGIONS} data regions, ${KEYS} keys in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const engine: number[] = [];
  const rounds: OpenRound[] = [];
  const profiler = PROFILE !== undefined ? new Session() : undefined;
  if (profiler) {
    profiler.connect();
    await profiler.post('Profiler.enable');
    await profiler.post('Profiler.start');
  }
  for (let r = 0; r < ROUNDS; r++) {
    engine.push(await engineOpenMs(dir));
    // A key of a region in the middle, a different one each round.
    const round = await reopen(dir, keys, dataKey, keyOf(Math.floor(((r + 0.5) * KEYS) / ROUNDS)));
    rounds.push(round);
    log(`round ${r}: engine ${engine[r].toFixed(1)} ms, store ${round.storeOpenMs.toFixed(1)} ms, first read ${round.openMs.toFixed(1)} ms (${round.regions} regions)${round.trace ? ` trace ${round.trace}` : ''}`);
  }
  if (profiler) {
    const { profile } = await profiler.post('Profiler.stop');
    writeFileSync(PROFILE!, JSON.stringify(profile));
    profiler.disconnect();
  }
  const open = rounds.map((r) => r.openMs);
  const f = (x: number): string => x.toFixed(1);
  console.log(
    `bench:open open_ms=${f(median(open))} open_ms_min=${f(Math.min(...open))} open_ms_max=${f(Math.max(...open))}` +
      ` store_open_ms=${f(median(rounds.map((r) => r.storeOpenMs)))} load_regions_ms=${f(median(rounds.map((r) => r.loadRegionsMs)))} engine_open_ms=${f(median(engine))}` +
      ` open_vs_engine=${(median(open) / median(engine)).toFixed(2)} regions=${rounds[0].regions} keys=${KEYS}`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
