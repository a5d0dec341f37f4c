/**
 * `ClusterAdmin`: what an operator asks of a networked cluster from a client that is not a
 * store (`kv.admin` of `PeerKV.connect`, the `peerkv` CLI's `status`, `members`, `region`,
 * `split`, `transfer-leader`). Everything goes through requests the stores already serve:
 * each store's own `status` (its region replicas, their roles and terms), PD's routing reads
 * (`pdGetRegion`, `pdGetRegionById`, `pdGetStore`, `pdGetTimestamps`), its schedule config
 * (`pdGetScheduleConfig`, for the join figure) and ids (`pdAllocId`),
 * and the region leader's `split` and `transferLeader`.
 *
 * Draining is the store's own `setDraining` request (TiKV's evict-leader: the store hands its
 * leaderships away and reports draining, so PD keeps leaders off it until it is undone or the
 * store restarts).
 *
 * What it cannot see: PD's running operators and the stores PD knows that no connected store
 * names (PD has no "list" request); `status` shows the stores that are connected or hold a
 * replica of a region a connected store holds.
 */
import { PD_REGION_ID, isTempStoreId, type SnapshotProgress, type StoreStatus } from '@peerkv/store';
import { compareKeys, type JoinProgress, type Peer, type RegionEpoch, type StoreMeta } from '@peerkv/pd';
import { adminJoinProgress, type JoinSchedule } from './admin-join.ts';
import type { WebRtcTransport } from '@peerkv/transport';
import { splitRegionAt, type ClusterStatus, type RemotePdService, type RemoteStoreResolver, type StatusSource } from 'peerkv';

/** Time one store's `status` may take, ms. */
export const ADMIN_STATUS_TIMEOUT_MS = 2000;
/** Default wait for a leadership transfer to show on the target store, ms. */
export const TRANSFER_WAIT_MS_DEFAULT = 5000;
/** Longest wait for a leadership transfer, ms. */
export const TRANSFER_WAIT_MS_MAX = 60_000;
/** Poll period while waiting for a transfer, ms. */
const TRANSFER_POLL_MS = 100;
/** Longest a drain waits for a store PD knows to connect to this client, ms. */
export const ADMIN_CONNECT_WAIT_MS = 5000;
/** Stores `status` asks at most (the connected ones and those their regions name). */
export const ADMIN_STORES_MAX = 256;

/** Why an admin request did not happen. */
export type AdminErrorKind = 'NotFound' | 'Unavailable' | 'Refused' | 'InvalidArgument';

/** An admin request that did not happen, and why. */
export class AdminError extends Error {
  override readonly name = 'AdminError';
  constructor(
    readonly kind: AdminErrorKind,
    message: string,
  ) {
    super(message);
  }
}

/** One store as `status` shows it. */
export interface StoreInfo {
  storeId: number;
  /** PD's record of it (absent: PD did not answer or does not know it). */
  meta?: StoreMeta;
  /** Connected to this client. */
  connected: boolean;
  /** Answered its own status. */
  up: boolean;
  /** Replicas it holds (data and PD), and how many it leads. */
  replicas: number;
  leaders: number;
  stoppedReason?: string;
  /** Snapshots it is sending and receiving, bytes moved so far, and the regions applying one (a store catching up or joining). */
  snapshots?: SnapshotProgress;
  /** Its join progress: k of n regions placed on it, m caught up, under PD's schedule config (`admin-join.ts`; absent: it did not answer, or PD does not know it or did not answer). */
  join?: JoinProgress;
}

/** One region as the stores that hold it report it (the newest epoch wins). */
export interface RegionInfo {
  regionId: number;
  startKey: Uint8Array;
  endKey: Uint8Array;
  epoch: RegionEpoch;
  peers: Peer[];
  /** The store whose replica says it leads, at the highest term seen (absent: none). */
  leaderStoreId?: number;
  term: number;
  /** `PD_REGION_ID`: the Raft group PD itself runs in. */
  pd: boolean;
}

/** The cluster as this client can see it. */
export interface ClusterView {
  stores: StoreInfo[];
  regions: RegionInfo[];
  /** The store leading PD's Raft group (where TSO and PD writes are served). */
  pdLeaderStoreId?: number;
  /** A fresh TSO timestamp (absent: PD did not answer). */
  tso?: bigint;
  /** PD's schedule settings the join figures were computed with (absent: PD did not answer, and no store has a join figure). */
  schedule?: JoinSchedule;
}

