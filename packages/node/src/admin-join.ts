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
 * - `maxReplicas` and the tolerance: the cluster's own, from PD's schedule config
 *   (`pdGetScheduleConfig`); without it (PD did not answer) there is no figure.
 */
import { joinProgress, type JoinInput, type JoinProgress, type Peer, type ScheduleConfig, type StoreMeta } from '@peerkv/pd';
import type { StoreStatus } from '@peerkv/store';

/** The schedule settings the join figure depends on. */
export type JoinSchedule = Pick<ScheduleConfig, 'maxReplicas' | 'regionScheduleTolerance'>;

/**
 * `storeId`'s join progress from the stores' reports under PD's `schedule` (see the module
 * header); undefined when the store did not answer, PD does not know it, or PD's schedule
 * config is unknown.
 */
export function adminJoinProgress(
  regions: readonly { regionId: number; peers: readonly Peer[]; pd: boolean }[],
  statuses: ReadonlyMap<number, StoreStatus | undefined>,
  metas: readonly StoreMeta[],
  schedule: JoinSchedule | undefined,
  storeId: number,
): JoinProgress | undefined {
  const st = statuses.get(storeId);
  if (st === undefined || schedule === undefined || !metas.some((m) => m.id === storeId)) return undefined;
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
    maxReplicas: schedule.maxReplicas,
    tolerance: schedule.regionScheduleTolerance,
  };
  return joinProgress(input, storeId);
}
