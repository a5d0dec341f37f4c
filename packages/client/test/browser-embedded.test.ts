/**
 * The browser runtime's Worker-side cluster and tab-side pending calls, in Node: the
 * embedded cluster bootstraps once and reopens from its engines, serves every request kind,
 * refuses hooks unless enabled, and survives a stopped store, a partition and a split;
 * stamped writes apply once across hosts and regroup after splits; pending calls are resent
 * to each new host and time out. On the mvcc model the Worker runs a PD-driven cluster, so the
 * tab's transactions get TSO timestamps; it reopens with every store keeping its PD id.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryDisk, MemoryEngine } from '@peerkv/storage';
import { LocalCluster, PeerKV, codec } from '../src/index.ts';
import type { KvPair } from '../src/index.ts';
import type { ReplicaRead } from '../src/txn/routing.ts';
import type { Store, StoreRequest } from '@peerkv/store';
import { EmbeddedCluster, PendingCalls, TabWriter, unwrapReply, type TabRequest, type Reply, type TabMessage } from '../src/browser/index.ts';

const t = codec.text;
const s = codec.fromText;
const disks = new Map<string, MemoryDisk>();

/**
 * Raw unless named: the first suites test the raw runtime (fixed store ids 1..N for the
 * partition hooks, write stamps, which belong to raw); 'EmbeddedCluster on the mvcc data model'
 * names mvcc, the runtime's default.
 */
function open(testHooks = true, dataModel: 'raw' | 'mvcc' = 'raw', replicaRead?: ReplicaRead): Promise<EmbeddedCluster> {
  return EmbeddedCluster.open({
    cluster: 'unit',
    testHooks,
    dataModel,
    ...(replicaRead ? { replicaRead } : {}),
    // PD heartbeats every 5 ticks (mvcc: PD places the replicas sooner).
    store: { tickIntervalMs: 10, ...(dataModel === 'mvcc' ? { heartbeatIntervalTicks: 5 } : {}) },
    requestTimeoutMs: 500,
    openEngine: async (name, cfs) => {
      if (!disks.has(name)) disks.set(name, new MemoryDisk());
      return MemoryEngine.open({ columnFamilies: cfs, disk: disks.get(name) });
    },
  });
}

async function call<T>(c: EmbeddedCluster, req: TabRequest): Promise<T> {
  return unwrapReply<T>(await c.call(req));
}

