/**
 * The client's region cache (TiKV client-go `RegionCache`): regions by start key with the
 * leader last seen, filled from PD and corrected by region errors. Bounded in entries.
 *
 * Two ways to doubt an entry: `invalidate` drops it (an authoritative answer says it is wrong:
 * a store does not hold the region, a newer epoch), `markStale` only asks for a refresh from
 * PD (no replica answered: the leader's store is gone, no leader, timeouts). A stale entry
 * keeps its replica list, which a read that needs no leader (a stale read from this device's
 * replica) still uses while PD cannot be reached; a newer route from PD replaces it.
 */
import type { Peer, Region } from '@peerkv/pd';
import { compareKeys, isEpochStale, regionContainsKey } from '@peerkv/pd';
import type { RegionRoute } from './services.ts';

/** Regions kept in the cache; the least recently used go first. */
export const REGION_CACHE_ENTRIES_MAX = 10_000;

export class RegionCache {
  /** Sorted by start key; ranges disjoint. */
  private regions: Region[] = [];
  private leaders = new Map<number, Peer>();
  /** Ids of cached regions to refresh from PD before a request that needs the leader (`markStale`). */
  private stale = new Set<number>();

  constructor(private readonly entriesMax = REGION_CACHE_ENTRIES_MAX) {}

  /** The cached region containing `key` (`stale`: refresh it from PD when PD answers). */
  locate(key: Uint8Array): { route: RegionRoute; stale: boolean } | undefined {
    let lo = 0;
    let hi = this.regions.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = this.regions[mid];
      if (compareKeys(key, r.startKey) < 0) hi = mid - 1;
      else if (regionContainsKey(r, key)) {
        const leader = this.leaders.get(r.id);
        return { route: leader ? { region: r, leader } : { region: r }, stale: this.stale.has(r.id) };
      }
      else lo = mid + 1;
    }
    return undefined;
  }

  /** Adds a region, dropping cached regions it overlaps (unless they are newer). */
  insert(route: RegionRoute): void {
    const r = route.region;
    const kept: Region[] = [];
    for (const c of this.regions) {
      if (!overlaps(c, r)) {
        kept.push(c);
        continue;
      }
      if (c.id === r.id && isEpochStale(r.epoch, c.epoch)) {
        // We hold a newer view; it has been confirmed (by PD, or a store's EpochNotMatch), so it is no longer in doubt.
        this.stale.delete(c.id);
        return;
      }
      this.leaders.delete(c.id);
      this.stale.delete(c.id);
    }
    kept.push(r);
    kept.sort((a, b) => compareKeys(a.startKey, b.startKey));
    this.regions = kept;
    if (route.leader) this.leaders.set(r.id, route.leader);
    while (this.regions.length > this.entriesMax) {
      const victim = this.regions.shift()!;
      this.leaders.delete(victim.id);
      this.stale.delete(victim.id);
    }
  }

  setLeader(regionId: number, leader: Peer): void {
    if (this.regions.some((r) => r.id === regionId)) this.leaders.set(regionId, leader);
  }

  /**
   * A leader that a replica of the region learned itself (leader news: it won an election or
   * heard the winner), if the cached region has that peer: it becomes the cached leader and the
   * entry is no longer in doubt, since a refresh from PD would bring back the leader PD last
   * heard of, which is older (PD hears of the new one only from the new leader's heartbeat).
   */
  learnLeader(regionId: number, leader: Peer): void {
    const region = this.regions.find((r) => r.id === regionId);
    if (!region || !region.peers.some((p) => p.id === leader.id && p.storeId === leader.storeId)) return;
    this.leaders.set(regionId, leader);
    this.stale.delete(regionId);
  }

  /** Drops a region: an authoritative answer says the entry is wrong. */
  invalidate(regionId: number): void {
    this.regions = this.regions.filter((r) => r.id !== regionId);
    this.leaders.delete(regionId);
    this.stale.delete(regionId);
  }

  /**
   * Doubts a region without dropping it: no replica could serve a request (its leader's store
   * gone, no leader, timeouts), which says nothing about which replicas it has. The leader is
   * forgotten, the replica list kept until PD answers with a route (`insert`).
   */
  markStale(regionId: number): void {
    if (!this.regions.some((r) => r.id === regionId)) return;
    this.leaders.delete(regionId);
    this.stale.add(regionId);
  }

  get size(): number {
    return this.regions.length;
  }
}

function overlaps(a: Region, b: Region): boolean {
  const aEndsBeforeB = a.endKey.length > 0 && compareKeys(a.endKey, b.startKey) <= 0;
  const bEndsBeforeA = b.endKey.length > 0 && compareKeys(b.endKey, a.startKey) <= 0;
  return !aEndsBeforeB && !bEndsBeforeA;
}
