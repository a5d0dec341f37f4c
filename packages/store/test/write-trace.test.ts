/**
 * The write-latency trace (`write-trace.ts`): a replicated write's spans on its leader's store
 * are recorded, each is non-negative, they add up to the store's total, and that total fits in
 * what the caller saw; the ring keeps the newest `WRITE_TRACE_SAMPLES_MAX` writes.
 */
import { describe, expect, it } from 'vitest';
import type { Region } from '@peerkv/pd';
import { MemoryEngine } from '@peerkv/storage';
import { LocalRouter, STORE_CFS, Store, WRITE_TRACE_SAMPLES_MAX, WRITE_TRACE_SPANS } from '../src/index.ts';
import { WriteTrace } from '../src/write-trace.ts';
import { leaderOf } from './helpers.ts';

const enc = new TextEncoder();

describe('write trace', () => {
  it('a 3-replica region records each write: spans non-negative, adding up to the total, within what the caller saw', async () => {
    const router = new LocalRouter();
    const stores: Store[] = [];
    const r: Region = { id: 2, startKey: new Uint8Array(), endKey: new Uint8Array(), epoch: { confVer: 1, version: 1 }, peers: [1, 2, 3].map((s) => ({ id: 100 + s, storeId: s, role: 'voter' as const })) };
    try {
      for (const id of [1, 2, 3]) {
        const s = await Store.open({ dataModel: 'raw', storeId: id, clusterId: 'trace', engine: await MemoryEngine.open({ columnFamilies: STORE_CFS }), transport: router.transportFor(id), tickIntervalMs: 10 });
        router.register(s);
        stores.push(s);
        await s.createRegion(r);
      }
      stores[0].campaign(r.id);
      const leader = await leaderOf(() => stores, r.id);
      expect(leader.status().writeTrace).toBeUndefined();
      const n = 40;
      let slowestMs = 0;
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        const w = await leader.write(r.id, r.epoch, 'c', i + 1, [{ type: 'put', cf: 'default', key: enc.encode(`k${i}`), value: new Uint8Array(100) }]);
        slowestMs = Math.max(slowestMs, performance.now() - t0);
        expect(w.ok).toBe(true);
      }
      const t = leader.status().writeTrace!;
      expect(t.samples).toBe(n);
      for (const span of [...WRITE_TRACE_SPANS, 'total'] as const) {
        expect(t.p50Ms[span]).toBeGreaterThanOrEqual(0);
        expect(t.p99Ms[span]).toBeGreaterThanOrEqual(t.p50Ms[span]);
      }
      // A raw write reads nothing before it proposes.
      expect(t.meanMs.localRead).toBe(0);
      // Replication is a real span: the followers' appends come back before the commit.
      expect(t.meanMs.proposeToCommit).toBeGreaterThan(0);
      const sum = t.meanMs.beforePropose + t.meanMs.proposeToCommit + t.meanMs.commitToApplied + t.meanMs.appliedToDurable;
      expect(Math.abs(sum - t.meanMs.total)).toBeLessThan(0.01);
      expect(t.p99Ms.total).toBeLessThanOrEqual(slowestMs);
      // Followers answered no client: they record nothing.
      for (const s of stores) if (s !== leader) expect(s.status().writeTrace).toBeUndefined();
    } finally {
      for (const s of stores) await s.close();
    }
  });

  it('keeps the newest WRITE_TRACE_SAMPLES_MAX writes and skips a trace that never committed', () => {
    const w = new WriteTrace();
    expect(w.summary()).toBeUndefined();
    w.record({ receivedMs: 0, localReadMs: 0, proposedMs: 1 }, 5);
    expect(w.summary()).toBeUndefined();
    for (let i = 0; i < WRITE_TRACE_SAMPLES_MAX + 10; i++) {
      // The first ten take 100 ms each; the rest 4 ms: 1 before proposing, 2 to commit, 0.5 to apply, 0.5 to the disk.
      const slow = i < 10 ? 96 : 0;
      w.record({ receivedMs: 0, localReadMs: 0.25, proposedMs: 1, committedMs: 3 + slow, appliedMs: 3.5 + slow }, 4 + slow);
    }
    const s = w.summary()!;
    expect(s.samples).toBe(WRITE_TRACE_SAMPLES_MAX);
    expect(s.p99Ms.total).toBe(4);
    expect(s.meanMs).toEqual({ beforePropose: 1, localRead: 0.25, proposeToCommit: 2, commitToApplied: 0.5, appliedToDurable: 0.5, total: 4 });
  });
});
