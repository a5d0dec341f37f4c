/**
 * Regression tests for the write-path safety defects of issue 10, each through the public
 * API or the store's request API over a `LocalCluster` / `PdCluster`: acknowledged writes
 * never lost to the dedup window, replicas identical after a split, reverse scans and
 * multi-region writes across a split the client has not seen, read contexts unique across
 * restarts, a split never taking a replica's term backwards, a one-voter PD serving only
 * durable ids, and `Undetermined` for outcomes that cannot be known.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryDisk, MemoryEngine, RaftLogStore } from '@peerkv/storage';
import { RawNode } from '@peerkv/raft';
import { CLIENT_WRITE_WINDOW_SEQS, RAFT_CF, type Store } from '@peerkv/store';
import type { RegionEpoch } from '@peerkv/pd';
import { LocalCluster, PdCluster, PeerKV, PeerKVError, codec, type KvService, type StoreResolver } from '../src/index.ts';

const t = codec.text;
const s = codec.fromText;
const disks = new Map<number, MemoryDisk>();

async function cluster(store: Record<string, unknown> = {}): Promise<LocalCluster> {
  disks.clear();
  const c = new LocalCluster({
    openEngine: async (id, cfs) => {
      if (!disks.has(id)) disks.set(id, new MemoryDisk());
      return MemoryEngine.open({ columnFamilies: cfs, disk: disks.get(id) });
    },
    store: { tickIntervalMs: 10, requestTimeoutMs: 2000, ...store },
  });
  for (const id of [1, 2, 3]) await c.startStore(id);
  await c.bootstrap([1, 2, 3]);
  return c;
}

function findLeader(c: LocalCluster, regionId: number): Store | undefined {
  return [...c.stores.values()].find((x) => x.status().regions.find((r) => r.regionId === regionId)?.role === 'leader');
}

async function leaderOf(c: LocalCluster, regionId: number): Promise<Store> {
  await until(() => findLeader(c, regionId) !== undefined);
  return findLeader(c, regionId)!;
}

async function until(cond: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function collect(it: AsyncIterable<{ key: Uint8Array; value: Uint8Array }>): Promise<string[]> {
  const out: string[] = [];
  for await (const p of it) out.push(s(p.key));
  return out;
}

async function splitAt(c: LocalCluster, key: string, newRegionId: number): Promise<void> {
  const leader = [...c.stores.values()].find((x) => x.status().regions.some((r) => r.role === 'leader' && x.regionForKey(t(key))?.id === r.regionId))!;
  const region = leader.regionForKey(t(key))!;
  const r = await leader.split(region.id, region.epoch, t(key), newRegionId, region.peers.map((p) => newRegionId * 100 + p.storeId));
  expect(r.ok).toBe(true);
  await until(() => [...c.stores.values()].every((x) => x.regionIds().includes(newRegionId)));
}

const keyOf = (i: number): string => `k${String(i).padStart(4, '0')}`;

describe('safety: at-most-once never answers "applied" for a write it did not apply (defect 1)', () => {
  let c: LocalCluster;
  afterEach(async () => c?.close());

  it('a retry that fell far behind the client\'s later writes is applied (or refused), never silently dropped', async () => {
    c = await cluster();
    const leader = await leaderOf(c, 2);
    const region = leader.regionForKey(t('a'))!;
    // seq 1's first attempt is lost; 1,074 later writes of the client succeed.
    for (let seq = 2; seq <= 1075; seq++) {
      const r = await leader.write(region.id, region.epoch, 'client-1', seq, [{ type: 'put', cf: 'default', key: t(keyOf(seq)), value: t('v') }], { ackFloor: 1 });
      // Past the window the store refuses with an explicit error (never "applied" without applying).
      if (!r.ok) expect(['ServerIsBusy']).toContain(r.error.kind);
    }
    const retry = await leader.write(region.id, region.epoch, 'client-1', 1, [{ type: 'put', cf: 'default', key: t('first'), value: t('1') }], { ackFloor: 1 });
    const kv = new PeerKV({ dataModel: 'raw', pd: c, stores: c });
    // Applied and readable, or refused by name (the client broke its window): never "ok" without the value.
    if (retry.ok) expect(s((await kv.get(t('first')))!)).toBe('1');
    else expect(retry.error.kind).toBe('ServerIsBusy');
    // Once the client acknowledges, its window frees and the write goes through.
    const again = await leader.write(region.id, region.epoch, 'client-1', 1076, [{ type: 'put', cf: 'default', key: t('first'), value: t('2') }], { ackFloor: 1076 });
    expect(again.ok).toBe(true);
    expect(s((await kv.get(t('first')))!)).toBe('2');
  });

  it('the client keeps every new write within the window of its oldest unfinished one', async () => {
    c = await cluster();
    let releaseHeld: () => void = () => undefined;
    const held = new Promise<void>((r) => (releaseHeld = r));
    let lost = false;
    // The first attempt of put(first) is lost; its retry waits until the test releases it.
    const stores: StoreResolver = {
      store: (id) => {
        const inner = c.store(id) as KvService | undefined;
        if (!inner) return undefined;
        const service: KvService = {
          storeId: id,
          handle: async (q, o) => {
            if (q.type === 'write' && q.ops.some((op) => op.type === 'put' && s(op.key) === 'first')) {
              if (!lost) {
                lost = true;
                return { ok: false, error: { kind: 'Timeout', what: 'lost' } } as never;
              }
              await held;
            }
            return inner.handle(q, o);
          },
        };
        return service;
      },
    };
    const kv = new PeerKV({ dataModel: 'raw', pd: c, stores, backoff: { attemptsMax: 500, baseMs: 1, capMs: 50, budgetMs: 60_000 } });
    const first = kv.put(t('first'), t('1'));
    let done = 0;
    const others = Array.from({ length: 1074 }, (_, i) => kv.put(t(keyOf(i)), t('v')).then(() => done++));
    // The client stops short of the window while `first` is stuck.
    await until(() => done >= CLIENT_WRITE_WINDOW_SEQS - 2, 60_000);
    await new Promise((r) => setTimeout(r, 200));
    expect(done).toBeLessThan(CLIENT_WRITE_WINDOW_SEQS);
    releaseHeld();
    await first;
    await Promise.all(others).catch((e: PeerKVError) => {
      throw new Error(`${e.message}: ${JSON.stringify(e.lastRegionError)}`);
    });
    expect(s((await kv.get(t('first')))!)).toBe('1');
    expect(done).toBe(1074);
  }, 120_000);

  it('a write below the acknowledged floor is refused with StaleWrite, not answered as applied', async () => {
    c = await cluster();
    const leader = await leaderOf(c, 2);
    const region = leader.regionForKey(t('a'))!;
    expect((await leader.write(region.id, region.epoch, 'c', 5, [{ type: 'put', cf: 'default', key: t('x'), value: t('5') }], { ackFloor: 5 })).ok).toBe(true);
    const late = await leader.write(region.id, region.epoch, 'c', 3, [{ type: 'put', cf: 'default', key: t('x'), value: t('3') }], { ackFloor: 3 });
    expect(late.ok).toBe(false);
    if (!late.ok) expect(late.error.kind).toBe('StaleWrite');
    const kv = new PeerKV({ dataModel: 'raw', pd: c, stores: c });
    expect(s((await kv.get(t('x')))!)).toBe('5');
  });
});

describe('safety: replicas of a split region are identical (defect 2)', () => {
  let c: LocalCluster;
  afterEach(async () => c?.close());

  it('the right half gets the completion records as of the split entry, not after the batch', async () => {
    c = await cluster();
    const leader = await leaderOf(c, 2);
    const region = leader.regionForKey(t('a'))!;
    // The split and a later write of the same stamp to the left half land in one batch.
    const split = leader.split(region.id, region.epoch, t('m'), 3, region.peers.map((p) => 300 + p.storeId));
    const leftEpoch: RegionEpoch = { ...region.epoch, version: region.epoch.version + 1 };
    await split;
    const left = await leader.write(region.id, leftEpoch, 'tab', 7, [{ type: 'put', cf: 'default', key: t('a'), value: t('L') }], { ackFloor: 7 });
    expect(left.ok).toBe(true);
    await until(() => [...c.stores.values()].every((x) => x.regionIds().includes(3)));
    // The right part of the same logical write (same stamp) must apply in the right half.
    const kv = new PeerKV({ dataModel: 'raw', pd: c, stores: c });
    await until(async () => (await c.getRegion(t('z')))?.region.id === 3);
    const rightLeader = await leaderOf(c, 3);
    const right = rightLeader.regionForKey(t('z'))!;
    const r = await rightLeader.write(right.id, right.epoch, 'tab', 7, [{ type: 'put', cf: 'default', key: t('z'), value: t('R') }], { ackFloor: 7 });
    expect(r.ok).toBe(true);
    expect(s((await kv.get(t('z')))!)).toBe('R');
    // Every replica at the same applied index holds the same data and records.
    await until(async () => {
      const ds = (await Promise.all([...c.stores.values()].map((x) => x.regionDigests()))).flat();
      const byRegion = new Map<number, Set<string>>();
      for (const d of ds) byRegion.set(d.regionId, (byRegion.get(d.regionId) ?? new Set()).add(`${d.applied}:${d.hash}`));
      return [...byRegion.values()].every((v) => v.size === 1);
    });
  });

  /**
   * The split and a write of stamp (tab, 9) to the left half apply in one batch; then the
   * right part of the same logical write (same stamp) goes to the right half. Returns what the
   * right half holds for it.
   */
  async function splitThenRightPart(mutations: Record<string, boolean>): Promise<string | undefined> {
    c = await cluster({ unsafeTestMutations: mutations });
    const leader = await leaderOf(c, 2);
    const region = leader.regionForKey(t('a'))!;
    const split = leader.split(region.id, region.epoch, t('m'), 3, region.peers.map((p) => 300 + p.storeId));
    // Proposed in the same round as the split (no await between), so it passes the epoch
    // check and applies right after the split entry, in the same batch.
    const left = leader.write(region.id, region.epoch, 'tab', 9, [{ type: 'put', cf: 'default', key: t('a'), value: t('L') }], { ackFloor: 9 });
    await split;
    await left;
    const rightLeader = await leaderOf(c, 3);
    const right = rightLeader.regionForKey(t('z'))!;
    expect((await rightLeader.write(right.id, right.epoch, 'tab', 9, [{ type: 'put', cf: 'default', key: t('z'), value: t('R') }], { ackFloor: 9 })).ok).toBe(true);
    const kv = new PeerKV({ dataModel: 'raw', pd: c, stores: c });
    const v = await kv.get(t('z'));
    return v ? s(v) : undefined;
  }

  it('a write in the same batch as the split is not copied into the right half\'s records', async () => {
    expect(await splitThenRightPart({})).toBe('R');
  });

  it('(the same check catches records copied after the batch: mutation splitDedupAfterBatch)', async () => {
    expect(await splitThenRightPart({ splitDedupAfterBatch: true })).toBeUndefined();
  });
});

