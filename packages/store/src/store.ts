/**
 * `Store`: the node. It hosts many region peers (multi-Raft) over one `KvEngine` and runs
 * the batch loop: each round collects the Ready of every active peer, persists all of them
 * and their applied state in ONE engine write (group commit), sends messages (votes and acks
 * only after the write), resolves requests and advances. One tick timer drives every peer;
 * idle peers hibernate.
 */
import type { OperatorStep, PdApplyResult, PdCommand, Peer, Region, RegionEpoch, RegionError, RegionHeartbeat, StoreStats } from '@peerkv/pd';
import { PdStateMachine, compareKeys, encodePdCommand, regionContainsKey, shouldProposeRegionHeartbeat } from '@peerkv/pd';
import {
  DEFAULT_CONFIG,
  ProposalDroppedError,
  RawNode,
  SeededRng,
  emptyConfState,
  encodeConfChange,
  type ConfChangeSingle,
  type ConfState,
  type Config as RaftConfig,
  type Message,
  type Ready,
  type Snapshot,
} from '@peerkv/raft';
import { RaftLogStore, WriteBatch, type Durability, type KvEngine, type RaftWriteBatch, type RegionLog } from '@peerkv/storage';
import type { RegionMessage } from '@peerkv/transport';
import { decodeRegion, encodeCommand, encodeConfChangeContext, type KvOp } from './command.ts';
import { DedupTable, decodeDedupRecord, stageDedupTable, type DedupEntry } from './dedup.ts';
import { DATA_CF, META_CF, REGION_STATE_PREFIX_END, REGION_STATE_PREFIX_START, RAFT_CF, STORE_BOOT_KEY, STORE_IDENT_KEY, dedupPrefix, prefixEnd, regionStateKey } from './keys.ts';
import { RegionPeer, encodeRegionState, ok, rolesOf, type ApplyEffects, type Result } from './peer.ts';
import { decodeSnapshotPayload, encodeSnapshotPayload } from './snapshot.ts';
import type { PdClient, RegionHeartbeatResponse } from './pd-client.ts';
import { PD_PERSIST_EVERY_ENTRIES, PD_REGION_ID, PD_SNAPSHOT_PAIR_KEY, PD_STATE_KEY, PdHost, decodePdState, encodePdState } from './pd-host.ts';

/**
 * Ids a new cluster starts with (PD, stores, regions and peers share one id space, so they
 * are distinct); PD allocates every later id above them.
 */
export const BOOTSTRAP_IDS = { pdRegion: PD_REGION_ID, store: 2, dataRegion: 3, pdPeer: 4, dataPeer: 5 } as const;

/** Heartbeat intervals a replica goes without a leader (or without a message) before it asks PD whether it was removed. */
export const STALE_CHECK_HEARTBEATS = 3;
/** A hibernating replica (silent by design) asks this many times less often. */
export const STALE_CHECK_HIBERNATING_FACTOR = 10;

/** Keys counted per region for heartbeats and split-key choice. */
export const REGION_KEYS_COUNT_MAX = 200_000;

/** Vote requests kept for regions a pending split will create here (see `Store.pendingVotes`). */
export const PENDING_VOTES_MAX = 256;

/** Attempts of an id or timestamp request (each may wait for one Raft round). */
export const PD_ALLOC_ATTEMPTS_MAX = 50;

/** The first log index of every region: a fresh peer always starts from a snapshot (TiKV's RAFT_INIT_LOG_INDEX). */
export const RAFT_INIT_INDEX = 5;
export const RAFT_INIT_TERM = 5;

/** Where the store sends Raft messages (the transport adapter). */
export interface StoreTransport {
  send(toStoreId: number, messages: RegionMessage[]): void;
}

