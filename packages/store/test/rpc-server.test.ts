/**
 * `serveStore` over `LocalRpc`: three stores, each served; requests from another store
 * reach the leader's public methods and come back with values or typed region errors; a bad
 * request or a closed store answers a typed failure, never a crash. `LocalRpc` itself:
 * unreachable and stopped stores, cuts (also applied to the router), lost answers, aborts.
 * Admin requests go signed with the cluster's operator key (`operator-auth.ts`).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Region } from '@peerkv/pd';
import { MemoryEngine } from '@peerkv/storage';
import { RpcError, deriveOperatorKey, generateClusterSecret, type RpcErrorKind } from '@peerkv/transport';
import {
  LocalRouter,
  LocalRpc,
  REQUEST_CLASSES,
  STORE_CFS,
  Store,
  decodeStoreResponse,
  encodeStoreRequest,
  serveStore,
  signOperatorRequest,
  type StoreRequest,
  type StoreResponse,
} from '../src/index.ts';

const enc = new TextEncoder();
const k = (s: string): Uint8Array => enc.encode(s);
const R = 2;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class RpcCluster {
  readonly router = new LocalRouter();
  readonly rpc = new LocalRpc({ router: this.router, requestTimeoutMs: 3000 });
  readonly stores = new Map<number, Store>();
  private operatorKey: CryptoKey | undefined;

  async start(ids: number[]): Promise<void> {
    this.operatorKey = await deriveOperatorKey('t', generateClusterSecret());
    const region: Region = { id: R, startKey: new Uint8Array(), endKey: new Uint8Array(), epoch: { confVer: 1, version: 1 }, peers: ids.map((s) => ({ id: 100 + s, storeId: s, role: 'voter' as const })) };
    for (const id of ids) {
      const engine = await MemoryEngine.open({ columnFamilies: STORE_CFS });
      const store = await Store.open({ dataModel: 'raw', storeId: id, clusterId: 't', engine, transport: this.router.transportFor(id), tickIntervalMs: 10, requestTimeoutMs: 2000 });
      this.router.register(store);
      serveStore(store, this.rpc.endpoint(id), { operatorKey: this.operatorKey });
      this.stores.set(id, store);
      await store.createRegion(region);
    }
    this.stores.get(ids[0])!.campaign(R);
  }

  async leader(): Promise<Store> {
    for (let i = 0; i < 500; i++) {
      for (const s of this.stores.values()) if (s.status().regions.find((r) => r.regionId === R)?.role === 'leader') return s;
      await sleep(10);
    }
    throw new Error('no leader');
  }

  /** Sends a request from store `from` to store `to` (an admin one signed as the operator) and decodes the answer. */
  async call(from: number, to: number, q: StoreRequest): Promise<StoreResponse> {
    const payload = REQUEST_CLASSES[q.type] === 'admin' ? await signOperatorRequest(this.operatorKey!, to, encodeStoreRequest(q)) : encodeStoreRequest(q);
    return decodeStoreResponse(await this.rpc.request(from, to, payload));
  }

  async close(): Promise<void> {
    for (const [id, s] of this.stores) {
      this.router.unregister(id);
      await s.close();
    }
  }
}

async function kindOf(p: Promise<unknown>): Promise<RpcErrorKind> {
  try {
    await p;
  } catch (e) {
    if (e instanceof RpcError) return e.kind;
    throw e;
  }
  throw new Error('resolved');
}

