/**
 * The PD client of the simulated cluster: `LocalPdClient` (call the store whose PD replica
 * leads), except that PD commands are stamped with the virtual clock instead of `Date.now`
 * (heartbeat times drive "store down" decisions, so they must be virtual). Everything else,
 * including methods `LocalPdClient` gains later, is inherited.
 */
import type { PdApplyResult, StoreStats } from '@peerkv/pd';
import { LocalPdClient, type RequestOptions, type Result, type Store } from '@peerkv/store';

/** A `LocalPdClient` with an injected clock. */
export class VirtualPdClient extends LocalPdClient {
  constructor(
    private readonly storeList: () => Iterable<Store>,
    private readonly now: () => number,
  ) {
    super(storeList);
  }

  private pdLeader(): Store | undefined {
    for (const s of this.storeList()) if (s.pdIsLeader()) return s;
    return undefined;
  }

  private noPdLeader<T>(): Promise<Result<T>> {
    return Promise.resolve({ ok: false, error: { kind: 'NotLeader', regionId: 1 } });
  }

  override storeHeartbeat(stats: StoreStats, o?: RequestOptions): Promise<Result<PdApplyResult>> {
    const l = this.pdLeader();
    return l ? l.pdPropose({ kind: 'storeHeartbeat', stats, nowMs: this.now() }, o) : this.noPdLeader();
  }

  override putStore(storeId: number, address: string, labels: Record<string, string>, o?: RequestOptions): Promise<Result<PdApplyResult>> {
    const l = this.pdLeader();
    return l ? l.pdPropose({ kind: 'putStore', storeId, address, labels, nowMs: this.now() }, o) : this.noPdLeader();
  }
}