/** See the module header. */
export class ClusterAdmin implements StatusSource {
  constructor(
    private readonly transport: WebRtcTransport,
    private readonly pd: RemotePdService,
    private readonly stores: RemoteStoreResolver,
  ) {}

  /** The stores connected to this client (other clients' temporary ids left out), ascending. */
  members(): number[] {
    return this.transport
      .peers()
      .filter((id) => !isTempStoreId(id))
      .sort((a, b) => a - b);
  }

  /** Stores, regions, leaders, PD's leader and a TSO timestamp; see the module header for what it cannot see. */
  async status(): Promise<ClusterView> {
    const statuses = await this.storeStatuses();
    const regions = mergeRegions([...statuses.values()].filter((s): s is StoreStatus => s !== undefined));
    const ids = [...statuses.keys()].sort((a, b) => a - b);
    const members = new Set(this.members());
    const metas = await Promise.all(ids.map((storeId) => this.pd.getStore(storeId, { signal: AbortSignal.timeout(ADMIN_STATUS_TIMEOUT_MS) }).catch(() => undefined)));
    const known = metas.filter((m): m is StoreMeta => m !== undefined);
    const schedule = await this.pd.getScheduleConfig({ signal: AbortSignal.timeout(ADMIN_STATUS_TIMEOUT_MS) }).catch(() => undefined);
    const stores = ids.map((storeId, i): StoreInfo => {
      const st = statuses.get(storeId);
      const meta = metas[i];
      const join = adminJoinProgress(regions, statuses, known, schedule, storeId);
      return {
        storeId,
        ...(meta ? { meta } : {}),
        connected: members.has(storeId),
        up: st !== undefined,
        replicas: st?.regions.length ?? 0,
        leaders: regions.filter((r) => r.leaderStoreId === storeId).length,
        ...(st?.stoppedReason ? { stoppedReason: st.stoppedReason } : {}),
        ...(st?.snapshotProgress ? { snapshots: st.snapshotProgress } : {}),
        ...(join ? { join } : {}),
      };
    });
    const pdRegion = regions.find((r) => r.pd);
    const tso = await this.pd
      .getTimestamps(1, { signal: AbortSignal.timeout(ADMIN_STATUS_TIMEOUT_MS) })
      .then((t) => t.first)
      .catch(() => undefined);
    return {
      stores,
      regions,
      ...(pdRegion?.leaderStoreId !== undefined ? { pdLeaderStoreId: pdRegion.leaderStoreId } : {}),
      ...(tso !== undefined ? { tso } : {}),
      ...(schedule ? { schedule: { maxReplicas: schedule.maxReplicas, regionScheduleTolerance: schedule.regionScheduleTolerance } } : {}),
    };
  }

  /** `PeerKV.status()`'s answer: every store seen, with its replicas as it reports them (no operators: PD's are not visible over RPC). */
  async clusterStatus(): Promise<ClusterStatus> {
    const statuses = await this.storeStatuses();
    const stores = [...statuses.entries()]
      .sort(([a], [b]) => a - b)
      .map(([storeId, st]) => ({
        storeId,
        up: st !== undefined,
        ...(st?.stoppedReason ? { stoppedReason: st.stoppedReason } : {}),
        regions: (st?.regions ?? []).map((r) => ({
          regionId: r.regionId,
          peerId: r.peerId,
          role: r.role,
          term: r.term,
          lead: r.lead,
          commit: r.commit,
          applied: r.applied,
          epoch: r.epoch,
          startKey: r.startKey,
          endKey: r.endKey,
          peers: r.peers.map((p) => ({ id: p.id, storeId: p.storeId, role: p.role })),
        })),
      }));
    return { stores, operators: [] };
  }

  /** The data region holding `key` and its leader, as PD routes it; `NotFound` if PD knows none. */
  async region(key: Uint8Array): Promise<RegionInfo> {
    const rt = await this.pd.getRegion(key);
    if (!rt) throw new AdminError('NotFound', 'PD knows no region for this key');
    const { region, leader } = rt;
    return { regionId: region.id, startKey: region.startKey, endKey: region.endKey, epoch: region.epoch, peers: region.peers, ...(leader ? { leaderStoreId: leader.storeId } : {}), term: 0, pd: false };
  }

