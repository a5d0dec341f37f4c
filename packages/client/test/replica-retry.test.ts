/**
 * Replica and stale reads that a replica cannot serve (`askReplicas` in `txn/routing.ts`): the
 * read goes to another replica, at most `REPLICA_READ_ATTEMPTS_MAX` replicas in all, and only
 * then to the leader; a replica that answered it cannot serve (`ReadIndexNotReady`, `NotLeader`,
 * `DataIsNotReady`, a resolved ts older than `maxStaleness`) is marked behind, so the next
 * replica read asks another first; a malformed answer is a typed error. The refusals are
 * injected into real stores' answers, so each case is the same every run.
 */
import { describe, expect, it } from 'vitest';
import type { Peer } from '@peerkv/pd';
import type { Result, StoreRequest } from '@peerkv/store';
import { composeTs } from '@peerkv/txn';
import { PeerKV, PeerKVError, codec, type KvService, type PdCluster } from '../src/index.ts';
import { REPLICA_READ_ATTEMPTS_MAX, askReplicas, type ReplicaAnswer, type TxnRouting } from '../src/txn/routing.ts';
import type { RegionRoute } from '../src/services.ts';
import { closeTxnClusterAfterEach, safeTsOf, start } from './txn-cluster.ts';
import { until } from './until.ts';

closeTxnClusterAfterEach();
const k = codec.text;
const t = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : codec.fromText(b));

/** What a test makes a store answer instead of handling a request (undefined: the store answers). */
type Inject = (q: StoreRequest, storeId: number, real: () => Promise<unknown>) => Promise<unknown> | undefined;

/** A client over `c` that records which store got which request type, with answers `inject` replaces. */
function client(c: PdCluster, extra: Partial<ConstructorParameters<typeof PeerKV>[0]>, inject: Inject): { kv: PeerKV; served: { type: string; storeId: number }[] } {
  const served: { type: string; storeId: number }[] = [];
  const stores = {
    store: (id: number): KvService | undefined => {
      const s = c.store(id);
      if (!s) return undefined;
      const handle = (q: StoreRequest, o?: Parameters<KvService['handle']>[1]): Promise<unknown> => {
        served.push({ type: q.type, storeId: id });
        return inject(q, id, () => s.handle(q, o)) ?? s.handle(q, o);
      };
      return { storeId: id, handle } as KvService;
    },
  };
  return { kv: new PeerKV({ pd: c, stores, dataModel: 'mvcc', requestTimeoutMs: 300, ...extra }), served };
}

/** The data region's leader store and its other stores. */
function dataStores(c: PdCluster): { leader: number; followers: number[] } {
  const r = c.regions().find((x) => x.id !== 1)!;
  for (const s of c.stores.values()) {
    if (s.status().regions.some((v) => v.regionId === r.id && v.role === 'leader')) return { leader: s.storeId, followers: [...c.stores.keys()].filter((id) => id !== s.storeId) };
  }
  throw new Error('no leader');
}

/** A cluster where x=1 is written and every replica resolved past `ts`, taken after it; `follower` does not lead. */
async function resolvedPastWrite(): Promise<{ c: PdCluster; ts: bigint; follower: number }> {
  const { c, kv } = await start({ safeTsIntervalMs: 50 });
  const writer = kv('mvcc');
  await writer.put(k('x'), k('1'));
  const ts = await writer.getTimestamp();
  await until('every replica resolved past the write', () => [...c.stores.values()].every((s) => safeTsOf(s) > ts));
  return { c, ts, follower: dataStores(c).followers[0] };
}

const storesOf = (served: { type: string; storeId: number }[], type: string): number[] => served.filter((x) => x.type === type).map((x) => x.storeId);
const notReady = (q: StoreRequest): Result<never> => ({ ok: false, error: { kind: 'ReadIndexNotReady', regionId: 'regionId' in q ? q.regionId : 0, reason: 'injected' } });

