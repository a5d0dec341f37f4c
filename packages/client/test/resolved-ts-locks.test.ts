/**
 * A dead transaction's `lock`-kind lock (a key locked and not written) holds a region's resolved
 * ts back, and no reader resolves it (reads skip such locks). With GC off, nothing did: the
 * resolved ts stalled for good, and so did stale reads and every watch of the region (found by
 * `sim --txn --seed 24`). The resolved-ts worker now hands the expired locks it finds to the
 * store's lock resolution, so the resolved ts passes them once their TTL is out.
 */
import { describe, expect, it } from 'vitest';
import type { Store } from '@peerkv/store';
import { codec } from '../src/index.ts';
import { closeTxnClusterAfterEach, safeTsOf, start } from './txn-cluster.ts';
import { until } from './until.ts';

closeTxnClusterAfterEach();
const k = codec.text;

describe('the resolved ts and expired locks', () => {
  it('a dead transaction\'s lock-kind lock is resolved once its TTL is out, and the resolved ts passes it', async () => {
    const { c, kv } = await start({ safeTsIntervalMs: 100 });
    const client = kv('mvcc');
    await client.put(k('a'), k('1'));
    const route = (await c.getRegion(k('a')))!;
    const leader = c.store(route.leader!.storeId) as Store;
    const dead = await client.getTimestamp();
    const r = await leader.handle({
      type: 'txnPrewrite',
      regionId: route.region.id,
      epoch: route.region.epoch,
      timeoutMs: 2000,
      mutations: [{ op: 'lock', key: k('a') }],
      primary: k('a'),
      startTs: dead,
      lockTtlMs: 300,
      txnSize: 1,
      mode: { kind: 'twoPc' },
    } as never);
    expect(r).toMatchObject({ ok: true, value: { ok: true } });
    // Held back while the lock lives (a resolved ts computed before the lock was in may be above
    // its start ts; none computed since is) ...
    const after = await client.getTimestamp();
    await new Promise((res) => setTimeout(res, 150));
    for (const s of c.stores.values()) expect(safeTsOf(s) < after).toBe(true);
    // ... and past it once the TTL is out: the worker rolled the dead transaction back.
    await until('every replica\'s resolved ts passed the dead lock', () => [...c.stores.values()].every((s) => safeTsOf(s) > after), 10_000);
    expect(await client.get(k('a'))).toEqual(k('1'));
  }, 30_000);
});