describe('EmbeddedCluster', () => {
  let c: EmbeddedCluster | undefined;
  afterEach(async () => {
    await c?.close();
    c = undefined;
    disks.clear();
  });

  it('bootstraps once, serves every request kind, and reopens from its engines', async () => {
    c = await open();
    expect(c.status().opened).toBe('bootstrapped');
    expect(c.status().stores.map((x) => x.database)).toEqual(['peerkv:unit:store-1', 'peerkv:unit:store-2', 'peerkv:unit:store-3']);
    await call(c, { kind: 'kv', request: { type: 'put', key: t('a'), value: t('1') } });
    await call(c, { kind: 'kv', request: { type: 'batchPut', pairs: [{ key: t('b'), value: t('2') }, { key: t('c'), value: t('3') }, { key: t('d'), value: t('4') }] } });
    await call(c, { kind: 'kv', request: { type: 'delete', key: t('b') } });
    await call(c, { kind: 'kv', request: { type: 'batchDelete', keys: [t('d')] } });
    const got = await call<(Uint8Array | undefined)[]>(c, { kind: 'kv', request: { type: 'batchGet', keys: [t('a'), t('b'), t('c')] } });
    expect(got.map((v) => (v ? s(v) : null))).toEqual(['1', null, '3']);
    await c.close();
    c = await open();
    expect(c.status().opened).toBe('reopened');
    const pairs = await call<KvPair[]>(c, { kind: 'kv', request: { type: 'scan', start: t('a') } });
    expect(pairs.map((p) => `${s(p.key)}=${s(p.value)}`)).toEqual(['a=1', 'c=3']);
    await call(c, { kind: 'kv', request: { type: 'deleteRange', start: t('a'), end: t('b') } });
    expect(await call(c, { kind: 'kv', request: { type: 'get', key: t('a') } })).toBeUndefined();
    const st = c.status();
    expect(st.requests.writes).toBe(1);
    expect(st.stores.every((x) => x.up && x.regions.length === 1)).toBe(true);
  });

  it('refuses hooks unless enabled, and bad hook arguments with typed errors', async () => {
    c = await open(false);
    const r = await c.call({ kind: 'hook', request: { type: 'stopStore', storeId: 1 } });
    expect(r).toMatchObject({ ok: false, error: { kind: 'HooksDisabled' } });
    await c.close();
    c = await open(true);
    expect(await c.call({ kind: 'hook', request: { type: 'stopStore', storeId: 9 } })).toMatchObject({ ok: false, error: { kind: 'InvalidHook' } });
    expect(await c.call({ kind: 'hook', request: { type: 'startStore', storeId: 1 } })).toMatchObject({ ok: false, error: { kind: 'InvalidHook' } });
    expect(await c.call({ kind: 'kv', request: { type: 'put', key: new Uint8Array(), value: t('x') } })).toMatchObject({ ok: false, error: { kind: 'InvalidArgument' } });
  });

  it('keeps writing with the leader store stopped, and the store catches up after a restart', async () => {
    c = await open();
    const leaderOf = (x: EmbeddedCluster) => x.status().stores.find((st) => st.regions.some((r) => r.role === 'leader'))!.storeId;
    const leader = leaderOf(c);
    await call(c, { kind: 'hook', request: { type: 'stopStore', storeId: leader } });
    await call(c, { kind: 'kv', request: { type: 'put', key: t('k'), value: t('v') } });
    await call(c, { kind: 'hook', request: { type: 'startStore', storeId: leader } });
    await call(c, { kind: 'kv', request: { type: 'put', key: t('k2'), value: t('v2') } });
    await expect.poll(() => new Set(c!.status().stores.map((x) => x.regions[0]?.applied)).size, { timeout: 5000 }).toBe(1);
  });

  it('writes on the majority during a partition, converges after heal, and splits', async () => {
    c = await open();
    await call(c, { kind: 'hook', request: { type: 'partitionStore', storeId: 1 } });
    expect(c.status().stores[0].partitioned).toBe(true);
    await call(c, { kind: 'kv', request: { type: 'put', key: t('p'), value: t('1') } });
    await call(c, { kind: 'hook', request: { type: 'heal' } });
    await call(c, { kind: 'kv', request: { type: 'put', key: t('q'), value: t('2') } });
    await expect.poll(() => new Set(c!.status().stores.map((x) => x.regions[0]?.applied)).size, { timeout: 5000 }).toBe(1);
    const before = c.status().stores[0].regions[0].regionId;
    const { newRegionId } = await call<{ newRegionId: number }>(c, { kind: 'hook', request: { type: 'splitRegion', splitKey: t('m') } });
    expect(newRegionId).toBe(before + 1);
    await expect.poll(() => c!.status().stores.every((x) => x.regions.length === 2), { timeout: 5000 }).toBe(true);
    const pairs = await call<KvPair[]>(c, { kind: 'kv', request: { type: 'scan', start: t('a') } });
    expect(pairs.map((p) => s(p.key))).toEqual(['p', 'q']);
  });
});

describe('EmbeddedCluster stamped writes', () => {
  let c: EmbeddedCluster | undefined;
  afterEach(async () => {
    await c?.close();
    c = undefined;
    disks.clear();
  });

  it('applies a resent stamp once, even on the next host after a reopen', async () => {
    c = await open();
    const stamp = (seq: number) => ({ clientId: 'tab-1', seq });
    await call(c, { kind: 'kv', request: { type: 'put', key: t('k'), value: t('a'), stamp: stamp(1) } });
    await call(c, { kind: 'kv', request: { type: 'put', key: t('k'), value: t('b'), stamp: stamp(2) } });
    // The first write's answer was lost; the tab sends it again, to a new host.
    await c.close();
    c = await open();
    await call(c, { kind: 'kv', request: { type: 'put', key: t('k'), value: t('a'), stamp: stamp(1) } });
    expect(s((await call<Uint8Array>(c, { kind: 'kv', request: { type: 'get', key: t('k') } })))).toBe('b');
    // Without stamps the same resend would revert it (what PeerKV's own retries cannot see).
    await call(c, { kind: 'kv', request: { type: 'put', key: t('k'), value: t('a') } });
    expect(s((await call<Uint8Array>(c, { kind: 'kv', request: { type: 'get', key: t('k') } })))).toBe('a');
  });

  it('splits stamped batches and range deletes by region, and checks stamps and keys', async () => {
    c = await open();
    await call(c, { kind: 'hook', request: { type: 'splitRegion', splitKey: t('m') } });
    const stamp = (seq: number) => ({ clientId: 'tab-2', seq });
    const keys = ['a', 'f', 'm', 'q', 'z'];
    await call(c, { kind: 'kv', request: { type: 'batchPut', pairs: keys.map((k) => ({ key: t(k), value: t(k.toUpperCase()) })), stamp: stamp(1) } });
    await call(c, { kind: 'kv', request: { type: 'deleteRange', start: t('e'), end: t('r'), stamp: stamp(2) } });
    await call(c, { kind: 'kv', request: { type: 'batchDelete', keys: [t('z')], stamp: stamp(3) } });
    const pairs = await call<KvPair[]>(c, { kind: 'kv', request: { type: 'scan', start: t('a') } });
    expect(pairs.map((p) => `${s(p.key)}=${s(p.value)}`)).toEqual(['a=A']);
    expect(await c.call({ kind: 'kv', request: { type: 'put', key: t('x'), value: t('1'), stamp: { clientId: '', seq: 1 } } })).toMatchObject({ ok: false, error: { kind: 'InvalidArgument' } });
    expect(await c.call({ kind: 'kv', request: { type: 'put', key: new Uint8Array(), value: t('1'), stamp: stamp(4) } })).toMatchObject({ ok: false, error: { kind: 'InvalidArgument' } });
  });
});

