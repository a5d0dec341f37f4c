/**
 * The public API over a LocalCluster of three MemoryEngine stores: CRUD, scans across
 * regions (forward, reverse, limits), routing through splits and leader changes, typed
 * errors for bad input and aborted calls.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryDisk, MemoryEngine } from '@peerkv/storage';
import { LocalCluster, PeerKV, PeerKVError, codec } from '../src/index.ts';

const disks = new Map<number, MemoryDisk>();

async function cluster(): Promise<LocalCluster> {
  disks.clear();
  const c = new LocalCluster({
    openEngine: async (id, cfs) => {
      if (!disks.has(id)) disks.set(id, new MemoryDisk());
      return MemoryEngine.open({ columnFamilies: cfs, disk: disks.get(id) });
    },
    store: { tickIntervalMs: 10, requestTimeoutMs: 2000 },
  });
  for (const id of [1, 2, 3]) await c.startStore(id);
  await c.bootstrap([1, 2, 3]);
  return c;
}

const t = codec.text;
const s = codec.fromText;

async function collect(it: AsyncIterable<{ key: Uint8Array; value: Uint8Array }>): Promise<string[]> {
  const out: string[] = [];
  for await (const p of it) out.push(`${s(p.key)}=${s(p.value)}`);
  return out;
}

describe('PeerKV client', () => {
  let c: LocalCluster;
  afterEach(async () => {
    await c?.close();
  });

  it('puts, gets, deletes and batch-gets', async () => {
    c = await cluster();
    const kv = new PeerKV({ dataModel: 'raw', pd: c, stores: c });
    await kv.put(t('a'), t('1'));
    await kv.batchPut([{ key: t('b'), value: t('2') }, { key: t('c'), value: t('3') }]);
    expect(s((await kv.get(t('a')))!)).toBe('1');
    await kv.delete(t('a'));
    expect(await kv.get(t('a'))).toBeUndefined();
    const got = await kv.batchGet([t('b'), t('x'), t('c')]);
    expect(got.map((v) => (v ? s(v) : null))).toEqual(['2', null, '3']);
    expect(codec.fromJson(codec.json({ n: 1 }))).toEqual({ n: 1 });
  });

  it("a caller's stamped write applies once, also when resent through another client", async () => {
    c = await cluster();
    const first = new PeerKV({ dataModel: 'raw', pd: c, stores: c });
    const second = new PeerKV({ dataModel: 'raw', pd: c, stores: c });
    const stamp = { clientId: 'tab-1', seq: 1 };
    await first.put(t('k'), t('first'), { stamp });
    // The same stamp again (a tab resending to a new host): recognized, not applied again.
    await second.put(t('k'), t('resent'), { stamp });
    expect(s((await second.get(t('k')))!)).toBe('first');
    await second.delete(t('k'), { stamp: { clientId: 'tab-1', seq: 2 } });
    expect(await first.get(t('k'))).toBeUndefined();
    await expect(first.put(t('k'), t('x'), { stamp: { clientId: '', seq: 3 } })).rejects.toMatchObject({ kind: 'InvalidArgument' });
    await expect(first.put(t('k'), t('x'), { stamp: { clientId: 'tab-1', seq: 0 } })).rejects.toMatchObject({ kind: 'InvalidArgument' });
  });

  it('scans across a split, forward and reverse, with limits and small pages, and deletes a range', async () => {
    c = await cluster();
    const kv = new PeerKV({ dataModel: 'raw', pd: c, stores: c, scanPagePairs: 4 });
    const keys = Array.from({ length: 30 }, (_, i) => `k${String(i).padStart(2, '0')}`);
    await kv.batchPut(keys.map((k) => ({ key: t(k), value: t(k.toUpperCase()) })));
    const leader = [...c.stores.values()].find((x) => x.status().regions[0].role === 'leader')!;
    const r = leader.status().regions[0];
    const split = await leader.split(2, r.epoch, t('k15'), 3, r.peers.map((p) => 2000 + p.storeId));
    expect(split.ok).toBe(true);
    // The client still routes with its cached (now stale) region and recovers via EpochNotMatch.
    const all = await collect(kv.scan());
    expect(all.length).toBe(30);
    expect(all[0]).toBe('k00=K00');
    const mid = await collect(kv.scan({ start: t('k10'), end: t('k20') }));
    expect(mid).toEqual(keys.slice(10, 20).map((k) => `${k}=${k.toUpperCase()}`));
    const rev = await collect(kv.scan({ start: t('k10'), end: t('k20'), reverse: true, limit: 7 }));
    expect(rev).toEqual(keys.slice(13, 20).reverse().map((k) => `${k}=${k.toUpperCase()}`));
    // Unbounded reverse scans page through each region (pages of SCAN_PAGE_PAIRS).
    const allRev = await collect(kv.scan({ reverse: true }));
    expect(allRev).toEqual([...all].reverse());
    await kv.deleteRange(t('k05'), t('k25'));
    const left = await collect(kv.scan());
    expect(left.map((x) => x.split('=')[0])).toEqual([...keys.slice(0, 5), ...keys.slice(25)]);
  });

  it('keeps working when the leader store dies', async () => {
    c = await cluster();
    const kv = new PeerKV({ dataModel: 'raw', pd: c, stores: c });
    await kv.put(t('before'), t('1'));
    const leader = [...c.stores.values()].find((x) => x.status().regions[0].role === 'leader')!;
    await c.stopStore(leader.storeId);
    await kv.put(t('after'), t('2'));
    expect(s((await kv.get(t('before')))!)).toBe('1');
    expect(s((await kv.get(t('after')))!)).toBe('2');
  });

  it('rejects bad input with typed errors and honours AbortSignal', async () => {
    c = await cluster();
    const kv = new PeerKV({ dataModel: 'raw', pd: c, stores: c });
    await expect(kv.put(new Uint8Array(), t('x'))).rejects.toMatchObject({ kind: 'InvalidArgument' });
    await expect(kv.put(t('big'), new Uint8Array(9 * 1024 * 1024))).rejects.toBeInstanceOf(PeerKVError);
    const ac = new AbortController();
    ac.abort();
    await expect(kv.get(t('a'), { signal: ac.signal })).rejects.toMatchObject({ kind: 'Aborted' });
  });

  it('gives up with RetryBudgetExhausted when no quorum is left and no leader took the write', async () => {
    c = await cluster();
    const kv = new PeerKV({ dataModel: 'raw', pd: c, stores: c, backoff: { attemptsMax: 5, budgetMs: 1500, baseMs: 5, capMs: 50 }, requestTimeoutMs: 200 });
    await kv.put(t('x'), t('1'));
    // The leader and one follower go: the last store never leads, so no attempt can apply.
    // (A leader left alone would take the write and time out: that is `Undetermined`, see safety.test.ts.)
    const leader = [...c.stores.values()].find((x) => x.status().regions.find((r) => r.regionId === 2)?.role === 'leader')!;
    const follower = [...c.stores.keys()].find((id) => id !== leader.storeId)!;
    await c.stopStore(leader.storeId);
    await c.stopStore(follower);
    const err = await kv.put(t('y'), t('2')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PeerKVError);
    expect((err as PeerKVError).kind).toBe('RetryBudgetExhausted');
  });
});
