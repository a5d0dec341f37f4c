/**
 * `ClusterView`: what the checkers and schedulers see in one scheduling round, derived from
 * the applied state, the time and the running operators. Store health is judged here: a
 * store is down when silent for `maxStoreDownTimeMs`, counted from the later of its last
 * heartbeat and the moment this PD leader took over (heartbeat times were stamped by other
 * leaders' clocks, and stores need a moment to find a new leader). Counts include the
 * influence of running operators, and of each operator made in the round, so one round
 * does not pile every move onto the same store.
 */
import type { ScheduleConfig } from '../config.ts';
import { ENGINE_LABEL, isWitnessStore, type Peer, type StoreId, type StoreMeta, type StoreStats } from '../meta.ts';
import type { OperatorController } from '../operator/controller.ts';
import type { Operator } from '../operator/types.ts';
import type { RegionInfo } from '../region-tree.ts';
import type { PdStateMachine } from '../state-machine.ts';

/** What a scheduling round is given. */
export interface ScheduleInput {
  sm: PdStateMachine;
  /** The PD leader's clock. */
  nowMs: number;
  /** When this replica became PD leader (its clock). */
  leaderSinceMs: number;
  /**
   * Store heartbeats this leader took without a Raft round (unchanged stats), by store, on its
   * clock: a store's last heartbeat is the later of this and the one PD's state records.
   */
  storeHeartbeatsMs?: ReadonlyMap<StoreId, number>;
  /** A fresh unique id (from `IdAllocator.alloc`), or undefined when none is at hand. */
  allocId: () => number | undefined;
}

/** A store as one scheduling round sees it. */
export interface StoreView {
  id: StoreId;
  meta: StoreMeta;
  stats: StoreStats | undefined;
  /** Up but silent past `maxStoreDownTimeMs`. */
  isDown: boolean;
  /** The store says it is closing: move its leaders away. */
  isDraining: boolean;
  /** Its peers may stay: up and not down (offline, tombstone and down stores' peers must move). */
  canHold: boolean;
  /** May get new replicas and leaders: can hold and is not draining. */
  canReceive: boolean;
  /** Value of the isolation label (undefined: unlabelled, distinct from every other store). */
  label: string | undefined;
  /** A witness store (label `witness=true`): it gets witness peers only, and no leaders. */
  witness: boolean;
  /** Value of the `engine` label; undefined when unlabelled or a witness store (either counts for no engine). */
  engine: string | undefined;
  /** Data-region peers, with operator influence. */
  regionCount: number;
  /** Data-region leaders, with operator influence. */
  leaderCount: number;
  /** Reported used bytes, with operator influence. */
  usedBytes: number;
  /** Ms since the store's last heartbeat as recorded in PD's state or this leader's memory (not adjusted for leader changes). */
  heartbeatAgeMs: number;
  /** Regions whose replica on this store says it cannot serve (`StoreStats.damagedRegionIds`). */
  damagedRegionIds: ReadonlySet<number>;
}

/** One round's view of the cluster. */
export class ClusterView {
  readonly config: ScheduleConfig;
  readonly nowMs: number;
  readonly stores = new Map<StoreId, StoreView>();
  /**
   * Engines a group's full replicas should span: `replicaEnginesMin`, capped by the engines of
   * the full stores that can hold a replica; 0 (no engine rule) when that is below 2.
   */
  readonly enginesWanted: number;

  constructor(
    readonly input: ScheduleInput,
    controller: OperatorController,
  ) {
    this.config = input.sm.config;
    this.nowMs = input.nowMs;
    // The state machine keeps each store's data peer and leader counts (no walk over the regions).
    for (const s of input.sm.listStores(true)) this.stores.set(s.meta.id, this.storeView(s.meta, s.stats, Math.max(s.lastHeartbeatMs, input.storeHeartbeatsMs?.get(s.meta.id) ?? 0)));
    for (const r of controller.running()) this.applyInfluence(r.operator, r.stepIndex);
    const engines = new Set([...this.stores.values()].filter((s) => s.canHold && s.engine !== undefined).map((s) => s.engine));
    const wanted = Math.min(this.config.replicaEnginesMin, engines.size);
    this.enginesWanted = wanted >= 2 ? wanted : 0;
  }

