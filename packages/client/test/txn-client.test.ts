/**
 * `kv.transaction()` over a PD-driven cluster of three stores with the txn column families:
 * snapshot reads, own writes, 1PC and 2PC across regions (each region's prewrite in flight at
 * once), first-committer-wins with re-runs (no lost update), lock resolution of an abandoned
 * transaction (rolled back after its TTL, or committed when its primary was), and snapshots at a
 * timestamp.
 */
import { describe, expect, it } from 'vitest';
import { CF_LOCK } from '@peerkv/txn';
import { PdCluster, PeerKV, PeerKVError, codec } from '../src/index.ts';
import { until } from './until.ts';
import { closeTxnClusterAfterEach, start } from './txn-cluster.ts';

closeTxnClusterAfterEach();

const k = (s: string): Uint8Array => codec.text(s);
const t = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : codec.fromText(b));

/** Splits the data region at `key` through its leader. */
async function split(c: PdCluster, key: string): Promise<void> {
  const route = await c.getRegion(k(key));
  const region = route!.region;
  for (const s of c.stores.values()) {
    const newRegionId = 1000 + Math.floor(Math.random() * 1_000_000);
    const r = await s.handle({ type: 'split', regionId: region.id, epoch: region.epoch, splitKey: k(key), newRegionId, newPeerIds: region.peers.map((_, i) => newRegionId * 10 + i + 1) });
    if (r.ok) break;
  }
  await until(`PD knows the split at ${key}`, async () => (await c.getRegion(k(key)))?.region.startKey.length === key.length);
}

