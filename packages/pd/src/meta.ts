/**
 * Cluster metadata shared by the placement driver, stores and clients (TiKV's `metapb`):
 * stores, regions, peers and epochs, and the typed region errors requests come back with
 * (defined in `@peerkv/proto`), and the pure rules over them: key order, key-in-region,
 * epoch staleness.
 */

import type { Region, RegionEpoch } from '@peerkv/proto';

// The types live in @peerkv/proto with their one encoding; PD re-exports them so its users
// (and everything that imports them from here) need nothing else.
export type {
  StoreId,
  RegionId,
  PeerId,
  RegionEpoch,
  PeerRole,
  Peer,
  Region,
  StoreState,
  StoreLabels,
  StoreMeta,
  StoreStats,
  RegionHeartbeat,
  RegionError,
} from '@peerkv/proto';
export { DEVICE_LABEL, ENGINE_LABEL, RUNTIME_ENGINES, WITNESS_LABEL, isWitnessStore, type RuntimeEngine } from '@peerkv/proto';
/** Byte-wise comparison of keys. */
export function compareKeys(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i] - b[i];
  }
  return a.length - b.length;
}

/** Whether `key` falls in the region's [startKey, endKey). */
export function regionContainsKey(region: Pick<Region, 'startKey' | 'endKey'>, key: Uint8Array): boolean {
  if (compareKeys(key, region.startKey) < 0) return false;
  return region.endKey.length === 0 || compareKeys(key, region.endKey) < 0;
}

/** True when `a` is strictly older than `b` in either dimension. */
export function isEpochStale(a: RegionEpoch, b: RegionEpoch): boolean {
  return a.confVer < b.confVer || a.version < b.version;
}
