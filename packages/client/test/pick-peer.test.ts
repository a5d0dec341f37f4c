/**
 * Which replica a request goes to when the one it would ask first is not reachable from here
 * (its store has no link: `StoreResolver.store` gives nothing): the retry moves on to the next
 * replica at once instead of picking the same unreachable one on every attempt.
 */
import { describe, expect, it } from 'vitest';
import type { Peer, Region } from '@peerkv/pd';
import { PeerKV, codec, type KvService, type PdService, type RegionRoute } from '../src/index.ts';

const t = codec.text;
const epoch = { confVer: 1, version: 1 };
const peer = (id: number, storeId: number): Peer => ({ id, storeId, role: 'voter' });
const region = (peers: Peer[]): Region => ({ id: 3, startKey: new Uint8Array(), endKey: new Uint8Array(), epoch, peers });

/** PD answering `route` always; stores 6 and 7 serving (6 points at 7 as leader); store 2 unreachable. */
function cluster(route: RegionRoute): { kv: PeerKV; asked: number[]; pdAsked: () => number } {
  let pdCalls = 0;
  const pd: PdService = {
    getRegion: async () => (pdCalls++, route),
    getRegionById: async () => (pdCalls++, route),
    getStore: async () => undefined,
  };
  const asked: number[] = [];
  const svc = (storeId: number): KvService => ({
    storeId,
    handle: async (q) => {
      asked.push(storeId);
      if (storeId === 6) return { ok: false, error: { kind: 'NotLeader', regionId: 3, leaderHint: peer(9, 7) } } as never;
      return (q.type === 'get' ? { ok: true, value: t('v') } : { ok: true, value: undefined }) as never;
    },
  });
  const services = new Map<number, KvService>([6, 7].map((id) => [id, svc(id)]));
  // A long backoff: a retry that waits for it each time runs out of the budget.
  const kv = new PeerKV({ dataModel: 'raw', pd, stores: { store: (id) => services.get(id) }, backoff: { attemptsMax: 6, baseMs: 400, capMs: 400, budgetMs: 3000 } });
  return { kv, asked, pdAsked: () => pdCalls };
}

describe('PeerKV picks past a replica it cannot reach', () => {
  it('a write with no leader known skips the unreachable first voter and follows the next one\'s hint', async () => {
    const { kv, asked } = cluster({ region: region([peer(5, 2), peer(8, 6), peer(9, 7)]) });
    const started = performance.now();
    await kv.put(t('a'), t('1'));
    expect(asked).toEqual([6, 7]);
    // At once: no backoff was waited for store 2.
    expect(performance.now() - started).toBeLessThan(400);
    kv.close();
  });

  it('a write whose route names an unreachable leader asks the other voters at once', async () => {
    const { kv, asked } = cluster({ region: region([peer(5, 2), peer(8, 6), peer(9, 7)]), leader: peer(5, 2) });
    const started = performance.now();
    await kv.put(t('a'), t('1'));
    expect(asked).toEqual([6, 7]);
    expect(performance.now() - started).toBeLessThan(400);
    kv.close();
  });

  it('a read rotates past the unreachable replica too', async () => {
    const { kv, asked } = cluster({ region: region([peer(5, 2), peer(8, 6), peer(9, 7)]) });
    expect(await kv.get(t('a'), { consistency: 'linearizable' })).toEqual(t('v'));
    expect(asked).toEqual([6, 7]);
    kv.close();
  });

  it('with no replica reachable it asks PD again and gives up within its budget', async () => {
    const { kv, asked, pdAsked } = cluster({ region: region([peer(5, 2)]) });
    await expect(kv.put(t('a'), t('1'))).rejects.toThrow(/no reachable replica/);
    expect(asked).toEqual([]);
    expect(pdAsked()).toBeGreaterThan(1);
    kv.close();
  });
});
