/**
 * The client's region cache (TiKV client-go `RegionCache`): regions by start key with the
 * leader last seen, filled from PD and corrected by region errors. Bounded in entries.
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

  constructor(private readonly entriesMax = REGION_CACHE_ENTRIES_MAX) {}

  /** The cached region containing `key`. */
  locate(key: Uint8Array): RegionRoute | undefined {
    let lo = 0;
    let hi = this.regions.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = this.regions[mid];
      if (compareKeys(key, r.startKey) < 0) hi = mid - 1;
      else if (regionContainsKey(r, key)) return { region: r, leader: this.leaders.get(r.id) };
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
      if (c.id === r.id && isEpochStale(r.epoch, c.epoch)) return; // we hold a newer view
      this.leaders.delete(c.id);
    }
    kept.push(r);
    kept.sort((a, b) => compareKeys(a.startKey, b.startKey));
    this.regions = kept;
    if (route.leader) this.leaders.set(r.id, route.leader);
    while (this.regions.length > this.entriesMax) {
      const victim = this.regions.shift()!;
      this.leaders.delete(victim.id);
    }
  }

  setLeader(regionId: number, leader: Peer): void {
    if (this.regions.some((r) => r.id === regionId)) this.leaders.set(regionId, leader);
  }

  invalidate(regionId: number): void {
    this.regions = this.regions.filter((r) => r.id !== regionId);
    this.leaders.delete(regionId);
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
