/**
 * The region cache's two kinds of doubt: `markStale` (no replica could serve) keeps the
 * region's replicas and forgets its leader until PD's route replaces it; `invalidate` (an
 * authoritative answer) drops the region.
 */
import { describe, expect, it } from 'vitest';
import type { Peer, Region } from '@peerkv/pd';
import { RegionCache } from '../src/region-cache.ts';

const enc = new TextEncoder();
const peer = (id: number, storeId: number): Peer => ({ id, storeId, role: 'voter' });
const region = (id: number, start: string, end: string, version = 1): Region => ({
  id,
  startKey: enc.encode(start),
  endKey: enc.encode(end),
  epoch: { confVer: 1, version },
  peers: [peer(id * 10 + 1, 1), peer(id * 10 + 2, 2)],
});

describe('RegionCache', () => {
  it('markStale keeps the replicas and drops the leader until a route is inserted; invalidate drops the region', () => {
    const cache = new RegionCache();
    cache.insert({ region: region(3, 'a', 'm'), leader: peer(31, 1) });
    cache.insert({ region: region(4, 'm', ''), leader: peer(41, 1) });
    expect(cache.locate(enc.encode('b'))).toMatchObject({ stale: false, route: { leader: { id: 31 } } });

    cache.markStale(3);
    const doubted = cache.locate(enc.encode('b'))!;
    expect(doubted.stale).toBe(true);
    expect(doubted.route.leader).toBeUndefined();
    expect(doubted.route.region.peers.map((p) => p.storeId)).toEqual([1, 2]);
    // The other region is not touched.
    expect(cache.locate(enc.encode('x'))).toMatchObject({ stale: false, route: { leader: { id: 41 } } });
    // A route from PD ends the doubt.
    cache.insert({ region: region(3, 'a', 'm'), leader: peer(32, 2) });
    expect(cache.locate(enc.encode('b'))).toMatchObject({ stale: false, route: { leader: { id: 32 } } });
    // Also an older one from PD (the cache keeps its newer epoch, no longer in doubt).
    cache.insert({ region: region(3, 'a', 'm', 2) });
    cache.markStale(3);
    cache.insert({ region: region(3, 'a', 'm', 1) });
    expect(cache.locate(enc.encode('b'))).toMatchObject({ stale: false, route: { region: { epoch: { version: 2 } } } });

    cache.invalidate(3);
    expect(cache.locate(enc.encode('b'))).toBeUndefined();
    // Marking a region the cache does not hold does nothing.
    cache.markStale(3);
    expect(cache.locate(enc.encode('b'))).toBeUndefined();
    expect(cache.size).toBe(1);
  });
});