  private storeView(meta: StoreMeta, stats: StoreStats | undefined, lastHeartbeatMs: number): StoreView {
    const silentMs = this.nowMs - Math.max(lastHeartbeatMs, this.input.leaderSinceMs);
    const isDown = meta.state === 'up' && silentMs > this.config.maxStoreDownTimeMs;
    const canHold = meta.state === 'up' && !isDown;
    const isDraining = stats?.draining ?? false;
    return {
      id: meta.id,
      meta,
      stats,
      isDown,
      isDraining,
      canHold,
      canReceive: canHold && !isDraining,
      label: meta.labels[this.config.isolationLabel],
      witness: isWitnessStore(meta.labels),
      engine: isWitnessStore(meta.labels) ? undefined : meta.labels[ENGINE_LABEL],
      regionCount: this.input.sm.dataPeerCountOnStore(meta.id),
      leaderCount: this.input.sm.dataLeaderCountOnStore(meta.id),
      usedBytes: stats?.usedBytes ?? 0,
      heartbeatAgeMs: Math.max(0, this.nowMs - lastHeartbeatMs),
      damagedRegionIds: new Set(stats?.damagedRegionIds ?? []),
    };
  }

  /** Data regions in key order. */
  regions(): readonly RegionInfo[] {
    return this.input.sm.allRegions();
  }

  /** A data region or PD's group by id. */
  regionById(id: number): RegionInfo | undefined {
    const pd = this.input.sm.pdGroup;
    return pd !== undefined && pd.region.id === id ? pd : this.input.sm.getRegionById(id);
  }

  store(id: StoreId): StoreView | undefined {
    return this.stores.get(id);
  }

  /** Replicas a group should have, full and witness together (see `wantedPlacement`). */
  wantedReplicas(maxReplicas: number): number {
    const w = this.wantedPlacement(maxReplicas);
    return w.full + w.witness;
  }

  /**
   * The placement a group should have: `maxReplicas` full replicas, or as many as full stores
   * can hold one; and one witness when that leaves it short of `maxReplicas` with at least two
   * full replicas and a witness store can hold one ("2 full + 1 witness" with two devices).
   * Never more than one witness: with one, every quorum of the group holds a full replica
   * (a witness alone never commits anything), and a lone full replica gets no witness (a
   * two-voter group of one full replica and a witness would lose its quorum with either).
   */
  wantedPlacement(maxReplicas: number): { full: number; witness: number } {
    let full = 0;
    let witnesses = 0;
    for (const s of this.stores.values()) {
      if (!s.canHold) continue;
      if (s.witness) witnesses++;
      else full++;
    }
    full = Math.min(maxReplicas, full);
    return { full, witness: full >= 2 && full < maxReplicas && witnesses > 0 ? 1 : 0 };
  }

  /** Whether the peer's store may keep it. */
  peerCanStay(peer: Peer): boolean {
    return this.stores.get(peer.storeId)?.canHold ?? false;
  }

  /** Whether the peer's store reports its replica of `regionId` damaged (it must be replaced). */
  peerDamaged(regionId: number, peer: Peer): boolean {
    return this.stores.get(peer.storeId)?.damagedRegionIds.has(regionId) ?? false;
  }

  /** Counts the effect of `op`'s steps from `fromStep` on as if already done. */
  applyInfluence(op: Operator, fromStep = 0): void {
    const sizeBytes = this.regionById(op.regionId)?.approximateSizeBytes ?? 0;
    const dataRegion = this.input.sm.getRegionById(op.regionId) !== undefined;
    for (const step of op.steps.slice(fromStep)) {
      if (step.kind === 'transferLeader') {
        if (!dataRegion) continue;
        this.adjust(step.fromStoreId, (s) => s.leaderCount--);
        this.adjust(step.toStoreId, (s) => s.leaderCount++);
      } else if (step.kind === 'addLearner' && dataRegion) {
        this.adjust(step.storeId, (s) => ((s.regionCount += 1), (s.usedBytes += sizeBytes)));
      } else if (step.kind === 'removePeer' && dataRegion) {
        this.adjust(step.storeId, (s) => ((s.regionCount -= 1), (s.usedBytes -= sizeBytes)));
      }
    }
  }

  private adjust(storeId: StoreId, f: (s: StoreView) => void): void {
    const s = this.stores.get(storeId);
    if (s) f(s);
  }
}
