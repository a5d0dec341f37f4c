/**
 * `RemoteStoreResolver`: the client's connection pool when stores live elsewhere. One
 * `RemoteKvService` per store id, all over one local requester (this page's transport);
 * the page's own store, if it has one, is served directly, and the leader changes it learns
 * reach the services (`leaderNews`).
 */
import type { LeaderNews } from '@peerkv/store';
import type { KvService, StoreResolver } from '../services.ts';
import { RemoteKvService, type RemoteKvServiceOptions, type RpcRequester } from './remote-kv-service.ts';

/** Settings. */
export interface RemoteStoreResolverOptions extends RemoteKvServiceOptions {
  /** This page's own store (a `Store`), called directly rather than through the requester. */
  local?: KvService;
  /**
   * Stores that may be asked (e.g. `() => transport.peers()`); others resolve to `undefined`
   * so the client refreshes its route instead of waiting on a dead store. Default: any.
   */
  reachable?: () => readonly number[];
  /**
   * Subscribes to the leader changes the process's own store learns (`Store.observeLeader`):
   * each ends the attempts still waiting on another store for that region's leader
   * (`RemoteKvService.onLeaderNews`).
   */
  leaderNews?: (listener: (news: LeaderNews) => void) => () => void;
}

/** storeId → `KvService` over one requester. */
export class RemoteStoreResolver implements StoreResolver {
  private readonly services = new Map<number, RemoteKvService>();

  constructor(
    private readonly requester: RpcRequester,
    private readonly o: RemoteStoreResolverOptions = {},
  ) {
    o.leaderNews?.((news) => {
      for (const s of this.services.values()) s.onLeaderNews(news);
    });
  }

  store(storeId: number): KvService | undefined {
    if (this.o.local && this.o.local.storeId === storeId) return this.o.local;
    if (this.o.reachable && !this.o.reachable().includes(storeId)) return undefined;
    return this.remote(storeId);
  }

  /** The remote service of `storeId` (also for admin calls: status, split, transferLeader...). */
  remote(storeId: number): RemoteKvService {
    let s = this.services.get(storeId);
    if (!s) {
      s = new RemoteKvService(storeId, this.requester, this.o);
      this.services.set(storeId, s);
    }
    return s;
  }
}