describe('replica reads retried on another replica', () => {
  it('a replica that cannot catch up hands the read to another replica, not the leader; the next read asks another first', async () => {
    const { c, kv } = await start();
    await kv('mvcc').put(k('x'), k('1'));
    const { followers } = dataStores(c);
    const lagging = followers[0];
    const near = client(c, { replicaRead: 'closest', localStoreId: lagging }, (q, id) => (q.type === 'txnReplicaGet' && id === lagging ? Promise.resolve(notReady(q)) : undefined));
    expect(t(await near.kv.get(k('x')))).toBe('1');
    const asked = storesOf(near.served, 'txnReplicaGet');
    expect(asked.length).toBe(2);
    expect(asked[0]).toBe(lagging);
    expect(asked[1]).not.toBe(lagging);
    expect(storesOf(near.served, 'txnGet')).toEqual([]);
    // Marked behind: the next read skips this client's own replica while another is current.
    expect(t(await near.kv.get(k('x')))).toBe('1');
    expect(storesOf(near.served, 'txnReplicaGet').slice(2)).toEqual([asked[1]]);
    near.kv.close();
  });

  it(`asks at most REPLICA_READ_ATTEMPTS_MAX (${REPLICA_READ_ATTEMPTS_MAX}) replicas, then the leader at the same ts`, async () => {
    const { c, kv } = await start();
    await kv('mvcc').put(k('x'), k('1'));
    const { leader } = dataStores(c);
    const refusing = client(c, { replicaRead: 'closest' }, (q) => (q.type === 'txnReplicaGet' ? Promise.resolve(notReady(q)) : undefined));
    expect(t(await refusing.kv.get(k('x')))).toBe('1');
    const asked = storesOf(refusing.served, 'txnReplicaGet');
    expect(new Set(asked).size).toBe(asked.length);
    expect(asked.length).toBe(Math.min(REPLICA_READ_ATTEMPTS_MAX, c.stores.size));
    expect(storesOf(refusing.served, 'txnGet')).toEqual([leader]);
    refusing.kv.close();

    // A region of more replicas than the bound: the bound ends the walk, each replica asked once.
    const peers: Peer[] = [1, 2, 3, 4, 5].map((i) => ({ id: 100 + i, storeId: i, role: 'voter' }));
    const route: RegionRoute = { region: { id: 7, startKey: new Uint8Array(), endKey: new Uint8Array(), epoch: { confVer: 1, version: 1 }, peers } };
    const tried: number[] = [];
    const routing = {
      askReplica: async (_route: RegionRoute, _rr: unknown, _fn: unknown, skip?: ReadonlySet<number>): Promise<ReplicaAnswer<string> | undefined> => {
        const peer = peers.find((p) => !skip?.has(p.id));
        if (!peer) return undefined;
        tried.push(peer.id);
        return { peer, answer: { ok: false, error: { kind: 'ReadIndexNotReady', regionId: 7, reason: 'behind' } } };
      },
      markBehind: () => undefined,
    } as unknown as TxnRouting;
    expect(await askReplicas(routing, route, 'follower', async () => ({ ok: true, value: 'never' }))).toBeUndefined();
    expect(tried).toEqual([101, 102, 103].slice(0, REPLICA_READ_ATTEMPTS_MAX));
  });

  it('a stale read refused DataIsNotReady goes to another replica at the same ts, and that replica is marked behind', async () => {
    const { c, ts: readTs, follower: lagging } = await resolvedPastWrite();
    const dataNotReady = (q: StoreRequest): Result<unknown> => ({ ok: true, value: { ok: false, errors: [{ kind: 'DataIsNotReady', regionId: 'regionId' in q ? q.regionId : 0, safeTs: 1n }] } });
    const near = client(c, { localStoreId: lagging }, (q, id) => (id === lagging && (q.type === 'txnStaleGet' || q.type === 'txnReplicaGet') ? Promise.resolve(q.type === 'txnStaleGet' ? dataNotReady(q) : notReady(q)) : undefined));
    expect(t(await near.kv.get(k('x'), { readTs }))).toBe('1');
    const stale = storesOf(near.served, 'txnStaleGet');
    expect(stale.length).toBe(2);
    expect(stale[0]).toBe(lagging);
    expect(stale[1]).not.toBe(lagging);
    expect(near.served.some((x) => x.type === 'txnGet' || x.type === 'txnReadIndex')).toBe(false);
    // Marked behind by the stale read alone: a replica read next asks another replica first,
    expect(t(await near.kv.get(k('x'), { replicaRead: 'closest' }))).toBe('1');
    expect(storesOf(near.served, 'txnReplicaGet')[0]).not.toBe(lagging);
    // and so does the next stale read, instead of this client's own replica.
    expect(t(await near.kv.get(k('x'), { readTs }))).toBe('1');
    expect(storesOf(near.served, 'txnStaleGet').slice(2)).toEqual([stale[1]]);
    near.kv.close();
  });

  it('a replica answering NotLeader (cut off, or a witness) is marked behind and the read served by another replica', async () => {
    const { c, kv } = await start();
    await kv('mvcc').put(k('x'), k('1'));
    const { followers } = dataStores(c);
    const cut = followers[0];
    const notLeader = (q: StoreRequest): Result<never> => ({ ok: false, error: { kind: 'NotLeader', regionId: 'regionId' in q ? q.regionId : 0 } });
    const near = client(c, { replicaRead: 'closest', localStoreId: cut }, (q, id) => (q.type === 'txnReplicaGet' && id === cut ? Promise.resolve(notLeader(q)) : undefined));
    expect(t(await near.kv.get(k('x')))).toBe('1');
    const asked = storesOf(near.served, 'txnReplicaGet');
    expect(asked[0]).toBe(cut);
    expect(asked.length).toBe(2);
    expect(storesOf(near.served, 'txnGet')).toEqual([]);
    expect(t(await near.kv.get(k('x')))).toBe('1');
    expect(storesOf(near.served, 'txnReplicaGet').slice(2)).toEqual([asked[1]]);
    near.kv.close();
  });

  it('a malformed answer from a replica is a typed error (Unavailable), not a TypeError', async () => {
    const { c, kv } = await start();
    await kv('mvcc').put(k('x'), k('1'));
    const { followers } = dataStores(c);
    for (const bad of [{}, null, { ok: false }, { ok: false, error: 'Busy' }]) {
      const near = client(c, { replicaRead: 'closest', localStoreId: followers[0] }, (q, id) => (q.type === 'txnReplicaGet' && id === followers[0] ? Promise.resolve(bad) : undefined));
      const e = await near.kv.get(k('x')).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(PeerKVError);
      expect(e).toMatchObject({ kind: 'Unavailable' });
      near.kv.close();
    }
  });
});

