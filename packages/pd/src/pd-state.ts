/**
 * The data PD replicates (what a snapshot holds): bootstrap facts, the id high-water mark,
 * the persisted TSO bound, stores, regions, PD's own group and the schedule config.
 * Mutated only by the apply handlers (`apply/*.ts`), read by routing and schedulers.
 */
import type { ScheduleConfig } from './config.ts';
import { DEFAULT_SCHEDULE_CONFIG } from './config.ts';
import type { StoreId, StoreMeta, StoreStats } from './meta.ts';
import type { RegionInfo } from './region-tree.ts';
import { RegionTree } from './region-tree.ts';

/** A store as PD knows it. */
export interface StoreInfo {
  meta: StoreMeta;
  /** The last heartbeat's stats (undefined before the first). */
  stats: StoreStats | undefined;
  /** PD leader's clock at the last heartbeat (or at join). */
  lastHeartbeatMs: number;
}

/** The replicated state. Plain fields; invariants are kept by the apply handlers. */
export class PdState {
  bootstrapped = false;
  clusterId = 0;
  /** Every id ≤ this has been handed out (stores, regions, peers share one id space). */
  idHighWater = 0;
  /** No TSO timestamp with physical part ≥ this has been or may be handed out. */
  maxPersistedPhysicalMs = 0;
  /** The GC safe point (a TSO timestamp, never lower): versions below it may be collected. */
  gcSafePoint = 0n;
  readonly stores = new Map<StoreId, StoreInfo>();
  readonly regions = new RegionTree();
  /** PD's own Raft group (no key range); undefined before bootstrap. */
  pdGroup: RegionInfo | undefined = undefined;
  config: ScheduleConfig = { ...DEFAULT_SCHEDULE_CONFIG };

  /** Stores sorted by id (deterministic order for every reader). */
  sortedStores(): StoreInfo[] {
    return [...this.stores.values()].sort((a, b) => a.meta.id - b.meta.id);
  }

  /** Peers on `storeId` across data regions and PD's group (O(1) for the data regions: `RegionTree.peerCount`). */
  peerCountOnStore(storeId: StoreId): number {
    let n = this.regions.peerCount(storeId);
    if (this.pdGroup) n += this.pdGroup.region.peers.filter((p) => p.storeId === storeId).length;
    return n;
  }
}
