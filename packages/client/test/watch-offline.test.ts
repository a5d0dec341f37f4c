/**
 * A watch whose region leader is gone (issue 14): its pull loop keeps retrying, and that must
 * not cost the client the routes its stale reads still need when PD cannot be reached either
 * (a device whose store holds no PD replica, with the other devices away). A failed request
 * only marks a route for a refresh from PD; the route (its replica list) goes only on an
 * authoritative answer (`EpochNotMatch`, `RegionNotFound`...) or a newer one from PD.
 */
import { describe, expect, it } from 'vitest';
import { PdCluster, PeerKV, PeerKVError, codec, type PdService, type RegionRoute } from '../src/index.ts';
import { closeTxnClusterAfterEach, safeTsOf, start } from './txn-cluster.ts';
import { until } from './until.ts';

closeTxnClusterAfterEach();

const k = (s: string): Uint8Array => codec.text(s);
const t = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : codec.fromText(b));

/** PD as a client far from it sees it: `reachable` false makes every call fail `Unavailable` (as `RemotePdService` does when no store answers). */
class FarPd implements PdService {
  reachable = true;
  /** Routing calls made while PD was unreachable. */
  missedCalls = 0;

  constructor(private readonly c: PdCluster) {}

  private check(): void {
    if (this.reachable) return;
    this.missedCalls++;
    throw new PeerKVError('Unavailable', 'PD getRegion: no store answered');
  }
  async getRegion(key: Uint8Array): Promise<RegionRoute | undefined> {
    this.check();
    return this.c.getRegion(key);
  }
  async getRegionById(id: number): Promise<RegionRoute | undefined> {
    this.check();
    return this.c.getRegionById(id);
  }
  async getStore(id: number) {
    this.check();
    return this.c.getStore(id);
  }
  async getTimestamps(count: number) {
    this.check();
    return this.c.getTimestamps(count);
  }
  async getGcSafePoint() {
    this.check();
    return this.c.getGcSafePoint();
  }
}

describe('a watch of a region whose leader is gone', () => {
  it('keeps retrying without costing the stale reads their route: the local replica still answers with PD unreachable', async () => {
    const { c, kv } = await start({ safeTsIntervalMs: 30 });
    const writer = kv('mvcc');
    const [b] = [...c.stores.values()].filter((s) => s.storeId !== 1);
    const pd = new FarPd(c);
    const local = new PeerKV({ pd, stores: c, dataModel: 'mvcc', localStoreId: b.storeId, backoff: { budgetMs: 1500 } });
    try {
      await writer.put(k('w/x'), k('1'));
      await writer.put(k('w/x'), k('2'));
      const after = await writer.getTimestamp();
      const w = local.watch({ prefix: k('w/') });
      // The watch is running (its first watermark came), and b has resolved past the writes.
      for (;;) {
        const e = await w.next();
        if (!e.done && e.value.type === 'resolved' && e.value.ts >= after) break;
      }
      await until('b resolved past the writes', () => safeTsOf(b) > after);
      expect(t(await (await local.snapshot({ maxStaleness: Infinity })).get(k('w/x')))).toBe('2');

      // Every other store goes, and PD with them: the watch's pulls find no leader.
      pd.reachable = false;
      for (const id of [...c.stores.keys()].filter((id) => id !== b.storeId)) await c.kill(id);
      const pending = w.next();
      // The watch has given up on the cached leader and asked PD for a new route (twice).
      await until('the watch asked PD again', () => pd.missedCalls >= 2, 10_000);

      // The stale read still finds its region's replicas: b's own replica answers.
      const offline = await local.snapshot({ maxStaleness: Infinity });
      expect(t(await offline.get(k('w/x')))).toBe('2');
      const pairs: string[] = [];
      for await (const p of offline.scan({ prefix: k('w/') })) pairs.push(`${t(p.key)}=${t(p.value)}`);
      expect(pairs).toEqual(['w/x=2']);
      // A linearizable read cannot be served, and failing does not cost the stale reads their route either.
      await expect(local.get(k('w/x'))).rejects.toBeInstanceOf(PeerKVError);
      expect(t(await (await local.snapshot({ maxStaleness: Infinity })).get(k('w/x')))).toBe('2');
      await w.return();
      await pending;
      await w.settled();
    } finally {
      await local.close();
    }
  }, 60_000);
});