/** Injectable timers (a simulator passes virtual ones). */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const REAL_TIMERS: Timers = {
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (h) => globalThis.clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** Store settings; every limit is named with its unit. */
export interface StoreOptions {
  storeId: number;
  clusterId: string;
  /** Opened with the column families `STORE_CFS`. */
  engine: KvEngine;
  transport: StoreTransport;
  /** Wall-clock ms between ticks. */
  tickIntervalMs?: number;
  /** Raft settings for every peer (ticks are store ticks). */
  raft?: Partial<Pick<RaftConfig, 'electionTicks' | 'heartbeatTicks' | 'maxSizePerMsgBytes' | 'maxInflightMsgs' | 'maxUncommittedEntriesBytes' | 'preVote' | 'checkQuorum' | 'readOnly'>>;
  /**
   * Durability of every Raft write. `strict` (default) keeps votes and acks safe across power
   * loss; `relaxed` is faster but a power cut may lose acknowledged writes.
   */
  durability?: Durability;
  timers?: Timers;
  /** Seeds the peers' election-timeout randomness. */
  seed?: number;
  /** Compact a region's log once it holds more entries than this. */
  logGcThresholdEntries?: number;
  /** Entries kept behind the applied index when compacting (lagging followers catch up from them). */
  logGcKeepEntries?: number;
  /** Ticks without new entries after which a caught-up region stops ticking. */
  hibernateAfterTicks?: number;
  /** Default per-request timeout, ms. */
  requestTimeoutMs?: number;
  /** Requests waiting in one region before new ones get `ServerIsBusy`. */
  pendingRequestsPerRegionMax?: number;
  /** Wall clock for PD (TSO, heartbeat times); `Date.now` by default. */
  now?: () => number;
  /** Reaches the PD leader for heartbeats and ids; without it the store runs unscheduled. */
  pdClient?: PdClient;
  /** Ticks between heartbeats to PD. */
  heartbeatIntervalTicks?: number;
  /** How peers reach this store (reported to PD). */
  address?: string;
  /** Placement labels (e.g. `device`, `browser`). */
  labels?: Record<string, string>;
  /** Storage capacity reported to PD, bytes (a browser passes its storage estimate). */
  capacityBytes?: number;
  /** Test-only deliberate bugs (the simulator's mutation suite); never set outside tests. */
  unsafeTestMutations?: StoreTestMutations;
}

/**
 * Deliberate store-layer bugs, so the simulator's checkers can be shown to catch each one.
 * Never set outside tests.
 */
export interface StoreTestMutations {
  /** Apply every write, also a retry already applied (at-most-once off). */
  dedupOff?: boolean;
  /** The right half of a split copies the parent's dedup records after the whole batch, not at the split entry. */
  splitDedupAfterBatch?: boolean;
  /** Send votes and append acks before the write that backs them. */
  ackBeforePersist?: boolean;
  /** Leaders answer ReadIndex before an entry of their term commits (Raft mutation). */
  readIndexWithoutTermCommit?: boolean;
  /** Snapshots carry no dedup records (a column family missing from the snapshot). */
  snapshotWithoutDedup?: boolean;
  /** Read contexts restart at 1 when the store restarts (no boot counter). */
  restartedReadContext?: boolean;
}

/** One region replica's state for the cross-replica consistency check. */
export interface RegionDigest {
  regionId: number;
  peerId: number;
  applied: number;
  epoch: RegionEpoch;
  /** 64-bit hash (hex) of the region's data pairs and dedup records, as of `applied`. */
  hash: string;
  /** Data pairs hashed. */
  keys: number;
}

/** How a read is served. */
export type ReadConsistency =
  /** ReadIndex through the leader (default): linearizable. */
  | 'linearizable'
  /** ReadIndex from any replica (follower read): linearizable, served locally once caught up. */
  | 'follower'
  /** The replica's local state, possibly stale. */
  | 'stale';

export interface RequestOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** A write's options: its client's acknowledgement floor besides the timeout. */
export interface WriteRequestOptions extends RequestOptions {
  /** The client has a final answer for every seq below this (see dedup.ts); 0 acknowledges nothing. */
  ackFloor?: number;
}

export interface StoreStatus {
  storeId: number;
  /** Why the store stopped, if it did (a failed write or a broken invariant). */
  stoppedReason?: string;
  counters: StoreCounters;
  regions: {
    regionId: number;
    peerId: number;
    startKey: Uint8Array;
    endKey: Uint8Array;
    epoch: RegionEpoch;
    peers: Peer[];
    role: string;
    term: number;
    lead: number;
    commit: number;
    applied: number;
    hibernating: boolean;
  }[];
}

/** Monotonic counters of one store. */
export interface StoreCounters {
  rounds: number;
  writes: number;
  snapshotsGenerated: number;
  snapshotsInstalled: number;
  logCompactions: number;
}

/** Who a store's engine belongs to. */
export interface StoreIdentity {
  storeId: number;
  clusterId: string;
}

/** The engine belongs to another store or cluster. */
export class StoreIdentityError extends Error {
  override readonly name = 'StoreIdentityError';
}

/** A request refused because the store is closed. */
export class StoreClosedError extends Error {
  override readonly name = 'StoreClosedError';
}

/** A split's right half staged in a round's write, started once it is durable. */
interface SplitPlan {
  region: Region;
  peerId: number;
  log: RegionLog;
  dedup: DedupTable;
  parentLeader: boolean;
  /** An uninitialized replica of the region, replaced by the new one. */
  existing: RegionPeer | undefined;
}

interface PendingCreate {
  messages: { from: number; msg: RegionMessage }[];
}

const encoder = new TextEncoder();

export class Store {
  readonly storeId: number;
  readonly clusterId: string;
  private readonly engine: KvEngine;
  private readonly logs: RaftLogStore;
  private readonly transport: StoreTransport;
  private readonly timers: Timers;
  private readonly rng: SeededRng;
  private readonly opts: Required<Omit<StoreOptions, 'engine' | 'transport' | 'timers' | 'raft' | 'seed' | 'storeId' | 'clusterId' | 'now' | 'pdClient' | 'labels' | 'unsafeTestMutations'>>;
  private readonly pdClient: PdClient | undefined;
  private readonly labels: Record<string, string>;
  private ticks = 0;
  private heartbeating = false;
  /** The store is going away (a closing tab): PD moves its leaders elsewhere. */
  draining = false;
  private readonly now: () => number;
  private readonly raftOpts: NonNullable<StoreOptions['raft']>;
  private readonly peers = new Map<number, RegionPeer>();
  /** Peer ids destroyed on this store: their messages never recreate them (a re-added replica gets a new peer id). */
  private readonly tombstones = new Set<number>();
  /** Where peers live, learned from region metadata and from incoming messages. */
  private readonly peerStores = new Map<number, number>();
  private readonly creating = new Map<number, PendingCreate>();
  /**
   * Regions whose replica is being destroyed (its write in flight): no new replica of them is
   * created until it is done, or the new one would hold the old log's in-memory view, which the
   * destroy then unloads ("region N is not open").
   */
  private readonly destroying = new Set<number>();
  /**
   * Vote requests for regions not hosted here yet, kept (at most `PENDING_VOTES_MAX`, oldest
   * dropped) for a split's right half this store has not applied yet: the new region's leader
   * campaigns as soon as its split applies, and its votes would be lost until an election
   * timeout later (TiKV's pending messages of split peers).
   */
  private readonly pendingVotes: { from: number; msg: RegionMessage }[] = [];
  /** After a restart, PD's state is rebuilt by replaying its log up to here: it answers nothing before. */
  private pdReplayTarget = 0;
  /** Right halves of splits staged in the round's write in flight (their replicas start after it). */
  private splitsInFlight: Region[] = [];
  /** Regions whose local replica is stale (a newer peer id was addressed): replaced at the next round. */
  private readonly staleReplacements = new Map<number, { from: number; msg: RegionMessage }[]>();
  /** Regions whose local replica PD says was removed: destroyed at the next round. */
  private readonly staleDestroys = new Set<number>();
  private tickHandle: unknown;
  private roundScheduled = false;
  private roundRunning = false;
  private closed = false;
  private readSeq = 0;
  /** Times this store's engine was opened (persisted): read contexts of an earlier run never collide with ours. */
  private boot = 0;
  private readonly mutations: StoreTestMutations;
  private readonly counters: StoreCounters = { rounds: 0, writes: 0, snapshotsGenerated: 0, snapshotsInstalled: 0, logCompactions: 0 };
  /** Set when a write failed: the store stops (its in-memory state is ahead of disk). */
  private fatal: unknown;

  private constructor(o: StoreOptions) {
    this.storeId = o.storeId;
    this.clusterId = o.clusterId;
    this.engine = o.engine;
    this.transport = o.transport;
    this.timers = o.timers ?? REAL_TIMERS;
    this.rng = new SeededRng(o.seed ?? o.storeId);
    this.raftOpts = o.raft ?? {};
    this.now = o.now ?? (() => Date.now());
    this.opts = {
      tickIntervalMs: o.tickIntervalMs ?? 100,
      durability: o.durability ?? 'strict',
      logGcThresholdEntries: o.logGcThresholdEntries ?? 1000,
      logGcKeepEntries: o.logGcKeepEntries ?? 50,
      hibernateAfterTicks: o.hibernateAfterTicks ?? 60,
      requestTimeoutMs: o.requestTimeoutMs ?? 5000,
      pendingRequestsPerRegionMax: o.pendingRequestsPerRegionMax ?? 4096,
      heartbeatIntervalTicks: o.heartbeatIntervalTicks ?? 10,
      address: o.address ?? `store:${o.storeId}`,
      capacityBytes: o.capacityBytes ?? 1024 * 1024 * 1024,
    };
    this.pdClient = o.pdClient;
    this.mutations = o.unsafeTestMutations ?? {};
    this.labels = o.labels ?? {};
    this.logs = new RaftLogStore({
      engine: o.engine,
      cf: RAFT_CF,
      onEntriesFetched: (regionId) => {
        this.wake(regionId);
        this.schedule();
      },
    });
  }

  /** The identity recorded in an engine by the store that used it, if any. */
  static async readIdentity(engine: KvEngine): Promise<StoreIdentity | undefined> {
    const v = await engine.get(META_CF, STORE_IDENT_KEY);
    if (!v) return undefined;
    const o = JSON.parse(new TextDecoder().decode(v)) as StoreIdentity;
    return o;
  }

  /**
   * Opens a store: checks the engine belongs to this store (an engine keeps the identity of
   * the store that first used it; a wiped engine has none and must join as a new store),
   * loads every region this store hosts and starts ticking.
   */
  static async open(o: StoreOptions): Promise<Store> {
    const ident = await Store.readIdentity(o.engine);
    if (ident && (ident.storeId !== o.storeId || ident.clusterId !== o.clusterId)) {
      throw new StoreIdentityError(`engine belongs to store ${ident.storeId} of cluster '${ident.clusterId}', not store ${o.storeId} of '${o.clusterId}'`);
    }
    if (!ident) {
      const b = new WriteBatch().put(META_CF, STORE_IDENT_KEY, encoder.encode(JSON.stringify({ storeId: o.storeId, clusterId: o.clusterId })));
      await o.engine.write(b, { durability: 'strict' });
    }
    const s = new Store(o);
    await s.bumpBoot();
    await s.loadRegions();
    s.startTicking();
    return s;
  }

  // ------------------------------------------------------------------ lifecycle

  /** Persists one more boot before any request is served (read contexts include it). */
  private async bumpBoot(): Promise<void> {
    const v = await this.engine.get(META_CF, STORE_BOOT_KEY);
    const prev = v && v.length === 8 ? new DataView(v.buffer, v.byteOffset).getFloat64(0) : 0;
    this.boot = prev + 1;
    const out = new Uint8Array(8);
    new DataView(out.buffer).setFloat64(0, this.boot);
    await this.engine.write(new WriteBatch().put(META_CF, STORE_BOOT_KEY, out), { durability: 'strict' });
  }

  private async loadRegions(): Promise<void> {
    for await (const { key, value } of this.engine.scan(META_CF, { start: REGION_STATE_PREFIX_START, end: REGION_STATE_PREFIX_END })) {
      const regionId = Number(new DataView(key.buffer, key.byteOffset).getBigUint64(1));
      if (value[0] === 2) {
        this.tombstones.add(decodeTombstonePeer(value));
        continue;
      }
      const region = decodeRegion(value.subarray(1));
      const me = region.peers.find((p) => p.storeId === this.storeId);
      if (!me) continue;
      const log = await this.logs.open(regionId);
      if (regionId === PD_REGION_ID) {
        // PD's state lives in memory: resume from its persisted snapshot and replay after it.
        const stored = await this.engine.get(META_CF, PD_STATE_KEY);
        const { index, sm } = stored ? decodePdState(stored) : { index: RAFT_INIT_INDEX, sm: PdStateMachine.create() };
        const peer = this.addPeer(region, me.id, log, new DedupTable(), index);
        peer.pd = new PdHost(me.id, sm, index);
        peer.persistedEffectsThrough = log.applyState().appliedIndex;
        this.pdReplayTarget = log.hardState().commit;
        continue;
      }
      const dedup = await this.loadDedup(regionId);
      this.addPeer(region, me.id, log, dedup, log.applyState().appliedIndex);
    }
  }

  private async loadDedup(regionId: number): Promise<DedupTable> {
    const entries: DedupEntry[] = [];
    const prefix = dedupPrefix(regionId);
    const dec = new TextDecoder();
    for await (const { key, value } of this.engine.scan(META_CF, { start: prefix, end: prefixEnd(prefix) })) {
      entries.push(decodeDedupRecord(dec.decode(key.subarray(prefix.length)), value));
    }
    return DedupTable.from(entries);
  }

  private makeRaw(peerId: number, log: RegionLog, applied: number): RawNode {
    return new RawNode({
      ...DEFAULT_CONFIG,
      electionTicks: 10,
      heartbeatTicks: 2,
      ...this.raftOpts,
      id: peerId,
      storage: log,
      rng: this.rng.fork(),
      applied,
      ...(this.mutations.readIndexWithoutTermCommit ? { unsafeTestMutations: { readIndexWithoutTermCommit: true } } : {}),
    });
  }

  private addPeer(region: Region, peerId: number, log: RegionLog, dedup: DedupTable, applied: number): RegionPeer {
    const peer = new RegionPeer({ region, peerId, raw: this.makeRaw(peerId, log, applied), log, dedup, applied });
    peer.mutations = this.mutations;
    if (region.id === PD_REGION_ID) peer.pd = new PdHost(peerId, PdStateMachine.create(), applied);
    this.peers.set(region.id, peer);
    for (const p of region.peers) this.peerStores.set(p.id, p.storeId);
    return peer;
  }

  /**
   * Creates a region on this store from scratch (cluster bootstrap): its log starts at
   * `RAFT_INIT_INDEX` with the region's voters. Every store listed in `region.peers` calls
   * this with the same region.
   */
  async createRegion(region: Region): Promise<void> {
    this.assertOpen();
    const me = region.peers.find((p) => p.storeId === this.storeId);
    if (!me) throw new Error(`store ${this.storeId} is not in region ${region.id}`);
    if (this.peers.has(region.id)) throw new Error(`region ${region.id} already exists on store ${this.storeId}`);
    const log = await this.logs.open(region.id);
    const batch = this.logs.batch();
    stageInitialRegion(batch, region, { term: RAFT_INIT_TERM, vote: 0 });
    await this.logs.write(batch, { durability: this.opts.durability });
    this.addPeer(region, me.id, log, new DedupTable(), RAFT_INIT_INDEX);
  }

  /** Stops ticking, fails waiting requests and closes nothing else (the engine is the caller's). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.timers.clearTimeout(this.tickHandle);
    while (this.roundRunning) await new Promise((r) => this.timers.setTimeout(() => r(undefined), 1));
    for (const p of this.peers.values()) p.failPending({ kind: 'RegionNotFound', regionId: p.regionId });
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreClosedError(`store ${this.storeId} is closed`);
    if (this.fatal) throw new StoreClosedError(`store ${this.storeId} stopped after a storage failure: ${String(this.fatal)}`);
  }

  // ------------------------------------------------------------------ ticks and hibernation

  private startTicking(): void {
    const loop = (): void => {
      if (this.closed) return;
      this.tick();
      this.tickHandle = this.timers.setTimeout(loop, this.opts.tickIntervalMs);
    };
    this.tickHandle = this.timers.setTimeout(loop, this.opts.tickIntervalMs);
  }

  /** One store tick: ticks every awake peer, hibernates idle caught-up ones. */
  tick(): void {
    if (this.closed || this.fatal) return;
    for (const peer of this.peers.values()) {
      if (peer.hibernating) continue;
      peer.raw.tick();
      peer.idleTicks++;
      if (peer.idleTicks >= this.opts.hibernateAfterTicks && this.canHibernate(peer)) peer.hibernating = true;
    }
    if (++this.ticks % this.opts.heartbeatIntervalTicks === 0 && this.pdClient && !this.heartbeating) {
      this.heartbeating = true;
      const pdClient = this.pdClient;
      void this.runScheduler()
        .then(() => this.sendHeartbeats(pdClient))
        .catch(() => undefined)
        .finally(() => {
          this.heartbeating = false;
        });
    }
    this.schedule();
  }

  // ------------------------------------------------------------------ heartbeats and operators

  /** Reports this store and every region it leads to PD, and runs the steps PD answers with. */
  private async sendHeartbeats(pd: PdClient): Promise<void> {
    const led = [...this.peers.values()].filter((p) => p.initialized && !p.destroyed && p.isLeader());
    const stats: StoreStats = {
      storeId: this.storeId,
      capacityBytes: this.opts.capacityBytes,
      usedBytes: 0,
      availableBytes: this.opts.capacityBytes,
      regionCount: this.peers.size,
      leaderCount: led.length,
      draining: this.draining,
    };
    const heartbeats: RegionHeartbeat[] = [];
    for (const peer of led) {
      const hb = await this.regionHeartbeatOf(peer);
      stats.usedBytes += hb.approximateSizeBytes;
      heartbeats.push(hb);
    }
    stats.availableBytes = Math.max(0, stats.capacityBytes - stats.usedBytes);
    await pd.storeHeartbeat(stats, { timeoutMs: 2000 });
    await this.collectRemovedPeers(pd);
    for (const hb of heartbeats) {
      const r = await pd.regionHeartbeat(hb, { timeoutMs: 2000 });
      if (r.ok && r.value.step) await this.executeStep(hb.region.id, r.value.step, pd);
    }
  }

  /**
   * Replicas without a leader for a while ask PD whether they are still members: a replica
   * removed while its store was away is never told by the group, so without this check it
   * would campaign forever and keep its stale range (TiKV's stale peer check).
   */
  private async collectRemovedPeers(pd: PdClient): Promise<void> {
    if (!pd.getRegionById) return;
    for (const peer of [...this.peers.values()]) {
      if (peer.destroyed || peer.pd || !peer.initialized) continue;
      if (peer.isLeader()) {
        peer.leaderlessHeartbeats = 0;
        peer.silentHeartbeats = 0;
        continue;
      }
      // A replica without a leader, or one its group stopped talking to (a removed learner
      // remembers its old leader forever and nobody sends to it: TiKV's leader-missing check).
      // Hibernating groups are silent by design: those ask on a slower clock.
      const leaderless = peer.raw.status().lead === 0 ? ++peer.leaderlessHeartbeats : (peer.leaderlessHeartbeats = 0);
      const silent = ++peer.silentHeartbeats;
      const silentLimit = peer.hibernating ? STALE_CHECK_HEARTBEATS * STALE_CHECK_HIBERNATING_FACTOR : STALE_CHECK_HEARTBEATS;
      if (leaderless < STALE_CHECK_HEARTBEATS && silent < silentLimit) continue;
      peer.silentHeartbeats = 0;
      const r = await pd.getRegionById(peer.regionId, { timeoutMs: 2000 });
      if (!r.ok || !r.value) continue;
      const known = r.value.region;
      const member = known.peers.some((p) => p.id === peer.peerId);
      if (!member && known.epoch.confVer > peer.region.epoch.confVer && !peer.destroyed) {
        this.staleDestroys.add(peer.regionId);
        this.schedule();
      }
    }
  }

  private async regionHeartbeatOf(peer: RegionPeer): Promise<RegionHeartbeat> {
    const st = peer.raw.status();
    const downPeers: number[] = [];
    const pendingPeers: number[] = [];
    for (const [id, pr] of st.progress ?? []) {
      if (id === peer.peerId) continue;
      // A peer that never answered (a replica being created) is pending, not down.
      if (pr.match === 0 || pr.state === 'snapshot' || pr.match + this.opts.logGcKeepEntries < st.commit) pendingPeers.push(id);
      else if (!pr.recentActive) downPeers.push(id);
    }
    let size = 0;
    let keys = 0;
    if (!peer.pd) {
      const range = peer.region.endKey.length ? { start: peer.region.startKey, end: peer.region.endKey } : { start: peer.region.startKey };
      size = await this.engine.approximateSize(DATA_CF, range);
      for await (const _ of this.engine.scan(DATA_CF, { ...range, limit: REGION_KEYS_COUNT_MAX })) keys++;
    }
    return {
      region: { ...peer.region, peers: peer.region.peers.map((p) => ({ ...p })) },
      leader: peer.leaderPeer() ?? { id: peer.peerId, storeId: this.storeId, role: 'voter' },
      downPeers,
      pendingPeers,
      approximateSizeBytes: size,
      approximateKeys: keys,
      writtenBytesPerSec: 0,
      term: st.term,
    };
  }

  /**
   * Tells PD about a split at once (parent, then each new region) instead of waiting for the
   * next heartbeat, so PD's routing has no gap for long (TiKV's ReportBatchSplit).
   */
  private reportSplit(parent: RegionPeer, newRegionIds: number[]): void {
    const pd = this.pdClient;
    if (!pd) return;
    void (async () => {
      for (const p of [parent, ...newRegionIds.map((id) => this.peers.get(id))]) {
        if (!p || p.destroyed || !p.initialized) continue;
        await pd.regionHeartbeat(await this.regionHeartbeatOf(p), { timeoutMs: 2000 });
      }
    })().catch(() => undefined);
  }

  /** Runs one operator step PD asked for on a region this store leads. */
  async executeStep(regionId: number, step: OperatorStep, pd: PdClient): Promise<Result<void>> {
    const peer = this.peers.get(regionId);
    if (!peer || !peer.isLeader()) return { ok: false, error: peer ? peer.notLeader() : { kind: 'RegionNotFound', regionId } };
    switch (step.kind) {
      case 'addLearner':
        return this.changePeers(regionId, [{ type: 'addLearnerNode', peer: { id: step.peerId, storeId: step.storeId, role: 'learner' } }]);
      case 'promoteLearner':
        return this.changePeers(regionId, [{ type: 'addNode', peer: { id: step.peerId, storeId: step.storeId, role: 'voter' } }]);
      case 'removePeer':
        return this.changePeers(regionId, [{ type: 'removeNode', peer: { id: step.peerId, storeId: step.storeId, role: 'voter' } }]);
      case 'transferLeader': {
        const target = peer.region.peers.find((p) => p.storeId === step.toStoreId);
        if (target) this.transferLeader(regionId, target.id);
        return ok();
      }
      case 'splitRegion':
        return this.splitByPd(peer, step.splitKey, pd);
    }
  }

  /** Splits with ids from PD, at `splitKey` or at the region's middle key. */
  private async splitByPd(peer: RegionPeer, splitKey: Uint8Array | undefined, pd: PdClient): Promise<Result<void>> {
    const key = splitKey ?? (await this.middleKey(peer));
    if (!key) return ok();
    const ids: number[] = [];
    for (let i = 0; i < peer.region.peers.length + 1; i++) {
      const r = await pd.allocId();
      if (!r.ok) return r;
      ids.push(r.value);
    }
    return this.split(peer.regionId, peer.region.epoch, key, ids[0], ids.slice(1));
  }

  /** The median key of a region (bounded scan), or undefined for regions too small to split. */
  private async middleKey(peer: RegionPeer): Promise<Uint8Array | undefined> {
    const range = peer.region.endKey.length ? { start: peer.region.startKey, end: peer.region.endKey } : { start: peer.region.startKey };
    const keys: Uint8Array[] = [];
    for await (const kv of this.engine.scan(DATA_CF, { ...range, limit: REGION_KEYS_COUNT_MAX })) keys.push(kv.key);
    if (keys.length < 2) return undefined;
    return keys[Math.floor(keys.length / 2)];
  }

  /**
   * PD leader: applies a region heartbeat through PD's Raft group and answers with the next
   * operator step for that region, if the scheduler has one.
   */
  async pdHandleRegionHeartbeat(hb: RegionHeartbeat, o: RequestOptions = {}): Promise<Result<RegionHeartbeatResponse>> {
    const peer = this.pdPeer();
    if (!peer?.pd || peer.pd.servingTerm === undefined) return { ok: false, error: peer ? peer.notLeader() : { kind: 'RegionNotFound', regionId: PD_REGION_ID } };
    // Unchanged heartbeats need no Raft round (PD refreshes them now and then).
    if (shouldProposeRegionHeartbeat(peer.pd.sm, hb, this.now())) {
      const r = await this.pdPropose({ kind: 'regionHeartbeat', heartbeat: hb, nowMs: this.now() }, o);
      if (!r.ok) return r;
    }
    const step = peer.pd.leader.onRegionHeartbeat(hb, this.now());
    return { ok: true, value: step ? { step } : {} };
  }

  /** PD leader: one scheduling round; its operators run as regions heartbeat. */
  private async runScheduler(): Promise<void> {
    const peer = this.pdPeer();
    const pd = peer?.pd;
    if (!pd || pd.servingTerm === undefined) return;
    // TSO windows, id batches (the checkers take ids synchronously), tombstones.
    const out = pd.leader.tick(this.now());
    for (const cmd of out.commands) await this.pdPropose(cmd, { timeoutMs: 2000 });
  }

  /** Running operators on the PD leader (for status and dashboards). */
  pdOperators(): { regionId: number; kind: string; desc: string }[] {
    const pd = this.pdPeer()?.pd;
    if (!pd || pd.servingTerm === undefined) return [];
    return pd.leader.scheduler.operators.running().map((r) => ({ regionId: r.operator.regionId, kind: r.operator.kind, desc: r.operator.desc }));
  }

  /**
   * A peer may stop ticking when nothing is in flight: a leader whose voters all match its
   * last index (followers hibernate too, so no election starts), or a follower with a leader.
   */
  private canHibernate(peer: RegionPeer): boolean {
    if (peer.proposals.length > 0 || peer.reads.size > 0) return false;
    const st = peer.raw.status();
    if (st.role === 'leader') {
      if (st.commit !== st.lastIndex) return false;
      for (const pr of st.progress!.values()) if (pr.match !== st.lastIndex) return false;
      return true;
    }
    return st.role === 'follower' && st.lead !== 0;
  }

  private wake(regionId: number): void {
    const p = this.peers.get(regionId);
    if (p) {
      p.hibernating = false;
      p.idleTicks = 0;
    }
  }

  /** The transport lost a store: wake every region so elections can replace its leaders. */
  onStoreDown(storeId: number): void {
    for (const p of this.peers.values()) {
      if (p.region.peers.some((x) => x.storeId === storeId)) {
        p.hibernating = false;
        p.idleTicks = 0;
        for (const x of p.region.peers) if (x.storeId === storeId) p.raw.reportUnreachable(x.id);
      }
    }
    this.schedule();
  }

  // ------------------------------------------------------------------ messages in

  /** Raft messages from another store (the transport calls this). */
  receive(fromStoreId: number, messages: RegionMessage[]): void {
    if (this.closed || this.fatal) return;
    for (const rm of messages) {
      this.peerStores.set(rm.message.from, fromStoreId);
      const peer = this.peers.get(rm.regionId);
      if (peer && rm.message.to > peer.peerId && isLeaderMessage(rm)) {
        // PD allocates peer ids in increasing order: a leader talking to a newer peer of this
        // region on this store means the local replica was removed while we were away.
        // Replace it (destroyed at the next round) by the new, uninitialized one.
        this.staleReplacements.set(rm.regionId, [...(this.staleReplacements.get(rm.regionId) ?? []), { from: fromStoreId, msg: rm }]);
        continue;
      }
      if (peer) {
        this.stepPeer(peer, rm);
        continue;
      }
      if ((rm.message.type === 'MsgVote' || rm.message.type === 'MsgPreVote') && !this.tombstones.has(rm.message.to)) {
        this.pendingVotes.push({ from: fromStoreId, msg: rm });
        if (this.pendingVotes.length > PENDING_VOTES_MAX) this.pendingVotes.shift();
      }
      this.maybeCreatePeer(fromStoreId, rm);
    }
    this.schedule();
  }

  private stepPeer(peer: RegionPeer, rm: RegionMessage): void {
    if (rm.message.to !== peer.peerId) return; // for an older incarnation of this replica
    peer.silentHeartbeats = 0;
    // A snapshot whose range overlaps another local region would overwrite that region's
    // data: refuse it until the stale overlapping replica is updated or removed (TiKV's
    // snapshot overlap check). The leader retries.
    if (rm.message.type === 'MsgSnap' && rm.message.snapshot && this.snapshotOverlapsOthers(peer.regionId, rm.message.snapshot.data)) return;
    peer.hibernating = false;
    if (rm.message.entries.length > 0) peer.idleTicks = 0;
    try {
      peer.raw.step(rm.message);
    } catch (e) {
      if (!(e instanceof ProposalDroppedError)) throw e;
    }
  }

  /**
   * A message for a region this store does not host: a leader added us (conf change). An
   * uninitialized peer is created and waits for a snapshot. Only leader messages create
   * peers; a tombstoned region never comes back.
   */
  private maybeCreatePeer(fromStoreId: number, rm: RegionMessage): void {
    const t = rm.message.type;
    if (t !== 'MsgApp' && t !== 'MsgHeartbeat' && t !== 'MsgSnap') return;
    if (this.tombstones.has(rm.message.to)) return;
    if (this.destroying.has(rm.regionId)) return; // the leader sends again
    const pending = this.creating.get(rm.regionId);
    if (pending) {
      pending.messages.push({ from: fromStoreId, msg: rm });
      return;
    }
    this.creating.set(rm.regionId, { messages: [{ from: fromStoreId, msg: rm }] });
    void this.createUninitialized(rm).catch((e) => this.stop(e));
  }

  private async createUninitialized(rm: RegionMessage): Promise<void> {
    const log = await this.logs.open(rm.regionId);
    const pending = this.creating.get(rm.regionId)!;
    this.creating.delete(rm.regionId);
    if (this.closed || this.peers.has(rm.regionId) || this.destroying.has(rm.regionId) || this.tombstones.has(rm.message.to)) return;
    const region: Region = { id: rm.regionId, startKey: new Uint8Array(), endKey: new Uint8Array(), epoch: { ...rm.regionEpoch }, peers: [] };
    const peer = this.addPeer(region, rm.message.to, log, new DedupTable(), log.applyState().appliedIndex);
    for (const { msg } of pending.messages) this.stepPeer(peer, msg);
    this.schedule();
  }

  // ------------------------------------------------------------------ the batch loop

  /** Runs a round soon (coalescing calls). */
  schedule(): void {
    if (this.roundScheduled || this.closed || this.fatal) return;
    this.roundScheduled = true;
    queueMicrotask(() => void this.runRounds());
  }

  private async runRounds(): Promise<void> {
    if (this.roundRunning) return;
    this.roundRunning = true;
    try {
      while (this.roundScheduled && !this.closed && !this.fatal) {
        this.roundScheduled = false;
        await this.round();
      }
    } catch (e) {
      this.stop(e);
    } finally {
      this.roundRunning = false;
    }
  }

  /** A failed write leaves memory ahead of disk: stop the store (it restarts from disk). */
  private stop(e: unknown): void {
    this.fatal = e;
    this.timers.clearTimeout(this.tickHandle);
    for (const p of this.peers.values()) p.failPending({ kind: 'ServerIsBusy', reason: `store stopped: ${String(e)}`, backoffMs: 1000 });
  }

  /** One group-commit round across every region with work. */
  private async round(): Promise<void> {
    await this.replaceStalePeers();
    const batch = this.logs.batch();
    const work: { peer: RegionPeer; rd: Ready; fx: ApplyEffects }[] = [];
    const outbox = new Map<number, RegionMessage[]>();
    for (const peer of [...this.peers.values()]) {
      if (peer.destroyed || !peer.raw.hasReady()) continue;
      const rd = peer.raw.ready();
      if (rd.snapshot) await this.stageSnapshotInstall(batch, peer, rd.snapshot);
      batch.stageAppend(peer.regionId, rd.entries);
      if (rd.hardState) batch.stageHardState(peer.regionId, rd.hardState);
      // Sent now, before the write (a leader's appends and heartbeats).
      await this.queueMessages(outbox, peer, rd.messages);
      const appliedBefore = peer.applied;
      // PD: a lost leadership stops the leader services before anything more is applied.
      if (peer.pd && rd.softState && rd.softState.role !== 'leader') peer.pd.updateRole(false, 0, peer.applied, 0, this.now());
      const fx = peer.applyEntries(rd.committedEntries, batch.kv, this.storeId);
      if (peer.applied !== appliedBefore || rd.snapshot) batch.stageApplyState(peer.regionId, { appliedIndex: peer.applied });
      if (peer.pd && peer.applied - peer.pd.persistedIndex >= PD_PERSIST_EVERY_ENTRIES) this.stagePdState(batch, peer);
      // The conf state is kept as of the applied index, so a restart neither loses nor replays a change.
      if (fx.confChanged) batch.stageConfState(peer.regionId, peer.raw.status().config);
      // The log view is updated only after the write: no compaction in a snapshot's round.
      if (!rd.snapshot) this.maybeCompact(batch, peer);
      work.push({ peer, rd, fx });
    }
    // Right halves of splits, staged after every Ready of the round so their initial state is
    // what this write leaves (an uninitialized replica of one may have staged its own state).
    const splitPlans: SplitPlan[] = [];
    for (const { peer, fx } of work) {
      for (const s of fx.splits) {
        // The right half starts from the parent's records as of the split entry (a mutation
        // copies them after the whole batch instead: replicas that batch differently diverge).
        const plan = await this.stageSplitPeer(batch, s.region, s.parentLeader, this.mutations.splitDedupAfterBatch ? peer.dedup : s.dedup);
        if (plan) splitPlans.push(plan);
      }
    }
    if (this.mutations.ackBeforePersist) {
      for (const { peer, rd } of work) await this.queueMessages(outbox, peer, rd.persistedMessages);
    }
    this.flush(outbox);
    if (work.length === 0) return;
    this.splitsInFlight = splitPlans.map((p) => p.region);
    try {
      await this.logs.write(batch, { durability: this.opts.durability });
    } finally {
      this.splitsInFlight = [];
    }
    this.counters.rounds++;
    this.counters.writes++;
    for (const plan of splitPlans) this.startSplitPeer(plan);
    for (const { peer, rd, fx } of work) {
      const after = new Map<number, RegionMessage[]>();
      if (!this.mutations.ackBeforePersist) await this.queueMessages(after, peer, rd.persistedMessages);
      this.flush(after);
      peer.onReadStates(rd.readStates);
      peer.raw.advance(rd);
      for (const cb of fx.callbacks) cb();
      if (rd.softState && rd.softState.role !== 'leader') {
        // Leadership lost: answer waiting requests now so clients re-route at once. A proposal
        // may still commit under the new leader, so its answer says so (`MaybeCommitted`, not
        // `NotLeader`); the client's retry carries the same (clientId, seq) and is deduplicated.
        peer.failPending(peer.notLeader());
      }
      peer.serveReads();
      if (peer.pd) {
        const st = peer.raw.status();
        peer.pd.updateRole(st.role === 'leader', st.term, peer.applied, st.lastIndex, this.now());
      }
      if (fx.splits.some((x) => x.parentLeader)) this.reportSplit(peer, fx.splits.map((x) => x.region.id));
      if (fx.removed) await this.destroyPeer(peer);
    }
    for (const p of this.peers.values()) if (p.raw.hasReady()) this.roundScheduled = true;
  }

  private async queueMessages(outbox: Map<number, RegionMessage[]>, peer: RegionPeer, msgs: Message[]): Promise<void> {
    for (const m of msgs) {
      const to = peer.storeOf(m.to) ?? this.peerStores.get(m.to);
      if (to === undefined) {
        peer.raw.reportUnreachable(m.to);
        continue;
      }
      let message = m;
      if (m.type === 'MsgSnap') {
        message = { ...m, snapshot: await this.generateSnapshot(peer) };
        // Delivery is not acknowledged by the transport: report success and let the
        // follower's MsgAppResp (or a rejection and a new snapshot) settle it.
        peer.raw.reportSnapshot(m.to, true);
      }
      const list = outbox.get(to) ?? [];
      list.push({ regionId: peer.regionId, regionEpoch: { ...peer.region.epoch }, message });
      outbox.set(to, list);
    }
  }

  /** Destroys replicas found stale and creates their newer peers from the queued messages. */
  private async replaceStalePeers(): Promise<void> {
    for (const regionId of [...this.staleDestroys]) {
      this.staleDestroys.delete(regionId);
      const peer = this.peers.get(regionId);
      if (peer && !peer.destroyed) await this.destroyPeer(peer);
    }
    if (this.staleReplacements.size === 0) return;
    const pending = [...this.staleReplacements];
    this.staleReplacements.clear();
    for (const [regionId, msgs] of pending) {
      const peer = this.peers.get(regionId);
      if (peer && peer.peerId < msgs[0].msg.message.to) await this.destroyPeer(peer);
      for (const { from, msg } of msgs) {
        const now = this.peers.get(regionId);
        if (now) this.stepPeer(now, msg);
        else this.maybeCreatePeer(from, msg);
      }
    }
  }

  /**
   * Whether a snapshot's region range overlaps another region hosted here: an initialized one,
   * or one whose own accepted snapshot waits to be installed (two snapshots accepted in one
   * round, or a split's right half created between a snapshot's acceptance and its install,
   * would make two replicas own the same keys).
   */
  private snapshotOverlapsOthers(regionId: number, data: Uint8Array): boolean {
    let range: Region;
    try {
      range = decodeSnapshotPayload(data).region;
    } catch {
      return true; // undecodable: refuse
    }
    if (regionId === PD_REGION_ID) return false;
    for (const p of this.peers.values()) {
      if (p.regionId === regionId || p.pd || p.destroyed) continue;
      for (const held of this.rangesHeld(p)) if (rangesOverlap(held, range)) return true;
    }
    return this.splitsInFlight.some((r) => r.id !== regionId && rangesOverlap(r, range));
  }

  /** The ranges a replica holds or is about to hold: its region once initialized, and a snapshot it accepted. */
  private rangesHeld(p: RegionPeer): Region[] {
    const out: Region[] = p.initialized ? [p.region] : [];
    const snap = p.raw.pendingSnapshot();
    if (snap) {
      try {
        out.push(decodeSnapshotPayload(snap.data).region);
      } catch {
        /* an undecodable snapshot was refused before it was stepped */
      }
    }
    return out;
  }

  /**
   * Deletes [start, end) of the data column family except what other initialized local
   * regions own: data is never removed from under another replica hosted here.
   */
  private deleteDataExcept(kv: RaftWriteBatch['kv'], selfRegionId: number, start: Uint8Array, endKey: Uint8Array): void {
    const others = [...this.peers.values()]
      .filter((p) => p.regionId !== selfRegionId && !p.pd && p.initialized && !p.destroyed)
      .map((p) => p.region)
      .sort((a, b) => compareKeys(a.startKey, b.startKey));
    let cursor = start;
    const end = rangeEnd(endKey);
    for (const r of others) {
      if (!rangesOverlap(r, { startKey: cursor, endKey: endKey })) continue;
      if (compareKeys(r.startKey, cursor) > 0) kv.deleteRange(DATA_CF, cursor, r.startKey);
      if (r.endKey.length === 0) return;
      if (compareKeys(r.endKey, cursor) > 0) cursor = r.endKey;
      if (compareKeys(cursor, end) >= 0) return;
    }
    if (compareKeys(cursor, end) < 0) kv.deleteRange(DATA_CF, cursor, end);
  }

  private flush(outbox: Map<number, RegionMessage[]>): void {
    for (const [to, msgs] of outbox) {
      if (to === this.storeId) this.receive(this.storeId, msgs);
      else this.transport.send(to, msgs);
    }
  }

  /**
   * A snapshot of the region's applied state, generated now from the engine: the engine
   * holds exactly what was applied up to `peer.applied` (rounds are serialized).
   */
  private async generateSnapshot(peer: RegionPeer): Promise<Snapshot> {
    const pairs: { key: Uint8Array; value: Uint8Array }[] = [];
    if (peer.pd) {
      const data = encodeSnapshotPayload({ region: peer.region, pairs: [{ key: PD_SNAPSHOT_PAIR_KEY, value: peer.pd.sm.snapshot() }], dedup: [] });
      this.counters.snapshotsGenerated++;
      return { data, metadata: { index: peer.applied, term: peer.log.term(peer.applied), confState: peer.raw.status().config } };
    }
    const range = peer.region.endKey.length ? { start: peer.region.startKey, end: peer.region.endKey } : { start: peer.region.startKey };
    for await (const kv of this.engine.scan(DATA_CF, range)) pairs.push(kv);
    const data = encodeSnapshotPayload({ region: peer.region, pairs, dedup: this.mutations.snapshotWithoutDedup ? [] : peer.dedup.entries() });
    this.counters.snapshotsGenerated++;
    return { data, metadata: { index: peer.applied, term: peer.log.term(peer.applied), confState: peer.raw.status().config } };
  }

  /** Installs a snapshot's data and metadata in the same write as its Raft state. */
  private async stageSnapshotInstall(batch: RaftWriteBatch, peer: RegionPeer, snap: Snapshot): Promise<void> {
    const payload = decodeSnapshotPayload(snap.data);
    batch.stageSnapshot(peer.regionId, snap);
    const kv = batch.kv;
    if (peer.pd) {
      const pair = payload.pairs.find((p) => compareKeys(p.key, PD_SNAPSHOT_PAIR_KEY) === 0);
      // The initial snapshot of the PD group carries no state yet.
      if (pair) peer.pd.replace(PdStateMachine.restore(pair.value), snap.metadata.index);
      peer.region = payload.region;
      peer.applied = snap.metadata.index;
      for (const p of payload.region.peers) this.peerStores.set(p.id, p.storeId);
      kv.put(META_CF, regionStateKey(peer.regionId), encodeRegionState(peer.region, 'normal'));
      this.stagePdState(batch, peer);
      this.counters.snapshotsInstalled++;
      return;
    }
    if (peer.initialized) this.deleteDataExcept(kv, peer.regionId, peer.region.startKey, peer.region.endKey);
    this.deleteDataExcept(kv, peer.regionId, payload.region.startKey, payload.region.endKey);
    for (const p of payload.pairs) kv.put(DATA_CF, p.key, p.value);
    const prefix = dedupPrefix(peer.regionId);
    kv.deleteRange(META_CF, prefix, prefixEnd(prefix));
    peer.dedup = DedupTable.from(payload.dedup);
    stageDedupTable(kv, peer.regionId, peer.dedup);
    peer.region = payload.region;
    for (const p of payload.region.peers) this.peerStores.set(p.id, p.storeId);
    kv.put(META_CF, regionStateKey(peer.regionId), encodeRegionState(peer.region, 'normal'));
    peer.applied = snap.metadata.index;
    this.counters.snapshotsInstalled++;
  }

  private stagePdState(batch: RaftWriteBatch, peer: RegionPeer): void {
    const pd = peer.pd!;
    batch.kv.put(META_CF, PD_STATE_KEY, encodePdState(peer.applied, pd.sm.snapshot()));
    pd.persistedIndex = peer.applied;
  }

  private maybeCompact(batch: RaftWriteBatch, peer: RegionPeer): void {
    const first = peer.log.firstIndex();
    if (peer.applied - first + 1 <= this.opts.logGcThresholdEntries) return;
    let compactTo = peer.applied - this.opts.logGcKeepEntries;
    // PD replays its log from its persisted snapshot after a restart: keep that part.
    if (peer.pd) compactTo = Math.min(compactTo, peer.pd.persistedIndex);
    if (compactTo <= first) return;
    batch.stageCompact(peer.regionId, compactTo);
    this.counters.logCompactions++;
  }

  /**
   * The right half of a split starts on this store, from the parent's data: its initial state
   * is staged in the same write as the parent's split entry, so no crash can leave the parent
   * split without its right half (a half no replica hosts could never elect a leader).
   * Returns what to do once that write is durable, or undefined when no replica is created.
   */
  private async stageSplitPeer(batch: RaftWriteBatch, region: Region, parentLeader: boolean, parentDedup: DedupTable): Promise<SplitPlan | undefined> {
    const me = region.peers.find((p) => p.storeId === this.storeId);
    if (!me || this.tombstones.has(me.id)) return undefined;
    const existing = this.peers.get(region.id);
    // The new region's leader reached us first and its snapshot already initialized it.
    if (existing && existing.initialized) return undefined;
    // A newer region already holds part of the range here (this replica lagged: the new region
    // split again and a descendant arrived by snapshot first). Creating it from the parent's
    // data would make two replicas own the same keys; its leader sends a snapshot instead,
    // of its current (narrower) range (TiKV skips such a split peer the same way).
    for (const p of this.peers.values()) {
      if (p === existing || p.pd || p.destroyed || p.regionId === region.id) continue;
      for (const held of this.rangesHeld(p)) if (rangesOverlap(held, region) && held.epoch.version > region.epoch.version) return undefined;
    }
    const log = existing ? existing.log : await this.logs.open(region.id);
    // An uninitialized peer of the new region may have voted, in this run (in memory) or in an
    // earlier one (on disk only): keep the newer term and its vote, never go back in term.
    const mem = existing ? existing.raw.status() : undefined;
    const disk = log.hardState();
    const hs = mem && mem.term >= disk.term ? { term: mem.term, vote: mem.vote } : { term: disk.term, vote: disk.vote };
    const keepVote = hs.term > RAFT_INIT_TERM;
    stageInitialRegion(batch, region, { term: keepVote ? hs.term : RAFT_INIT_TERM, vote: keepVote ? hs.vote : 0 });
    const dedup = parentDedup.clone();
    stageDedupTable(batch.kv, region.id, dedup);
    return { region, peerId: me.id, log, dedup, parentLeader, existing };
  }

  /** Starts the replica of a split's right half once its initial state is durable. */
  private startSplitPeer(plan: SplitPlan): void {
    if (plan.existing) {
      plan.existing.destroyed = true;
      plan.existing.failPending({ kind: 'RegionNotFound', regionId: plan.region.id });
    }
    const peer = this.addPeer(plan.region, plan.peerId, plan.log, plan.dedup, RAFT_INIT_INDEX);
    if (plan.parentLeader) peer.raw.campaign();
    for (let i = 0; i < this.pendingVotes.length; ) {
      const v = this.pendingVotes[i];
      if (v.msg.regionId !== plan.region.id) {
        i++;
        continue;
      }
      this.pendingVotes.splice(i, 1);
      if (v.msg.message.to === plan.peerId) this.stepPeer(peer, v.msg);
    }
    this.schedule();
  }

  /** This store's replica was removed from its region: delete its data and remember the tombstone. */
  private async destroyPeer(peer: RegionPeer): Promise<void> {
    this.destroying.add(peer.regionId);
    try {
      await this.destroyPeerNow(peer);
    } finally {
      this.destroying.delete(peer.regionId);
    }
  }

  private async destroyPeerNow(peer: RegionPeer): Promise<void> {
    peer.destroyed = true;
    peer.failPending({ kind: 'RegionNotFound', regionId: peer.regionId });
    this.peers.delete(peer.regionId);
    this.tombstones.add(peer.peerId);
    const batch = this.logs.batch();
    batch.stageDestroy(peer.regionId);
    // PD's group owns no user data; a data region's range may be shared with newer local regions.
    if (!peer.pd && peer.initialized) this.deleteDataExcept(batch.kv, peer.regionId, peer.region.startKey, peer.region.endKey);
    if (peer.pd) batch.kv.delete(META_CF, PD_STATE_KEY);
    const prefix = dedupPrefix(peer.regionId);
    batch.kv.deleteRange(META_CF, prefix, prefixEnd(prefix));
    batch.kv.put(META_CF, regionStateKey(peer.regionId), encodeTombstone(peer.peerId));
    await this.logs.write(batch, { durability: this.opts.durability });
    this.logs.unload(peer.regionId);
  }

  // ------------------------------------------------------------------ requests

  /** Checks that this peer can serve a request for `regionId` at `epoch` touching `keys`. */
  private checkRequest(regionId: number, epoch: RegionEpoch, keys: Uint8Array[], needLeader: boolean): RegionPeer | RegionError {
    const peer = this.peers.get(regionId);
    if (!peer || !peer.initialized) return { kind: 'RegionNotFound', regionId };
    // Splits change the range (version); membership changes (confVer) do not matter to data.
    if (epoch.version !== peer.region.epoch.version) return { kind: 'EpochNotMatch', currentRegions: [peer.region] };
    for (const k of keys) {
      if (!regionContainsKey(peer.region, k)) {
        return { kind: 'KeyNotInRegion', key: k, regionId, startKey: peer.region.startKey, endKey: peer.region.endKey };
      }
    }
    if (needLeader && !peer.isLeader()) {
      // A client that asks a follower may have lost the leader: tick again, so a leader that
      // is gone is replaced within an election timeout even while this region hibernated. A
      // hibernating follower has not heard from its leader for a while: it names none.
      const stale = peer.hibernating;
      this.wake(peer.regionId);
      return stale ? { kind: 'NotLeader', regionId } : peer.notLeader();
    }
    if (peer.proposals.length + peer.reads.size >= this.opts.pendingRequestsPerRegionMax) {
      return { kind: 'ServerIsBusy', reason: 'too many pending requests in region', backoffMs: 50 };
    }
    return peer;
  }

  /**
   * Replicates and applies a write of `ops` for client (clientId, seq). Resolves once applied
   * on this (leader) replica, or with a region error. A timeout or abort does not retract
   * the proposal: it may still apply (retry with the same seq; it is deduplicated).
   */
  write(regionId: number, epoch: RegionEpoch, clientId: string, seq: number, ops: KvOp[], o: WriteRequestOptions = {}): Promise<Result<void>> {
    this.assertOpen();
    const keys = ops.map((op) => (op.type === 'deleteRange' ? op.start : op.key));
    const checked = this.checkRequest(regionId, epoch, keys, true);
    if (!(checked instanceof RegionPeer)) return Promise.resolve({ ok: false, error: checked });
    const peer = checked;
    // Every key of the write, a range delete's end included, must be in the region now: a
    // write the client grouped by a stale view is refused before it reaches the log.
    for (const op of ops) {
      if (op.type === 'deleteRange' && peer.region.endKey.length > 0 && compareKeys(op.end, peer.region.endKey) > 0) {
        return Promise.resolve({ ok: false, error: { kind: 'EpochNotMatch', currentRegions: [peer.region] } });
      }
    }
    const ackFloor = Number.isSafeInteger(o.ackFloor) && o.ackFloor! > 0 ? Math.min(o.ackFloor!, seq) : 0;
    const data = encodeCommand({ type: 'write', clientId, seq, ackFloor, stampMs: Math.max(0, Math.floor(this.now())), ops });
    return this.propose(peer, () => peer.raw.propose(data), o);
  }

  private propose<T = void>(peer: RegionPeer, doPropose: () => void, o: RequestOptions): Promise<Result<T>> {
    this.wake(peer.regionId);
    try {
      doPropose();
    } catch (e) {
      if (!(e instanceof ProposalDroppedError)) throw e;
      // A membership change must wait for the previous one (and its joint config) to finish.
      if (e.reason === 'ConfChangePending' || e.reason === 'InvalidConfChange' || e.reason === 'UncommittedSizeExceeded') {
        return Promise.resolve({ ok: false, error: { kind: 'ServerIsBusy', reason: e.message, backoffMs: 20 } });
      }
      return Promise.resolve({ ok: false, error: peer.notLeader() });
    }
    const st = peer.raw.status();
    return this.withTimeout<T>(
      (resolve) => peer.proposals.push({ index: st.lastIndex, term: st.term, resolve: resolve as (r: Result<unknown>) => void }),
      (resolve) => {
        peer.proposals = peer.proposals.filter((p) => p.resolve !== resolve);
      },
      o,
    ).finally(() => this.schedule());
  }

  private withTimeout<T>(
    register: (resolve: (r: Result<T>) => void) => void,
    unregister: (resolve: (r: Result<T>) => void) => void,
    o: RequestOptions,
  ): Promise<Result<T>> {
    return new Promise<Result<T>>((outer) => {
      let done = false;
      const finish = (r: Result<T>): void => {
        if (done) return;
        done = true;
        this.timers.clearTimeout(timer);
        o.signal?.removeEventListener('abort', onAbort);
        outer(r);
      };
      const onAbort = (): void => {
        unregister(finish);
        finish({ ok: false, error: { kind: 'Timeout', what: 'aborted by the caller' } });
      };
      const timer = this.timers.setTimeout(() => {
        unregister(finish);
        finish({ ok: false, error: { kind: 'Timeout', what: 'request timed out' } });
      }, o.timeoutMs ?? this.opts.requestTimeoutMs);
      if (o.signal?.aborted) {
        onAbort();
        return;
      }
      o.signal?.addEventListener('abort', onAbort, { once: true });
      register(finish);
      this.schedule();
    });
  }

  /** Waits until reads at this point are linearizable on this replica (ReadIndex). */
  private async readBarrier(peer: RegionPeer, o: RequestOptions): Promise<Result<void>> {
    this.wake(peer.regionId);
    // Unique across restarts: a leader merges a request into a pending one with the same
    // context and would answer it with the older one's (smaller) read index.
    const ctx = this.mutations.restartedReadContext ? `${this.storeId}:${++this.readSeq}` : `${this.storeId}:${this.boot}:${++this.readSeq}`;
    try {
      peer.raw.readIndex(encoder.encode(ctx));
    } catch (e) {
      if (e instanceof ProposalDroppedError) return { ok: false, error: peer.notLeader() };
      throw e;
    }
    return this.withTimeout<void>(
      (resolve) => peer.reads.set(ctx, { ctx, resolve }),
      () => peer.reads.delete(ctx),
      o,
    );
  }

  /** Reads one key with the given consistency. */
  async get(regionId: number, epoch: RegionEpoch, key: Uint8Array, consistency: ReadConsistency = 'linearizable', o: RequestOptions = {}): Promise<Result<Uint8Array | undefined>> {
    this.assertOpen();
    const checked = this.checkRequest(regionId, epoch, [key], consistency === 'linearizable');
    if (!(checked instanceof RegionPeer)) return { ok: false, error: checked };
    if (consistency !== 'stale') {
      const r = await this.readBarrier(checked, o);
      if (!r.ok) return r;
      // A split may have moved the key while we waited.
      const again = this.checkRequest(regionId, epoch, [key], false);
      if (!(again instanceof RegionPeer)) return { ok: false, error: again };
    }
    return { ok: true, value: await this.engine.get(DATA_CF, key) };
  }

  /** Scans [start, end) ∩ region, up to `limit` pairs, with the given consistency. */
  async scan(
    regionId: number,
    epoch: RegionEpoch,
    range: { start: Uint8Array; end?: Uint8Array; limit: number; reverse?: boolean },
    consistency: ReadConsistency = 'linearizable',
    o: RequestOptions = {},
  ): Promise<Result<{ key: Uint8Array; value: Uint8Array }[]>> {
    this.assertOpen();
    const checked = this.checkRequest(regionId, epoch, [], consistency === 'linearizable');
    if (!(checked instanceof RegionPeer)) return { ok: false, error: checked };
    if (consistency !== 'stale') {
      const r = await this.readBarrier(checked, o);
      if (!r.ok) return r;
      // A split applied while we waited shrinks the range: the caller must re-route
      // (answering with the smaller range would silently skip keys).
      const again = this.checkRequest(regionId, epoch, [], false);
      if (!(again instanceof RegionPeer)) return { ok: false, error: again };
    }
    const region = checked.region;
    const start = compareKeys(range.start, region.startKey) > 0 ? range.start : region.startKey;
    let end = range.end;
    if (region.endKey.length && (!end || end.length === 0 || compareKeys(end, region.endKey) > 0)) end = region.endKey;
    const out: { key: Uint8Array; value: Uint8Array }[] = [];
    // An unbounded (or nonsensical) limit reads the whole range.
    const limit = Number.isSafeInteger(range.limit) && range.limit >= 0 ? range.limit : Number.MAX_SAFE_INTEGER;
    const opts = end && end.length ? { start, end, limit, reverse: range.reverse } : { start, limit, reverse: range.reverse };
    for await (const kv of this.engine.scan(DATA_CF, opts)) out.push(kv);
    return { ok: true, value: out };
  }

  /**
   * Changes membership through Raft, always by joint consensus (thesis §4.3; the joint config
   * is left automatically), so no change relies on the one-voter-at-a-time rule. A change
   * proposed while the previous one (or its leave) is pending gets `ServerIsBusy`.
   * `peers` names the peers (with stores) being changed.
   */
  changePeers(regionId: number, changes: { type: ConfChangeSingle['type']; peer: Peer }[], o: RequestOptions = {}): Promise<Result<void>> {
    this.assertOpen();
    const peer = this.peers.get(regionId);
    if (!peer) return Promise.resolve({ ok: false, error: { kind: 'RegionNotFound', regionId } });
    if (!peer.isLeader()) return Promise.resolve({ ok: false, error: peer.notLeader() });
    // Changes already in effect are no-ops (a retried operator step must not bump the epoch),
    // and a store never holds two replicas of one region (a routing view may be stale).
    const region = peer.region;
    const pending = changes.filter((c) => {
      const cur = region.peers.find((p) => p.id === c.peer.id);
      if (c.type === 'removeNode') return cur !== undefined;
      if (c.type === 'addLearnerNode') return cur?.role !== 'learner';
      return cur?.role !== 'voter';
    });
    if (pending.length === 0) return Promise.resolve(ok());
    for (const c of pending) {
      if (c.type === 'removeNode') continue;
      const other = region.peers.find((p) => p.storeId === c.peer.storeId && p.id !== c.peer.id);
      if (other) {
        return Promise.resolve({ ok: false, error: { kind: 'ServerIsBusy', reason: `store ${c.peer.storeId} already holds peer ${other.id} of region ${regionId}`, backoffMs: 100 } });
      }
    }
    changes = pending;
    const cc = {
      transition: 'implicit' as const,
      changes: changes.map((c) => ({ type: c.type, nodeId: c.peer.id })),
      context: encodeConfChangeContext({ peers: changes.map((c) => c.peer) }),
    };
    for (const c of changes) this.peerStores.set(c.peer.id, c.peer.storeId);
    return this.propose(peer, () => peer.raw.proposeConfChange(cc), o);
  }

  /** Splits a region at `splitKey`; the right half gets `newRegionId` and `newPeerIds` (one per current peer, same order). */
  split(regionId: number, epoch: RegionEpoch, splitKey: Uint8Array, newRegionId: number, newPeerIds: number[], o: RequestOptions = {}): Promise<Result<void>> {
    this.assertOpen();
    const checked = this.checkRequest(regionId, epoch, [splitKey], true);
    if (!(checked instanceof RegionPeer)) return Promise.resolve({ ok: false, error: checked });
    const data = encodeCommand({ type: 'split', splitKey, newRegionId, newPeerIds });
    return this.propose(checked, () => checked.raw.propose(data), o);
  }

  /** Asks the region's leader (this replica) to hand leadership to `peerId`. */
  transferLeader(regionId: number, peerId: number): void {
    const peer = this.peers.get(regionId);
    if (!peer) return;
    this.wake(regionId);
    peer.raw.transferLeader(peerId);
    this.schedule();
  }

  /**
   * The store is going away (a closing tab, a shutting-down server): report draining to PD
   * (its drain-leader scheduler keeps leaders off this store) and hand every leadership
   * held here to the most caught-up other voter now. Returns the regions asked to move.
   */
  drain(): number[] {
    this.draining = true;
    const moved: number[] = [];
    for (const peer of this.peers.values()) {
      if (peer.destroyed || !peer.isLeader()) continue;
      const st = peer.raw.status();
      let best: { id: number; match: number } | undefined;
      for (const [id, pr] of st.progress ?? []) {
        const voter = peer.region.peers.some((p) => p.id === id && p.role === 'voter');
        if (id === peer.peerId || !voter || pr.isLearner) continue;
        if (!best || pr.match > best.match) best = { id, match: pr.match };
      }
      if (!best) continue;
      this.transferLeader(peer.regionId, best.id);
      moved.push(peer.regionId);
    }
    return moved;
  }

  /** Starts an election for the region on this replica now. */
  campaign(regionId: number): void {
    const peer = this.peers.get(regionId);
    if (!peer) return;
    this.wake(regionId);
    peer.raw.campaign();
    this.schedule();
  }

  /** The region this store hosts that contains `key`, if any (for routing in tests and demos). */
  regionForKey(key: Uint8Array): Region | undefined {
    for (const p of this.peers.values()) if (p.initialized && !p.pd && regionContainsKey(p.region, key)) return p.region;
    return undefined;
  }

  /** Region ids hosted here. */
  regionIds(): number[] {
    return [...this.peers.keys()].sort((a, b) => a - b);
  }

  // ------------------------------------------------------------------ placement driver

  /** This store's PD replica, if it hosts one. */
  private pdPeer(): RegionPeer | undefined {
    const p = this.peers.get(PD_REGION_ID);
    return p && p.pd && !p.destroyed ? p : undefined;
  }

  /**
   * The PD state machine of this store's replica (routing reads; may lag the leader). Undefined
   * while a restarted replica replays its log up to the commit index it had persisted: its
   * state then is an old snapshot (a routing read could miss regions that exist).
   */
  pdState(): PdStateMachine | undefined {
    const p = this.pdPeer();
    if (!p || p.applied < this.pdReplayTarget) return undefined;
    return p.pd?.sm;
  }

  /** Whether this store's PD replica leads and serves. */
  pdIsLeader(): boolean {
    const p = this.pdPeer();
    return p !== undefined && p.pd!.servingTerm !== undefined && p.isLeader();
  }

  /** The store hosting the PD leader, as this store's PD replica last heard. */
  pdLeaderStoreId(): number | undefined {
    const p = this.pdPeer();
    return p?.leaderPeer()?.storeId;
  }

  /** Proposes a PD command through PD's Raft group (this replica must lead). */
  pdPropose(cmd: PdCommand, o: RequestOptions = {}): Promise<Result<PdApplyResult>> {
    this.assertOpen();
    const peer = this.pdPeer();
    if (!peer) return Promise.resolve({ ok: false, error: { kind: 'RegionNotFound', regionId: PD_REGION_ID } });
    if (!peer.isLeader()) return Promise.resolve({ ok: false, error: peer.notLeader() });
    const data = encodePdCommand(cmd);
    return this.propose<PdApplyResult>(peer, () => peer.raw.propose(data), o);
  }

  /** One unique id (store, region or peer), from the PD leader's granted batches. */
  async pdAllocId(o: RequestOptions = {}): Promise<Result<number>> {
    for (let attempt = 0; attempt < PD_ALLOC_ATTEMPTS_MAX; attempt++) {
      const peer = this.pdPeer();
      if (!peer || !this.pdIsLeader()) return { ok: false, error: peer ? peer.notLeader() : { kind: 'RegionNotFound', regionId: PD_REGION_ID } };
      const id = peer.pd!.leader.allocId();
      if (id !== undefined) return { ok: true, value: id };
      const cmd = peer.pd!.leader.ids.proposal(this.now());
      if (cmd) {
        const r = await this.pdPropose(cmd, o);
        if (!r.ok) return r;
      } else {
        await this.sleep(5);
      }
    }
    return { ok: false, error: { kind: 'Timeout', what: 'id allocation' } };
  }

  /** `count` consecutive TSO timestamps (the first is returned). */
  async pdGetTimestamps(count: number, o: RequestOptions = {}): Promise<Result<{ first: bigint; count: number }>> {
    for (let attempt = 0; attempt < PD_ALLOC_ATTEMPTS_MAX; attempt++) {
      const peer = this.pdPeer();
      if (!peer || !this.pdIsLeader()) return { ok: false, error: peer ? peer.notLeader() : { kind: 'RegionNotFound', regionId: PD_REGION_ID } };
      const pd = peer.pd!;
      const r = pd.leader.getTimestamps(count, this.now());
      // Renew the window ahead of time so requests rarely wait.
      const renewal = pd.leader.tso.windowProposal(this.now());
      if (r.kind === 'ok') {
        if (renewal) void this.pdPropose(renewal);
        return { ok: true, value: { first: r.first, count: r.count } };
      }
      if (r.error.kind === 'NotLeader') return { ok: false, error: peer.notLeader() };
      if (r.error.kind === 'InvalidCount') return { ok: false, error: { kind: 'ServerIsBusy', reason: `invalid timestamp count ${count}`, backoffMs: 0 } };
      if (renewal) {
        const w = await this.pdPropose(renewal, o);
        if (!w.ok) return w;
      } else {
        await this.sleep(5);
      }
    }
    return { ok: false, error: { kind: 'Timeout', what: 'timestamp allocation' } };
  }

  /**
   * Creates a new cluster on this (empty) store: PD's group and the first data region, both
   * with one replica here, then records the cluster in PD. A one-store cluster works fully
   * offline; PD grows both groups as stores join.
   */
  async bootstrapCluster(o: { clusterNumber: number; address: string; labels?: Record<string, string> }, ro: RequestOptions = {}): Promise<Result<PdApplyResult>> {
    if (this.storeId !== BOOTSTRAP_IDS.store) throw new Error(`the bootstrap store must have id ${BOOTSTRAP_IDS.store}`);
    const pdRegion: Region = { id: PD_REGION_ID, startKey: new Uint8Array(), endKey: new Uint8Array(), epoch: { confVer: 1, version: 1 }, peers: [{ id: BOOTSTRAP_IDS.pdPeer, storeId: this.storeId, role: 'voter' }] };
    const dataRegion: Region = { id: BOOTSTRAP_IDS.dataRegion, startKey: new Uint8Array(), endKey: new Uint8Array(), epoch: { confVer: 1, version: 1 }, peers: [{ id: BOOTSTRAP_IDS.dataPeer, storeId: this.storeId, role: 'voter' }] };
    if (!this.peers.has(PD_REGION_ID)) await this.createRegion(pdRegion);
    if (!this.peers.has(dataRegion.id)) await this.createRegion(dataRegion);
    this.campaign(PD_REGION_ID);
    this.campaign(dataRegion.id);
    for (let i = 0; i < PD_ALLOC_ATTEMPTS_MAX && !this.pdIsLeader(); i++) await this.sleep(10);
    return this.pdPropose(
      {
        kind: 'bootstrap',
        clusterId: o.clusterNumber,
        store: { id: this.storeId, address: o.address, labels: o.labels ?? {}, state: 'up' },
        region: dataRegion,
        pdGroup: { regionId: PD_REGION_ID, epoch: pdRegion.epoch, peers: pdRegion.peers },
        nowMs: this.now(),
      },
      ro,
    );
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => this.timers.setTimeout(() => r(), ms));
  }

  /**
   * Each initialized data region's applied index, epoch and a hash of its data and dedup
   * records, read between two rounds (when memory and disk agree). Replicas of one region at
   * the same applied index and epoch must report the same hash (TiKV's consistency check).
   */
  async regionDigests(): Promise<RegionDigest[]> {
    this.assertOpen();
    while (this.roundRunning) await this.sleep(1);
    this.roundRunning = true;
    try {
      const out: RegionDigest[] = [];
      for (const peer of [...this.peers.values()]) {
        if (peer.pd || peer.destroyed || !peer.initialized) continue;
        const h = new Fnv64();
        let keys = 0;
        const range = peer.region.endKey.length ? { start: peer.region.startKey, end: peer.region.endKey } : { start: peer.region.startKey };
        for await (const kv of this.engine.scan(DATA_CF, range)) {
          h.bytes(kv.key);
          h.bytes(kv.value);
          keys++;
        }
        const prefix = dedupPrefix(peer.regionId);
        for await (const kv of this.engine.scan(META_CF, { start: prefix, end: prefixEnd(prefix) })) {
          h.bytes(kv.key.subarray(prefix.length));
          h.bytes(kv.value);
        }
        out.push({ regionId: peer.regionId, peerId: peer.peerId, applied: peer.applied, epoch: { ...peer.region.epoch }, hash: h.hex(), keys });
      }
      return out;
    } finally {
      this.roundRunning = false;
      this.schedule();
    }
  }

  status(): StoreStatus {
    return {
      storeId: this.storeId,
      counters: { ...this.counters },
      ...(this.fatal ? { stoppedReason: String((this.fatal as Error).stack ?? this.fatal) } : {}),
      regions: [...this.peers.values()]
        .sort((a, b) => a.regionId - b.regionId)
        .map((p) => {
          const st = p.raw.status();
          return {
            regionId: p.regionId,
            peerId: p.peerId,
            startKey: p.region.startKey,
            endKey: p.region.endKey,
            epoch: { ...p.region.epoch },
            peers: p.region.peers.map((x) => ({ ...x })),
            role: st.role,
            term: st.term,
            lead: st.lead,
            commit: st.commit,
            applied: p.applied,
            hibernating: p.hibernating,
          };
        }),
    };
  }
}