describe('serveStore over LocalRpc', () => {
  let c: RpcCluster;
  afterEach(async () => {
    await c?.close();
  });

  it('runs writes, reads, scans, status, leader transfer and split on a remote store', async () => {
    c = new RpcCluster();
    await c.start([1, 2, 3]);
    const leader = await c.leader();
    const follower = [...c.stores.keys()].find((id) => id !== leader.storeId)!;
    const epoch = { confVer: 1, version: 1 };
    const w = await c.call(follower, leader.storeId, { type: 'write', regionId: R, epoch, clientId: 'c', seq: 1, ops: [{ type: 'put', cf: 'default', key: k('a'), value: k('1') }, { type: 'put', cf: 'default', key: k('b'), value: k('2') }] });
    expect(w).toEqual({ type: 'unit', result: { ok: true, value: undefined } });
    expect(await c.call(follower, leader.storeId, { type: 'get', regionId: R, epoch, key: k('a'), consistency: 'linearizable' })).toEqual({ type: 'value', result: { ok: true, value: k('1') } });
    expect(await c.call(follower, leader.storeId, { type: 'get', regionId: R, epoch, key: k('zz'), consistency: 'linearizable', timeoutMs: 1000 })).toEqual({ type: 'value', result: { ok: true, value: undefined } });
    const scan = await c.call(follower, leader.storeId, { type: 'scan', regionId: R, epoch, range: { start: new Uint8Array(), limit: Infinity, reverse: true }, consistency: 'linearizable' });
    expect(scan).toEqual({ type: 'pairs', result: { ok: true, value: [{ key: k('b'), value: k('2') }, { key: k('a'), value: k('1') }] } });
    // A linearizable read at a follower is a typed NotLeader with the leader as hint.
    const nl = await c.call(leader.storeId, follower, { type: 'get', regionId: R, epoch, key: k('a'), consistency: 'linearizable' });
    expect(nl).toMatchObject({ type: 'value', result: { ok: false, error: { kind: 'NotLeader', regionId: R, leaderHint: { storeId: leader.storeId } } } });
    expect(await c.call(follower, follower, { type: 'get', regionId: 99, epoch, key: k('a'), consistency: 'stale' })).toEqual({ type: 'value', result: { ok: false, error: { kind: 'RegionNotFound', regionId: 99 } } });
    const st = await c.call(follower, leader.storeId, { type: 'status' });
    expect(st.type === 'status' && st.status.regions[0]).toMatchObject({ regionId: R, role: 'leader' });
    // Leadership moves on request.
    expect(await c.call(leader.storeId, leader.storeId, { type: 'transferLeader', regionId: R, peerId: 100 + follower })).toEqual({ type: 'ack' });
    await expect.poll(async () => (await c.leader()).storeId, { timeout: 5000 }).toBe(follower);
    const split = await c.call(leader.storeId, follower, { type: 'split', regionId: R, epoch, splitKey: k('b'), newRegionId: 3, newPeerIds: [201, 202, 203] });
    expect(split).toEqual({ type: 'unit', result: { ok: true, value: undefined } });
    const stale = await c.call(leader.storeId, follower, { type: 'get', regionId: R, epoch, key: k('a'), consistency: 'linearizable' });
    expect(stale).toMatchObject({ type: 'value', result: { ok: false, error: { kind: 'EpochNotMatch' } } });
  });

  it('answers bad bytes with BadRequest and a closed store with StoreClosed, and keeps serving', async () => {
    c = new RpcCluster();
    await c.start([1, 2]);
    const leader = await c.leader();
    const bad = decodeStoreResponse(await c.rpc.request(1, leader.storeId, new Uint8Array([99, 1, 2, 3])));
    expect(bad).toMatchObject({ type: 'failure', failure: { kind: 'BadRequest' } });
    const other = [...c.stores.values()].find((s) => s !== leader)!;
    await other.close();
    const closed = await c.call(leader.storeId, other.storeId, { type: 'get', regionId: R, epoch: { confVer: 1, version: 1 }, key: k('a'), consistency: 'stale' });
    expect(closed).toMatchObject({ type: 'failure', failure: { kind: 'StoreClosed' } });
    expect(await c.call(other.storeId, leader.storeId, { type: 'status' })).toMatchObject({ type: 'status' });
  });
});

describe('LocalRpc', () => {
  const echo = async (from: number, p: Uint8Array) => new Uint8Array([...p, from]);

  it('delivers asynchronously to the target handler and back', async () => {
    const rpc = new LocalRpc();
    rpc.onRequest(2, echo);
    let answered = false;
    const p = rpc.endpoint(1).request(2, new Uint8Array([7])).then((b) => ((answered = true), b));
    expect(answered).toBe(false);
    expect([...(await p)]).toEqual([7, 1]);
  });

  it('is Unreachable without a handler, after unregister, and across a cut (also cut in the router)', async () => {
    const router = new LocalRouter();
    const rpc = new LocalRpc({ router });
    expect(await kindOf(rpc.request(1, 2, new Uint8Array()))).toBe('Unreachable');
    rpc.onRequest(2, echo);
    rpc.partition([1], [2]);
    expect(await kindOf(rpc.request(1, 2, new Uint8Array()))).toBe('Unreachable');
    // The router drops Raft messages across the same cut.
    router.transportFor(1).send(2, []);
    router.transportFor(1).send(2, [{} as never]);
    expect(router.dropped).toBe(1);
    rpc.heal();
    expect((await rpc.request(1, 2, new Uint8Array([1]))).length).toBe(2);
    rpc.unregister(2);
    expect(await kindOf(rpc.request(1, 2, new Uint8Array()))).toBe('Unreachable');
  });

  it('an answer lost to a cut made meanwhile times out; aborts reject Aborted; throws are RemoteFailed', async () => {
    const rpc = new LocalRpc({ requestTimeoutMs: 100 });
    let release: () => void = () => {};
    rpc.onRequest(2, (_f, p) => new Promise((resolve) => (release = () => resolve(p))));
    const p = rpc.request(1, 2, new Uint8Array([1]));
    await sleep(5);
    rpc.partition([1], [2]);
    release();
    expect(await kindOf(p)).toBe('Timeout');
    expect(rpc.dropped).toBe(1);
    rpc.heal();
    const ac = new AbortController();
    const q = rpc.request(1, 2, new Uint8Array([1]), { signal: ac.signal });
    ac.abort();
    expect(await kindOf(q)).toBe('Aborted');
    rpc.onRequest(3, async () => {
      throw new Error('boom');
    });
    expect(await kindOf(rpc.request(1, 3, new Uint8Array()))).toBe('RemoteFailed');
  });
});
