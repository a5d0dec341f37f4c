/**
 * `CheckerController`: which regions a scheduling round checks (TiKV PD's checker controller,
 * `patrolRegions`). Walking every region each round cost an idle PD most of its CPU (issue 16:
 * 10,000 hibernating regions, a round every 500 ms). Instead each round checks:
 *  - the dirty regions, at once: a region whose heartbeat changed what PD records (the apply
 *    result of a proposed heartbeat, a split's new regions), whose operator finished, whose
 *    replica a store reports damaged or no longer damaged, or whose check wanted an operator
 *    the limits refused or an id that was not at hand (TiKV's pending-processed regions). At most
 *    `dirtyRegionsPerRoundMax` a round, oldest first; the rest wait for the next round;
 *  - the patrol's next batch: a cursor over the regions in key order visits
 *    `patrolRegionsPerRound(regionCount)` regions a round and starts over at the end (a lap), so a
 *    region no event touches is still checked once a lap;
 *  - every region, once, when something may change what any region needs: this leader's first
 *    round, a change of the schedule config, or of any store as a round judges it (state, down,
 *    suspect, draining, labels: the targets and counts every check picks from), or a dirty set
 *    past `dirtyRegionsMax`. Such rounds cost what every round cost before, on events only.
 * When the regions fit one round's patrol batch, every round checks every region in key order,
 * as before. Leader-local memory, like the operator controller: `reset` on leadership changes.
 */
import type { RegionId, StoreId } from '../meta.ts';
import type { RegionInfo } from '../region-tree.ts';
import type { PdStateMachine } from '../state-machine.ts';
import type { ClusterView, StoreView } from './cluster-view.ts';

/** The patrol's and the dirty set's bounds. */
export interface CheckerOptions {
  /** Fewest regions the patrol checks per round (TiKV's `MinPatrolRegionScanLimit`, 128). */
  patrolRegionsPerRoundMin: number;
  /** Most regions the patrol checks per round (TiKV's `MaxPatrolScanRegionLimit`, 8192). */
  patrolRegionsPerRoundMax: number;
  /** Rounds a full lap should take: the patrol checks `regionCount / patrolLapRounds` per round, within the bounds above. */
  patrolLapRounds: number;
  /** Most dirty regions checked per round (oldest first). */
  dirtyRegionsPerRoundMax: number;
  /** Most regions kept dirty; past it the set is dropped and the next round checks every region. */
  dirtyRegionsMax: number;
}

/**
 * Defaults: 128 to 8,192 regions a round, a lap in about 120 rounds (60 s at PD's 500 ms rounds)
 * once there are more than 15,360 regions; 10,000 regions take 79 rounds (40 s) a lap.
 */
export const DEFAULT_CHECKER_OPTIONS: Readonly<CheckerOptions> = Object.freeze({
  patrolRegionsPerRoundMin: 128,
  patrolRegionsPerRoundMax: 8192,
  patrolLapRounds: 120,
  dirtyRegionsPerRoundMax: 1024,
  dirtyRegionsMax: 65_536,
});

/** Why `options` is invalid, or null. */
export function checkerOptionsProblem(o: CheckerOptions): string | null {
  for (const [name, v] of Object.entries(o)) if (!Number.isSafeInteger(v) || v < 1) return `${name} must be a positive integer, got ${String(v)}`;
  if (o.patrolRegionsPerRoundMin > o.patrolRegionsPerRoundMax) return 'patrolRegionsPerRoundMin must not exceed patrolRegionsPerRoundMax';
  return null;
}

/** Which regions a round checks, and why (counts for tests and status). */
export interface CheckSelection {
  /** The regions to check, each once: every region in key order, or the dirty ones then the patrol's batch. */
  regions: RegionInfo[];
  /** Every region is checked (first round, a store or config change, few regions, dirty overflow). */
  all: boolean;
  /** Of `regions`, those taken from the dirty set. */
  dirty: number;
}

/** Everything a store change may alter in any region's check. */
function storeSignature(s: StoreView, suspectMs: number): string {
  return [s.meta.state, s.isDown, s.canHold, s.canReceive, s.heartbeatAgeMs > suspectMs, s.label ?? '', s.witness, s.engine ?? ''].join('|');
}

/** The patrol cursor and the dirty set of one PD leader. */
export class CheckerController {
  private readonly options: CheckerOptions;
  /** Dirty region ids, oldest first (a `Set` keeps insertion order). */
  private readonly dirty = new Set<RegionId>();
  /** Check every region next round. */
  private allPending = true;
  /** Start key of the next region the patrol visits (empty: from the first). */
  private cursor: Uint8Array = new Uint8Array(0);
  private storeSignatures = new Map<StoreId, string>();
  private damaged = new Map<StoreId, ReadonlySet<RegionId>>();
  private configSignature = '';
  /** Patrol laps finished (every region visited since the lap began, by the patrol or a check of all). */
  laps = 0;

