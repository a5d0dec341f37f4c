/**
 * PD's replicated commands (the closed union proposed through PD's Raft group) and the
 * results `PdStateMachine.apply` returns for them. Commands carry every input apply needs,
 * including the proposer's `nowMs`, so apply is deterministic on every replica.
 */
import type { ScheduleConfig } from './config.ts';
import type { PdError } from './errors.ts';
import type { Peer, Region, RegionEpoch, RegionHeartbeat, RegionId, StoreId, StoreLabels, StoreMeta, StoreState, StoreStats } from './meta.ts';

/** PD's own Raft group as written at bootstrap: its region id and first peers. */
export interface PdGroupInit {
  regionId: RegionId;
  /** The group's epoch as the store layer keeps it (later heartbeats are checked against it). */
  epoch: RegionEpoch;
  peers: Peer[];
}

/** Creates the cluster: once only. */
export interface BootstrapCommand {
  kind: 'bootstrap';
  clusterId: number;
  /** The first store (its `state` is taken as `up`). */
  store: StoreMeta;
  /** The first region: must cover all keys (empty start and end) with a peer on `store`. */
  region: Region;
  pdGroup: PdGroupInit;
  nowMs: number;
}

/**
 * Reserves `count` ids past the high-water mark for the proposer. `requesterId` (the PD
 * peer id), `requesterTerm` (its Raft term as leader) and `requestSeq` come back in the
 * result so only the proposing `IdAllocator`, in the term it proposed, takes the range, and
 * a replica replaying its log after a restart takes nothing.
 */
export interface AllocIdsCommand {
  kind: 'allocIds';
  count: number;
  requesterId: number;
  requesterTerm: number;
  requestSeq: number;
}

/**
 * Raises the persisted TSO bound: no leader may hand out a timestamp at or past it. The
 * proposer's (requesterId, requesterTerm) come back in the result: a `TsoAllocator` serves
 * only under windows it proposed itself in its current term.
 */
export interface TsoSaveWindowCommand {
  kind: 'tsoSaveWindow';
  maxPhysicalMs: number;
  requesterId: number;
  requesterTerm: number;
}

/**
 * A store joins (`storeId` 0: a new id is allocated) or updates its address and labels.
 * `publicKey`: its identity key, recorded at the join, or by an update when the store has
 * none yet (a store made before keys); an update with a different key than the recorded one
 * is refused (`StoreKeyMismatch`), and one without a key keeps the recorded one.
 */
export interface PutStoreCommand {
  kind: 'putStore';
  storeId: StoreId;
  address: string;
  labels: StoreLabels;
  nowMs: number;
  publicKey?: Uint8Array;
}

/** A store's periodic stats, stamped with the PD leader's clock. */
export interface StoreHeartbeatCommand {
  kind: 'storeHeartbeat';
  stats: StoreStats;
  nowMs: number;
}

/** up ⇄ offline, offline → tombstone (only when it holds no peers, unless `force`). */
export interface SetStoreStateCommand {
  kind: 'setStoreState';
  storeId: StoreId;
  state: StoreState;
  force: boolean;
}

/** A region leader's report, stamped with the PD leader's clock. */
export interface RegionHeartbeatCommand {
  kind: 'regionHeartbeat';
  heartbeat: RegionHeartbeat;
  nowMs: number;
}

/** Replaces the replicated schedule config. */
export interface SetScheduleConfigCommand {
  kind: 'setScheduleConfig';
  config: ScheduleConfig;
}

/**
 * Raises the replicated GC safe point: versions older than it may be collected, and no
 * transaction may read below it. Proposed by the PD leader's `GcSafePointKeeper`; a value
 * at or below the current safe point changes nothing (it never moves back).
 */
export interface SetGcSafePointCommand {
  kind: 'setGcSafePoint';
  /** A TSO timestamp. */
  safePoint: bigint;
}

/** Every command PD's state machine applies. */
export type PdCommand =
  | BootstrapCommand
  | AllocIdsCommand
  | TsoSaveWindowCommand
  | PutStoreCommand
  | StoreHeartbeatCommand
  | SetStoreStateCommand
  | RegionHeartbeatCommand
  | SetScheduleConfigCommand
  | SetGcSafePointCommand;

/** What applying a command produced; the store hands it to the proposer. */
export type PdApplyResult =
  | { kind: 'bootstrapped'; clusterId: number }
  | { kind: 'idsAllocated'; firstId: number; lastId: number; requesterId: number; requesterTerm: number; requestSeq: number }
  | { kind: 'tsoWindowSaved'; maxPhysicalMs: number; maxPersistedPhysicalMs: number; requesterId: number; requesterTerm: number }
  /** `replacedStoreIds`: earlier incarnations at the same address, now offline. */
  | { kind: 'storePut'; storeId: StoreId; isNew: boolean; replacedStoreIds: StoreId[] }
  | { kind: 'storeUpdated'; storeId: StoreId }
  /** A region heartbeat was accepted; `removedRegionIds` are older overlapping regions it replaced. */
  | { kind: 'regionUpdated'; regionId: RegionId; removedRegionIds: RegionId[] }
  | { kind: 'configSet' }
  /** The safe point after the command (`advanced`: it moved). */
  | { kind: 'gcSafePointSet'; gcSafePoint: bigint; advanced: boolean }
  | { kind: 'refused'; error: PdError };
