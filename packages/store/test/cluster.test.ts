/**
 * Stores in one process over MemoryEngine and a LocalRouter: replication, linearizable and
 * follower reads, leader failover, restart from disk, membership change with snapshot
 * catch-up, split, dedup of retried writes, typed region errors.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Region } from '@peerkv/pd';
import { MemoryDisk, MemoryEngine } from '@peerkv/storage';
import { LocalRouter, STORE_CFS, Store, type Result } from '../src/index.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();
const k = (s: string): Uint8Array => enc.encode(s);

interface Node {
  store: Store;
  disk: MemoryDisk;
}

class Cluster {
  router = new LocalRouter();
  nodes = new Map<number, Node>();

  async start(storeId: number, disk = new MemoryDisk()): Promise<Store> {
    const engine = await MemoryEngine.open({ columnFamilies: STORE_CFS, disk });
    const store = await Store.open({
      dataModel: 'raw',
      storeId,
      clusterId: 'test',
      engine,
      transport: this.router.transportFor(storeId),
      tickIntervalMs: 10,
      hibernateAfterTicks: 1_000_000,
      requestTimeoutMs: 3000,
      logGcThresholdEntries: 40,
      logGcKeepEntries: 5,
    });
    this.router.register(store);
    this.nodes.set(storeId, { store, disk });
    return store;
  }

  async stop(storeId: number): Promise<MemoryDisk> {
    const n = this.nodes.get(storeId)!;
    this.router.unregister(storeId);
    await n.store.close();
    this.nodes.delete(storeId);
    return n.disk;
  }

  store(id: number): Store {
    return this.nodes.get(id)!.store;
  }

  async leaderOf(regionId: number, timeoutMs = 5000): Promise<Store> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      for (const n of this.nodes.values()) {
        const r = n.store.status().regions.find((x) => x.regionId === regionId);
        if (r && r.role === 'leader') return n.store;
      }
      await sleep(10);
    }
    throw new Error(`no leader for region ${regionId}`);
  }

  /** No store stopped on an error (a broken invariant or a failed write). */
  assertHealthy(): void {
    for (const n of this.nodes.values()) expect(n.store.status().stoppedReason).toBeUndefined();
  }

  async closeAll(): Promise<void> {
    this.assertHealthy();
    for (const id of [...this.nodes.keys()]) await this.stop(id);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The first data region (id 1 is reserved for PD's group). */
const R = 2;

function region1(storeIds: number[]): Region {
  return {
    id: R,
    startKey: new Uint8Array(),
    endKey: new Uint8Array(),
    epoch: { confVer: 1, version: 1 },
    peers: storeIds.map((s) => ({ id: 100 + s, storeId: s, role: 'voter' as const })),
  };
}

function must<T>(r: Result<T>): T {
  if (!r.ok) throw new Error(`region error: ${JSON.stringify(r.error)}`);
  return r.value;
}

let seq = 0;
async function put(c: Cluster, regionId: number, key: string, value: string): Promise<Result<void>> {
  const leader = await c.leaderOf(regionId);
  const region = leader.status().regions.find((r) => r.regionId === regionId)!;
  return leader.write(regionId, region.epoch, 'client-a', ++seq, [{ type: 'put', cf: 'default', key: k(key), value: k(value) }]);
}

async function get(c: Cluster, regionId: number, key: string): Promise<string | undefined> {
  const leader = await c.leaderOf(regionId);
  const region = leader.status().regions.find((r) => r.regionId === regionId)!;
  const v = must(await leader.get(regionId, region.epoch, k(key)));
  return v ? dec.decode(v) : undefined;
}

/** Retries a request while the region is busy (e.g. the previous membership change is finishing). */
async function retryBusy(f: () => Promise<Result<void>>): Promise<Result<void>> {
  for (let i = 0; i < 200; i++) {
    const r = await f();
    if (r.ok || r.error.kind !== 'ServerIsBusy') return r;
    await sleep(10);
  }
  return f();
}

async function until(cond: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond()) return;
    await sleep(10);
  }
  throw new Error('condition not reached');
}