  constructor(options: Partial<CheckerOptions> = {}) {
    this.options = { ...DEFAULT_CHECKER_OPTIONS, ...options };
    const problem = checkerOptionsProblem(this.options);
    if (problem !== null) throw new RangeError(`CheckerController: ${problem}`);
  }

  /** Regions the patrol checks per round with `regionCount` regions. */
  patrolRegionsPerRound(regionCount: number): number {
    const o = this.options;
    return Math.min(o.patrolRegionsPerRoundMax, Math.max(o.patrolRegionsPerRoundMin, Math.ceil(regionCount / o.patrolLapRounds)));
  }

  /** Start key of the next region the patrol visits (empty: the first). */
  get patrolCursor(): Uint8Array {
    return this.cursor;
  }

  /** Dirty regions waiting. */
  get dirtyCount(): number {
    return this.dirty.size;
  }

  /** Check `regionId` at once (in the next round, behind the regions already dirty). */
  markDirty(regionId: RegionId): void {
    if (this.allPending) return;
    this.dirty.delete(regionId);
    this.dirty.add(regionId);
    if (this.dirty.size > this.options.dirtyRegionsMax) this.markAll();
  }

  /** Check every region next round. */
  markAll(): void {
    this.allPending = true;
    this.dirty.clear();
  }

  /** Forgets everything (leadership changed): the next round checks every region. */
  reset(): void {
    this.markAll();
    this.cursor = new Uint8Array(0);
    this.storeSignatures = new Map();
    this.damaged = new Map();
    this.configSignature = '';
  }

  /**
   * Notes what changed since the last round as `view` judges the stores and config: a store's
   * state, health, labels or a config change mark every region; a store's damaged-replica
   * reports mark those regions.
   */
  observe(view: ClusterView): void {
    const config = JSON.stringify(view.config);
    if (config !== this.configSignature) this.markAll();
    this.configSignature = config;
    const suspectMs = view.config.maxStoreDownTimeMs / 2;
    const signatures = new Map<StoreId, string>();
    const damaged = new Map<StoreId, ReadonlySet<RegionId>>();
    for (const s of view.stores.values()) {
      signatures.set(s.id, storeSignature(s, suspectMs));
      if (signatures.get(s.id) !== this.storeSignatures.get(s.id)) this.markAll();
      if (s.damagedRegionIds.size > 0) damaged.set(s.id, s.damagedRegionIds);
      this.markChanged(this.damaged.get(s.id), s.damagedRegionIds);
    }
    if (signatures.size !== this.storeSignatures.size) this.markAll();
    this.storeSignatures = signatures;
    this.damaged = damaged;
  }

  /** Marks the regions in one of `before` and `after` but not the other. */
  private markChanged(before: ReadonlySet<RegionId> | undefined, after: ReadonlySet<RegionId>): void {
    for (const id of after) if (!before?.has(id)) this.markDirty(id);
    for (const id of before ?? []) if (!after.has(id)) this.markDirty(id);
  }

  /**
   * The regions this round checks; they leave the dirty set (a check that must be retried marks
   * its region again). Call once per round, after `observe`.
   */
  select(sm: PdStateMachine): CheckSelection {
    const count = sm.regionCount;
    const batch = this.patrolRegionsPerRound(count);
    if (this.allPending || count <= batch) {
      this.allPending = false;
      this.dirty.clear();
      this.cursor = new Uint8Array(0);
      this.laps++;
      return { regions: [...sm.allRegions()], all: true, dirty: 0 };
    }
    const regions: RegionInfo[] = [];
    const taken = new Set<RegionId>();
    for (const id of this.dirty) {
      if (taken.size >= this.options.dirtyRegionsPerRoundMax) break;
      taken.add(id);
      const info = sm.getRegionById(id);
      if (info !== undefined) regions.push(info);
    }
    for (const id of taken) this.dirty.delete(id);
    const dirty = regions.length;
    const patrol = sm.scanRegions(this.cursor, new Uint8Array(0), batch);
    for (const info of patrol) if (!taken.has(info.region.id)) regions.push(info);
    const last = patrol[patrol.length - 1];
    if (last === undefined || last.region.endKey.length === 0 || patrol.length < batch) {
      this.cursor = new Uint8Array(0);
      this.laps++;
    } else {
      this.cursor = last.region.endKey;
    }
    return { regions, all: false, dirty };
  }
}
