/**
 * What the client talks to. A `KvService` is one store's request API (the in-process `Store`
 * itself, or a proxy to a store in a Worker or across the network); a `PdService` answers
 * routing questions. The client never sees Raft.
 */
import type { Peer, Region, RegionEpoch, StoreMeta } from '@peerkv/pd';
import type { KvOp, ReadConsistency, RequestOptions, Result, WriteRequestOptions } from '@peerkv/store';

export interface KvPair {
  key: Uint8Array;
  value: Uint8Array;
}

/** One store's request API (the subset of `Store` the client uses). */
export interface KvService {
  readonly storeId: number;
  write(regionId: number, epoch: RegionEpoch, clientId: string, seq: number, ops: KvOp[], o?: WriteRequestOptions): Promise<Result<void>>;
  get(regionId: number, epoch: RegionEpoch, key: Uint8Array, consistency?: ReadConsistency, o?: RequestOptions): Promise<Result<Uint8Array | undefined>>;
  scan(
    regionId: number,
    epoch: RegionEpoch,
    range: { start: Uint8Array; end?: Uint8Array; limit: number; reverse?: boolean },
    consistency?: ReadConsistency,
    o?: RequestOptions,
  ): Promise<Result<KvPair[]>>;
}

/** A region and the peer PD believes leads it. */
export interface RegionRoute {
  region: Region;
  leader?: Peer;
}

/** Routing answers (PD, or a stand-in in tests). */
export interface PdService {
  getRegion(key: Uint8Array, o?: { signal?: AbortSignal }): Promise<RegionRoute | undefined>;
  getRegionById(regionId: number, o?: { signal?: AbortSignal }): Promise<RegionRoute | undefined>;
  getStore(storeId: number, o?: { signal?: AbortSignal }): Promise<StoreMeta | undefined>;
}

/** Finds the `KvService` of a store (a connection pool). */
export interface StoreResolver {
  store(storeId: number): KvService | undefined;
}

/** One store as `status()` shows it. */
export interface StoreStatusView {
  storeId: number;
  up: boolean;
  stoppedReason?: string;
  regions: {
    regionId: number;
    peerId: number;
    role: string;
    term: number;
    lead: number;
    commit: number;
    applied: number;
    epoch: { confVer: number; version: number };
    startKey: Uint8Array;
    endKey: Uint8Array;
    peers: { id: number; storeId: number; role: string }[];
  }[];
}

/** The cluster as the client can see it: stores, their region replicas, PD's operators. */
export interface ClusterStatus {
  stores: StoreStatusView[];
  /** Operators running on the PD leader (empty without PD). */
  operators: { regionId: number; kind: string; desc: string }[];
}

/** Where `PeerKV.status()` gets its answer. */
export interface StatusSource {
  clusterStatus(): Promise<ClusterStatus>;
}
