/**
 * The client over remote stores: `RemoteKvService` turns every transport and server failure
 * into a region error the client retries; a `PeerKV` whose resolver is a
 * `RemoteStoreResolver` over `LocalRpc` works from a follower's process (the leader is
 * reached by requests) and keeps working after the leader store stops.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryDisk, MemoryEngine } from '@peerkv/storage';
import { LocalRpc, RpcError, encodeStoreResponse, serveStore, type RpcErrorKind, type StoreResponse } from '@peerkv/store';
import { LocalCluster, PeerKV, RemoteKvService, RemoteStoreResolver, codec, type RpcRequester } from '../src/index.ts';

const t = codec.text;
const s = codec.fromText;
const epoch = { confVer: 1, version: 1 };

/** A requester that answers every request with `answer()` (bytes, or a thrown RpcError). */
function fake(answer: () => Uint8Array): RpcRequester & { timeouts: (number | undefined)[] } {
  const timeouts: (number | undefined)[] = [];
  return {
    timeouts,
    request: async (_to, _payload, o) => {
      timeouts.push(o?.timeoutMs);
      return answer();
    },
  };
}

const respond = (r: StoreResponse) => () => encodeStoreResponse(r);

describe('RemoteKvService', () => {
  it('decodes values, pairs, units and region errors as the store returned them', async () => {
    const v = new RemoteKvService(2, fake(respond({ type: 'value', result: { ok: true, value: t('x') } })));
    expect(await v.get(1, epoch, t('k'))).toEqual({ ok: true, value: t('x') });
    const p = new RemoteKvService(2, fake(respond({ type: 'pairs', result: { ok: true, value: [{ key: t('a'), value: t('1') }] } })));
    expect(await p.scan(1, epoch, { start: t(''), limit: 5 })).toEqual({ ok: true, value: [{ key: t('a'), value: t('1') }] });
    const nl = { kind: 'NotLeader' as const, regionId: 1, leaderHint: { id: 7, storeId: 3, role: 'voter' as const } };
    const u = new RemoteKvService(2, fake(respond({ type: 'unit', result: { ok: false, error: nl } })));
    expect(await u.write(1, epoch, 'c', 1, [{ type: 'delete', cf: 'default', key: t('k') }])).toEqual({ ok: false, error: nl });
  });

  it('waits on the transport a slack longer than the store-side timeout', async () => {
    const r = fake(respond({ type: 'value', result: { ok: true, value: undefined } }));
    const v = new RemoteKvService(2, r, { requestTimeoutMs: 300, transportSlackMs: 50 });
    await v.get(1, epoch, t('k'));
    await v.get(1, epoch, t('k'), 'stale', { timeoutMs: 1000 });
    expect(r.timeouts).toEqual([350, 1050]);
  });

  it('turns transport failures into Timeout (ServerIsBusy when the remote is full)', async () => {
    const kinds: RpcErrorKind[] = ['Timeout', 'Unreachable', 'Closed', 'RemoteFailed', 'PayloadTooLarge', 'Aborted', 'TooManyPending'];
    const got: string[] = [];
    for (const kind of kinds) {
      const v = new RemoteKvService(2, fake(() => {
        throw new RpcError(kind, 'x');
      }));
      const r = await v.get(1, epoch, t('k'));
      got.push(r.ok ? 'ok' : r.error.kind);
    }
    expect(got).toEqual(['Timeout', 'Timeout', 'Timeout', 'Timeout', 'Timeout', 'Timeout', 'ServerIsBusy']);
  });

  it('turns server failures, garbage and mismatched answers into Timeout; other throws propagate', async () => {
    const cases: (() => Uint8Array)[] = [
      respond({ type: 'failure', failure: { kind: 'StoreClosed', message: 'closed' } }),
      respond({ type: 'failure', failure: { kind: 'BadRequest', message: 'bad' } }),
      () => new Uint8Array([250, 1, 2]),
      respond({ type: 'ack' }),
    ];
    for (const answer of cases) {
      const r = await new RemoteKvService(2, fake(answer)).get(1, epoch, t('k'));
      expect(r.ok === false && r.error.kind).toBe('Timeout');
    }
    const broken = new RemoteKvService(2, fake(() => {
      throw new TypeError('a bug');
    }));
    await expect(broken.get(1, epoch, t('k'))).rejects.toThrow(TypeError);
  });

  it('the resolver serves its own store directly, caches remotes, and hides unreachable ones', () => {
    const local = new RemoteKvService(1, fake(() => new Uint8Array()));
    let up = [2];
    const res = new RemoteStoreResolver(fake(() => new Uint8Array()), { local, reachable: () => up });
    expect(res.store(1)).toBe(local);
    expect(res.store(2)).toBeInstanceOf(RemoteKvService);
    expect(res.store(2)).toBe(res.store(2));
    expect(res.store(3)).toBeUndefined();
    up = [];
    expect(res.store(2)).toBeUndefined();
  });
});