describe('safety: scans and multi-region writes across a split the client has not seen (defects 3, 4)', () => {
  let c: LocalCluster;
  afterEach(async () => c?.close());

  it('a reverse scan that meets a split half way returns every key', async () => {
    c = await cluster();
    const kv = new PeerKV({ dataModel: 'raw', pd: c, stores: c, scanPagePairs: 5 });
    const keys = Array.from({ length: 30 }, (_, i) => keyOf(i));
    await kv.batchPut(keys.map((k) => ({ key: t(k), value: t(k) })));
    const it = kv.scan({ reverse: true })[Symbol.asyncIterator]();
    const seen: string[] = [];
    for (let i = 0; i < 5; i++) seen.push(s((await it.next()).value.key));
    await splitAt(c, keyOf(15), 3);
    for (;;) {
      const n = await it.next();
      if (n.done) break;
      seen.push(s(n.value.key));
    }
    expect(seen).toEqual([...keys].reverse());
  });

  it('batchPut and deleteRange across a split the client has not seen succeed', async () => {
    c = await cluster();
    const kv = new PeerKV({ dataModel: 'raw', pd: c, stores: c, backoff: { attemptsMax: 20, baseMs: 1, capMs: 20, budgetMs: 5000 } });
    await kv.put(t('a'), t('1')); // caches the whole-keyspace region
    await splitAt(c, 'm', 3);
    await kv.batchPut([
      { key: t('b'), value: t('B') },
      { key: t('x'), value: t('X') },
    ]);
    expect(await collect(kv.scan())).toEqual(['a', 'b', 'x']);
    await splitAt(c, 't', 4);
    await kv.deleteRange(t('a'), t('z'));
    expect(await collect(kv.scan())).toEqual([]);
  });
});

