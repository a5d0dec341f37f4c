/**
 * The PD client of the simulated cluster: `LocalPdClient`'s behaviour (call the store whose
 * PD replica leads), but PD commands are stamped with the virtual clock instead of
 * `Date.now` (heartbeat times drive "store down" decisions, so they must be virtual).
 */
import type { PdApplyResult, RegionHeartbeat, StoreStats } from '@peerkv/pd';
import type { PdClient, RegionHeartbeatResponse, RequestOptions, Result, Store } from '@peerkv/store';

/** A `PdClient` over in-process stores with an injected clock. */
export class VirtualPdClient implements PdClient {
  constructor(
    private readonly stores: () => Iterable<Store>,
    private readonly now: () => number,
  ) {}

  private leader(): Store | undefined {
    for (const s of this.stores()) if (s.pdIsLeader()) return s;
    return undefined;
  }

  private noLeader<T>(): Promise<Result<T>> {
    return Promise.resolve({ ok: false, error: { kind: 'NotLeader', regionId: 1 } });
  }

  storeHeartbeat(stats: StoreStats, o?: RequestOptions): Promise<Result<PdApplyResult>> {
    const l = this.leader();
    return l ? l.pdPropose({ kind: 'storeHeartbeat', stats, nowMs: this.now() }, o) : this.noLeader();
  }

  regionHeartbeat(hb: RegionHeartbeat, o?: RequestOptions): Promise<Result<RegionHeartbeatResponse>> {
    const l = this.leader();
    return l ? l.pdHandleRegionHeartbeat(hb, o) : this.noLeader();
  }

  allocId(o?: RequestOptions): Promise<Result<number>> {
    const l = this.leader();
    return l ? l.pdAllocId(o) : this.noLeader();
  }

  putStore(storeId: number, address: string, labels: Record<string, string>, o?: RequestOptions): Promise<Result<PdApplyResult>> {
    const l = this.leader();
    return l ? l.pdPropose({ kind: 'putStore', storeId, address, labels, nowMs: this.now() }, o) : this.noLeader();
  }
}
