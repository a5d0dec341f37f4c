/**
 * `txnGc` on the region's leader (three stores, every request through the RPC codec both
 * ways): versions below the safe point go except the newest one visible there, reads at or
 * above the safe point see the same before and after, and a bounded request says where to go on.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CF_DEFAULT, CF_WRITE, type Mutation } from '@peerkv/txn';
import type { RequestOf, ResponseOf } from '../src/index.ts';
import { TXN_GC_KEYS_PER_PAGE } from '../src/handlers/txn-gc.ts';
import { REGION, closeAll, cluster, commit, dec, getValue, k, leader, prewrite, put, send, stores, ts, value } from './txn-harness.ts';
import { until } from './helpers.ts';

afterEach(closeAll);

/** Commits `mutations` at `commitTs` by 2PC (start ts one below). */
async function write(commitTs: bigint, mutations: Mutation[]): Promise<void> {
  value(await prewrite(commitTs - 1n, mutations));
  value(await commit(commitTs - 1n, commitTs, mutations.map((m) => dec.decode(m.key))));
}

function gcReq(safePoint: bigint, extra: Partial<RequestOf<'txnGc'>> = {}): Promise<ResponseOf<'txnGc'>> {
  return send({ type: 'txnGc', safePoint, ...extra });
}

/** The whole region as `key=value` at `at`. */
async function scanAt(at: bigint): Promise<string[]> {
  const r = value(await send({ type: 'txnScan', start: new Uint8Array(), limit: 1000, ts: at }));
  return r.pairs.map((p) => `${dec.decode(p.key)}=${p.value.length > 20 ? `<${p.value.length} bytes>` : dec.decode(p.value)}`);
}

/** Ops of the txn commands every replica applied after `from` (per store), by cf and type. */
function appliedOpsSince(from: Map<number, number>): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const [id, n] of stores) out.set(id, n.applied.slice(from.get(id)).filter((c) => c.type === 'txn').flatMap((c) => c.ops.map((op) => `${op.cf}:${op.type}`)));
  return out;
}

describe('txnGc', () => {
  it('drops versions below the safe point except the newest visible there; reads at or above it are unchanged', async () => {
    await cluster();
    const long = 'L'.repeat(300); // above the 255-byte short value: lives in the default cf
    await write(ts(110), [put('a', 'A1'), put('b', 'B1'), put('c', long)]);
    await write(ts(130), [put('a', 'A2'), { op: 'delete', key: k('b') }, put('c', 'C2')]);
    // A rolled-back transaction leaves a rollback record on `a` at 135.
    value(await prewrite(ts(135), [put('a', 'X')]));
    value(await send({ type: 'txnRollback', keys: [k('a')], startTs: ts(135) }));
    await write(ts(170), [put('a', 'A3'), put('d', 'D1')]);
    const safePoint = ts(150);
    const readTs = [safePoint, ts(160), ts(170), ts(500)];
    const before = await Promise.all(readTs.map(scanAt));
    expect(before[0]).toEqual(['a=A2', 'c=C2']);
    expect(await getValue('a', ts(120))).toBe('A1');

    const from = new Map([...stores].map(([id, n]) => [id, n.applied.length]));
    const r = value(await gcReq(safePoint));
    // a: A1 and the rollback; b: B1 and its delete; c: the long put (and its default value).
    expect(r).toEqual({ versionsDropped: 5 });
    expect(await Promise.all(readTs.map(scanAt))).toEqual(before);
    // Below the safe point the old versions are gone.
    expect(await getValue('a', ts(120))).toBeUndefined();
    expect(await getValue('c', ts(120))).toBeUndefined();
    // Every replica applied the same deletions, the long value's default record among them.
    await until('every replica applied the GC', () => [...appliedOpsSince(from).values()].every((ops) => ops.length === 6));
    for (const ops of appliedOpsSince(from).values()) {
      expect(ops.filter((o) => o === `${CF_WRITE}:delete`).length).toBe(5);
      expect(ops).toContain(`${CF_DEFAULT}:delete`);
    }
    // Again: nothing left to drop, nothing proposed.
    expect(value(await gcReq(safePoint))).toEqual({ versionsDropped: 0 });
  });

  it('a bounded request answers nextKey; calling again from there finishes; reads at the safe point unchanged', async () => {
    await cluster();
    const n = TXN_GC_KEYS_PER_PAGE + 40;
    const keys = Array.from({ length: n }, (_, i) => `k${String(i).padStart(4, '0')}`);
    await write(ts(110), keys.map((key) => put(key, 'v1')));
    await write(ts(120), keys.map((key) => put(key, 'v2')));
    const safePoint = ts(130);
    const before = await scanAt(safePoint);
    const first = value(await gcReq(safePoint, { pagesMax: 1 }));
    expect(first.versionsDropped).toBe(TXN_GC_KEYS_PER_PAGE);
    expect(dec.decode(first.nextKey!)).toBe(keys[TXN_GC_KEYS_PER_PAGE]);
    const second = value(await gcReq(safePoint, { startKey: first.nextKey! }));
    expect(second).toEqual({ versionsDropped: 40 });
    expect(await scanAt(safePoint)).toEqual(before);
    expect(await getValue(keys[0], ts(115))).toBeUndefined();
  });

  it('runs only on the leader, and refuses bad fields', async () => {
    await cluster();
    const l = await leader();
    const follower = [...stores.values()].map((s) => s.store).find((s) => s !== l)!;
    const r = await send({ type: 'txnGc', safePoint: ts(10) }, follower);
    expect(!r.ok && r.error.kind).toBe('NotLeader');
    await expect(l.handle({ type: 'txnGc', regionId: 2, epoch: REGION.epoch, safePoint: ts(10), pagesMax: 0 })).rejects.toMatchObject({ kind: 'BadField' });
    await expect(l.handle({ type: 'txnGc', regionId: 2, epoch: REGION.epoch, safePoint: 10 as unknown as bigint })).rejects.toMatchObject({ kind: 'BadField' });
  });
});