describe('stale reads older than maxStaleness', () => {
  it('a replica answering older than the bound hands the read to another replica within it; only when none is, the leader', async () => {
    const { c, follower: old } = await resolvedPastWrite();
    // The local replica answers as of the clock's first ms: far older than any bound below.
    const aged = (id: number, real: () => Promise<unknown>): Promise<unknown> =>
      real().then((r) => {
        const a = r as { ok: boolean; value?: { ok: boolean; value?: { readTs: bigint } } };
        if (a.ok && a.value?.ok && a.value.value) a.value.value.readTs = composeTs(1);
        return r;
      });
    const near = client(c, { localStoreId: old }, (q, id, real) => (q.type === 'txnStaleGet' && id === old ? aged(id, real) : undefined));
    const snap = await near.kv.snapshot({ maxStaleness: 60_000 });
    expect(t(await snap.get(k('x')))).toBe('1');
    const stale = storesOf(near.served, 'txnStaleGet');
    expect(stale.length).toBe(2);
    expect(stale[0]).toBe(old);
    expect(stale[1]).not.toBe(old);
    // Within the bound, from the other replica; no TSO ts, no leader read.
    expect(snap.ts! >= composeTs(Date.now() - 60_000)).toBe(true);
    expect(near.served.some((x) => x.type === 'txnGet')).toBe(false);
    near.kv.close();

    // Every replica older than the bound: at most REPLICA_READ_ATTEMPTS_MAX asked, then the leader.
    const { leader } = dataStores(c);
    const allOld = client(c, { localStoreId: old }, (q, id, real) => (q.type === 'txnStaleGet' ? aged(id, real) : undefined));
    expect(t(await allOld.kv.get(k('x'), { maxStaleness: 60_000 }))).toBe('1');
    expect(storesOf(allOld.served, 'txnStaleGet').length).toBe(Math.min(REPLICA_READ_ATTEMPTS_MAX, c.stores.size));
    expect(storesOf(allOld.served, 'txnGet')).toEqual([leader]);
    allOld.kv.close();
  });
});