describe('safety: read contexts and votes survive restarts (defects 5, 6)', () => {
  let c: LocalCluster;
  afterEach(async () => c?.close());

  it('a restarted store never reuses a read context', async () => {
    c = await cluster();
    const kv = new PeerKV({ dataModel: 'raw', pd: c, stores: c });
    await kv.put(t('a'), t('1'));
    const seen: string[] = [];
    const orig = RawNode.prototype.readIndex;
    RawNode.prototype.readIndex = function (this: RawNode, ctx: Uint8Array) {
      seen.push(new TextDecoder().decode(ctx));
      return orig.call(this, ctx);
    };
    try {
      const follower = [...c.stores.values()].find((x) => x.status().regions.find((r) => r.regionId === 2)?.role === 'follower')!;
      const region = follower.regionForKey(t('a'))!;
      expect((await follower.get(region.id, region.epoch, t('a'), 'follower')).ok).toBe(true);
      await c.stopStore(follower.storeId);
      const again = await c.startStore(follower.storeId);
      await until(() => again.regionForKey(t('a')) !== undefined);
      await until(async () => (await again.get(region.id, again.regionForKey(t('a'))!.epoch, t('a'), 'follower')).ok);
    } finally {
      RawNode.prototype.readIndex = orig;
    }
    const mine = seen.filter((x) => x.startsWith(`${seen[0].split(':')[0]}:`));
    expect(new Set(mine).size).toBe(mine.length);
  });

  it('the right half of a split keeps the term and vote its replica persisted before a restart', async () => {
    c = await cluster();
    const kv = new PeerKV({ dataModel: 'raw', pd: c, stores: c });
    await kv.put(t('a'), t('1'));
    const lagging = [...c.stores.values()].find((x) => x.status().regions.find((r) => r.regionId === 2)?.role === 'follower')!;
    const id = lagging.storeId;
    await c.stopStore(id);
    // While the store is away its (uninitialized) replica of the coming region 3 voted in term 9.
    const engine = await MemoryEngine.open({ columnFamilies: ['default', 'meta', RAFT_CF], disk: disks.get(id) });
    const logs = new RaftLogStore({ engine, cf: RAFT_CF });
    await logs.open(3);
    const b = logs.batch();
    b.stageHardState(3, { term: 9, vote: 300 + id, commit: 0 });
    await logs.write(b, { durability: 'strict' });
    await engine.close();
    const others = [...c.stores.values()];
    const leader = others.find((x) => x.status().regions.find((r) => r.regionId === 2)?.role === 'leader')!;
    const region = leader.regionForKey(t('a'))!;
    expect((await leader.split(region.id, region.epoch, t('m'), 3, region.peers.map((p) => 300 + p.storeId))).ok).toBe(true);
    const back = await c.startStore(id);
    // Nothing from region 3's group arrives before the parent's split applies here, so the
    // replica is created by the split, from what is on disk (not from a replica in memory).
    const receive = back.receive.bind(back);
    back.receive = (from, msgs) => receive(from, back.regionIds().includes(3) ? msgs : msgs.filter((m) => m.regionId !== 3));
    await until(() => back.status().regions.some((r) => r.regionId === 3));
    const r3 = back.status().regions.find((r) => r.regionId === 3)!;
    expect(r3.term).toBeGreaterThanOrEqual(9);
  });
});

