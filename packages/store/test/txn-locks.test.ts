/**
 * Pessimistic lock, pessimistic rollback and check-secondary-locks through `Store.handle` on
 * the region's leader (three stores, every request through the RPC codec both ways).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { RequestOf, ResponseOf } from '../src/index.ts';
import { PESSIMISTIC_WAIT_TIMEOUT_MS_MAX } from '../src/handlers/txn-locks.ts';
import { REGION, closeAll, cluster, commit, dec, errorKinds, getValue, k, leader, pd, prewrite, put, send, ts, value } from './txn-harness.ts';

afterEach(closeAll);

function lock(startTs: bigint, keys: string[], extra: Partial<RequestOf<'txnPessimisticLock'>> = {}): Promise<ResponseOf<'txnPessimisticLock'>> {
  return send({ type: 'txnPessimisticLock', keys: keys.map(k), primary: k(keys[0]), startTs, forUpdateTs: startTs, lockTtlMs: 3000, waitTimeoutMs: 0, ...extra });
}

const text = (v: Uint8Array | undefined): string | undefined => (v === undefined ? undefined : dec.decode(v));

describe('pessimistic lock and rollback', () => {
  it('locks keys, returns their values; another transaction meets KeyIsLocked (at once, or after waitTimeoutMs); prewrite converts, commit publishes', async () => {
    await cluster();
    value(await prewrite(ts(50), [put('a', 'old')]));
    value(await commit(ts(50), ts(60), ['a']));
    const got = value(await lock(ts(100), ['a', 'b'], { returnValues: true }));
    expect(got.values?.map(text)).toEqual(['old', undefined]);
    expect(errorKinds(await lock(ts(110), ['b']))).toEqual(['KeyIsLocked']);
    const t0 = Date.now();
    expect(errorKinds(await lock(ts(110), ['a', 'b'], { waitTimeoutMs: 200 }))).toEqual(['KeyIsLocked', 'KeyIsLocked']);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150); // waited for a release that never came (txn-lock-wait.test.ts)
    // Locked for update, a read below the lock's ts still sees the old value.
    expect(await getValue('a', ts(120))).toBe('old');
    const muts = [
      { ...put('a', 'A'), pessimistic: true },
      { ...put('b', 'B'), pessimistic: true },
    ];
    value(await prewrite(ts(100), muts, k('a'), { forUpdateTs: ts(100) }));
    value(await commit(ts(100), ts(130), ['a', 'b']));
    expect(await getValue('a', ts(140))).toBe('A');
    expect(await getValue('b', ts(140))).toBe('B');
  });

  it('a commit after forUpdateTs is a WriteConflict; at a newer forUpdateTs the lock is taken; all or none', async () => {
    await cluster();
    value(await prewrite(ts(100), [put('b', 'B1')]));
    value(await commit(ts(100), ts(110), ['b']));
    expect(errorKinds(await lock(ts(90), ['a', 'b'], { forUpdateTs: ts(105) }))).toEqual(['WriteConflict']);
    // Nothing was locked on `a` by the refused request: another transaction takes it.
    value(await lock(ts(95), ['a']));
    expect(value(await lock(ts(90), ['b'], { forUpdateTs: ts(120), returnValues: true })).values?.map(text)).toEqual(['B1']);
    value(await lock(ts(130), ['c'], { shouldNotExist: true }));
  });

  it('pessimistic rollback drops the locks at or below forUpdateTs, leaving no record: the key is free again', async () => {
    await cluster();
    value(await lock(ts(100), ['a', 'b'], { forUpdateTs: ts(105) }));
    value(await send({ type: 'txnPessimisticRollback', keys: [k('a'), k('b')], startTs: ts(100), forUpdateTs: ts(105) }));
    value(await lock(ts(110), ['a']));
    // The first transaction can still lock `b` (no rollback record left behind).
    value(await lock(ts(100), ['b'], { forUpdateTs: ts(106) }));
  });

  it('a pessimistic lock that reads (returnValues) raises maxTs: a later async-commit prewrite commits above its forUpdateTs', async () => {
    await cluster();
    pd.tsoNext = ts(10); // the leader's maxTs sync brings only 10
    value(await lock(ts(100), ['r'], { forUpdateTs: ts(700), returnValues: true }));
    const r = value(await prewrite(ts(200), [put('x', 'X')], k('x'), { mode: { kind: 'asyncCommit', secondaries: [] } }));
    expect(r.minCommitTs).toBe(ts(700) + 1n);
  });

  it('refuses a waitTimeoutMs that is negative or above the limit with BadField', async () => {
    await cluster();
    const l = await leader();
    const q = { type: 'txnPessimisticLock' as const, regionId: 2, epoch: REGION.epoch, keys: [k('a')], primary: k('a'), startTs: ts(1), forUpdateTs: ts(1), lockTtlMs: 100 };
    await expect(l.handle({ ...q, waitTimeoutMs: -1 })).rejects.toMatchObject({ kind: 'BadField' });
    await expect(l.handle({ ...q, waitTimeoutMs: PESSIMISTIC_WAIT_TIMEOUT_MS_MAX + 1 })).rejects.toMatchObject({ kind: 'BadField' });
  });
});

describe('check secondary locks', () => {
  it('reports locked and committed secondaries; one the prewrite never reached is rolled back, refusing a late prewrite', async () => {
    await cluster();
    const asyncMode = { mode: { kind: 'asyncCommit' as const, secondaries: [k('s1'), k('s2')] } };
    const { minCommitTs } = value(await prewrite(ts(100), [put('p', 'P'), put('s1', 'S1')], k('p'), asyncMode));
    const check = (keys: string[]): Promise<ResponseOf<'txnCheckSecondaryLocks'>> => send({ type: 'txnCheckSecondaryLocks', keys: keys.map(k), startTs: ts(100) });
    const first = value(await check(['s1', 's2']));
    expect(first.statuses.map((s) => s.kind)).toEqual(['locked', 'rolledBack']);
    expect(first.statuses[0].kind === 'locked' && first.statuses[0].lock.useAsyncCommit).toBe(true);
    // s2's rollback record decides the transaction: its late prewrite is refused.
    expect(errorKinds(await prewrite(ts(100), [put('s2', 'S2')], k('p'), asyncMode))).toEqual(['WriteConflict']);
    value(await commit(ts(100), minCommitTs, ['s1']));
    expect(value(await check(['s1'])).statuses).toEqual([{ kind: 'committed', commitTs: minCommitTs }]);
  });
});