/** FNV-1a in two independent 32-bit lanes (64 bits): cheap, deterministic, good enough to tell replicas apart. */
class Fnv64 {
  private a = 0x811c9dc5;
  private b = 0x050c5d1f;
  bytes(x: Uint8Array): void {
    this.byte(x.length & 0xff);
    this.byte((x.length >>> 8) & 0xff);
    this.byte((x.length >>> 16) & 0xff);
    for (let i = 0; i < x.length; i++) this.byte(x[i]);
  }
  private byte(v: number): void {
    this.a = Math.imul(this.a ^ v, 0x01000193) >>> 0;
    this.b = Math.imul(this.b ^ v, 0x01000193) >>> 0;
    this.b = (this.b ^ (this.b >>> 13)) >>> 0;
  }
  hex(): string {
    return this.a.toString(16).padStart(8, '0') + this.b.toString(16).padStart(8, '0');
  }
}

/** A destroyed replica's record: state 2, then its peer id. */
function encodeTombstone(peerId: number): Uint8Array {
  const b = new Uint8Array(9);
  b[0] = 2;
  new DataView(b.buffer).setFloat64(1, peerId);
  return b;
}

function decodeTombstonePeer(value: Uint8Array): number {
  return new DataView(value.buffer, value.byteOffset).getFloat64(1);
}

