/**
 * Reads at a timestamp from the nearest replica (the offline story's first half): the
 * leaders advance each region's resolved ts through the log; a client next to a store reads
 * from that store's replica at its resolved ts — also after the other stores are gone and no
 * quorum is left — and says as of when.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryDisk, MemoryEngine } from '@peerkv/storage';
import { PdCluster, PeerKV, codec } from '../src/index.ts';
import { safeTsOf } from './txn-cluster.ts';
import { until } from './until.ts';

const TXN_CFS = ['default', 'lock', 'write'];
let cluster: PdCluster | undefined;
const clients: PeerKV[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await cluster?.close();
  cluster = undefined;
});

const k = (s: string): Uint8Array => codec.text(s);
const t = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : codec.fromText(b));

describe('stale reads from the nearest replica', () => {
  it('reads at the local resolved ts, says as of when, and keeps reading after the other stores are gone', async () => {
    const disks = new Map<string, MemoryDisk>();
    const c = new PdCluster({
      openEngine: async (name, cfs) => {
        if (!disks.has(name)) disks.set(name, new MemoryDisk());
        return MemoryEngine.open({ columnFamilies: cfs, disk: disks.get(name) });
      },
      store: { tickIntervalMs: 10, heartbeatIntervalTicks: 5, dataColumnFamilies: TXN_CFS, dataModel: 'mvcc', safeTsIntervalMs: 50 },
    });
    cluster = c;
    await c.bootstrap('a');
    const b = await c.join('b');
    await c.join('c');
    await until('data region on three voters', () => c.regions().some((r) => r.id !== 1 && r.peers.filter((p) => p.role === 'voter').length === 3));
    const writer = new PeerKV({ pd: c, stores: c, dataModel: 'mvcc' });
    const local = new PeerKV({ pd: c, stores: c, dataModel: 'mvcc', localStoreId: b.storeId, backoff: { budgetMs: 2000 } });
    clients.push(writer, local);
    await writer.put(k('x'), k('1'));
    const first = await writer.getTimestamp();
    await writer.put(k('x'), k('2'));
    const afterSecond = await writer.getTimestamp();
    await until('b resolved past the second write', () => safeTsOf(b) > afterSecond);

    // Whatever b has: at its resolved ts, which the snapshot reports.
    const snap = await local.snapshot({ maxStaleness: Infinity });
    expect(t(await snap.get(k('x')))).toBe('2');
    expect(snap.ts).toBeDefined();
    expect(snap.ts! <= safeTsOf(b)).toBe(true);
    // At a past ts: the value then.
    expect(t(await local.get(k('x'), { readTs: first }))).toBe('1');
    // Fresh enough: served locally; too fresh a bound for an idle cluster falls back to the leader.
    expect(t(await local.get(k('x'), { maxStaleness: 60_000 }))).toBe('2');
    expect(t(await local.get(k('x'), { maxStaleness: 0 }))).toBe('2');
    // As of when (README "As of when"): through a snapshot, whose ts is within the bound (its
    // physical part is ms since the epoch), and a read at that ts gives the same value.
    const bounded = await local.snapshot({ maxStaleness: 60_000 });
    expect(t(await bounded.get(k('x')))).toBe('2');
    expect(Number(bounded.ts! >> 18n)).toBeGreaterThanOrEqual(Date.now() - 60_000);
    expect(Number(bounded.ts! >> 18n)).toBeLessThanOrEqual(Date.now());
    expect(t(await local.get(k('x'), { readTs: bounded.ts! }))).toBe('2');

    // The two other stores go: no quorum, no leader, no PD. b still answers what it has.
    for (const id of [...c.stores.keys()].filter((id) => id !== b.storeId)) await c.kill(id);
    const offline = await local.snapshot({ maxStaleness: Infinity });
    expect(t(await offline.get(k('x')))).toBe('2');
    const pairs: string[] = [];
    for await (const p of offline.scan()) pairs.push(`${t(p.key)}=${t(p.value)}`);
    expect(pairs).toEqual(['x=2']);
    // `consistency: 'stale'` (the raw model's "the replica's own state") is the same read on mvcc.
    expect(t(await local.get(k('x'), { consistency: 'stale' }))).toBe('2');
    expect((await local.batchGet([k('x'), k('y')], { consistency: 'stale' })).map(t)).toEqual(['2', undefined]);
    const stalePairs: string[] = [];
    for await (const p of local.scan({ consistency: 'stale' })) stalePairs.push(`${t(p.key)}=${t(p.value)}`);
    expect(stalePairs).toEqual(['x=2']);
    // A linearizable read cannot be served now.
    await expect(local.get(k('x'))).rejects.toBeDefined();

    // b restarts alone (a reloaded device with the others away): its persisted resolved ts
    // serves the same read at once, with no leader to advance a new one.
    const asOf = offline.ts!;
    await c.kill(b.storeId);
    const b2 = await c.join('b');
    expect(b2.storeId).toBe(b.storeId);
    expect(safeTsOf(b2)).toBeGreaterThanOrEqual(asOf);
    const reopened = await local.snapshot({ maxStaleness: Infinity });
    expect(t(await reopened.get(k('x')))).toBe('2');
    expect(reopened.ts! >= asOf).toBe(true);
  }, 60_000);

  it('refuses stale reads on the raw model and bad staleness options', async () => {
    const c = new PdCluster({ openEngine: async (_name, cfs) => MemoryEngine.open({ columnFamilies: cfs }), store: { tickIntervalMs: 10 } });
    cluster = c;
    await c.bootstrap('a');
    const raw = new PeerKV({ pd: c, stores: c, dataModel: 'raw' });
    clients.push(raw);
    await expect(raw.get(k('x'), { maxStaleness: 1000 })).rejects.toMatchObject({ kind: 'InvalidArgument' });
    const m = new PeerKV({ pd: c, stores: c, dataModel: 'mvcc' });
    clients.push(m);
    await expect(m.snapshot({ maxStaleness: -1 })).rejects.toMatchObject({ kind: 'InvalidArgument' });
    await expect(m.snapshot({ readTs: 0n })).rejects.toMatchObject({ kind: 'InvalidArgument' });
    // NaN is no bound, a number is no TSO timestamp, and the two bounds together are refused, not one of them picked.
    await expect(m.get(k('x'), { maxStaleness: Number.NaN })).rejects.toMatchObject({ kind: 'InvalidArgument' });
    await expect(m.batchGet([k('x')], { readTs: 5 as never })).rejects.toMatchObject({ kind: 'InvalidArgument' });
    await expect(m.get(k('x'), { readTs: 5n, maxStaleness: 1000 })).rejects.toMatchObject({ kind: 'InvalidArgument' });
    await expect(m.snapshot({ readTs: 5n, maxStaleness: Infinity })).rejects.toMatchObject({ kind: 'InvalidArgument' });
  });
});
