/**
 * The store's GC worker (`gc-worker.ts`) on three stores: it learns PD's safe point from the
 * store's `PdClient`, collects the regions its store leads one round after learning it
 * (followers do nothing), remembers how far each region is collected, and the store then refuses txn reads below the safe
 * point (`SafePointPassed`, also through the RPC codec) while reads at or above it are unchanged.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryEngine, type KvEngine } from '@peerkv/storage';
import { CF_WRITE, type Mutation } from '@peerkv/txn';
import { decodeStoreResponse, encodeStoreResponse, storeColumnFamilies, type Result, type StoreResponse } from '../src/index.ts';
import { QuietPd, REGION, TXN_CFS, closeAll, commit, dec, errorKinds, get, k, leader, moveLeader, prewrite, put, send, start, stores, ts, value } from './txn-harness.ts';

afterEach(closeAll);

/** A quiet PD whose GC safe point the test sets. */
class GcPd extends QuietPd {
  safePoint = 0n;
  asked = 0;
  getGcSafePoint(): Promise<Result<bigint>> {
    this.asked++;
    return Promise.resolve({ ok: true, value: this.safePoint });
  }
}

async function write(commitTs: bigint, mutations: Mutation[]): Promise<void> {
  value(await prewrite(commitTs - 1n, mutations));
  value(await commit(commitTs - 1n, commitTs, mutations.map((m) => dec.decode(m.key))));
}

async function scanAt(at: bigint): Promise<string[]> {
  const r = value(await send({ type: 'txnScan', start: new Uint8Array(), limit: 1000, ts: at }));
  return r.pairs.map((p) => `${dec.decode(p.key)}=${dec.decode(p.value)}`);
}

const engines = new Map<number, KvEngine>();

/** The harness's three stores holding `REGION`, on engines this test can read, asking `pd` for the safe point. */
async function cluster(pd: GcPd): Promise<void> {
  for (const id of [1, 2, 3]) {
    const engine = await MemoryEngine.open({ columnFamilies: storeColumnFamilies(TXN_CFS) });
    engines.set(id, engine);
    await start(id, TXN_CFS, { pdClient: pd, engine });
  }
  for (const { store } of stores.values()) await store.createRegion(REGION);
  stores.get(1)!.store.campaign(REGION.id);
  await leader();
}

/** Write-cf records in a store's engine. */
async function writeRecords(storeId: number): Promise<number> {
  let n = 0;
  for await (const _ of engines.get(storeId)!.scan(CF_WRITE)) n++;
  return n;
}

describe('GC worker', () => {
  it('collects the led regions at the safe point it learns, once; refuses reads below it', async () => {
    const pd = new GcPd();
    await cluster(pd);
    await write(ts(110), [put('a', 'A1'), put('b', 'B1')]);
    await write(ts(130), [put('a', 'A2'), { op: 'delete', key: k('b') }]);
    await write(ts(170), [put('a', 'A3')]);
    const lead = await leader();
    const followers = [...stores.values()].map((n) => n.store).filter((s) => s !== lead);

    // No safe point yet: nothing to do, every read is served.
    expect(await lead.gcRound()).toMatchObject({ safePoint: 0n, pages: 0 });
    expect(value(await get('a', ts(120))).value).toEqual(k('A1'));

    pd.safePoint = ts(150);
    const before = await Promise.all([ts(150), ts(170), ts(500)].map(scanAt));
    // A round learns the safe point; the next one collects at it (every replica has learned it by then).
    for (const s of [lead, ...followers]) expect(await s.gcRound()).toMatchObject({ safePoint: 0n, pages: 0 });
    expect(await Promise.all([ts(150), ts(170), ts(500)].map(scanAt))).toEqual(before);
    for (const f of followers) expect(await f.gcRound()).toMatchObject({ safePoint: ts(150), pages: 0, versionsDropped: 0 });
    const round = await lead.gcRound();
    // a: A1 (A2 is the newest at or below 150); b: B1 and its delete.
    expect(round).toMatchObject({ safePoint: ts(150), versionsDropped: 3, regionsCollected: 1, failures: 0 });
    expect(lead.gcStatus(2)).toMatchObject({ safePoint: ts(150), collectedUpTo: ts(150) });
    expect(await Promise.all([ts(150), ts(170), ts(500)].map(scanAt))).toEqual(before);
    // Collected regions are not asked again until the safe point moves.
    expect(await lead.gcRound()).toMatchObject({ pages: 0, versionsDropped: 0 });

    // Below the safe point: refused, typed, on the wire too.
    const below = await get('a', ts(120));
    expect(errorKinds(below)).toEqual(['SafePointPassed']);
    expect(below).toEqual({ ok: true, value: { ok: false, errors: [{ kind: 'SafePointPassed', ts: ts(120), safePoint: ts(150) }] } });
    const scanBelow = await send({ type: 'txnScan', start: new Uint8Array(), limit: 10, ts: ts(149) });
    expect(errorKinds(scanBelow)).toEqual(['SafePointPassed']);
    const wire: StoreResponse = { type: 'txn', result: { ok: true, value: { ok: false, errors: [{ kind: 'SafePointPassed', ts: 5n, safePoint: 9n }] } } };
    expect(decodeStoreResponse(encodeStoreResponse(wire))).toEqual(wire);

    // Every replica applied the deletions (GC is a Raft command, not a local compaction).
    const expected = await writeRecords(lead.storeId);
    expect(expected).toBe(2);
    for (const f of followers) await expect.poll(() => writeRecords(f.storeId)).toBe(expected);

    // A new leader whose worker has learned the safe point refuses too, and finds nothing left.
    const next = await moveLeader(lead);
    expect(await next.gcRound()).toMatchObject({ safePoint: ts(150), versionsDropped: 0, regionsCollected: 1 });
    expect(errorKinds(await get('a', ts(120), next))).toEqual(['SafePointPassed']);
    expect(value(await get('a', ts(150), next)).value).toEqual(k('A2'));

    // The safe point moves on: the region is collected again up to it.
    pd.safePoint = ts(180);
    expect(await next.gcRound()).toMatchObject({ safePoint: ts(150), pages: 0 });
    expect(await next.gcRound()).toMatchObject({ safePoint: ts(180), versionsDropped: 1, regionsCollected: 1 });
    expect(next.gcStatus(2).collectedUpTo).toBe(ts(180));
  });

  it('never lowers the safe point it knows', async () => {
    const pd = new GcPd();
    await cluster(pd);
    const lead = await leader();
    pd.safePoint = ts(200);
    await lead.gcRound();
    pd.safePoint = ts(100);
    expect((await lead.gcRound()).safePoint).toBe(ts(200));
    expect(lead.gcStatus().safePoint).toBe(ts(200));
  });
});
