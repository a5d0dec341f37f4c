/**
 * `bindStore` over real `BroadcastChannelTransport`s (Node's BroadcastChannel): two stores
 * replicate through the transport and answer each other's requests on it; after unbinding,
 * requests are refused.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Region } from '@peerkv/pd';
import { MemoryEngine } from '@peerkv/storage';
import { BroadcastChannelTransport, deriveClusterKeys } from '@peerkv/transport';
import { STORE_CFS, Store, bindStore, decodeStoreResponse, encodeStoreRequest, storeTransportOf } from '../src/index.ts';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('bindStore', () => {
  it('carries Raft and store requests on one transport', async () => {
    const keys = await deriveClusterKeys('bind', 's', 1000);
    const region: Region = { id: 2, startKey: new Uint8Array(), endKey: new Uint8Array(), epoch: { confVer: 1, version: 1 }, peers: [1, 2].map((id) => ({ id: 100 + id, storeId: id, role: 'voter' as const })) };
    const nodes: { t: BroadcastChannelTransport; store: Store; unbind: () => void }[] = [];
    for (const id of [1, 2]) {
      const t = new BroadcastChannelTransport({ localStoreId: id, keys, heartbeatIntervalMs: 50 });
      const engine = await MemoryEngine.open({ columnFamilies: STORE_CFS });
      const store = await Store.open({ dataModel: 'raw', storeId: id, clusterId: 'bind', engine, transport: storeTransportOf(t), tickIntervalMs: 10 });
      const unbind = bindStore(store, t);
      cleanups.push(() => t.close(), () => store.close());
      await store.createRegion(region);
      nodes.push({ t, store, unbind });
    }
    await expect.poll(() => nodes.every((n) => n.t.peers().length === 1), { timeout: 5000 }).toBe(true);
    nodes[0].store.campaign(2);
    await expect.poll(() => nodes[0].store.status().regions[0].role, { timeout: 5000 }).toBe('leader');
    const put = encodeStoreRequest({ type: 'write', regionId: 2, epoch: region.epoch, clientId: 'c', seq: 1, ops: [{ type: 'put', cf: 'default', key: new Uint8Array([1]), value: new Uint8Array([9]) }] });
    expect(decodeStoreResponse(await nodes[1].t.request(1, put))).toEqual({ type: 'unit', result: { ok: true, value: undefined } });
    const get = encodeStoreRequest({ type: 'get', regionId: 2, epoch: region.epoch, key: new Uint8Array([1]), consistency: 'follower' });
    expect(decodeStoreResponse(await nodes[0].t.request(2, get))).toEqual({ type: 'value', result: { ok: true, value: new Uint8Array([9]) } });
    nodes[0].unbind();
    await expect(nodes[1].t.request(1, get)).rejects.toMatchObject({ kind: 'RemoteFailed' });
  });
});