describe('PeerKV over RemoteStoreResolver and LocalRpc', () => {
  let c: LocalCluster;
  afterEach(async () => {
    await c?.close();
  });

  async function cluster(): Promise<{ c: LocalCluster; rpc: LocalRpc }> {
    const disks = new Map<number, MemoryDisk>();
    c = new LocalCluster({
      openEngine: async (id, cfs) => {
        if (!disks.has(id)) disks.set(id, new MemoryDisk());
        return MemoryEngine.open({ columnFamilies: cfs, disk: disks.get(id) });
      },
      store: { tickIntervalMs: 10, requestTimeoutMs: 1000 },
    });
    const rpc = new LocalRpc({ router: c.router });
    for (const id of [1, 2, 3]) serveStore(await c.startStore(id), rpc.endpoint(id));
    await c.bootstrap([1, 2, 3]);
    await expect.poll(() => c.stores.get(1)!.status().regions[0].role, { timeout: 5000 }).toBe('leader');
    return { c, rpc };
  }

  /** A client living in store `home`'s process: its own store directly, the others by request. */
  function clientAt(home: number, rpc: LocalRpc): PeerKV {
    const stores = new RemoteStoreResolver(rpc.endpoint(home), { local: c.stores.get(home), requestTimeoutMs: 1000 });
    return new PeerKV({ dataModel: 'raw', pd: c, stores, requestTimeoutMs: 1000 });
  }

  async function all(kv: PeerKV, o: Parameters<PeerKV['scan']>[0] = {}): Promise<string[]> {
    const out: string[] = [];
    for await (const p of kv.scan(o)) out.push(`${s(p.key)}=${s(p.value)}`);
    return out;
  }

  it('puts, gets and scans from a follower store, reaching the leader by requests', async () => {
    const { rpc } = await cluster();
    const kv = clientAt(2, rpc);
    await kv.put(t('a'), t('1'));
    await kv.batchPut([{ key: t('b'), value: t('2') }, { key: t('c'), value: t('3') }]);
    expect(s((await kv.get(t('a')))!)).toBe('1');
    expect(await kv.get(t('nope'))).toBeUndefined();
    expect(await all(kv)).toEqual(['a=1', 'b=2', 'c=3']);
    expect(await all(kv, { reverse: true, limit: 2 })).toEqual(['c=3', 'b=2']);
    expect(await all(kv, { reverse: true })).toEqual(['c=3', 'b=2', 'a=1']);
    await kv.deleteRange(t('a'), t('c'));
    expect(await all(kv)).toEqual(['c=3']);
    // Everything linearizable went to the leader (store 1) through LocalRpc: 2 writes (one
    // batch), 2 gets, 4 scans (one page each), 1 deleteRange.
    expect(rpc.delivered).toBeGreaterThanOrEqual(9);
    expect(s((await kv.get(t('c'), { consistency: 'follower' }))!)).toBe('3');
    expect(s((await kv.get(t('c'), { consistency: 'stale' }))!)).toBe('3');
  });

  it('keeps working after the leader store is stopped', async () => {
    const { rpc } = await cluster();
    const kv = clientAt(2, rpc);
    await kv.put(t('before'), t('1'));
    await c.stopStore(1);
    rpc.unregister(1);
    await kv.put(t('after'), t('2'));
    expect(s((await kv.get(t('before')))!)).toBe('1');
    expect(await all(kv)).toEqual(['after=2', 'before=1']);
    const leader = [...c.stores.values()].find((x) => x.status().regions[0].role === 'leader')!;
    expect(leader.storeId).not.toBe(1);
  });

  it('a client with no store of its own works through requests alone, and across a stopped-but-serving store', async () => {
    const { rpc } = await cluster();
    // Store 9 has no data: it only sends requests (a page with a client and no replica).
    const kv = new PeerKV({ dataModel: 'raw', pd: c, stores: new RemoteStoreResolver(rpc.endpoint(9), { requestTimeoutMs: 1000 }), requestTimeoutMs: 1000 });
    await kv.put(t('x'), t('1'));
    // The leader closes but its handler stays registered: it answers StoreClosed, the client moves on.
    await c.stopStore(1);
    await kv.put(t('y'), t('2'));
    expect(await all(kv)).toEqual(['x=1', 'y=2']);
  });
});
