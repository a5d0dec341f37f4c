/**
 * Each store's join progress as `peerkv status` sees it: `@peerkv/pd`'s `joinProgress` (k of
 * n regions placed on the store, m caught up; see its module header for n) run on what a
 * client that is not a store can read over RPC. PD's region records are not readable over
 * RPC, so the input is built from the stores' own reports:
 *
 * - the regions and their peers: each region's newest epoch among the connected stores'
 *   replicas (`mergeRegions`; a region no connected store holds is not counted);
 * - pending: the store's replica of a region is pending when the store does not report it
 *   yet (PD added the peer, the replica is not created or has no snapshot) or reports it
 *   applying a snapshot; PD's pending peers come from the region leaders' heartbeats instead,
 *   so the two can differ for a moment;
 * - the stores: PD's record of each (`pdGetStore`; draining is not in it, so a draining
 *   store counts as one that receives);
 * - `maxReplicas` and the tolerance: `DEFAULT_SCHEDULE_CONFIG`'s (PD's schedule config is not
 *   readable over RPC): a cluster run with other values shows n for the defaults.
 */
import { DEFAULT_SCHEDULE_CONFIG, joinProgress, type JoinInput, type JoinProgress, type Peer, type StoreMeta } from '@peerkv/pd';
import type { StoreStatus } from '@peerkv/store';

/** `storeId`'s join progress from the stores' reports (see the module header); undefined when it did not answer or PD does not know it. */
export function adminJoinProgress(regions: readonly { regionId: number; peers: readonly Peer[]; pd: boolean }[], statuses: ReadonlyMap<number, StoreStatus | undefined>, metas: readonly StoreMeta[], storeId: number): JoinProgress | undefined {
  const st = statuses.get(storeId);
  if (st === undefined || !metas.some((m) => m.id === storeId)) return undefined;
  const held = new Set(st.regions.map((r) => r.regionId));
  const applying = new Set((st.snapshotProgress?.applying ?? []).map((a) => a.regionId));
  const input: JoinInput = {
    regions: regions
      .filter((r) => !r.pd)
      .map((r) => {
        const own = r.peers.find((p) => p.storeId === storeId);
        const pending = own !== undefined && (!held.has(r.regionId) || applying.has(r.regionId));
        return { peers: r.peers, pendingPeers: pending ? [own.id] : [] };
      }),
    stores: metas.map((meta) => ({ meta })),
    maxReplicas: DEFAULT_SCHEDULE_CONFIG.maxReplicas,
    tolerance: DEFAULT_SCHEDULE_CONFIG.regionScheduleTolerance,
  };
  return joinProgress(input, storeId);
}
