/**
 * The regions PD knows, ordered by start key (a sorted array with binary search: PeerKV
 * clusters hold thousands of regions, not millions) plus an index by id. The tree keeps
 * ranges disjoint: inserting a region removes every region it overlaps. It also keeps each
 * store's peer and leader counts as regions come and go, so a scheduling round reads them
 * without walking every region (issue 16).
 */
import type { Peer, PeerId, Region, RegionId, StoreId } from './meta.ts';
import { compareKeys } from './meta.ts';

/** A region with what its leader last reported. */
export interface RegionInfo {
  region: Region;
  /** The leader from the last heartbeat (undefined before any). */
  leader: Peer | undefined;
  downPeers: PeerId[];
  pendingPeers: PeerId[];
  approximateSizeBytes: number;
  approximateKeys: number;
  writtenBytesPerSec: number;
  /** Raft term of the last accepted heartbeat. */
  term: number;
  /** PD leader's clock when the last heartbeat was applied. */
  lastHeartbeatMs: number;
}

/** True when the region's range reaches past `key` (an empty end is +∞). */
function endsAfter(region: Region, key: Uint8Array): boolean {
  return region.endKey.length === 0 || compareKeys(region.endKey, key) > 0;
}

/** True when the region starts before `end` (an empty end is +∞). */
function startsBefore(region: Region, end: Uint8Array): boolean {
  return end.length === 0 || compareKeys(region.startKey, end) < 0;
}

/** Disjoint regions by start key and by id. */
export class RegionTree {
  private readonly sorted: RegionInfo[] = [];
  private readonly byId = new Map<RegionId, RegionInfo>();
  /** Peers of the regions here on each store (stores with none left out). */
  private readonly peersByStore = new Map<StoreId, number>();
  /** Regions here whose last reported leader is on each store (stores with none left out). */
  private readonly leadersByStore = new Map<StoreId, number>();

  /** Peers of these regions on `storeId`. O(1). */
  peerCount(storeId: StoreId): number {
    return this.peersByStore.get(storeId) ?? 0;
  }

  /** These regions led (as last reported) from `storeId`. O(1). */
  leaderCount(storeId: StoreId): number {
    return this.leadersByStore.get(storeId) ?? 0;
  }

  /** Adds (`sign` 1) or takes away (-1) `info`'s peers and leader from the per-store counts. */
  private count(info: RegionInfo, sign: 1 | -1): void {
    for (const p of info.region.peers) bump(this.peersByStore, p.storeId, sign);
    if (info.leader !== undefined) bump(this.leadersByStore, info.leader.storeId, sign);
  }

  /** Number of regions. */
  get size(): number {
    return this.sorted.length;
  }

  /** All regions in key order (do not mutate). */
  all(): readonly RegionInfo[] {
    return this.sorted;
  }

  getById(id: RegionId): RegionInfo | undefined {
    return this.byId.get(id);
  }

  /** Index of the last region whose start key is ≤ `key`, or -1. */
  private lastStartingAtOrBefore(key: Uint8Array): number {
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareKeys(this.sorted[mid].region.startKey, key) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  }

  /** The region containing `key`, if PD knows one. */
  find(key: Uint8Array): RegionInfo | undefined {
    const i = this.lastStartingAtOrBefore(key);
    if (i < 0) return undefined;
    const info = this.sorted[i];
    return endsAfter(info.region, key) ? info : undefined;
  }

  /** Regions overlapping [start, end) in key order, at most `limit` of them. */
  scan(start: Uint8Array, end: Uint8Array, limit = Number.MAX_SAFE_INTEGER): RegionInfo[] {
    const out: RegionInfo[] = [];
    if (end.length !== 0 && compareKeys(start, end) >= 0) return out;
    let i = this.lastStartingAtOrBefore(start);
    if (i < 0 || !endsAfter(this.sorted[i].region, start)) i++;
    for (; i < this.sorted.length && out.length < limit; i++) {
      const info = this.sorted[i];
      if (!startsBefore(info.region, end)) break;
      out.push(info);
    }
    return out;
  }

  /**
   * Inserts or replaces `info`, first removing its previous version and every region its
   * range overlaps. Returns the ids of the overlapping regions removed (not its own).
   */
  upsert(info: RegionInfo): RegionId[] {
    if (this.replaceInPlace(info)) return [];
    this.remove(info.region.id);
    const overlapping = this.scan(info.region.startKey, info.region.endKey);
    for (const o of overlapping) this.remove(o.region.id);
    const at = this.lastStartingAtOrBefore(info.region.startKey) + 1;
    this.sorted.splice(at, 0, info);
    this.byId.set(info.region.id, info);
    this.count(info, 1);
    return overlapping.map((o) => o.region.id);
  }

  /** The common case: the same region with the same range (a heartbeat). O(log n). */
  private replaceInPlace(info: RegionInfo): boolean {
    const old = this.byId.get(info.region.id);
    if (old === undefined) return false;
    const sameRange = compareKeys(old.region.startKey, info.region.startKey) === 0 && compareKeys(old.region.endKey, info.region.endKey) === 0;
    if (!sameRange) return false;
    this.sorted[this.indexOf(old)] = info;
    this.byId.set(info.region.id, info);
    this.count(old, -1);
    this.count(info, 1);
    return true;
  }

  /** Position of a stored region (start keys are unique: ranges are disjoint). */
  private indexOf(info: RegionInfo): number {
    const i = this.lastStartingAtOrBefore(info.region.startKey);
    return this.sorted[i] === info ? i : this.sorted.indexOf(info);
  }

  /** Removes a region by id (no-op when absent). */
  remove(id: RegionId): void {
    const info = this.byId.get(id);
    if (info === undefined) return;
    this.byId.delete(id);
    this.sorted.splice(this.indexOf(info), 1);
    this.count(info, -1);
  }
}

/** Adds `by` to `key`'s count, dropping it at 0. */
function bump(counts: Map<StoreId, number>, key: StoreId, by: number): void {
  const n = (counts.get(key) ?? 0) + by;
  if (n === 0) counts.delete(key);
  else counts.set(key, n);
}