  /** Splits the region holding `key` at it (`splitRegionAt`); answers the new region's id (the right half). */
  async split(key: Uint8Array): Promise<{ regionId: number; newRegionId: number }> {
    if (key.length === 0) throw new AdminError('InvalidArgument', 'the split key must not be empty');
    const r = await splitRegionAt(
      {
        pd: this.pd,
        allocId: () => this.pd.caller.call({ type: 'pdAllocId' }, 'pdId'),
        split: (storeId, regionId, epoch, splitKey, newRegionId, newPeerIds) => this.stores.remote(storeId).split(regionId, epoch, splitKey, newRegionId, newPeerIds),
      },
      key,
    );
    if (r.ok) return { regionId: r.regionId, newRegionId: r.newRegionId };
    throw new AdminError(r.reason === 'NoRoute' ? 'NotFound' : r.reason === 'NoId' ? 'Unavailable' : 'Refused', r.message);
  }

  /**
   * Asks the leader of data region `regionId` to hand its leadership to the voter on store
   * `storeId`, and waits up to `waitMs` for that store's replica to report itself leader.
   * `NotFound`: no such region, or no voter of it on that store; `Refused`: the leader did
   * not take the request, or the leadership did not arrive in time (PD's balancer may also
   * move it again later: it is a request, not a pin).
   */
  async transferLeader(regionId: number, storeId: number, waitMs = TRANSFER_WAIT_MS_DEFAULT): Promise<{ alreadyLeader: boolean; waitedMs: number }> {
    if (!Number.isSafeInteger(waitMs) || waitMs < 0 || waitMs > TRANSFER_WAIT_MS_MAX) throw new AdminError('InvalidArgument', `the wait must be 0..${TRANSFER_WAIT_MS_MAX} ms`);
    if (regionId === PD_REGION_ID) throw new AdminError('InvalidArgument', `region ${PD_REGION_ID} is PD's own group: PD places its leader`);
    const rt = await this.pd.getRegionById(regionId);
    if (!rt) throw new AdminError('NotFound', `PD knows no region ${regionId}`);
    const target = rt.region.peers.find((p) => p.storeId === storeId);
    if (!target || target.role !== 'voter') throw new AdminError('NotFound', `region ${regionId} has no voter on store ${storeId}`);
    const t0 = performance.now();
    if (await this.leads(storeId, regionId)) return { alreadyLeader: true, waitedMs: 0 };
    const leader = rt.leader?.storeId;
    if (leader === undefined) throw new AdminError('Refused', `region ${regionId} has no leader to hand over from`);
    const r = await this.stores.remote(leader).transferLeader(regionId, target.id);
    if (!r.ok) throw new AdminError('Refused', `store ${leader} refused the transfer: ${r.error.kind}`);
    while (performance.now() - t0 < waitMs) {
      if (await this.leads(storeId, regionId)) return { alreadyLeader: false, waitedMs: Math.round(performance.now() - t0) };
      await new Promise((res) => setTimeout(res, TRANSFER_POLL_MS));
    }
    throw new AdminError('Refused', `store ${storeId} did not become leader of region ${regionId} within ${waitMs} ms`);
  }

  /**
   * Marks store `storeId` draining and waits up to `waitMs` until it leads no region
   * (`Refused` if it still does: e.g. no other voter to hand a region to); with `undo`, marks it
   * serving again (PD may then move leaders back). `NotFound`: the store is not connected here.
   */
  async drain(storeId: number, o: { undo?: boolean; waitMs?: number } = {}): Promise<{ draining: boolean; leaders: number; waitedMs: number }> {
    const waitMs = o.waitMs ?? TRANSFER_WAIT_MS_DEFAULT;
    if (!Number.isSafeInteger(waitMs) || waitMs < 0 || waitMs > TRANSFER_WAIT_MS_MAX) throw new AdminError('InvalidArgument', `the wait must be 0..${TRANSFER_WAIT_MS_MAX} ms`);
    await this.connectedTo(storeId);
    const draining = o.undo !== true;
    const r = await this.stores.remote(storeId).setDraining(draining);
    if (!r.ok) throw new AdminError('Unavailable', `store ${storeId} did not take it: ${r.error.kind}`);
    const t0 = performance.now();
    let leaders = await this.leaderCount(storeId);
    while (draining && leaders !== 0 && performance.now() - t0 < waitMs) {
      await new Promise((res) => setTimeout(res, TRANSFER_POLL_MS));
      leaders = await this.leaderCount(storeId);
    }
    if (draining && leaders !== 0) throw new AdminError('Refused', `store ${storeId} is draining but still leads ${leaders < 0 ? 'an unknown number of' : leaders} regions after ${waitMs} ms`);
    return { draining, leaders, waitedMs: Math.round(performance.now() - t0) };
  }

