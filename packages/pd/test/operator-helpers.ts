/** Re-exports for operator tests plus a `RegionInfo` built from a status. */
import type { RegionInfo, RegionStatus } from '../src/index.ts';
export { OperatorController, movePeerOperator, operatorStoreIds, splitOperator, transferLeaderOperator } from '../src/index.ts';

export function newRegionInfoForTest(s: RegionStatus): RegionInfo {
  return { ...s, downPeers: [], approximateSizeBytes: 0, approximateKeys: 0, writtenBytesPerSec: 0, term: 1, lastHeartbeatMs: 0 };
}
