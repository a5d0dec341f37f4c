/**
 * The PD client of the simulated cluster: `LocalPdClient` (call the store whose PD replica
 * leads) with PD commands stamped by the virtual clock instead of `Date.now` (heartbeat
 * times drive "store down" decisions, so they must be virtual). A store heartbeat is stamped
 * by the sending store's own clock, skew included, as a store's own PD client would.
 */
import type { StoreStats } from '@peerkv/pd';
import { LocalPdClient, type RequestOptions, type Store } from '@peerkv/store';

/** A `LocalPdClient` on the simulator's clock, with each store's skew on its heartbeats. */
export class VirtualPdClient extends LocalPdClient {
  constructor(
    private readonly storeList: () => Iterable<Store>,
    private readonly virtualNow: () => number,
    private readonly skewOf: (storeId: number) => number = () => 0,
  ) {
    super(storeList, virtualNow);
  }

  override storeHeartbeat(stats: StoreStats, o?: RequestOptions): ReturnType<LocalPdClient['storeHeartbeat']> {
    let leader: Store | undefined;
    for (const s of this.storeList()) if (s.pdIsLeader()) leader = leader ?? s;
    if (!leader) return Promise.resolve({ ok: false, error: { kind: 'NotLeader', regionId: 1 } });
    return leader.pdHandleStoreHeartbeat(stats, this.virtualNow() + this.skewOf(stats.storeId), o);
  }
}