describe('PendingCalls', () => {
  it('resends to each new host, serves a reply once, and expires', async () => {
    const sent: TabMessage[] = [];
    let now = 0;
    const p = new PendingCalls('me', (m) => sent.push(m), () => now);
    const a = p.add({ kind: 'kv', request: { type: 'get', key: t('a') } }, undefined, 1000);
    expect(sent).toEqual([]);
    p.resendTo('h1');
    p.resendTo('h1');
    p.resendTo('h2');
    expect(sent.map((m) => (m.t === 'req' ? m.to : m.t))).toEqual(['h1', 'h2']);
    const id = (sent[1] as Extract<TabMessage, { t: 'req' }>).id;
    p.settle(id, { ok: true, value: 7 });
    p.settle(id, { ok: true, value: 8 });
    expect(await a).toEqual({ ok: true, value: 7 });
    const b = p.add({ kind: 'tab', request: { type: 'status' } }, 'h2', 1000);
    now = 1000;
    p.expire();
    const r: Reply = await b;
    expect(r).toMatchObject({ ok: false, error: { kind: 'Timeout' } });
    expect(p.size).toBe(0);
  });
});

describe('TabWriter', () => {
  it('regroups a write sent with a stale region view after a split, and applies it once', async () => {
    const disk = new Map<number, MemoryDisk>();
    const local = new LocalCluster({
      openEngine: async (id, cfs) => {
        if (!disk.has(id)) disk.set(id, new MemoryDisk());
        return MemoryEngine.open({ columnFamilies: cfs, disk: disk.get(id) });
      },
      store: { tickIntervalMs: 10 },
    });
    try {
      for (const id of [1, 2, 3]) await local.startStore(id);
      await local.bootstrap([1, 2, 3]);
      await expect.poll(async () => (await local.getRegion(t('a')))?.leader !== undefined).toBe(true);
      const stale = (await local.getRegion(t('a')))!;
      const leader = local.store(stale.leader!.storeId)!;
      const r = await leader.split(stale.region.id, stale.region.epoch, t('m'), stale.region.id + 1, stale.region.peers.map((p) => 9000 + p.storeId));
      expect(r.ok).toBe(true);
      // The first lookup answers with the region as it was before the split.
      let lookups = 0;
      const view = {
        getRegion: async (key: Uint8Array) => (lookups++ === 0 ? stale : local.getRegion(key)),
        store: (id: number) => local.store(id),
      };
      const writer = new TabWriter(view, 500, async () => undefined);
      const stamp = { clientId: 'tab-3', seq: 1 };
      await writer.write(stamp, [{ type: 'put', cf: 'default', key: t('b'), value: t('1') }, { type: 'put', cf: 'default', key: t('x'), value: t('2') }]);
      expect(lookups).toBeGreaterThan(2);
      await writer.write({ clientId: 'tab-3', seq: 2 }, [{ type: 'put', cf: 'default', key: t('x'), value: t('3') }]);
      await writer.write(stamp, [{ type: 'put', cf: 'default', key: t('b'), value: t('1') }, { type: 'put', cf: 'default', key: t('x'), value: t('2') }]);
      const kv = new PeerKV({ dataModel: 'raw', pd: local, stores: local });
      expect(s((await kv.get(t('b')))!)).toBe('1');
      expect(s((await kv.get(t('x')))!)).toBe('3');
    } finally {
      await local.close();
    }
  });
});