describe('store cluster in one process', () => {
  let c: Cluster;
  afterEach(async () => {
    await c?.closeAll();
  });

  it('replicates writes and serves linearizable, follower and stale reads', async () => {
    c = new Cluster();
    for (const id of [1, 2, 3]) await (await c.start(id)).createRegion(region1([1, 2, 3]));
    c.store(1).campaign(R);
    for (let i = 0; i < 20; i++) must(await put(c, R, `key${i}`, `v${i}`));
    expect(await get(c, R, 'key7')).toBe('v7');
    const follower = c.store(2).status().regions[0].role === 'leader' ? c.store(3) : c.store(2);
    const epoch = follower.status().regions[0].epoch;
    const fr = must(await follower.get(R, epoch, k('key19'), 'follower'));
    expect(dec.decode(fr!)).toBe('v19');
    // A follower refuses a leader-only read with a hint naming the leader.
    const nl = await follower.get(R, epoch, k('key1'));
    expect(nl.ok).toBe(false);
    if (!nl.ok) {
      expect(nl.error.kind).toBe('NotLeader');
      if (nl.error.kind === 'NotLeader') expect(nl.error.leaderHint?.storeId).toBe((await c.leaderOf(R)).storeId);
    }
    await until(async () => (await follower.get(R, epoch, k('key19'), 'stale')).ok);
    const scanned = must(await (await c.leaderOf(R)).scan(R, epoch, { start: k('key1'), end: k('key2'), limit: 100 }));
    expect(scanned.map((p) => dec.decode(p.key))).toEqual(['key1', 'key10', 'key11', 'key12', 'key13', 'key14', 'key15', 'key16', 'key17', 'key18', 'key19']);
  });

  it('applies a retried write once (dedup by clientId, seq)', async () => {
    c = new Cluster();
    for (const id of [1, 2, 3]) await (await c.start(id)).createRegion(region1([1, 2, 3]));
    c.store(1).campaign(R);
    const leader = await c.leaderOf(R);
    const epoch = leader.status().regions[0].epoch;
    must(await leader.write(R, epoch, 'dup', 1, [{ type: 'put', cf: 'default', key: k('a'), value: k('first') }]));
    must(await leader.write(R, epoch, 'dup', 2, [{ type: 'put', cf: 'default', key: k('a'), value: k('second') }]));
    // A late retry of seq 1 must not overwrite the later write.
    must(await leader.write(R, epoch, 'dup', 1, [{ type: 'put', cf: 'default', key: k('a'), value: k('first') }]));
    expect(await get(c, R, 'a')).toBe('second');
  });

  it('survives the loss of the leader and restarts a store from its disk', async () => {
    c = new Cluster();
    for (const id of [1, 2, 3]) await (await c.start(id)).createRegion(region1([1, 2, 3]));
    c.store(1).campaign(R);
    for (let i = 0; i < 10; i++) must(await put(c, R, `k${i}`, `v${i}`));
    const old = await c.leaderOf(R);
    const disk = await c.stop(old.storeId);
    for (let i = 10; i < 20; i++) must(await put(c, R, `k${i}`, `v${i}`));
    const back = await c.start(old.storeId, disk);
    await until(() => back.status().regions[0].applied >= (c.nodes.get([1, 2, 3].find((x) => x !== old.storeId && c.nodes.has(x))!)!.store.status().regions[0].applied));
    const epoch = back.status().regions[0].epoch;
    const v = must(await back.get(R, epoch, k('k19'), 'follower'));
    expect(dec.decode(v!)).toBe('v19');
  });

  it('adds a store as learner, catches it up by snapshot after log GC, promotes it, removes another', async () => {
    c = new Cluster();
    for (const id of [1, 2, 3]) await (await c.start(id)).createRegion(region1([1, 2, 3]));
    c.store(1).campaign(R);
    for (let i = 0; i < 80; i++) must(await put(c, R, `k${String(i).padStart(3, '0')}`, `v${i}`));
    const s4 = await c.start(4);
    const leader = await c.leaderOf(R);
    must(await leader.changePeers(R, [{ type: 'addLearnerNode', peer: { id: 104, storeId: 4, role: 'learner' } }]));
    await until(() => (s4.status().regions[0]?.applied ?? 0) >= leader.status().regions[0].applied);
    // The log had been compacted: store 4 could only catch up by snapshot.
    expect(leader.status().counters.logCompactions).toBeGreaterThan(0);
    expect(s4.status().counters.snapshotsInstalled).toBeGreaterThan(0);
    must(await retryBusy(async () => (await c.leaderOf(R)).changePeers(R, [{ type: 'addNode', peer: { id: 104, storeId: 4, role: 'voter' } }])));
    const victim = [1, 2, 3].find((id) => id !== leader.storeId)!;
    must(await retryBusy(async () => (await c.leaderOf(R)).changePeers(R, [{ type: 'removeNode', peer: { id: 100 + victim, storeId: victim, role: 'voter' } }])));
    // The removed store destroys its replica; the others apply the change.
    await until(() => c.store(victim).regionIds().length === 0);
    await until(() => !s4.status().regions[0].peers.some((p) => p.storeId === victim));
    const epoch = s4.status().regions[0].epoch;
    expect(s4.status().regions[0].peers.map((p) => p.storeId).sort()).toEqual([1, 2, 3, 4].filter((x) => x !== victim));
    expect(dec.decode(must(await s4.get(R, epoch, k('k079'), 'follower'))!)).toBe('v79');
  });

  it('splits a region; both halves serve their keys and old epochs get EpochNotMatch', async () => {
    c = new Cluster();
    for (const id of [1, 2, 3]) await (await c.start(id)).createRegion(region1([1, 2, 3]));
    c.store(1).campaign(R);
    for (const key of ['a', 'b', 'm', 'x']) must(await put(c, R, key, `v-${key}`));
    const leader = await c.leaderOf(R);
    const oldEpoch = leader.status().regions[0].epoch;
    must(await leader.split(R, oldEpoch, k('m'), 3, [202, 203, 204].slice(0, 3)));
    await until(() => [1, 2, 3].every((id) => c.store(id).regionIds().includes(3)));
    expect(await get(c, R, 'b')).toBe('v-b');
    expect(await get(c, 3, 'x')).toBe('v-x');
    const stale = await (await c.leaderOf(R)).write(R, oldEpoch, 'c', 1, [{ type: 'put', cf: 'default', key: k('c'), value: k('1') }]);
    expect(stale.ok).toBe(false);
    if (!stale.ok) expect(stale.error.kind).toBe('EpochNotMatch');
    const left = (await c.leaderOf(R)).status().regions.find((r) => r.regionId === R)!;
    const wrong = await (await c.leaderOf(R)).write(R, left.epoch, 'c', 2, [{ type: 'put', cf: 'default', key: k('z'), value: k('1') }]);
    expect(!wrong.ok && wrong.error.kind).toBe('KeyNotInRegion');
    must(await put(c, 3, 'y', 'v-y'));
    expect(await get(c, 3, 'y')).toBe('v-y');
  });
});

