/**
 * Routing after a leader's store stops answering, with a stand-in PD and stores: a route
 * cached long ago (before replicas were added: membership changes never fail a request, so
 * the cache is not refreshed) names only the dead leader; after its timeout the client asks
 * PD again, skips the store that timed out even though PD still names it as leader, and is
 * led to the new leader by a follower's hint.
 */
import { describe, expect, it } from 'vitest';
import type { Peer, Region } from '@peerkv/pd';
import type { Result } from '@peerkv/store';
import { PeerKV, codec, type KvService, type PdService, type RegionRoute, type StoreResolver } from '../src/index.ts';

const t = codec.text;
const epoch = { confVer: 1, version: 1 };
const peer = (id: number, storeId: number): Peer => ({ id, storeId, role: 'voter' });

function region(peers: Peer[]): Region {
  return { id: 3, startKey: new Uint8Array(), endKey: new Uint8Array(), epoch, peers };
}

describe('PeerKV routing when the leader is gone', () => {
  it('refreshes a route that names only the dead leader, skips the suspect store PD still names, follows a hint', async () => {
    let pdRoute: RegionRoute = { region: region([peer(5, 2)]), leader: peer(5, 2) };
    const pd: PdService = {
      getRegion: async () => pdRoute,
      getRegionById: async () => pdRoute,
      getStore: async () => undefined,
    };
    const asked: number[] = [];
    const svc = (storeId: number, answer: () => Result<void>): KvService => ({
      storeId,
      handle: async (q) => {
        if (q.type !== 'write') throw new Error(`unexpected ${q.type}`);
        asked.push(storeId);
        return answer() as never;
      },
    });
    let storeTwoAlive = true;
    const services = new Map<number, KvService>([
      [2, svc(2, () => (storeTwoAlive ? { ok: true, value: undefined } : { ok: false, error: { kind: 'Timeout', what: 'no answer' } }))],
      // A follower that knows the new leader.
      [6, svc(6, () => ({ ok: false, error: { kind: 'NotLeader', regionId: 3, leaderHint: peer(9, 7) } }))],
      [7, svc(7, () => ({ ok: true, value: undefined }))],
    ]);
    const stores: StoreResolver = { store: (id) => services.get(id) };
    const kv = new PeerKV({ dataModel: 'raw', pd, stores, backoff: { attemptsMax: 20, baseMs: 1, capMs: 2, budgetMs: 5000 } });
    await kv.put(t('a'), t('1')); // caches the one-replica route
    expect(asked).toEqual([2]);

    // Replicas were added since (PD knows; the cache does not), then store 2 died. PD has not
    // heard of the new leader yet and still names store 2.
    pdRoute = { region: region([peer(5, 2), peer(8, 6), peer(9, 7)]), leader: peer(5, 2) };
    storeTwoAlive = false;
    asked.length = 0;
    await kv.put(t('b'), t('2'));
    expect(asked).toEqual([2, 6, 7]);
    kv.close();
  });

  it('a PD answer older than the cached route does not replace it for the request that asked', async () => {
    // The cache learned of replicas 8@6 and 9@7 (confVer 2); PD (a replica behind its leader) still says 5@2 alone (confVer 1).
    const newer: RegionRoute = { region: { ...region([peer(8, 6), peer(9, 7), peer(5, 2)]), epoch: { confVer: 2, version: 1 } }, leader: peer(5, 2) };
    let pdRoute: RegionRoute = newer;
    const pd: PdService = { getRegion: async () => pdRoute, getRegionById: async () => pdRoute, getStore: async () => undefined };
    const asked: number[] = [];
    const services = new Map<number, KvService>(
      [2, 6, 7].map((storeId) => [
        storeId,
        {
          storeId,
          handle: async (q) => {
            if (q.type !== 'write') throw new Error(`unexpected ${q.type}`);
            asked.push(storeId);
            // A follower that knows the new leader.
            if (storeId === 6) return { ok: false, error: { kind: 'NotLeader', regionId: 3, leaderHint: peer(9, 7) } } as never;
            return { ok: true, value: undefined } as never;
          },
        },
      ]),
    );
    const kv = new PeerKV({ dataModel: 'raw', pd, stores: { store: (id) => services.get(id) }, backoff: { attemptsMax: 20, baseMs: 1, capMs: 2, budgetMs: 2000 } });
    await kv.put(t('a'), t('1'));
    expect(asked).toEqual([2]);
    // Store 2 is gone (no connection to it), and PD lags: the client asks PD again, which names
    // 5@2 alone; the cached replicas stay the route (PD's would leave none to ask), and 6's
    // hint leads to 7.
    pdRoute = { region: region([peer(5, 2)]), leader: peer(5, 2) };
    services.delete(2);
    asked.length = 0;
    await kv.put(t('b'), t('2'));
    expect(asked).toEqual([6, 7]);
    kv.close();
  });

  it('never sends a stale or follower read to a witness, even one in this process', async () => {
    const witness: Peer = { id: 6, storeId: 3, role: 'voter', witness: true };
    const route: RegionRoute = { region: region([peer(5, 2), witness, peer(7, 4)]), leader: peer(5, 2) };
    const pd: PdService = { getRegion: async () => route, getRegionById: async () => route, getStore: async () => undefined };
    const asked: number[] = [];
    const svc = (storeId: number): KvService => ({
      storeId,
      handle: async (q) => {
        if (q.type !== 'get') throw new Error(`unexpected ${q.type}`);
        asked.push(storeId);
        return (storeId === 3 ? { ok: false, error: { kind: 'NotLeader', regionId: 3, leaderHint: peer(5, 2) } } : { ok: true, value: t('v') }) as never;
      },
    });
    const services = new Map<number, KvService>([2, 3, 4].map((id) => [id, svc(id)]));
    const kv = new PeerKV({ dataModel: 'raw', pd, stores: { store: (id) => services.get(id) }, localStoreId: 3, backoff: { attemptsMax: 5, baseMs: 1, capMs: 2, budgetMs: 2000 } });
    for (const consistency of ['stale', 'follower'] as const) expect(await kv.get(t('a'), { consistency })).toEqual(t('v'));
    expect(asked).not.toContain(3);
    kv.close();
  });
});
