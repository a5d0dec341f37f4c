/**
 * The scheduling configuration. It is part of the replicated state (changed only through a
 * `setScheduleConfig` command), so every PD leader schedules with the same settings.
 */
import { PEERS_PER_REGION_MAX } from './limits.ts';

/** What balance-region equalises across stores. */
export type RegionBalanceBy = 'count' | 'bytes';

/** Knobs of the checkers, schedulers and operator controller. Units are in the names. */
export interface ScheduleConfig {
  /** Replicas per data region (TiKV `max-replicas`). */
  maxReplicas: number;
  /** Voters of PD's own Raft group: 1, 3, 5 or 7. */
  pdReplicas: number;
  /** A store silent this long is down: its peers are rebuilt elsewhere. */
  maxStoreDownTimeMs: number;
  /** Balance-leader acts when the most and fewest leader counts differ by more than this. */
  leaderScheduleTolerance: number;
  /** Balance-region (by count) acts when region counts differ by more than this. */
  regionScheduleTolerance: number;
  /** Balance-region (by bytes) acts when used bytes differ by more than this. */
  regionScheduleToleranceBytes: number;
  /** Balance regions by peer count or by the stores' used bytes. */
  balanceRegionBy: RegionBalanceBy;
  /** A region whose approximate size reaches this is split. */
  regionSplitSizeBytes: number;
  /** A region whose approximate key count reaches this is split. */
  regionSplitKeys: number;
  /** Most operators running at once. */
  operatorsMax: number;
  /** Most running operators touching one store. */
  operatorsPerStoreMax: number;
  /** An operator not finished after this is dropped. */
  operatorTimeoutMs: number;
  /** The store label whose distinct values replicas spread across. */
  isolationLabel: string;
  /**
   * Fewest distinct `engine` label values (`ENGINE_LABEL`: chromium, firefox, webkit, node) a
   * region's full replicas should span, capped by the engines among the stores that can hold
   * a full replica; the rule acts only while those stores span at least 2 engines. 1: off
   * (the default here; the browser runtime bootstraps its clusters with 2). Placement counts
   * it before `isolationLabel` (`placementScore`). At most `REPLICA_ENGINES_MIN_MAX`.
   */
  replicaEnginesMin: number;
}

/** Most engines `replicaEnginesMin` may ask for (chromium, firefox, webkit, node). */
export const REPLICA_ENGINES_MIN_MAX = 4;

/** Defaults sized for browser stores (smaller regions than TiKV's 96 MiB). */
export const DEFAULT_SCHEDULE_CONFIG: Readonly<ScheduleConfig> = Object.freeze({
  maxReplicas: 3,
  pdReplicas: 3,
  maxStoreDownTimeMs: 5 * 60_000,
  leaderScheduleTolerance: 1,
  regionScheduleTolerance: 2,
  regionScheduleToleranceBytes: 64 * 1024 * 1024,
  balanceRegionBy: 'count',
  regionSplitSizeBytes: 16 * 1024 * 1024,
  regionSplitKeys: 160_000,
  operatorsMax: 16,
  operatorsPerStoreMax: 4,
  operatorTimeoutMs: 10 * 60_000,
  isolationLabel: 'device',
  replicaEnginesMin: 1,
});

const POSITIVE_FIELDS = [
  'maxReplicas',
  'maxStoreDownTimeMs',
  'regionSplitSizeBytes',
  'regionSplitKeys',
  'operatorsMax',
  'operatorsPerStoreMax',
  'operatorTimeoutMs',
  'replicaEnginesMin',
] as const;

const NON_NEGATIVE_FIELDS = ['leaderScheduleTolerance', 'regionScheduleTolerance', 'regionScheduleToleranceBytes'] as const;

/** Why `config` is invalid, or null when it is valid. */
export function validateScheduleConfig(config: ScheduleConfig): string | null {
  for (const f of POSITIVE_FIELDS) {
    if (!Number.isSafeInteger(config[f]) || config[f] <= 0) return `${f} must be a positive integer`;
  }
  for (const f of NON_NEGATIVE_FIELDS) {
    if (!Number.isSafeInteger(config[f]) || config[f] < 0) return `${f} must be a non-negative integer`;
  }
  if (config.maxReplicas > PEERS_PER_REGION_MAX / 2) return `maxReplicas must be at most ${PEERS_PER_REGION_MAX / 2}`;
  if (![1, 3, 5, 7].includes(config.pdReplicas)) return 'pdReplicas must be 1, 3, 5 or 7';
  if (config.balanceRegionBy !== 'count' && config.balanceRegionBy !== 'bytes') return 'balanceRegionBy must be count or bytes';
  if (config.isolationLabel.length === 0) return 'isolationLabel must not be empty';
  if (config.replicaEnginesMin > REPLICA_ENGINES_MIN_MAX) return `replicaEnginesMin must be at most ${REPLICA_ENGINES_MIN_MAX}`;
  return null;
}
