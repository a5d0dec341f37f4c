/**
 * Cluster metadata shared by the placement driver, stores and clients (TiKV's `metapb`):
 * stores, regions, peers and epochs, and what stores and region leaders report to PD.
 * Plain data only; the codecs are in `meta-codec.ts`. `@peerkv/pd` re-exports these.
 */

/** A store's id (PD-allocated, never reused; bound to one storage incarnation). */
export type StoreId = number;
/** A region's id (PD-allocated). */
export type RegionId = number;
/** A peer's id: the Raft node id of one replica of one region (PD-allocated, unique cluster-wide). */
export type PeerId = number;

/**
 * A region's epoch: `confVer` bumps on every membership change, `version` on every split or
 * merge. A request or heartbeat carrying an older epoch than the receiver's is stale.
 */
export interface RegionEpoch {
  confVer: number;
  version: number;
}

/** A peer's Raft role; the two joint roles appear only while a joint conf change is in flight. */
export type PeerRole = 'voter' | 'learner' | 'incomingVoter' | 'demotingVoter';

/** One replica of a region: a Raft node on one store. */
export interface Peer {
  id: PeerId;
  storeId: StoreId;
  role: PeerRole;
  /**
   * A witness (TiKV's `is_witness`): it votes and keeps the Raft log, applies no user data,
   * never leads and serves no read. Set only on peers of a witness store (label `WITNESS_LABEL`, meta-codec.ts).
   * Absent means a full replica.
   */
  witness?: true;
}

/**
 * A region: the half-open key range [startKey, endKey) replicated by one Raft group. An
 * empty `endKey` means "to the end of the key space"; an empty `startKey` is the beginning.
 */
export interface Region {
  id: RegionId;
  startKey: Uint8Array;
  endKey: Uint8Array;
  epoch: RegionEpoch;
  peers: Peer[];
}

/** `up` serves; `offline` is being drained of its peers; `tombstone` is gone for good. */
export type StoreState = 'up' | 'offline' | 'tombstone';

/** Labels place replicas (e.g. `device`, `browser`); PD spreads a region's replicas across distinct values. */
export type StoreLabels = Record<string, string>;

/** A store as PD registers it. */
export interface StoreMeta {
  id: StoreId;
  /** How peers reach it (transport-specific, e.g. a WebRTC peer name). */
  address: string;
  labels: StoreLabels;
  state: StoreState;
  /**
   * The store's identity public key (`STORE_PUBLIC_KEY_BYTES`), recorded when it joins (or,
   * for a store made before keys, on its first restart with one) and never replaced: links
   * claiming this store id must be signed by its private key. Absent for stores without one.
   */
  publicKey?: Uint8Array;
}

/** What a store reports periodically. */
export interface StoreStats {
  storeId: StoreId;
  capacityBytes: number;
  usedBytes: number;
  availableBytes: number;
  regionCount: number;
  leaderCount: number;
  /** The store is closing (e.g. a tab going away): move its leaders elsewhere. */
  draining: boolean;
  /**
   * Regions whose replica here cannot serve: a received snapshot whose staged stream is gone or
   * corrupt (TiKV's `damaged_regions_id`). PD replaces such a replica; at most
   * `DAMAGED_REGIONS_MAX`, absent when none.
   */
  damagedRegionIds?: number[];
}

/** What a region's leader reports periodically. */
export interface RegionHeartbeat {
  region: Region;
  leader: Peer;
  /** Peers the leader has not heard from recently. */
  downPeers: PeerId[];
  /** Peers still catching up (learners being built, snapshots in flight). */
  pendingPeers: PeerId[];
  approximateSizeBytes: number;
  approximateKeys: number;
  writtenBytesPerSec: number;
  term: number;
}
