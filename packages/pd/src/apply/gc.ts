/**
 * Apply handler of the GC safe point: it only moves up, so a late or repeated proposal (a
 * deposed leader's, a retry) can never let GC reach versions a reader was promised.
 */
import type { PdApplyResult, SetGcSafePointCommand } from '../command.ts';
import type { PdState } from '../pd-state.ts';
import { invalid } from './region.ts';

/** Largest value a safe point may take (a timestamp is an unsigned 64-bit value). */
const SAFE_POINT_MAX = (1n << 64n) - 1n;

/** Raises the safe point to `cmd.safePoint` when that is higher; otherwise changes nothing. */
export function applySetGcSafePoint(s: PdState, cmd: SetGcSafePointCommand): PdApplyResult {
  if (cmd.safePoint < 0n || cmd.safePoint > SAFE_POINT_MAX) return invalid('safePoint outside the timestamp range');
  const advanced = cmd.safePoint > s.gcSafePoint;
  if (advanced) s.gcSafePoint = cmd.safePoint;
  return { kind: 'gcSafePointSet', gcSafePoint: s.gcSafePoint, advanced };
}
