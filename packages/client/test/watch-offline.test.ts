/**
 * A watch whose region leader is gone (issue 14): its pull loop keeps retrying, and that must
 * not cost the client the routes its stale reads still need when PD cannot be reached either
 * (a device whose store holds no PD replica, with the other devices away). A failed request
 * only marks a route for a refresh from PD; the route (its replica list) goes only on an
 * authoritative answer (`EpochNotMatch`, `RegionNotFound`...) or a newer one from PD.
 *
 * And when PD does answer, but from this device's own PD replica that lags (the demo's private
 * cluster: it never applied the change adding this device's replica before the other device
 * closed), every route the watch's retries fetch leaves this device's replica out: a stale read
 * then goes to the local store's own view of its replica (`localRegion`), not to the routes.
 */
import { describe, expect, it } from 'vitest';
import type { Store } from '@peerkv/store';
import { PdCluster, PeerKV, PeerKVError, codec, type PdService, type RegionRoute, type Watch, type WatchEvent } from '../src/index.ts';
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

/**
 * PD as this device's own lagging PD replica answers it (issue 14, the demo's private cluster):
 * every route it gives leaves out the replicas of store `withoutStore`, as a PD replica that has
 * not applied the membership change that added them (its commit index never reached it before
 * the leader's device went away). Counts the routes it gave.
 */
class LaggingPd extends FarPd {
  routesGiven = 0;

  constructor(
    c: PdCluster,
    private readonly withoutStore: number,
  ) {
    super(c);
  }

  private lag(r: RegionRoute | undefined): RegionRoute | undefined {
    if (r === undefined) return undefined;
    this.routesGiven++;
    const peers = r.region.peers.filter((p) => p.storeId !== this.withoutStore);
    const leader = r.leader && r.leader.storeId !== this.withoutStore ? { leader: r.leader } : {};
    return { region: { ...r.region, peers, epoch: { ...r.region.epoch, confVer: r.region.epoch.confVer - 1 } }, ...leader };
  }
  override async getRegion(key: Uint8Array): Promise<RegionRoute | undefined> {
    return this.lag(await super.getRegion(key));
  }
  override async getRegionById(id: number): Promise<RegionRoute | undefined> {
    return this.lag(await super.getRegionById(id));
  }
}

/** Waits until `w` has a watermark at or past `ts` and store `b` has resolved past it. */
async function runningPast(w: AsyncIterator<WatchEvent>, b: Store, ts: bigint): Promise<void> {
  for (;;) {
    const e = await w.next();
    if (!e.done && e.value.type === 'resolved' && e.value.ts >= ts) break;
  }
  await until('the local store resolved past the writes', () => safeTsOf(b) > ts);
}

/** Stops `w` and waits for its pending `next()` and its pull loops to end. */
async function stopped(w: Watch, pending: Promise<unknown>): Promise<void> {
  await w.return();
  await pending;
  await w.settled();
}

/** A scan's pairs as `key=value` text. */
async function pairsOf(scan: AsyncIterable<{ key: Uint8Array; value: Uint8Array }>): Promise<string[]> {
  const pairs: string[] = [];
  for await (const p of scan) pairs.push(`${t(p.key)}=${t(p.value)}`);
  return pairs;
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
      await runningPast(w, b, after);
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
      expect(await pairsOf(offline.scan({ prefix: k('w/') }))).toEqual(['w/x=2']);
      // A linearizable read cannot be served, and failing does not cost the stale reads their route either.
      await expect(local.get(k('w/x'))).rejects.toBeInstanceOf(PeerKVError);
      expect(t(await (await local.snapshot({ maxStaleness: Infinity })).get(k('w/x')))).toBe('2');
      await stopped(w, pending);
    } finally {
      await local.close();
    }
  }, 60_000);

  it('a stale read uses this store\'s own replica even when every route (cache and PD) leaves it out, while a watch retries the gone leader', async () => {
    const { c, kv } = await start({ safeTsIntervalMs: 30 });
    const writer = kv('mvcc');
    const [b] = [...c.stores.values()].filter((s) => s.storeId !== 1);
    const pd = new LaggingPd(c, b.storeId);
    const local = new PeerKV({ pd, stores: c, dataModel: 'mvcc', localStoreId: b.storeId, localRegion: (key) => b.regionForKey(key), backoff: { budgetMs: 1500 } });
    try {
      await writer.put(k('w/x'), k('1'));
      const after = await writer.getTimestamp();
      const w = local.watch({ prefix: k('w/') });
      await runningPast(w, b, after);
      // Every route the client was given leaves b out, yet b holds a replica.
      expect(pd.routesGiven).toBeGreaterThan(0);
      expect(b.regionForKey(k('w/x'))).toBeDefined();

      // The other stores go; PD (b's lagging replica) still answers, without b's replica.
      for (const id of [...c.stores.keys()].filter((id) => id !== b.storeId)) await c.kill(id);
      const pending = w.next();
      const given = pd.routesGiven;
      await until('the watch refreshed its route from the lagging PD', () => pd.routesGiven >= given + 2, 10_000);

      const offline = await local.snapshot({ maxStaleness: Infinity });
      expect(t(await offline.get(k('w/x')))).toBe('1');
      expect(offline.ts).toBeGreaterThanOrEqual(after);
      expect(await pairsOf(offline.scan({ prefix: k('w/') }))).toEqual(['w/x=1']);
      await stopped(w, pending);
    } finally {
      await local.close();
    }
  }, 60_000);
});