describe('kv.transaction()', () => {
  it('reads its own writes, commits by 1PC in one region, and the commit is visible to later snapshots only', async () => {
    const { kv } = await start();
    const a = kv();
    const { value, info } = await a.transactionWithInfo(async (tx) => {
      expect(await tx.get(k('x'))).toBeUndefined();
      tx.put(k('x'), k('1'));
      tx.put(k('y'), k('2'));
      expect(t(await tx.get(k('x')))).toBe('1');
      tx.delete(k('y'));
      expect(await tx.get(k('y'))).toBeUndefined();
      return 'done';
    });
    expect(value).toBe('done');
    expect(info.onePc).toBe(true);
    expect(info.commitTs! > info.startTs).toBe(true);
    const before = await a.snapshot(info.startTs);
    expect(await before.get(k('x'))).toBeUndefined();
    const after = await a.snapshot();
    expect(t(await after.get(k('x')))).toBe('1');
    expect(await after.get(k('y'))).toBeUndefined();
    // A read-only transaction commits nothing.
    const ro = await a.transactionWithInfo(async (tx) => t(await tx.get(k('x'))));
    expect(ro.value).toBe('1');
    expect(ro.info.commitTs).toBeUndefined();
  });

  it('commits by 2PC across regions; a scan merges the snapshot with the transaction\'s own writes', async () => {
    const { c, kv } = await start();
    const a = kv();
    await a.transaction(async (tx) => {
      for (const key of ['a1', 'a2', 'm1', 'm2', 'z1']) tx.put(k(key), k(`v-${key}`));
    });
    await split(c, 'm');
    const { info } = await a.transactionWithInfo(async (tx) => {
      tx.put(k('a1'), k('A1'));
      tx.put(k('m3'), k('M3'));
      tx.delete(k('m1'));
      const seen: string[] = [];
      for await (const p of tx.scan({ start: k('a'), end: k('n') })) seen.push(`${t(p.key)}=${t(p.value)}`);
      expect(seen).toEqual(['a1=A1', 'a2=v-a2', 'm2=v-m2', 'm3=M3']);
      const prefixed: string[] = [];
      for await (const p of tx.scan({ prefix: k('m'), limit: 1 })) prefixed.push(t(p.key)!);
      expect(prefixed).toEqual(['m2']);
    });
    expect(info.onePc).toBe(false);
    const snap = await a.snapshot();
    const all: string[] = [];
    for await (const p of snap.scan()) all.push(`${t(p.key)}=${t(p.value)}`);
    expect(all).toEqual(['a1=A1', 'a2=v-a2', 'm2=v-m2', 'm3=M3', 'z1=v-z1']);
  });

  it('first committer wins and the loser re-runs its function: concurrent increments lose no update', async () => {
    const { kv } = await start();
    const clientsUsed = [kv(), kv(), kv()];
    await clientsUsed[0].transaction(async (tx) => tx.put(k('n'), k('0')));
    let runs = 0;
    const inc = (x: PeerKV): Promise<unknown> =>
      x.transaction(
        async (tx) => {
          runs++;
          const n = Number(t(await tx.get(k('n'))));
          tx.put(k('n'), k(String(n + 1)));
        },
        { retriesMax: 50 },
      );
    await Promise.all(Array.from({ length: 12 }, (_, i) => inc(clientsUsed[i % 3])));
    expect(t(await (await clientsUsed[1].snapshot()).get(k('n')))).toBe('12');
    expect(runs).toBeGreaterThan(12);
  });

  it('without re-runs a conflict is WriteConflict and nothing of the loser is committed', async () => {
    const { kv } = await start();
    const a = kv();
    const b = kv();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow = a.transaction(
      async (tx) => {
        await tx.get(k('c'));
        tx.put(k('c'), k('slow'));
        tx.put(k('d'), k('slow'));
        await gate;
      },
      { retriesMax: 0 },
    );
    await new Promise((r) => setTimeout(r, 50));
    await b.transaction(async (tx) => tx.put(k('c'), k('fast')));
    release();
    await expect(slow).rejects.toMatchObject({ kind: 'WriteConflict' });
    const snap = await b.snapshot();
    expect(t(await snap.get(k('c')))).toBe('fast');
    expect(await snap.get(k('d'))).toBeUndefined();
  });

  it('resolves an abandoned transaction: rolled back after its TTL, or committed when its primary is', async () => {
    const { c, kv } = await start();
    const a = kv();
    const route = (await c.getRegion(k('p')))!;
    const leader = async () => {
      for (const s of c.stores.values()) if (s.status().regions.some((r) => r.regionId === route.region.id && r.role === 'leader')) return s;
      throw new Error('no leader');
    };
    const send = async (q: object) => {
      const s = await leader();
      const r = await s.handle({ regionId: route.region.id, epoch: route.region.epoch, timeoutMs: 2000, ...q } as never);
      expect(r).toMatchObject({ ok: true, value: { ok: true } });
    };
    // A writer that prewrote and died (a closed tab): its locks hide p1/p2 until resolved.
    const dead = await a.getTimestamp();
    await send({ type: 'txnPrewrite', mutations: [{ op: 'put', key: k('p1'), value: k('X') }, { op: 'put', key: k('p2'), value: k('X') }], primary: k('p1'), startTs: dead, lockTtlMs: 200, txnSize: 2, mode: { kind: 'twoPc' } });
    // A reader pushes the live transaction past its ts and reads around its lock, at once.
    const t0 = Date.now();
    expect(await (await a.snapshot()).get(k('p2'))).toBeUndefined();
    // A writer must wait out the TTL (200 ms from the dead writer's start), then rolls it back.
    await a.transaction(async (tx) => tx.put(k('p2'), k('mine')));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(100);
    const after = await a.snapshot();
    expect(t(await after.get(k('p2')))).toBe('mine');
    expect(await after.get(k('p1'))).toBeUndefined();
    // The dead writer can never commit now: its primary holds a rollback record.
    const late = await (await leader()).handle({ type: 'txnCommit', regionId: route.region.id, epoch: route.region.epoch, keys: [k('p1')], startTs: dead, commitTs: await a.getTimestamp(), timeoutMs: 2000 });
    expect(late).toMatchObject({ ok: true, value: { ok: false, errors: [{ kind: 'TxnNotFound' }] } });
    await a.transaction(async (tx) => tx.delete(k('p2')));
    // A writer that committed its primary and died before its secondary: readers commit it.
    const half = await a.getTimestamp();
    await send({ type: 'txnPrewrite', mutations: [{ op: 'put', key: k('q1'), value: k('Q1') }, { op: 'put', key: k('q2'), value: k('Q2') }], primary: k('q1'), startTs: half, lockTtlMs: 60_000, txnSize: 2, mode: { kind: 'twoPc' } });
    const commitTs = await a.getTimestamp();
    await send({ type: 'txnCommit', keys: [k('q1')], startTs: half, commitTs });
    const snap = await a.snapshot();
    expect(t(await snap.get(k('q2')))).toBe('Q2');
    expect(t(await snap.get(k('q1')))).toBe('Q1');
    // No lock is left on q2 in any replica's lock column family.
    await until('locks resolved on every replica', async () => {
      for (const s of c.stores.values()) {
        for await (const _ of (s as unknown as { ctx: { engine: { scan(cf: string, o: object): AsyncIterable<unknown> } } }).ctx.engine.scan(CF_LOCK, {})) return false;
      }
      return true;
    });
  });

  it('async commit: acknowledged once every prewrite is in; an abandoned one is decided by its secondaries', async () => {
    const { c, kv } = await start();
    const a = kv();
    await a.transaction(async (tx) => tx.put(k('seed'), k('0')));
    await split(c, 'm');
    const { info } = await a.transactionWithInfo(async (tx) => {
      tx.put(k('ac1'), k('one'));
      tx.put(k('zc1'), k('two'));
    }, { asyncCommit: true });
    // The client's cached route predates the split: its 1PC attempt must fall back (committing
    // each region's part by 1PC on its own would not be atomic).
    expect(info.onePc).toBe(false);
    const snap = await a.snapshot();
    expect([t(await snap.get(k('ac1'))), t(await snap.get(k('zc1')))]).toEqual(['one', 'two']);
    // Abandoned after every prewrite (a closed tab): committed, at the largest minCommitTs.
    const send = async (key: string, q: object): Promise<unknown> => {
      const route = (await c.getRegion(k(key)))!;
      for (const s of c.stores.values()) {
        const r = await s.handle({ regionId: route.region.id, epoch: route.region.epoch, timeoutMs: 2000, ...q } as never) as { ok: boolean };
        if (r.ok) return r;
      }
      throw new Error('no leader answered');
    };
    const prewrite = (startTs: bigint, key: string, primary: boolean, secondaries: string[]) =>
      send(key, { type: 'txnPrewrite', mutations: [{ op: 'put', key: k(key), value: k(`v-${key}`) }], primary: k('ap'), startTs, lockTtlMs: 100, txnSize: 2, mode: { kind: 'asyncCommit', secondaries: primary ? secondaries.map(k) : [] } });
    const full = await a.getTimestamp();
    await prewrite(full, 'ap', true, ['zs']);
    await prewrite(full, 'zs', false, []);
    await new Promise((r) => setTimeout(r, 150));
    const later = await a.snapshot();
    expect(t(await later.get(k('zs')))).toBe('v-zs');
    expect(t(await later.get(k('ap')))).toBe('v-ap');
    // Abandoned before a secondary's prewrite: rolled back, and that prewrite can never land.
    const part = await a.getTimestamp();
    await send('aq', { type: 'txnPrewrite', mutations: [{ op: 'put', key: k('aq'), value: k('x') }], primary: k('aq'), startTs: part, lockTtlMs: 100, txnSize: 2, mode: { kind: 'asyncCommit', secondaries: [k('zq')] } });
    await new Promise((r) => setTimeout(r, 150));
    const after = await a.snapshot();
    expect(await after.get(k('aq'))).toBeUndefined();
    const late = await send('zq', { type: 'txnPrewrite', mutations: [{ op: 'put', key: k('zq'), value: k('x') }], primary: k('aq'), startTs: part, lockTtlMs: 100, txnSize: 2, mode: { kind: 'asyncCommit', secondaries: [] } });
    expect(late).toMatchObject({ ok: true, value: { ok: false, errors: [{ kind: 'WriteConflict' }] } });
    expect(await (await a.snapshot()).get(k('zq'))).toBeUndefined();
  });

  it('the mvcc data model: put/get/delete/scan/batchPut/deleteRange are transactions (atomic across regions)', async () => {
    const { c, kv } = await start();
    const m = kv('mvcc');
    expect(m.dataModel).toBe('mvcc');
    await m.put(k('b'), k('B'));
    expect(t(await m.get(k('b')))).toBe('B');
    await m.batchPut(['a', 'c', 'm', 'x'].map((s) => ({ key: k(s), value: k(s.toUpperCase()) })));
    await split(c, 'k');
    // One transaction across both regions: every key, or none.
    await m.batchPut([{ key: k('a'), value: k('A2') }, { key: k('x'), value: k('X2') }]);
    const seen: string[] = [];
    for await (const p of m.scan({ start: k('a'), end: k('z') })) seen.push(`${t(p.key)}=${t(p.value)}`);
    expect(seen).toEqual(['a=A2', 'b=B', 'c=C', 'm=M', 'x=X2']);
    expect((await m.batchGet([k('a'), k('nope'), k('x')])).map(t)).toEqual(['A2', undefined, 'X2']);
    await m.deleteRange(k('b'), k('n'));
    const left: string[] = [];
    for await (const p of m.scan()) left.push(t(p.key)!);
    expect(left).toEqual(['a', 'x']);
    await m.delete(k('a'));
    expect(await m.get(k('a'))).toBeUndefined();
    // Another client (also mvcc) sees every acknowledged write at once.
    const other = kv('mvcc');
    expect(t(await other.get(k('x')))).toBe('X2');
    await expect(m.put(k('s'), k('v'), { stamp: { clientId: 'tab', seq: 1 } })).rejects.toMatchObject({ kind: 'InvalidArgument' });
    expect(() => new PeerKV({ pd: c, stores: c, dataModel: 'other' as never })).toThrow(PeerKVError);
  });

  it('a writer meeting a live lock waits for it; a snapshot below the GC safe point is refused; bad options are typed errors', async () => {
    const { c, kv } = await start();
    const a = kv();
    await expect(a.transaction(async () => undefined, { retriesMax: -1 })).rejects.toMatchObject({ kind: 'InvalidArgument' });
    await expect(a.transaction(async (tx) => tx.put(new Uint8Array(), k('v')))).rejects.toMatchObject({ kind: 'InvalidArgument' });
    const sp = await a.getTimestamp();
    const pdStore = [...c.stores.values()].find((s) => s.pdIsLeader())!;
    await pdStore.pdPropose({ kind: 'setGcSafePoint', safePoint: sp });
    await expect(a.snapshot(sp - 1n)).rejects.toMatchObject({ kind: 'InvalidArgument' });
    expect(await (await a.snapshot(sp)).get(k('nothing'))).toBeUndefined();
    expect(new PeerKVError('WriteConflict', 'x').kind).toBe('WriteConflict');
  });
  it('a 1PC attempt that applied unanswered, then a fall back to 2PC: the reported commit ts is the recorded one', async () => {
    const { c, kv } = await start();
    // The first 1PC prewrite applies, then the region splits between its keys and its answer is
    // lost: the retry meets the split (regroup), so the committer falls back to 2PC. Its prewrites
    // find the 1PC commit records, and its commit of the primary at a fresh ts finds one too.
    let dropped = false;
    const stores = prewritesHooked(c, async (q, pass) => {
      const r = await pass();
      if (dropped || q.mode.kind !== 'onePc' || !r.ok) return r;
      dropped = true;
      await split(c, 'm');
      return { ok: false as const, error: { kind: 'Timeout' as const, what: 'answer dropped by the test' } };
    });
    const a = new PeerKV({ pd: c, stores: stores as never, dataModel: 'mvcc' });
    try {
      const { info } = await a.transactionWithInfo(async (tx) => {
        tx.put(k('a'), k('A'));
        tx.put(k('z'), k('Z'));
      });
      expect(dropped).toBe(true);
      expect(info.onePc).toBe(false);
      // The ts each key's commit record carries (a store's answer to a read names it).
      const recorded: bigint[] = [];
      for (const key of ['a', 'z']) {
        const route = (await c.getRegion(k(key)))!;
        const ts = await a.getTimestamp();
        for (const s of c.stores.values()) {
          const r = await s.handle({ type: 'txnGet', regionId: route.region.id, epoch: route.region.epoch, key: k(key), ts, timeoutMs: 2000 });
          if (r.ok && r.value.ok) {
            recorded.push(r.value.value.commitTs!);
            break;
          }
        }
      }
      expect(recorded).toHaveLength(2);
      expect(recorded[0]).toBe(recorded[1]);
      expect(info.commitTs).toBe(recorded[0]);
    } finally {
      a.close();
    }
  });

  it('prewrites to different regions are in flight at the same time (2PC and async commit)', async () => {
    const { c, kv } = await start();
    await kv('mvcc').put(k('seed'), k('0'));
    await split(c, 'm');
    // Each prewrite is held until a prewrite to another region is in flight too, or for
    // `HOLD_MS_MAX` (so a committer that sends them one after another is slow, not stuck).
    const HOLD_MS_MAX = 1000;
    const inflight = new Map<number, number>();
    let regionsInflightMax = 0;
    let prewrites = 0;
    let bothIn = (): void => {};
    let bothInPromise = new Promise<void>((r) => (bothIn = r));
    const stores = prewritesHooked(c, async (q, pass) => {
      prewrites++;
      inflight.set(q.regionId, (inflight.get(q.regionId) ?? 0) + 1);
      regionsInflightMax = Math.max(regionsInflightMax, inflight.size);
      if (inflight.size >= 2) bothIn();
      try {
        await Promise.race([bothInPromise, new Promise((r) => setTimeout(r, HOLD_MS_MAX))]);
        return await pass();
      } finally {
        const n = inflight.get(q.regionId)! - 1;
        if (n === 0) inflight.delete(q.regionId);
        else inflight.set(q.regionId, n);
      }
    });
    const a = new PeerKV({ pd: c, stores: stores as never, dataModel: 'mvcc' });
    try {
      for (const asyncCommit of [false, true]) {
        regionsInflightMax = 0;
        prewrites = 0;
        bothInPromise = new Promise<void>((r) => (bothIn = r));
        const tag = asyncCommit ? 'async' : '2pc';
        const { info } = await a.transactionWithInfo(async (tx) => {
          tx.put(k(`a-${tag}`), k('A'));
          tx.put(k(`z-${tag}`), k('Z'));
        }, { asyncCommit });
        expect(info.onePc).toBe(false);
        expect(prewrites).toBeGreaterThanOrEqual(2);
        expect(regionsInflightMax, `${tag}: distinct regions with a prewrite in flight at once`).toBe(2);
        const snap = await a.snapshot();
        expect([t(await snap.get(k(`a-${tag}`))), t(await snap.get(k(`z-${tag}`)))]).toEqual(['A', 'Z']);
      }
    } finally {
      a.close();
    }
  });
});

