/**
 * The client of a store process: a `PeerKV` over a `NetworkStore`'s transport, asking the
 * page's (or process's) own store directly and the other members remotely. A browser host and
 * `peerkv-store` both run one; its lock resolver is what the store's GC worker uses for locks it
 * cannot resolve alone (async commit, a primary on another store: `StoreOptions.gcLockResolver`).
 */
import { isTempStoreId, type GcLockResolver, type NetworkStore } from '@peerkv/store';
import { PeerKV, type ClientOptions } from '../client.ts';
import { RemotePdService } from './remote-pd-service.ts';
import { RemoteStoreResolver } from './remote-store-resolver.ts';

/** Settings of `storeClient`, with units. */
export interface StoreClientOptions {
  /** One store request's timeout, ms. */
  requestTimeoutMs: number;
  /** Time one PD call may take across members, ms. */
  pdBudgetMs: number;
  dataModel: 'raw' | 'mvcc';
  /** The operator key admin requests are signed with (`deriveOperatorKey`). */
  operatorKey?: CryptoKey;
  /** Other client settings (`replicaRead`, ...). */
  client?: Partial<Omit<ClientOptions, 'pd' | 'stores' | 'localStoreId' | 'requestTimeoutMs' | 'dataModel'>>;
}

/** A store process's client: its PD service, its store pool and the `PeerKV` over both. */
export interface StoreClient {
  pd: RemotePdService;
  stores: RemoteStoreResolver;
  kv: PeerKV;
}

/** The client of `net`'s process (see the module header). */
export function storeClient(net: NetworkStore, o: StoreClientOptions): StoreClient {
  const { store, transport } = net;
  // A store whose provisional link PD's answers speak against gets no request (`PeerKeyBook.isDoubted`).
  const members = (): number[] => transport.peers().filter((id) => !isTempStoreId(id) && !net.peerKeys.isDoubted(id));
  const pd = new RemotePdService(transport, { candidates: members, local: () => store, budgetMs: o.pdBudgetMs });
  // PD's new leader, as this store's PD replica learns it, is where PD calls go at once.
  store.observeLeader((news) => pd.caller.onLeaderNews(news));
  const stores = new RemoteStoreResolver(transport, {
    local: store,
    reachable: members,
    requestTimeoutMs: o.requestTimeoutMs,
    // The own store's replicas hear of a new leader first: waits on a leader gone end then.
    leaderNews: (listener) => store.observeLeader(listener),
    ...(o.operatorKey ? { operatorKey: o.operatorKey } : {}),
  });
  const kv = new PeerKV({
    ...o.client,
    pd,
    stores,
    localStoreId: store.storeId,
    localRegion: (key) => store.regionForKey(key),
    requestTimeoutMs: o.requestTimeoutMs,
    dataModel: o.dataModel,
    // The same news: the client's cached leaders follow it and its paused retries wake.
    leaderNews: (listener) => store.observeLeader(listener),
  });
  return { pd, stores, kv };
}

/**
 * A `gcLockResolver` for a store opened before its client exists: it asks the client `current()`
 * returns, and leaves the locks to a later round (or a reader) while there is none.
 */
export function lateGcLockResolver(current: () => PeerKV | undefined): GcLockResolver {
  return { resolveLocks: (locks) => current()?.gcLockResolver().resolveLocks(locks) ?? Promise.resolve() };
}
