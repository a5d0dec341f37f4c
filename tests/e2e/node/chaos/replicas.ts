/**
 * Status probes during the chaos (has a restarted store caught up, who leads the data
 * region) and replica checks over the store RPC after it: convergence (every store holds every
 * data region at the same epoch, the same leader and the same applied index, equal to its
 * commit index) and data comparison (each store's replica of each data region, read locally
 * with `stale` consistency, i.e. exactly what that store's engine holds in the region's
 * range, must be identical across stores; the statuses before and after the reads must
 * show the same applied indexes, so the reads saw one state).
 *
 * What this does not compare: the dedup records (`Store.regionDigests` hashes them too, but
 * the store RPC has no request for it yet) and PD's own region.
 */
import { PD_REGION_ID, type StoreStatus } from '@peerkv/store';
import { codec, type RemoteStoreResolver } from 'peerkv';

type RegionStatus = StoreStatus['regions'][number];

/** Time for one status or scan request, ms. */
const REQUEST_TIMEOUT_MS = 2000;
/** Attempts at reading every replica between two identical statuses. */
const COMPARE_ATTEMPTS_MAX = 5;

/** Every store's status, or `undefined` if one did not answer. */
export async function statuses(stores: RemoteStoreResolver, ids: readonly number[]): Promise<StoreStatus[] | undefined> {
  const rs = await Promise.all(ids.map((id) => stores.remote(id).status({ timeoutMs: REQUEST_TIMEOUT_MS })));
  return rs.every((r) => r.ok) ? rs.map((r) => (r.ok ? r.value : (undefined as never))) : undefined;
}

/** What a (restarted) store lacks: a leader or applied entries in some region; `undefined` once it has caught up. */
export async function storeLag(stores: RemoteStoreResolver, storeId: number): Promise<string | undefined> {
  const st = await stores.remote(storeId).status({ timeoutMs: REQUEST_TIMEOUT_MS });
  if (!st.ok) return `status: ${st.error.kind}`;
  const regions = st.value.regions;
  if (regions.length >= 2 && regions.every((r) => r.lead !== 0 && r.applied === r.commit)) return undefined;
  return regions.map((r) => `region ${r.regionId} ${r.role} lead=${r.lead} commit=${r.commit} applied=${r.applied}${r.hibernating ? ' hibernating' : ''}`).join('; ') || 'no regions';
}

/** The store whose replica leads `regionId`, as the first store that knows says. */
export async function leaderStoreId(stores: RemoteStoreResolver, ids: readonly number[], regionId: number): Promise<number | undefined> {
  for (const id of ids) {
    const st = await stores.remote(id).status({ timeoutMs: REQUEST_TIMEOUT_MS });
    const region = st.ok ? st.value.regions.find((r) => r.regionId === regionId) : undefined;
    const storeId = region?.peers.find((p) => p.id === region.lead)?.storeId;
    if (storeId !== undefined) return storeId;
  }
  return undefined;
}

function dataRegionIds(sts: readonly StoreStatus[]): number[] {
  return [...new Set(sts.flatMap((s) => s.regions.map((r) => r.regionId)))].filter((id) => id !== PD_REGION_ID).sort((a, b) => a - b);
}

function regionOf(st: StoreStatus, regionId: number): RegionStatus | undefined {
  return st.regions.find((r) => r.regionId === regionId);
}

const show = (r: RegionStatus): string => `epoch=${r.epoch.confVer}/${r.epoch.version} lead=${r.lead} commit=${r.commit} applied=${r.applied} peers=${r.peers.map((p) => `${p.storeId}:${p.role}`).join(',')}`;