type StoreOf = NonNullable<ReturnType<PdCluster['store']>>;
type Answer = ReturnType<StoreOf['handle']>;

/** `c`'s stores, each `txnPrewrite` answered by `hook` (which may pass it to the store with `pass`). */
function prewritesHooked(c: PdCluster, hook: (q: Parameters<StoreOf['handle']>[0] & { type: 'txnPrewrite' }, pass: () => Answer) => Answer) {
  return {
    store(storeId: number) {
      const s = c.store(storeId);
      if (s === undefined) return undefined;
      return { storeId, handle: (q: Parameters<StoreOf['handle']>[0], o?: Parameters<StoreOf['handle']>[1]) => (q.type === 'txnPrewrite' ? hook(q, () => s.handle(q, o)) : s.handle(q, o)) };
    },
  };
}

/** `c`'s stores, the n-th prewrite answered as `answer(n)` says: by the store, or by the test (the store never sees it). */
function prewritesAnswered(c: PdCluster, answer: (n: number) => 'busy' | 'timeout' | 'notReady' | 'pass') {
  let prewrites = 0;
  const hooked = prewritesHooked(c, async (q, pass) => {
    const how = answer(++prewrites);
    if (how === 'notReady') return { ok: false as const, error: { kind: 'ReadIndexNotReady' as const, regionId: q.regionId, reason: 'no quorum confirmed the read index (the test)' } };
    if (how === 'busy') return { ok: false as const, error: { kind: 'ServerIsBusy' as const, reason: 'timed out waiting for its key latches (not run)', backoffMs: 20 } };
    if (how === 'timeout') return { ok: false as const, error: { kind: 'Timeout' as const, what: 'answer dropped by the test' } };
    return pass();
  });
  return { ...hooked, count: () => prewrites };
}