describe('draining', () => {
  /** Region R on stores 1-3, one key written; answers its leader. */
  async function threeVotersWithData(c: Cluster) {
    for (const id of [1, 2, 3]) await (await c.start(id)).createRegion(region1([1, 2, 3]));
    c.store(1).campaign(R);
    must(await put(c, R, 'a', '1'));
    return c.leaderOf(R);
  }

  it('hands every leadership to another voter', async () => {
    const c = new Cluster();
    try {
      const leader = await threeVotersWithData(c);
      expect(leader.drain()).toEqual([R]);
      await until(() => leader.status().regions[0].role !== 'leader' && c.nodes.size === 3);
      const next = await c.leaderOf(R);
      expect(next.storeId).not.toBe(leader.storeId);
      expect(await get(c, R, 'a')).toBe('1');
    } finally {
      await c.closeAll();
    }
  });

  it('the setDraining request drains the store (leaderships move, draining reported) and undoes it', async () => {
    const c = new Cluster();
    try {
      const leader = await threeVotersWithData(c);
      expect(await leader.handle({ type: 'setDraining', draining: true })).toEqual({ ok: true, value: undefined });
      expect(leader.draining).toBe(true);
      await until(() => leader.status().regions[0].role !== 'leader');
      expect((await c.leaderOf(R)).storeId).not.toBe(leader.storeId);
      expect(await leader.handle({ type: 'setDraining', draining: false })).toEqual({ ok: true, value: undefined });
      expect(leader.draining).toBe(false);
      await expect(leader.handle({ type: 'setDraining', draining: 'yes' } as never)).rejects.toThrow(/draining/);
    } finally {
      await c.closeAll();
    }
  });
});
