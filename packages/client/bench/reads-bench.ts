/**
 * `npm run bench:reads`: the read paths of the mvcc data model and the change feed, in one run
 * on one PD-driven cluster of three stores (LevelDB, `strict` durability, the stores' default
 * resolved-ts cadence `SAFE_TS_INTERVAL_MS_DEFAULT`). 16 concurrent readers each time over 1,000
 * loaded keys. Prints a table and
 *   bench:reads local_stale_vs_leader_p50= follower_read_ops_per_s= watch_events_per_s= watch_lag_p99_ms=
 * - local_stale_vs_leader_p50: p50 of a read from the reader's own store's replica at its
 *   resolved ts (`maxStaleness: Infinity`: no leader, no quorum) over p50 of a leader read at a
 *   fresh TSO ts (below 1: the local read is cheaper);
 * - follower_read_ops_per_s: reads per second with `replicaRead: 'follower'` (one small
 *   `txnReadIndex` on the leader, the data from a follower); the leader's own figure is in the
 *   table beside it;
 * - watch_events_per_s: change events one `watch` delivered per second while 8 writers commit
 *   puts under its prefix (from the first commit to the last event);
 * - watch_lag_p99_ms: p99 of (event received by the watcher − the writer's commit
 *   acknowledged); bounded below by the resolved-ts cadence, since an event is delivered once
 *   the region's resolved ts passes it.
 * In-process stores: no network delay, so the figures compare the code paths, not links.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SAFE_TS_INTERVAL_MS_DEFAULT } from '@peerkv/store';
import { LevelEngine } from '@peerkv/storage/level';
import { PdCluster, PeerKV, type ReadOptions } from '../src/index.ts';
import { pct, until } from './bench-util.ts';

const READERS = 16;
const READS_PER_READER = Number(process.env.BENCH_OPS ?? 300);
const KEYS = 1000;
const WRITERS = 8;
const WRITES_PER_WRITER = Number(process.env.BENCH_WATCH_WRITES ?? 100);
const VALUE_BYTES = 100;
const TXN_CFS = ['default', 'lock', 'write'];
const enc = new TextEncoder();

const dir = mkdtempSync(join(tmpdir(), 'peerkv-bench-reads-'));
const c = new PdCluster({
  openEngine: (name, cfs) => LevelEngine.open({ location: join(dir, name), columnFamilies: cfs }),
  store: { tickIntervalMs: 20, heartbeatIntervalTicks: 5, hibernateAfterTicks: 1_000_000, logGcThresholdEntries: 5000, logGcKeepEntries: 100, dataColumnFamilies: TXN_CFS, dataModel: 'mvcc' },
  schedule: { regionSplitKeys: 1_000_000 },
});
await c.bootstrap('a');
await c.join('b');
await c.join('c');
await until('three voters for the data region', () => c.regions().some((r) => r.id !== 1 && r.peers.filter((p) => p.role === 'voter').length === 3));

const key = (i: number): Uint8Array => enc.encode(`k${String(i).padStart(5, '0')}`);
const value = new Uint8Array(VALUE_BYTES).fill(7);
const loader = new PeerKV({ pd: c, stores: c, dataModel: 'mvcc' });
for (let i = 0; i < KEYS; i += 250) await loader.batchPut(Array.from({ length: Math.min(250, KEYS - i) }, (_, j) => ({ key: key(i + j), value })));

const region = c.regions().find((r) => r.id !== 1)!;
const leaderStore = [...c.stores.values()].find((s) => s.status().regions.some((v) => v.regionId === region.id && v.role === 'leader'))!.storeId;
const followerStore = region.peers.map((p) => p.storeId).find((id) => id !== leaderStore)!;
// The follower's resolved ts passes the load (its last key reads locally) before the reads begin.
const probe = new PeerKV({ pd: c, stores: c, dataModel: 'mvcc', localStoreId: followerStore });
await until('the follower resolved past the load', async () => (await probe.get(key(KEYS - 1), { maxStaleness: Infinity }).catch(() => undefined)) !== undefined);
probe.close();

type Row = { name: string; opsPerSec: number; p50Ms: number; p99Ms: number };
const rows: Row[] = [];

async function reads(name: string, extra: Partial<ConstructorParameters<typeof PeerKV>[0]>, o: ReadOptions): Promise<Row> {
  const clients = Array.from({ length: READERS }, () => new PeerKV({ pd: c, stores: c, dataModel: 'mvcc', ...extra }));
  await Promise.all(clients.map((kv) => kv.get(key(0), o)));
  const lat: number[] = [];
  const start = performance.now();
  await Promise.all(
    clients.map(async (kv, r) => {
      for (let i = 0; i < READS_PER_READER; i++) {
        const t0 = performance.now();
        const v = await kv.get(key((r * 7919 + i * 31) % KEYS), o);
        lat.push(performance.now() - t0);
        if (v === undefined) throw new Error(`bench: ${name} read a loaded key as missing`);
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  for (const kv of clients) kv.close();
  lat.sort((a, b) => a - b);
  const row = { name, opsPerSec: Math.round((READERS * READS_PER_READER) / seconds), p50Ms: +pct(lat, 50).toFixed(3), p99Ms: +pct(lat, 99).toFixed(3) };
  rows.push(row);
  return row;
}

const leader = await reads('leader read (fresh ts)', {}, {});
const follower = await reads("follower read (replicaRead: 'follower')", { replicaRead: 'follower' }, {});
await reads("closest read (own store, replicaRead: 'closest')", { replicaRead: 'closest', localStoreId: followerStore }, {});
const stale = await reads('local stale read (maxStaleness: Infinity)', { localStoreId: followerStore }, { maxStaleness: Infinity });

// The change feed: one watcher, 8 writers under its prefix.
const watcher = new PeerKV({ pd: c, stores: c, dataModel: 'mvcc' });
const prefix = enc.encode('w/');
const acked = new Map<string, number>();
const lags: number[] = [];
const total = WRITERS * WRITES_PER_WRITER;
let events = 0;
let lastEventAt = 0;
const abort = new AbortController();
const w = watcher.watch({ prefix }, { signal: abort.signal });
const it = w[Symbol.asyncIterator]();
let ready!: () => void;
const firstResolved = new Promise<void>((r) => (ready = r));
const consumed = (async () => {
  for (;;) {
    const n = await it.next();
    if (n.done) return;
    const e = n.value;
    if (e.type === 'resolved') {
      ready();
      if (events >= total) return;
      continue;
    }
    const now = performance.now();
    const k = new TextDecoder().decode(e.key);
    events++;
    lastEventAt = now;
    const at = acked.get(k);
    if (at !== undefined) lags.push(now - at);
  }
})();
await firstResolved;
const writers = Array.from({ length: WRITERS }, () => new PeerKV({ pd: c, stores: c, dataModel: 'mvcc' }));
const writesStart = performance.now();
await Promise.all(
  writers.map(async (kv, wi) => {
    for (let i = 0; i < WRITES_PER_WRITER; i++) {
      const k = `w/${wi}/${i}`;
      await kv.put(enc.encode(k), value);
      acked.set(k, performance.now());
    }
  }),
);
await until('the watcher saw every write', () => events >= total, 60_000);
await it.return?.();
abort.abort();
await consumed.catch(() => undefined);
// An event can arrive before its writer's put returns: such a lag is not measured (counted below).
lags.sort((a, b) => a - b);
const eventsPerSec = Math.round(events / ((lastEventAt - writesStart) / 1000));
const lagP99 = +pct(lags, 99).toFixed(1);
for (const kv of [...writers, watcher, loader]) kv.close();
await c.close();
rmSync(dir, { recursive: true, force: true });

console.log(`bench:reads ${READERS} readers x ${READS_PER_READER} gets over ${KEYS} keys; watch: ${WRITERS} writers x ${WRITES_PER_WRITER} puts; 3 stores, LevelDB, strict durability, resolved ts every ${SAFE_TS_INTERVAL_MS_DEFAULT} ms`);
console.log('case                                                ops/s    p50_ms  p99_ms');
for (const r of rows) console.log(`${r.name.padEnd(51)} ${String(r.opsPerSec).padEnd(8)} ${String(r.p50Ms).padEnd(7)} ${r.p99Ms}`);
console.log(`watch: ${events} events, lag measured for ${lags.length} (p50 ${pct(lags, 50).toFixed(1)} ms)`);
console.log(
  `bench:reads local_stale_vs_leader_p50=${(stale.p50Ms / leader.p50Ms).toFixed(3)} follower_read_ops_per_s=${follower.opsPerSec} watch_events_per_s=${eventsPerSec} watch_lag_p99_ms=${lagP99}`,
);
