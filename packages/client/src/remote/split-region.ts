/**
 * `splitRegionAt`: splits the region holding a key at that key, with ids from PD, on the
 * region's leader. Shared by the browser host's `splitRegion` hook and the Node client's
 * admin API (`peerkv split`). PD's route may lag the leader (a membership change not yet
 * reported): an `EpochNotMatch` answer carries the leader's regions and the split is retried
 * with those, at most `SPLIT_ATTEMPTS_MAX` times; a `NotLeader` hint is followed the same way;
 * a key that moved (a split PD has not routed yet) is routed again after `SPLIT_RETRY_MS`.
 */
import { regionContainsKey, type Region, type RegionEpoch } from '@peerkv/pd';
import type { Result } from '@peerkv/store';
import type { PdService } from '../services.ts';

/** Attempts while the leader's epoch or leadership differs from PD's route. */
export const SPLIT_ATTEMPTS_MAX = 8;
/** Wait before asking PD again for the region of a split key that moved, ms. */
export const SPLIT_RETRY_MS = 200;

/** What a split needs: routing, ids, and the split request to a store. */
export interface SplitDeps {
  pd: Pick<PdService, 'getRegion'>;
  /** A fresh id from PD. */
  allocId: () => Promise<Result<number>>;
  /** The `split` request to store `storeId` (the region's leader). */
  split: (storeId: number, regionId: number, epoch: RegionEpoch, splitKey: Uint8Array, newRegionId: number, newPeerIds: number[]) => Promise<Result<void>>;
  /** Waits `ms` (a real timer by default). */
  sleep?: (ms: number) => Promise<void>;
}

/** The split's outcome: the new region's id, or why it did not happen (no region, no id, refused). */
export type SplitOutcome = { ok: true; newRegionId: number; regionId: number } | { ok: false; reason: 'NoRoute' | 'NoId' | 'Refused'; message: string };

const realSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Splits the region holding `splitKey` (non-empty) at it; see the module header. */
export async function splitRegionAt(d: SplitDeps, splitKey: Uint8Array): Promise<SplitOutcome> {
  const sleep = d.sleep ?? realSleep;
  // PD may not route a key for a moment (a split's right half before its first heartbeat).
  const routeOf = async (): Promise<{ region: Region; leader: number } | undefined> => {
    for (let i = 0; i < SPLIT_ATTEMPTS_MAX; i++) {
      const rt = await d.pd.getRegion(splitKey);
      if (rt?.leader) return { region: rt.region, leader: rt.leader.storeId };
      await sleep(SPLIT_RETRY_MS);
    }
    return undefined;
  };
  const noRoute = { ok: false, reason: 'NoRoute', message: 'no region with a leader holds the split key' } as const;
  let route: { region: Region; leader: number } | undefined = await routeOf();
  if (!route) return noRoute;
  const ids: number[] = [];
  let lastError = 'no attempt';
  for (let attempt = 0; attempt < SPLIT_ATTEMPTS_MAX; attempt++) {
    const { region, leader }: { region: Region; leader: number } = route;
    // One id for the new region and one per peer (a changed membership may need more).
    while (ids.length < region.peers.length + 1) {
      const r = await d.allocId();
      if (!r.ok) return { ok: false, reason: 'NoId', message: `no id from PD: ${r.error.kind}` };
      ids.push(r.value);
    }
    const r = await d.split(leader, region.id, region.epoch, splitKey, ids[0], ids.slice(1, region.peers.length + 1));
    if (r.ok) return { ok: true, newRegionId: ids[0], regionId: region.id };
    lastError = r.error.kind;
    const holding: Region | undefined = r.error.kind === 'EpochNotMatch' ? r.error.currentRegions.find((x) => x.id === region.id && regionContainsKey(x, splitKey)) : undefined;
    if (holding) {
      route = { region: holding, leader };
    } else if (r.error.kind === 'NotLeader' && r.error.leaderHint) {
      route = { region, leader: r.error.leaderHint.storeId };
    } else if (r.error.kind === 'EpochNotMatch' || r.error.kind === 'KeyNotInRegion' || r.error.kind === 'NotLeader') {
      // The key moved to another region (a split PD has not routed yet), or the leadership
      // moved and the old leader does not know where: ask PD again shortly.
      await sleep(SPLIT_RETRY_MS);
      route = await routeOf();
      if (!route) return noRoute;
    } else {
      break;
    }
  }
  return { ok: false, reason: 'Refused', message: `split refused: ${lastError}` };
}