/** Messages only a leader sends: they may create or replace a replica. */
function isLeaderMessage(rm: RegionMessage): boolean {
  const t = rm.message.type;
  return t === 'MsgApp' || t === 'MsgHeartbeat' || t === 'MsgSnap';
}

/** Whether two key ranges (empty end = unbounded) overlap. */
function rangesOverlap(a: Pick<Region, 'startKey' | 'endKey'>, b: Pick<Region, 'startKey' | 'endKey'>): boolean {
  const aBeforeB = a.endKey.length > 0 && compareKeys(a.endKey, b.startKey) <= 0;
  const bBeforeA = b.endKey.length > 0 && compareKeys(b.endKey, a.startKey) <= 0;
  return !aBeforeB && !bBeforeA;
}

/** The exclusive end for a region end key (empty = end of key space). */
function rangeEnd(endKey: Uint8Array): Uint8Array {
  return endKey.length ? endKey : new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
}

function confStateOf(region: Region): ConfState {
  const cs = emptyConfState();
  for (const p of region.peers) {
    if (p.role === 'learner') cs.learners.push(p.id);
    else cs.voters.push(p.id);
  }
  return cs;
}

/** Stages a region's initial Raft state: a snapshot at RAFT_INIT_INDEX holding its metadata. */
function stageInitialRegion(batch: RaftWriteBatch, region: Region, hs: { term: number; vote: number }): void {
  const data = encodeSnapshotPayload({ region, pairs: [], dedup: [] });
  batch.stageSnapshot(region.id, { data, metadata: { index: RAFT_INIT_INDEX, term: RAFT_INIT_TERM, confState: confStateOf(region) } });
  batch.stageHardState(region.id, { term: hs.term, vote: hs.vote, commit: RAFT_INIT_INDEX });
  batch.stageApplyState(region.id, { appliedIndex: RAFT_INIT_INDEX });
  batch.kv.put(META_CF, regionStateKey(region.id), encodeRegionState(region, 'normal'));
}

export { rolesOf, ok };

