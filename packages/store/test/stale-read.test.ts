/**
 * Stale reads over three stores: the leader advances the region's resolved ts through the
 * Raft log (`txn/resolved-ts.ts`); any replica serves reads at or below it from its own state,
 * also cut off from the others, ignoring locks; above it, `DataIsNotReady`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ResponseOf, Store, TxnStaleReadResult } from '../src/index.ts';
import { until } from './helpers.ts';
import { REGION, closeAll, cluster, commit, dec, k, leader, pd, prewrite, put, router, stores, ts, value } from './txn-harness.ts';

afterEach(closeAll);

const FAST = { safeTsIntervalMs: 30 };

function staleGet(s: Store, key: string, at?: bigint): Promise<ResponseOf<'txnStaleGet'>> {
  return s.handle({ type: 'txnStaleGet', regionId: REGION.id, epoch: REGION.epoch, key: k(key), ...(at === undefined ? {} : { ts: at }) });
}

function ok(r: ResponseOf<'txnStaleGet'>): TxnStaleReadResult {
  if (!r.ok || !r.value.ok) throw new Error(`stale read refused: ${JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`);
  return r.value.value;
}

const safeTsOf = (s: Store): bigint => (s as unknown as { ctx: { peers: Map<number, { safeTs: bigint }> } }).ctx.peers.get(REGION.id)!.safeTs;

describe('stale reads at the resolved ts', () => {
  it('every replica serves reads at or below its resolved ts, cut off from the others; above it DataIsNotReady', async () => {
    await cluster(undefined, FAST);
    pd.tsoNext = ts(1000);
    value(await prewrite(ts(100), [put('a', 'A1')]));
    value(await commit(ts(100), ts(110), ['a']));
    const all = [...stores.values()].map((n) => n.store);
    await until('every replica has a resolved ts past the commit', () => all.every((s) => safeTsOf(s) > ts(110)));
    const follower = all.find((s) => s.status().regions.some((r) => r.regionId === REGION.id && r.role === 'follower'))!;
    // A follower cut off from everyone still reads at its resolved ts.
    router.partition([follower.storeId], all.filter((s) => s !== follower).map((s) => s.storeId));
    const local = ok(await staleGet(follower, 'a'));
    expect(local.readTs).toBe(safeTsOf(follower));
    // status() reports it (the dashboard's safe ts and lag).
    expect(follower.status().regions.find((r) => r.regionId === REGION.id)?.safeTs).toBe(safeTsOf(follower));
    expect(local.pairs.map((p) => dec.decode(p.value))).toEqual(['A1']);
    expect(ok(await staleGet(follower, 'a', ts(105))).pairs).toEqual([]);
    const tooNew = await staleGet(follower, 'a', safeTsOf(follower) + 1n);
    expect(tooNew).toMatchObject({ ok: true, value: { ok: false, errors: [{ kind: 'DataIsNotReady', regionId: REGION.id }] } });
    const scanned = await follower.handle({ type: 'txnStaleScan', regionId: REGION.id, epoch: REGION.epoch, start: k(''), limit: 10 });
    expect(scanned).toMatchObject({ ok: true, value: { ok: true, value: { pairs: [{ key: k('a') }] } } });
  });

  it('a live lock holds the resolved ts below its start ts; reads below it ignore the lock; committed, the ts moves on', async () => {
    await cluster(undefined, FAST);
    pd.tsoNext = ts(1000);
    value(await prewrite(ts(100), [put('a', 'A1')]));
    value(await commit(ts(100), ts(110), ['a']));
    value(await prewrite(ts(500), [put('a', 'A2'), put('b', 'B2')]));
    pd.tsoNext = ts(2000);
    const all = [...stores.values()].map((n) => n.store);
    await until('resolved ts reached the lock', () => all.every((s) => safeTsOf(s) === ts(500)));
    // Held there while the lock lives (the TSO has moved far past it).
    await new Promise((r) => setTimeout(r, 150));
    for (const s of all) expect(safeTsOf(s)).toBe(ts(500));
    for (const s of all) expect(ok(await staleGet(s, 'a')).pairs.map((p) => dec.decode(p.value))).toEqual(['A1']);
    value(await commit(ts(500), ts(600), ['a', 'b']));
    await until('resolved ts past the commit', () => all.every((s) => safeTsOf(s) > ts(600)));
    for (const s of all) expect(ok(await staleGet(s, 'b')).pairs.map((p) => dec.decode(p.value))).toEqual(['B2']);
    // Never lowered, and only the leader proposes.
    expect((await leader()).resolvedTs.advances).toBeGreaterThan(0);
  });

  it('a replica with no resolved ts yet answers DataIsNotReady with safeTs 0', async () => {
    await cluster(undefined, { safeTsIntervalMs: 0 });
    const l = await leader();
    expect(await staleGet(l, 'a')).toMatchObject({ ok: true, value: { ok: false, errors: [{ kind: 'DataIsNotReady', safeTs: 0n }] } });
    expect(l.status().regions.find((r) => r.regionId === REGION.id)).not.toHaveProperty('safeTs');
  });
});
