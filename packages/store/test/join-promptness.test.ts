/**
 * A joining store gets its first replica without waiting for periodic work (issue 16, join
 * time): a store heartbeats PD at its first tick, a new region leader reports its region at
 * once, and a PD leader that applies a new store runs a scheduling round at once
 * (`PdLeader.onStoreJoined`) and heartbeats the regions it leads that got an operator, so their
 * first step runs at once. The store heartbeat here is 2 s apart, far longer than any of these.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Region, RegionHeartbeat } from '@peerkv/pd';
import { MemoryEngine } from '@peerkv/storage';
import { BOOTSTRAP_IDS, LocalPdClient, LocalRouter, MVCC_DATA_CFS, PD_REGION_ID, STORE_CFS, Store, storeColumnFamilies, type PdClient } from '../src/index.ts';
import { StubPd, until } from './helpers.ts';
import type { Status } from '@peerkv/raft';
import { heardFromEveryFollower } from '../src/catch-up-watch.ts';

/** A store heartbeat every 200 ticks of 10 ms: 2 s. */
const TICK_MS = 10;
const HEARTBEAT_TICKS = 200;
const HEARTBEAT_MS = TICK_MS * HEARTBEAT_TICKS;
/** Well under the heartbeat interval: what the prompt paths must beat. */
const PROMPT_MS_MAX = HEARTBEAT_MS / 2;

const router = new LocalRouter();
const stores: Store[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) {
    router.unregister(s.storeId);
    await s.close();
  }
});

async function start(storeId: number, pd: PdClient, columnFamilies: readonly string[] = STORE_CFS): Promise<Store> {
  const store = await Store.open({
    storeId,
    clusterId: 'join-promptness',
    dataModel: columnFamilies === STORE_CFS ? 'raw' : 'mvcc',
    engine: await MemoryEngine.open({ columnFamilies }),
    transport: router.transportFor(storeId),
    pdClient: pd,
    tickIntervalMs: TICK_MS,
    heartbeatIntervalTicks: HEARTBEAT_TICKS,
    requestTimeoutMs: 3000,
  });
  router.register(store);
  stores.push(store);
  return store;
}

/** A PD stub that timestamps region heartbeats and counts the store heartbeats before each. */
class TimedPd extends StubPd {
  readonly at: { hb: RegionHeartbeat; ms: number; storeBeats: number }[] = [];
  override regionHeartbeat(hb: RegionHeartbeat): ReturnType<PdClient['regionHeartbeat']> {
    this.at.push({ hb, ms: performance.now(), storeBeats: this.storeStats.length });
    return super.regionHeartbeat(hb);
  }
}

describe('store heartbeat', () => {
  it('goes to PD at the first tick, not a heartbeat interval after the start', async () => {
    const pd = new StubPd();
    const startedAt = performance.now();
    await start(1, pd);
    await until('the first store heartbeat', () => pd.storeStats.length > 0, HEARTBEAT_MS * 2);
    const delayMs = performance.now() - startedAt;
    expect(delayMs).toBeLessThan(PROMPT_MS_MAX);
    expect(pd.storeStats[0].storeId).toBe(1);
  });
});

describe('a new region leader', () => {
  it('reports its region at once, before the next store heartbeat', async () => {
    const pd = new TimedPd();
    const store = await start(1, pd);
    await until('the first store heartbeat', () => pd.storeStats.length > 0, HEARTBEAT_MS * 2);
    const beats = pd.storeStats.length;
    const region: Region = { id: 2, startKey: new Uint8Array(), endKey: new Uint8Array(), epoch: { confVer: 1, version: 1 }, peers: [{ id: 21, storeId: 1, role: 'voter' }] };
    await store.createRegion(region);
    const campaignedAt = performance.now();
    store.campaign(2);
    await until('a heartbeat of region 2 led by peer 21', () => pd.at.some((x) => x.hb.region.id === 2 && x.hb.leader.id === 21), HEARTBEAT_MS * 2);
    const report = pd.at.find((x) => x.hb.region.id === 2)!;
    expect(report.storeBeats).toBe(beats);
    expect(report.ms - campaignedAt).toBeLessThan(PROMPT_MS_MAX);
  });

  it('reports only once it heard from every follower: no follower named pending or down for being new', () => {
    const st = (progress: [number, { match: number; recentActive: boolean }][]): Status => ({ progress: new Map(progress) }) as unknown as Status;
    expect(heardFromEveryFollower(st([[1, { match: 9, recentActive: true }]]), 1)).toBe(true);
    // Just elected: no follower answered yet.
    expect(heardFromEveryFollower(st([[1, { match: 9, recentActive: true }], [2, { match: 0, recentActive: false }], [3, { match: 0, recentActive: false }]]), 1)).toBe(false);
    expect(heardFromEveryFollower(st([[1, { match: 9, recentActive: true }], [2, { match: 9, recentActive: true }], [3, { match: 0, recentActive: false }]]), 1)).toBe(false);
    expect(heardFromEveryFollower(st([[1, { match: 9, recentActive: true }], [2, { match: 9, recentActive: true }], [3, { match: 4, recentActive: false }]]), 1)).toBe(false);
    expect(heardFromEveryFollower(st([[1, { match: 9, recentActive: true }], [2, { match: 9, recentActive: true }], [3, { match: 4, recentActive: true }]]), 1)).toBe(true);
  });
});

describe('a store joining PD', () => {
  it('holds a data replica well before the next store heartbeat: a prompt round, its first step at once', async () => {
    const cfs = storeColumnFamilies(MVCC_DATA_CFS);
    const pd = new LocalPdClient(() => stores);
    const first = await start(BOOTSTRAP_IDS.store, pd, cfs);
    const boot = await first.bootstrapCluster({ clusterNumber: 1, address: 'a' });
    expect(boot).toMatchObject({ ok: true, value: { kind: 'bootstrapped' } });
    // Past the first store's first heartbeat (its round and reports): the next is ~2 s away.
    await until('PD leads', () => first.pdIsLeader());
    await new Promise((r) => setTimeout(r, 200));
    const joinedAt = performance.now();
    const put = await pd.putStore(0, 'b', {}, { timeoutMs: 2000 });
    if (!put.ok || put.value.kind !== 'storePut') throw new Error(JSON.stringify(put));
    const second = await start(put.value.storeId, pd, cfs);
    const dataReplica = (): boolean => second.status().regions.some((r) => r.regionId !== PD_REGION_ID && r.peers.length > 0 && r.applied > 0 && r.applyingSnapshot !== true);
    await until('a data replica on the new store', dataReplica, HEARTBEAT_MS * 3);
    const delayMs = performance.now() - joinedAt;
    console.log(`first data replica ${delayMs.toFixed(0)} ms after the join (store heartbeat every ${HEARTBEAT_MS} ms)`);
    expect(delayMs).toBeLessThan(PROMPT_MS_MAX);
  });
});
