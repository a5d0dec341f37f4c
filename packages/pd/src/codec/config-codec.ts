/**
 * Paired writer/reader of `ScheduleConfig` (commands and snapshots). Field order is the wire
 * order. Fields added later (`replicaEnginesMin`) are not in this body: a command carries them
 * as an optional tail (`writeScheduleConfigTail`), a snapshot in a section, each written only
 * when it differs from its default, so a config that never used them keeps its old bytes.
 */
import { LABEL_BYTES_MAX, readEnum, writeEnum, type ByteReader, type ByteWriter } from '@peerkv/proto';
import type { RegionBalanceBy, ScheduleConfig } from '../config.ts';
import { DEFAULT_SCHEDULE_CONFIG, validateScheduleConfig } from '../config.ts';
import { PdDecodeError } from '../errors.ts';

const BALANCE_BY: readonly RegionBalanceBy[] = ['count', 'bytes'];

/** Writes a schedule config (paired with `readScheduleConfig`). */
export function writeScheduleConfig(w: ByteWriter, c: ScheduleConfig): void {
  w.varUint(c.maxReplicas);
  w.varUint(c.pdReplicas);
  w.varUint(c.maxStoreDownTimeMs);
  w.varUint(c.leaderScheduleTolerance);
  w.varUint(c.regionScheduleTolerance);
  w.varUint(c.regionScheduleToleranceBytes);
  writeEnum(w, BALANCE_BY, c.balanceRegionBy);
  w.varUint(c.regionSplitSizeBytes);
  w.varUint(c.regionSplitKeys);
  w.varUint(c.operatorsMax);
  w.varUint(c.operatorsPerStoreMax);
  w.varUint(c.operatorTimeoutMs);
  w.string(c.isolationLabel);
}

/** Writes the later fields after a command's config body, when any differs from its default. */
export function writeScheduleConfigTail(w: ByteWriter, c: ScheduleConfig): void {
  if (c.replicaEnginesMin === DEFAULT_SCHEDULE_CONFIG.replicaEnginesMin) return;
  w.varUint(c.replicaEnginesMin);
}

/** Reads the tail `writeScheduleConfigTail` wrote (absent: the defaults) and checks the whole config. */
export function readScheduleConfigTail(r: ByteReader, c: ScheduleConfig): ScheduleConfig {
  return checkedScheduleConfig(r.remaining > 0 ? { ...c, replicaEnginesMin: r.varUint() } : c);
}

/** The config, or `PdDecodeError` (`Invalid`) when `validateScheduleConfig` refuses it. */
export function checkedScheduleConfig(c: ScheduleConfig): ScheduleConfig {
  const problem = validateScheduleConfig(c);
  if (problem !== null) throw new PdDecodeError('Invalid', `schedule config: ${problem}`);
  return c;
}

/** Reads a config body (later fields at their defaults) and checks it with `validateScheduleConfig`. */
export function readScheduleConfig(r: ByteReader): ScheduleConfig {
  const c: ScheduleConfig = {
    maxReplicas: r.varUint(),
    pdReplicas: r.varUint(),
    maxStoreDownTimeMs: r.varUint(),
    leaderScheduleTolerance: r.varUint(),
    regionScheduleTolerance: r.varUint(),
    regionScheduleToleranceBytes: r.varUint(),
    balanceRegionBy: readEnum(r, BALANCE_BY, 'balanceRegionBy'),
    regionSplitSizeBytes: r.varUint(),
    regionSplitKeys: r.varUint(),
    operatorsMax: r.varUint(),
    operatorsPerStoreMax: r.varUint(),
    operatorTimeoutMs: r.varUint(),
    isolationLabel: r.string(LABEL_BYTES_MAX, 'isolation label'),
    replicaEnginesMin: DEFAULT_SCHEDULE_CONFIG.replicaEnginesMin,
  };
  return checkedScheduleConfig(c);
}