/** Why the stores have not converged, or `undefined` when they have. */
export function divergence(sts: readonly StoreStatus[]): string | undefined {
  for (const s of sts) if (s.stoppedReason) return `store ${s.storeId} stopped: ${s.stoppedReason}`;
  const regionIds = dataRegionIds(sts);
  if (regionIds.length === 0) return 'no data region';
  for (const regionId of regionIds) {
    const rs = sts.map((s) => regionOf(s, regionId));
    const views = sts.map((s, i) => `store ${s.storeId}: ${rs[i] ? show(rs[i]) : 'none'}`).join('; ');
    if (rs.some((r) => r === undefined)) return `region ${regionId} missing on a store (${views})`;
    const [first, ...rest] = rs as RegionStatus[];
    const same = (r: RegionStatus): boolean =>
      r.epoch.confVer === first.epoch.confVer && r.epoch.version === first.epoch.version && r.applied === first.applied && r.lead === first.lead && r.commit === r.applied;
    if (first.lead === 0 || first.commit !== first.applied || !rest.every(same)) return `region ${regionId} not converged (${views})`;
    if (first.peers.length !== sts.length || first.peers.some((p) => p.role !== 'voter')) return `region ${regionId} has peers ${first.peers.map((p) => `${p.storeId}:${p.role}`).join(',')}`;
  }
  return undefined;
}

/** The outcome of comparing the replicas. */
export interface ReplicaComparison {
  regions: number;
  /** Differences between replicas (empty when they agree). */
  mismatches: string[];
  /** The data every replica holds (key → value, as text), when they agree. */
  data: Map<string, string>;
}

type Pairs = [string, string][];

/** One store's replica of one region, read from its engine. */
async function replicaData(stores: RemoteStoreResolver, storeId: number, r: RegionStatus): Promise<Pairs> {
  const range = r.endKey.length ? { start: r.startKey, end: r.endKey, limit: Infinity } : { start: r.startKey, limit: Infinity };
  const res = await stores.remote(storeId).scan(r.regionId, r.epoch, range, 'stale', { timeoutMs: REQUEST_TIMEOUT_MS });
  if (!res.ok) throw new Error(`stale scan of region ${r.regionId} on store ${storeId}: ${res.error.kind}`);
  return res.value.map((kv) => [codec.fromText(kv.key), codec.fromText(kv.value)]);
}

function appliedIndexes(sts: readonly StoreStatus[]): string {
  return JSON.stringify(sts.map((s) => s.regions.map((r) => [r.regionId, r.applied, r.epoch.version, r.epoch.confVer])));
}

/** Reads every replica of every data region and compares them; the stores must have converged. */
export async function compareReplicas(stores: RemoteStoreResolver, ids: readonly number[]): Promise<ReplicaComparison> {
  let lastProblem = '';
  for (let attempt = 0; attempt < COMPARE_ATTEMPTS_MAX; attempt++) {
    const before = await statuses(stores, ids);
    const why = before ? divergence(before) : 'a store did not answer status';
    if (why) throw new Error(`compareReplicas: ${why}`);
    const regionIds = dataRegionIds(before!);
    const replicas = await Promise.all(regionIds.map((regionId) => Promise.all(before!.map((s) => replicaData(stores, s.storeId, regionOf(s, regionId)!)))));
    const after = await statuses(stores, ids);
    if (!after || appliedIndexes(after) !== appliedIndexes(before!)) {
      lastProblem = 'applied indexes moved while reading the replicas';
      continue;
    }
    const mismatches: string[] = [];
    const data = new Map<string, string>();
    regionIds.forEach((regionId, i) => {
      const [first, ...rest] = replicas[i];
      rest.forEach((other, j) => {
        if (JSON.stringify(other) !== JSON.stringify(first)) {
          mismatches.push(`region ${regionId}: store ${before![0].storeId} has ${JSON.stringify(first)}, store ${before![j + 1].storeId} has ${JSON.stringify(other)}`);
        }
      });
      for (const [k, v] of first) data.set(k, v);
    });
    return { regions: regionIds.length, mismatches, data };
  }
  throw new Error(`compareReplicas: ${lastProblem} ${COMPARE_ATTEMPTS_MAX} times`);
}
