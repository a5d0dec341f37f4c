/**
 * `PdStateMachine`: PD's deterministic replicated state machine. The store layer proposes
 * `PdCommand`s through PD's Raft group and calls `apply` on every replica in log order; the
 * same log gives the same state (and the same snapshot bytes) everywhere. Reads (routing
 * queries, schedulers) look at the applied state and never change it.
 */
import { applyAllocIds, applyBootstrap, applySetScheduleConfig, applyTsoSaveWindow } from './apply/cluster.ts';
import { applySetGcSafePoint } from './apply/gc.ts';
import { applyRegionHeartbeat } from './apply/region.ts';
import { applyPutStore, applySetStoreState, applyStoreHeartbeat } from './apply/store.ts';
import type { PdApplyResult, PdCommand } from './command.ts';
import { decodePdCommand } from './command-codec.ts';
import type { ScheduleConfig } from './config.ts';
import { PdDecodeError } from './errors.ts';
import { SCAN_REGIONS_LIMIT_MAX } from './limits.ts';
import type { RegionId, StoreId } from './meta.ts';
import type { StoreInfo } from './pd-state.ts';
import { PdState } from './pd-state.ts';
import type { RegionInfo } from './region-tree.ts';
import { decodePdSnapshot, encodePdSnapshot } from './snapshot-codec.ts';

/** PD's replicated state and the commands that change it. */
export class PdStateMachine {
  private constructor(private readonly state: PdState) {}

  /** An empty, not yet bootstrapped state machine. */
  static create(): PdStateMachine {
    return new PdStateMachine(new PdState());
  }

  /** A state machine restored from `snapshot()` bytes; throws `PdDecodeError` on bad input. */
  static restore(data: Uint8Array): PdStateMachine {
    return new PdStateMachine(decodePdSnapshot(data));
  }

  /** The whole state as bytes (deterministic: equal states give equal bytes). */
  snapshot(): Uint8Array {
    return encodePdSnapshot(this.state);
  }

  /** Applies one command; refusals leave the state unchanged. */
  apply(cmd: PdCommand): PdApplyResult {
    const s = this.state;
    switch (cmd.kind) {
      case 'bootstrap':
        return applyBootstrap(s, cmd);
      case 'allocIds':
        return applyAllocIds(s, cmd);
      case 'tsoSaveWindow':
        return applyTsoSaveWindow(s, cmd);
      case 'putStore':
        return applyPutStore(s, cmd);
      case 'storeHeartbeat':
        return applyStoreHeartbeat(s, cmd);
      case 'setStoreState':
        return applySetStoreState(s, cmd);
      case 'regionHeartbeat':
        return applyRegionHeartbeat(s, cmd);
      case 'setScheduleConfig':
        return applySetScheduleConfig(s, cmd);
      case 'setGcSafePoint':
        return applySetGcSafePoint(s, cmd);
    }
  }

  /**
   * Decodes and applies a Raft entry's data. Undecodable bytes are refused, not thrown:
   * every replica sees the same bytes, so all refuse alike and none stops.
   */
  applyEntry(data: Uint8Array): PdApplyResult {
    let cmd: PdCommand;
    try {
      cmd = decodePdCommand(data);
    } catch (e) {
      if (e instanceof PdDecodeError) return { kind: 'refused', error: { kind: 'MalformedCommand', reason: e.message } };
      throw e;
    }
    return this.apply(cmd);
  }

  /** Whether `bootstrap` has been applied. */
  get isBootstrapped(): boolean {
    return this.state.bootstrapped;
  }

  /** The cluster id (0 before bootstrap). */
  get clusterId(): number {
    return this.state.clusterId;
  }

  /** Every id ≤ this has been handed out. */
  get idHighWater(): number {
    return this.state.idHighWater;
  }

  /** The TSO bound: no timestamp with a physical part ≥ this may be handed out. */
  get maxPersistedPhysicalMs(): number {
    return this.state.maxPersistedPhysicalMs;
  }

  /** The GC safe point (a TSO timestamp; 0 until first set): never moves back. */
  get gcSafePoint(): bigint {
    return this.state.gcSafePoint;
  }

  /** The replicated schedule config (a copy). */
  get config(): ScheduleConfig {
    return { ...this.state.config };
  }

  /** The region id of PD's own Raft group (0 before bootstrap). */
  get pdRegionId(): RegionId {
    return this.state.pdGroup?.region.id ?? 0;
  }

  /** PD's own Raft group (undefined before bootstrap; do not mutate). */
  get pdGroup(): RegionInfo | undefined {
    return this.state.pdGroup;
  }

  /** The region containing `key` and its leader (do not mutate). */
  getRegion(key: Uint8Array): RegionInfo | undefined {
    return this.state.regions.find(key);
  }

  /** A data region by id (PD's own group is `pdGroup`). */
  getRegionById(id: RegionId): RegionInfo | undefined {
    return this.state.regions.getById(id);
  }

  /**
   * Any replicated region by id, PD's own group included: what a store asks about a replica it
   * hosts (is it still a member, is the peer a message addresses placed here). Routing by id
   * stays on `getRegionById`: PD's group holds no user keys.
   */
  getReplicatedRegionById(id: RegionId): RegionInfo | undefined {
    return id === this.pdRegionId ? this.state.pdGroup : this.getRegionById(id);
  }

  /**
   * Regions overlapping [startKey, endKey) in key order (an empty end is +∞), at most
   * `limit` (capped at `SCAN_REGIONS_LIMIT_MAX`). Gaps mean PD has not heard of that range.
   */
  scanRegions(startKey: Uint8Array, endKey: Uint8Array, limit: number): RegionInfo[] {
    return this.state.regions.scan(startKey, endKey, Math.max(0, Math.min(limit, SCAN_REGIONS_LIMIT_MAX)));
  }

  /** All data regions in key order (do not mutate). */
  allRegions(): readonly RegionInfo[] {
    return this.state.regions.all();
  }

  /** Number of data regions. */
  get regionCount(): number {
    return this.state.regions.size;
  }

  getStore(id: StoreId): StoreInfo | undefined {
    return this.state.stores.get(id);
  }

  /** Stores by id; tombstones only when asked. */
  listStores(includeTombstones = false): StoreInfo[] {
    const all = this.state.sortedStores();
    return includeTombstones ? all : all.filter((s) => s.meta.state !== 'tombstone');
  }

  /** Peers on a store across data regions and PD's group. */
  peerCountOnStore(id: StoreId): number {
    return this.state.peerCountOnStore(id);
  }

  /** Data-region peers on a store. O(1). */
  dataPeerCountOnStore(id: StoreId): number {
    return this.state.regions.peerCount(id);
  }

  /** Data regions whose last reported leader is on a store. O(1). */
  dataLeaderCountOnStore(id: StoreId): number {
    return this.state.regions.leaderCount(id);
  }
}