describe('safety: a one-voter PD serves only ids that are durable (defect 7)', () => {
  it('ids handed out before a crash are never handed out again', async () => {
    // A slow disk: the write granting an id batch is in flight for a while after it applies.
    const disk = new MemoryDisk({ writeDelayMs: () => 30, timers: globalThis });
    const pd = new PdCluster({
      openEngine: (_name, cfs) => MemoryEngine.open({ columnFamilies: cfs, disk }),
      store: { tickIntervalMs: 10 },
    });
    await pd.bootstrap('solo');
    const ids = new Set<number>();
    let duplicates = 0;
    let crashesWithWritesInFlight = 0;
    for (let round = 0; round < 4; round++) {
      const s = [...pd.stores.values()][0];
      await until(() => s.pdIsLeader());
      let crashed = false;
      // Workers take ids until one is handed out while a disk write is in flight: then the
      // machine dies at once, and that write never reaches the disk.
      const worker = async (): Promise<void> => {
        for (let i = 0; i < 5000 && !crashed; i++) {
          const r = await s.pdAllocId().catch(() => undefined);
          if (crashed || !r?.ok) return;
          if (ids.has(r.value)) duplicates++;
          ids.add(r.value);
          if (disk.inFlightCount() > 0) {
            crashed = true;
            crashesWithWritesInFlight++;
            disk.crash({ kind: 'process', random: () => 0 });
          }
        }
      };
      await Promise.all(Array.from({ length: 4 }, worker));
      await pd.kill(s.storeId);
      await pd.join('solo');
    }
    expect(crashesWithWritesInFlight).toBeGreaterThan(0);
    expect(duplicates).toBe(0);
    await pd.close();
  }, 60_000);
});

describe('safety: outcomes that cannot be known are Undetermined (defect 8)', () => {
  let c: LocalCluster;
  afterEach(async () => c?.close());

  it('a write sent to a leader that lost its quorum is Undetermined; a read that never ran is RetryBudgetExhausted', async () => {
    c = await cluster();
    const kv = new PeerKV({ dataModel: 'raw', pd: c, stores: c, backoff: { attemptsMax: 5, budgetMs: 1500, baseMs: 5, capMs: 50 }, requestTimeoutMs: 200 });
    await kv.put(t('x'), t('1'));
    const leader = await leaderOf(c, 2);
    for (const id of [...c.stores.keys()]) if (id !== leader.storeId) await c.stopStore(id);
    const err = await kv.put(t('y'), t('2')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PeerKVError);
    expect((err as PeerKVError).kind).toBe('Undetermined');
    await c.stopStore(leader.storeId);
    const rerr = await kv.get(t('x')).catch((e: unknown) => e);
    expect((rerr as PeerKVError).kind).toBe('RetryBudgetExhausted');
  });
});