/** A read-modify-write as a tab runs it: read at a TSO start ts, then commit its writes. */
async function increment(c: EmbeddedCluster, key: string): Promise<bigint> {
  const startTs = await call<bigint>(c, { kind: 'kv', request: { type: 'getTimestamp' } });
  const cur = await call<Uint8Array | undefined>(c, { kind: 'kv', request: { type: 'snapshotGet', ts: startTs, key: t(key) } });
  const next = String(Number(cur ? s(cur) : '0') + 1);
  const r = await call<{ commitTs: bigint }>(c, { kind: 'kv', request: { type: 'commitTxn', startTs, mutations: [{ op: 'put', key: t(key), value: t(next) }] } });
  return r.commitTs;
}

describe('EmbeddedCluster on the mvcc data model', () => {
  let c: EmbeddedCluster | undefined;
  afterEach(async () => {
    await c?.close();
    c = undefined;
    disks.clear();
  });

  it('bootstraps a PD cluster with three replicas, commits transactions, and reopens with the same store ids', async () => {
    c = await open(true, 'mvcc');
    const st = c.status();
    expect(st.opened).toBe('bootstrapped');
    expect(st.stores.map((x) => x.database)).toEqual(['peerkv:unit:store-1', 'peerkv:unit:store-2', 'peerkv:unit:store-3']);
    // PD's group and the data region, each on all three stores.
    expect(st.stores.every((x) => x.up && x.regions.length === 2)).toBe(true);
    const ids = st.stores.map((x) => x.storeId);
    const c1 = await increment(c, 'n');
    const c2 = await increment(c, 'n');
    expect(c2).toBeGreaterThan(c1);
    await call(c, { kind: 'kv', request: { type: 'put', key: t('a'), value: t('1') } });
    await call(c, { kind: 'kv', request: { type: 'batchPut', pairs: [{ key: t('b'), value: t('2') }, { key: t('c'), value: t('3') }] } });
    await call(c, { kind: 'kv', request: { type: 'delete', key: t('b') } });
    await c.close();
    c = await open(true, 'mvcc');
    expect(c.status().opened).toBe('reopened');
    expect(c.status().stores.map((x) => x.storeId)).toEqual(ids);
    const pairs = await call<KvPair[]>(c, { kind: 'kv', request: { type: 'scan', start: t('a') } });
    expect(pairs.map((p) => `${s(p.key)}=${s(p.value)}`)).toEqual(['a=1', 'c=3', 'n=2']);
    // Timestamps keep rising across the reopen (PD's TSO persisted its window).
    expect(await increment(c, 'n')).toBeGreaterThan(c2);
  });

  it('keeps committing with the leader store stopped, splits, and serves a stale scan', async () => {
    c = await open(true, 'mvcc');
    await increment(c, 'k');
    const leaderStore = c.status().stores.find((x) => x.regions.some((r) => r.regionId !== 1 && r.role === 'leader'))!.storeId;
    await call(c, { kind: 'hook', request: { type: 'stopStore', storeId: leaderStore } });
    await increment(c, 'k');
    await call(c, { kind: 'hook', request: { type: 'startStore', storeId: leaderStore } });
    expect(c.status().stores.find((x) => x.storeId === leaderStore)!.up).toBe(true);
    const { newRegionId } = await call<{ newRegionId: number }>(c, { kind: 'hook', request: { type: 'splitRegion', splitKey: t('m') } });
    expect(newRegionId).toBeGreaterThan(0);
    await increment(c, 'z');
    const pairs = await call<KvPair[]>(c, { kind: 'kv', request: { type: 'scan', start: t('a') } });
    expect(pairs.map((p) => `${s(p.key)}=${s(p.value)}`)).toEqual(['k=2', 'z=1']);
    // The host store's own replica answers at its resolved ts once it has one.
    await expect
      .poll(async () => (await c!.call({ kind: 'kv', request: { type: 'staleScan', start: t('a') } })).ok, { timeout: 10_000 })
      .toBe(true);
  });

  it('serves reads from the replica replicaRead names: follower reads never from the leader, which only answers txnReadIndex', async () => {
    c = await open(true, 'mvcc', 'follower');
    await call(c, { kind: 'kv', request: { type: 'batchPut', pairs: [{ key: t('a'), value: t('1') }, { key: t('b'), value: t('2') }] } });
    const served = recordServed(c);
    const leader = dataLeaderOf(c);
    await call(c, { kind: 'kv', request: { type: 'put', key: t('a'), value: t('3') } });
    expect(s((await call<Uint8Array>(c, { kind: 'kv', request: { type: 'get', key: t('a') } })))).toBe('3');
    const pairs = await call<KvPair[]>(c, { kind: 'kv', request: { type: 'scan', start: t('a'), end: t('c') } });
    expect(pairs.map((p) => `${s(p.key)}=${s(p.value)}`)).toEqual(['a=3', 'b=2']);
    // A tab's transaction reads at its start ts the same way.
    const startTs = await call<bigint>(c, { kind: 'kv', request: { type: 'getTimestamp' } });
    expect(s((await call<Uint8Array>(c, { kind: 'kv', request: { type: 'snapshotGet', ts: startTs, key: t('b') } })))).toBe('2');
    const reads = served.filter((x) => x.type === 'txnReplicaGet' || x.type === 'txnReplicaScan');
    expect(reads.length).toBeGreaterThanOrEqual(3);
    expect(reads.every((x) => x.storeId !== leader)).toBe(true);
    expect(served.filter((x) => x.type === 'txnReadIndex').every((x) => x.storeId === leader)).toBe(true);
    expect(served.some((x) => x.type === 'txnGet' || x.type === 'txnScan')).toBe(false);
  });

  it('the default and leader read from the leader; closest reads from a replica; raw refuses a replica read, mvcc an unknown one', async () => {
    c = await open(true, 'mvcc');
    await call(c, { kind: 'kv', request: { type: 'put', key: t('a'), value: t('1') } });
    let served = recordServed(c);
    expect(s((await call<Uint8Array>(c, { kind: 'kv', request: { type: 'get', key: t('a') } })))).toBe('1');
    expect(served.filter((x) => x.type === 'txnGet').map((x) => x.storeId)).toEqual([dataLeaderOf(c)]);
    expect(served.some((x) => x.type === 'txnReplicaGet' || x.type === 'txnReadIndex')).toBe(false);
    await c.close();
    c = await open(true, 'mvcc', 'closest');
    served = recordServed(c);
    expect(s((await call<Uint8Array>(c, { kind: 'kv', request: { type: 'get', key: t('a') } })))).toBe('1');
    expect(served.filter((x) => x.type === 'txnReplicaGet')).toHaveLength(1);
    expect(served.some((x) => x.type === 'txnGet')).toBe(false);
    await c.close();
    c = undefined;
    await expect(open(true, 'mvcc', 'nearest' as ReplicaRead)).rejects.toMatchObject({ kind: 'InvalidArgument' });
    disks.clear();
    await expect(open(true, 'raw', 'follower')).rejects.toMatchObject({ kind: 'InvalidArgument', message: expect.stringMatching(/mvcc/) });
  });

  it('refuses to reopen a raw cluster as mvcc, naming both models', async () => {
    c = await open(true, 'raw');
    await call(c, { kind: 'kv', request: { type: 'put', key: t('a'), value: t('1') } });
    await c.close();
    c = undefined;
    await expect(open(true, 'mvcc')).rejects.toThrow(/raw|mvcc/);
  });
});

/** The Worker's running stores (a test reaches into the cluster's backend). */
function storesOf(c: EmbeddedCluster): Store[] {
  const backend = (c as unknown as { backend: { storeIds(): number[]; store(id: number): Store | undefined } }).backend;
  return backend.storeIds().flatMap((id) => backend.store(id) ?? []);
}

/** Records which store gets which request from now on. */
function recordServed(c: EmbeddedCluster): { type: string; storeId: number }[] {
  const served: { type: string; storeId: number }[] = [];
  for (const store of storesOf(c)) {
    const handle = store.handle.bind(store);
    store.handle = ((q: StoreRequest, o?: Parameters<Store['handle']>[1]) => {
      served.push({ type: q.type, storeId: store.storeId });
      return handle(q, o);
    }) as Store['handle'];
  }
  return served;
}

/** The store leading the data region (PD's region is 1). */
function dataLeaderOf(c: EmbeddedCluster): number {
  return c.status().stores.find((x) => x.regions.some((r) => r.regionId !== 1 && r.role === 'leader'))!.storeId;
}
