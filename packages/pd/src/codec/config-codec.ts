/** Paired writer/reader of `ScheduleConfig` (commands and snapshots). Field order is the wire order. */
import { LABEL_BYTES_MAX, readEnum, writeEnum, type ByteReader, type ByteWriter } from '@peerkv/proto';
import type { RegionBalanceBy, ScheduleConfig } from '../config.ts';
import { validateScheduleConfig } from '../config.ts';
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

/** Reads a config and checks it with `validateScheduleConfig`. */
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
  };
  const problem = validateScheduleConfig(c);
  if (problem !== null) throw new PdDecodeError('Invalid', `schedule config: ${problem}`);
  return c;
}
