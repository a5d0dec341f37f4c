/**
 * The whole stack over a real transport, in Node: three stores, each with its own
 * `BroadcastChannelTransport` (Node's BroadcastChannel) carrying both Raft and store
 * requests, and a `PeerKV` in a fourth endpoint that hosts no store and reaches every store
 * by `request()`. Routing comes from the stores' own status, also by request. The client
 * keeps working after the leader's store and transport shut down.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Region } from '@peerkv/pd';
import { isEpochStale, regionContainsKey } from '@peerkv/pd';
import { MemoryEngine } from '@peerkv/storage';
import { STORE_CFS, Store, bindStore, storeTransportOf } from '@peerkv/store';
import { BroadcastChannelTransport, deriveClusterKeys, type ClusterKeys } from '@peerkv/transport';
import { PeerKV, RemoteStoreResolver, codec, type PdService, type RegionRoute } from '../src/index.ts';

const t = codec.text;
const s = codec.fromText;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function transport(storeId: number, keys: ClusterKeys): BroadcastChannelTransport {
  const tr = new BroadcastChannelTransport({ localStoreId: storeId, keys, heartbeatIntervalMs: 50, departureTimeoutMs: 400 });
  cleanups.push(() => tr.close());
  return tr;
}

/** A store whose Raft traffic and requests both go through `tr`. */
async function storeOn(tr: BroadcastChannelTransport): Promise<Store> {
  const engine = await MemoryEngine.open({ columnFamilies: STORE_CFS });
  const store = await Store.open({ dataModel: 'raw', storeId: tr.localStoreId, clusterId: 'rt', engine, transport: storeTransportOf(tr), tickIntervalMs: 10, requestTimeoutMs: 1000 });
  bindStore(store, tr);
  cleanups.push(() => store.close());
  return store;
}

/** Routing from the stores' status, fetched by request (a stand-in for PD without timestamps: the stores and client are raw). */
function statusPd(res: RemoteStoreResolver, storeIds: () => readonly number[]): PdService {
  const routes = async (): Promise<RegionRoute[]> => {
    const best = new Map<number, RegionRoute>();
    for (const id of storeIds()) {
      const st = await res.remote(id).status({ timeoutMs: 500 });
      if (!st.ok) continue;
      for (const r of st.value.regions) {
        const region: Region = { id: r.regionId, startKey: r.startKey, endKey: r.endKey, epoch: r.epoch, peers: r.peers };
        const leader = r.role === 'leader' ? r.peers.find((p) => p.id === r.peerId) : undefined;
        const cur = best.get(r.regionId);
        if (!cur || isEpochStale(cur.region.epoch, region.epoch)) best.set(r.regionId, { region, leader: leader ?? cur?.leader });
        else if (leader) cur.leader = leader;
      }
    }
    return [...best.values()];
  };
  return {
    getRegion: async (key) => (await routes()).find((r) => regionContainsKey(r.region, key)),
    getRegionById: async (id) => (await routes()).find((r) => r.region.id === id),
    getStore: async (id) => ({ id, address: `bc:${id}`, labels: {}, state: 'up' }),
  };
}

describe('PeerKV over BroadcastChannelTransport requests (Node)', () => {
  it('a storeless endpoint writes, reads and scans, and survives the leader shutting down', async () => {
    const keys = await deriveClusterKeys('rt', 'secret', 1000);
    const trs = [1, 2, 3].map((id) => transport(id, keys));
    const stores = await Promise.all(trs.map(storeOn));
    const client = transport(9, keys);
    await expect.poll(() => trs.every((x) => x.peers().length === 3) && client.peers().length === 3, { timeout: 5000 }).toBe(true);
    const region: Region = { id: 2, startKey: new Uint8Array(), endKey: new Uint8Array(), epoch: { confVer: 1, version: 1 }, peers: [1, 2, 3].map((id) => ({ id: 100 + id, storeId: id, role: 'voter' as const })) };
    for (const st of stores) await st.createRegion(region);
    stores[0].campaign(2);

    const res = new RemoteStoreResolver(client, { requestTimeoutMs: 1000, reachable: () => client.peers() });
    const kv = new PeerKV({ dataModel: 'raw', pd: statusPd(res, () => client.peers()), stores: res, requestTimeoutMs: 1000 });
    await kv.put(t('a'), t('1'));
    await kv.batchPut([{ key: t('b'), value: t('2') }, { key: t('c'), value: t('3') }]);
    expect(s((await kv.get(t('b')))!)).toBe('2');
    const all = async () => {
      const out: string[] = [];
      for await (const p of kv.scan()) out.push(`${s(p.key)}=${s(p.value)}`);
      return out;
    };
    expect(await all()).toEqual(['a=1', 'b=2', 'c=3']);
    expect(client.counters().rpc.requestsSucceeded).toBeGreaterThan(4);

    const leaderIdx = stores.findIndex((x) => x.status().regions[0].role === 'leader');
    expect(leaderIdx).toBeGreaterThanOrEqual(0);
    await stores[leaderIdx].close();
    trs[leaderIdx].close();
    await sleep(20);
    await kv.put(t('d'), t('4'));
    expect(await all()).toEqual(['a=1', 'b=2', 'c=3', 'd=4']);
    expect(client.peers()).not.toContain(leaderIdx + 1);
  });
});