describe('ServerIsBusy (a store that did not run the command)', () => {
  it('is retried with backoff, and the write commits', async () => {
    const { c } = await start();
    const stores = prewritesAnswered(c, (n) => (n <= 3 ? 'busy' : 'pass'));
    const a = new PeerKV({ pd: c, stores: stores as never, dataModel: 'mvcc' });
    try {
      await a.put(k('x'), k('1'));
      expect(stores.count()).toBe(4);
      const { info } = await a.transactionWithInfo(async (tx) => tx.put(k('y'), k('2')));
      expect(info.onePc).toBe(true);
      expect(t(await a.get(k('x')))).toBe('1');
      expect(t(await a.get(k('y')))).toBe('2');
    } finally {
      a.close();
    }
  });

  it('past the retry budget it is RetryBudgetExhausted, not Undetermined: nothing can have applied', async () => {
    const { c } = await start();
    const stores = prewritesAnswered(c, () => 'busy');
    const a = new PeerKV({ pd: c, stores: stores as never, dataModel: 'mvcc', backoff: { budgetMs: 300 } });
    try {
      const e = await a.transaction(async (tx) => tx.put(k('x'), k('1'))).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(PeerKVError);
      expect((e as PeerKVError).kind).toBe('RetryBudgetExhausted');
      expect((e as PeerKVError).lastRegionError?.kind).toBe('ServerIsBusy');
      expect(stores.count()).toBeGreaterThan(1);
      const put = await a.put(k('y'), k('1')).catch((x: unknown) => x);
      expect((put as PeerKVError).kind).toBe('RetryBudgetExhausted');
    } finally {
      a.close();
    }
    const b = new PeerKV({ pd: c, stores: c, dataModel: 'mvcc' });
    try {
      expect(await b.get(k('x'))).toBeUndefined();
      expect(await b.get(k('y'))).toBeUndefined();
    } finally {
      b.close();
    }
  });

  it('a ReadIndex no quorum confirmed (ReadIndexNotReady) proposed nothing: retried, and past the budget RetryBudgetExhausted, not Undetermined', async () => {
    const { c } = await start();
    const retried = prewritesAnswered(c, (n) => (n <= 2 ? 'notReady' : 'pass'));
    const a = new PeerKV({ pd: c, stores: retried as never, dataModel: 'mvcc' });
    try {
      await a.put(k('x'), k('1'));
      expect(retried.count()).toBe(3);
    } finally {
      a.close();
    }
    const never = prewritesAnswered(c, () => 'notReady');
    const b = new PeerKV({ pd: c, stores: never as never, dataModel: 'mvcc', backoff: { budgetMs: 300 } });
    try {
      const e = await b.put(k('y'), k('1')).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(PeerKVError);
      expect((e as PeerKVError).kind).toBe('RetryBudgetExhausted');
      expect((e as PeerKVError).lastRegionError?.kind).toBe('ReadIndexNotReady');
      expect(never.count()).toBeGreaterThan(1);
    } finally {
      b.close();
    }
  });

  it('after an unanswered attempt (a Timeout) the same exhaustion is Undetermined: that attempt may have committed', async () => {
    const { c } = await start();
    const stores = prewritesAnswered(c, (n) => (n === 1 ? 'timeout' : 'busy'));
    const a = new PeerKV({ pd: c, stores: stores as never, dataModel: 'mvcc', backoff: { budgetMs: 300 } });
    try {
      const e = await a.transaction(async (tx) => tx.put(k('x'), k('1'))).catch((x: unknown) => x);
      expect((e as PeerKVError).kind).toBe('Undetermined');
    } finally {
      a.close();
    }
  });
});