  /** How many region replicas on store `storeId` lead (-1: it did not answer). */
  /**
   * Waits until store `storeId` is connected to this client: a fresh client dials the stores
   * after PD first answers, so one PD knows may still be connecting (the CLI runs a new client
   * per command). `NotFound` at once for a store PD does not know, and after
   * `ADMIN_CONNECT_WAIT_MS` for one that never connects.
   */
  private async connectedTo(storeId: number): Promise<void> {
    if (this.members().includes(storeId)) return;
    // PD unreachable: not known either way, so wait as for a known store.
    const meta = await this.pd.getStore(storeId, { signal: AbortSignal.timeout(ADMIN_STATUS_TIMEOUT_MS) }).catch(() => 'unknown' as const);
    if (meta === undefined) throw new AdminError('NotFound', `store ${storeId} is not known to PD`);
    const t0 = performance.now();
    while (performance.now() - t0 < ADMIN_CONNECT_WAIT_MS) {
      await new Promise((res) => setTimeout(res, TRANSFER_POLL_MS));
      if (this.members().includes(storeId)) return;
    }
    throw new AdminError('NotFound', `store ${storeId} is not connected to this client (waited ${ADMIN_CONNECT_WAIT_MS} ms)`);
  }

  private async leaderCount(storeId: number): Promise<number> {
    const st = await this.stores.remote(storeId).status({ timeoutMs: ADMIN_STATUS_TIMEOUT_MS });
    return st.ok ? st.value.regions.filter((r) => r.role === 'leader').length : -1;
  }

  /** Whether store `storeId`'s replica of `regionId` says it leads. */
  private async leads(storeId: number, regionId: number): Promise<boolean> {
    const st = await this.stores.remote(storeId).status({ timeoutMs: ADMIN_STATUS_TIMEOUT_MS });
    return st.ok && st.value.regions.some((r) => r.regionId === regionId && r.role === 'leader');
  }

  /** The status of every connected store and of every store their regions name (undefined: no answer). */
  private async storeStatuses(): Promise<Map<number, StoreStatus | undefined>> {
    const out = new Map<number, StoreStatus | undefined>();
    const ask = async (ids: number[]): Promise<void> => {
      await Promise.all(
        ids.map(async (id) => {
          const r = await this.stores.remote(id).status({ timeoutMs: ADMIN_STATUS_TIMEOUT_MS });
          out.set(id, r.ok ? r.value : undefined);
        }),
      );
    };
    await ask(this.members().slice(0, ADMIN_STORES_MAX));
    // Stores named by a replica but not connected: a fresh client (the CLI runs one per command)
    // dials the stores one by one, so give their links up to ADMIN_CONNECT_WAIT_MS, then ask
    // each once (a store that never connected likely answers nothing).
    const named = new Set<number>();
    for (const st of out.values()) for (const r of st?.regions ?? []) for (const p of r.peers) if (!out.has(p.storeId)) named.add(p.storeId);
    const t0 = performance.now();
    while ([...named].some((id) => !this.members().includes(id)) && performance.now() - t0 < ADMIN_CONNECT_WAIT_MS) {
      await new Promise((res) => setTimeout(res, TRANSFER_POLL_MS));
    }
    await ask([...named].slice(0, Math.max(0, ADMIN_STORES_MAX - out.size)));
    return out;
  }
}

/** One entry per region from every replica's report: the newest epoch's range and peers, the leader at the highest term. */
export function mergeRegions(statuses: readonly StoreStatus[]): RegionInfo[] {
  const byId = new Map<number, RegionInfo>();
  for (const st of statuses) {
    for (const r of st.regions) {
      let info = byId.get(r.regionId);
      if (!info || newerEpoch(r.epoch, info.epoch)) {
        const keep = info;
        info = { regionId: r.regionId, startKey: r.startKey, endKey: r.endKey, epoch: r.epoch, peers: r.peers, term: keep?.term ?? 0, pd: r.regionId === PD_REGION_ID, ...(keep?.leaderStoreId !== undefined ? { leaderStoreId: keep.leaderStoreId } : {}) };
        byId.set(r.regionId, info);
      }
      if (r.role === 'leader' && r.term >= info.term) {
        info.term = r.term;
        info.leaderStoreId = st.storeId;
      }
    }
  }
  return [...byId.values()].sort((a, b) => (a.pd !== b.pd ? (a.pd ? -1 : 1) : compareKeys(a.startKey, b.startKey)));
}

function newerEpoch(a: RegionEpoch, b: RegionEpoch): boolean {
  return a.version > b.version || (a.version === b.version && a.confVer > b.confVer);
}
