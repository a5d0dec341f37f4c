/**
 * `StoreContext`: the state every part of a store shares (its engine and Raft logs, the
 * region peers it hosts, where peers live, tombstones, counters, the stop flag) and the few
 * helpers all of them use: creating a peer, waking a region, asserting the store is open,
 * and scheduling the next batch round. The parts (loop, round, snapshots, PD, requests) each
 * receive this one object; none of them holds another copy of this state.
 */
import type { Region } from '@peerkv/pd';
import type { LeaderObserver } from './leader-news.ts';
import { PdStateMachine, WITNESS_LABEL } from '@peerkv/pd';
import { DEFAULT_CONFIG, SeededRng } from '@peerkv/raft';
import { RaftLogStore, type KvEngine, type RegionLog } from '@peerkv/storage';
import { COMMAND_HANDLERS, type ApplyCounters, type ApplyObserver } from './apply.ts';
import type { DedupTable } from './dedup.ts';
import { DATA_MODEL_DEFAULT, dataColumnFamiliesOf } from './data-model.ts';
import { RAFT_CF, type DataModel } from './keys.ts';
import type { StoreTestMutations } from './mutations.ts';
import { OpenedPayloads, keyringOf, type EntryKeyring } from './sealing.ts';
import { HIBERNATING_HEARTBEAT_INTERVAL_TICKS, PENDING_REPLICAS_MAX, PENDING_REPLICAS_PER_SENDER_MAX, REAL_TIMERS, SAFE_TS_INTERVAL_MS_DEFAULT, StoreClosedError, StoreConfigError, type SnapshotTransferLimits, type SnapshotTransferStatus, type StoreCounters, type StoreOptions, type StoreTransport, type Timers, type WitnessEntryCounts } from './options.ts';
import type { PdClient } from './pd-client.ts';
import { PD_REGION_ID, PdHost } from './pd-host.ts';
import { RegionPeer } from './peer.ts';
import { DataRegionMachine, PdRegionMachine, WitnessRegionMachine } from './region-machine.ts';
import { PeerStores } from './peer-stores.ts';
import { TrackedRawNode } from './tracked-raw-node.ts';
import { WriteTrace } from './write-trace.ts';
import { WriteTsIndex } from './txn/write-ts-index.ts';
import { monotonicClock } from '@peerkv/transport';
import { DataKeyGate } from './rpc/data-key-proof.ts';

/** A replica's election timeout, in ticks, unless `StoreOptions.raft` names one. */
const ELECTION_TICKS_DEFAULT = 10;

/** The store's settings with every default filled in. */
export type StoreSettings = Required<Omit<StoreOptions, 'traceClock' | 'engine' | 'dataColumnFamilies' | 'dataModel' | 'snapshotTransfer' | 'applyObservers' | 'transport' | 'timers' | 'raft' | 'seed' | 'storeId' | 'clusterId' | 'now' | 'pdClient' | 'labels' | 'witness' | 'entryCipher' | 'dataProofKey' | 'unsafeTestMutations' | 'pdGc' | 'pdOperatorObserver' | 'pdScheduler' | 'gcIntervalMs' | 'gcLockResolver'>>;

export class StoreContext {
  readonly storeId: number;
  readonly clusterId: string;
  readonly engine: KvEngine;
  readonly logs: RaftLogStore;
  readonly transport: StoreTransport;
  readonly timers: Timers;
  private readonly rng: SeededRng;
  readonly opts: StoreSettings;
  readonly pdClient: PdClient | undefined;
  /** `StoreOptions.pdGc`: given to this store's PD replica. */
  readonly pdGc: StoreOptions['pdGc'];
  /** `StoreOptions.pdOperatorObserver`: told the operators this store's PD leader finished. */
  readonly pdOperatorObserver: StoreOptions['pdOperatorObserver'];
  /** `StoreOptions.pdScheduler`: given to this store's PD replica. */
  readonly pdScheduler: StoreOptions['pdScheduler'];
  readonly labels: Record<string, string>;
  /** `StoreOptions.witness`: every replica here is a witness (its label says so to PD). */
  readonly witness: boolean;
  /** `StoreOptions.entryCipher` as a keyring: seals proposals and opens sealed entries (none on a witness). */
  readonly entryCipher: EntryKeyring | undefined;
  /**
   * Who proved the data key on their link (`StoreOptions.dataProofKey`): `bindStore` serves user
   * data only to them, and a leader sends a data snapshot only to a store that proved it when
   * asked (`SnapshotWorker.sendSnapshot`). None: no gate, every member is served and sent data.
   */
  readonly dataKeyGate: DataKeyGate | undefined;
  /** The opened payloads of sealed entries this store's full replicas apply (sealing.ts). */
  readonly payloads: OpenedPayloads;
  /** The column families holding region data (checked at open): every data path iterates them. */
  readonly dataCfs: readonly string[];
  /** What the data column families hold (checked against the engine's record at open): every range walk maps region bounds through `storedKeyRange`. */
  readonly dataModel: DataModel;
  /** Snapshot transfer limits as given (the snapshot worker fills in defaults); its counters, for `status()`. */
  readonly snapshotLimits: Partial<SnapshotTransferLimits>;
  snapshotTransfer: SnapshotTransferStatus | undefined;
  /** The store is going away (a closing tab): PD moves its leaders elsewhere. */
  draining = false;
  readonly now: () => number;
  private readonly raftOpts: NonNullable<StoreOptions['raft']>;
  /** Every replica's election timeout, in ticks (its randomized timeout lies in [this, 2 × this)). */
  get electionTicks(): number {
    return this.raftOpts.electionTicks ?? ELECTION_TICKS_DEFAULT;
  }
  readonly peers = new Map<number, RegionPeer>();
  /**
   * The replicas the next round visits: each that may have a Ready (its Raft node was called
   * since a round last looked, `tracked-raw-node.ts`), was woken, or is applying a snapshot.
   * The round takes the set and asks only these `hasReady()`; a hibernating replica costs a
   * round nothing until something gives it work.
   */
  readonly peersWithWork = new Set<RegionPeer>();
  /**
   * The replicas not hibernating: the store tick walks these, not every replica, and the PD
   * worker visits hibernating ones only on their turn (`ReplicaPatrol`). A replica joins when
   * it is made or wakes (`RegionPeer.onWake`) and leaves when it hibernates or is gone.
   */
  readonly awake = new Set<RegionPeer>();
  /** Peer ids destroyed on this store: their messages never recreate them (a re-added replica gets a new peer id). */
  readonly tombstones = new Set<number>();
  /** Where peers live: recorded from region metadata, learned from incoming messages (`peer-stores.ts`). */
  readonly peerStores = new PeerStores();
  /** After a restart, PD's state is rebuilt by replaying its log up to here: it answers nothing before. */
  pdReplayTarget = 0;
  /** Right halves of splits staged in the round's write in flight (their replicas start after it). */
  splitsInFlight: Region[] = [];
  /** Regions whose local replica PD says was removed: destroyed at the next round. */
  readonly staleDestroys = new Set<number>();
  /** Regions whose replica made on demand PD does not know and that never voted: dropped at the next round. */
  readonly pendingReclaims = new Set<number>();
  tickHandle: unknown;
  private roundScheduled = false;
  roundRunning = false;
  closed = false;
  /** Times this store's engine was opened (persisted): read contexts of an earlier run never collide with ours. */
  boot = 0;
  readonly mutations: StoreTestMutations;
  readonly counters: StoreCounters = { rounds: 0, writes: 0, snapshotsGenerated: 0, snapshotsInstalled: 0, logCompactions: 0 };
  /** Messages and requests refused, by reason (`StoreStatus.refused`). */
  readonly refused: Record<string, number> = {};
  /** Apply observers that threw (each throw is caught; the store goes on). */
  readonly applyCounters: ApplyCounters = { observerErrors: 0, staleKeyEntries: 0 };
  /** A witness store's sealed and plain data entries (`StoreStatus.witnessEntries`). */
  readonly witnessEntries: WitnessEntryCounts = { sealed: 0, plain: 0 };
  /** Set when a write failed: the store stops (its in-memory state is ahead of disk). */
  fatal: unknown;
  /** Every data region's machine: its entries dispatch on the apply table. */
  readonly dataMachine = new DataRegionMachine(COMMAND_HANDLERS);
  /** See each applied data command once durable (`StoreOptions.applyObservers`, `Store.observeApply`). */
  readonly applyObservers: ApplyObserver[];
  /** See each leader change a replica here learns (`Store.observeLeader`). */
  readonly leaderObservers: LeaderObserver[] = [];
  /** The write-latency trace (`status().writeTrace`). */
  readonly writeTrace = new WriteTrace();
  /** Now on the trace's clock, ms. */
  readonly traceNow: () => number;
  /** One group-commit round (the batch round binds it once the store's parts exist). */
  private round: () => Promise<void> = () => Promise.resolve();

  constructor(o: StoreOptions) {
    this.storeId = o.storeId;
    this.clusterId = o.clusterId;
    this.dataModel = o.dataModel ?? DATA_MODEL_DEFAULT;
    // Every write of an mvcc store's engine passes its index of the newest commit per key.
    this.engine = this.dataModel === 'mvcc' ? new WriteTsIndex().track(o.engine) : o.engine;
    this.transport = o.transport;
    this.timers = o.timers ?? REAL_TIMERS;
    this.rng = new SeededRng(o.seed ?? o.storeId);
    this.raftOpts = o.raft ?? {};
    this.now = o.now ?? (() => Date.now());
    const traceClock = o.traceClock ?? monotonicClock;
    this.traceNow = () => traceClock.now();
    this.opts = {
      tickIntervalMs: o.tickIntervalMs ?? 100,
      durability: o.durability ?? 'strict',
      logGcThresholdEntries: o.logGcThresholdEntries ?? 1000,
      logGcKeepEntries: o.logGcKeepEntries ?? 50,
      logGcLagEntriesMax: o.logGcLagEntriesMax ?? 4 * (o.logGcThresholdEntries ?? 1000),
      hibernateAfterTicks: o.hibernateAfterTicks ?? 60,
      requestTimeoutMs: o.requestTimeoutMs ?? 5000,
      pendingRequestsPerRegionMax: o.pendingRequestsPerRegionMax ?? 4096,
      pendingReplicasMax: o.pendingReplicasMax ?? PENDING_REPLICAS_MAX,
      pendingReplicasPerSenderMax: o.pendingReplicasPerSenderMax ?? PENDING_REPLICAS_PER_SENDER_MAX,
      heartbeatIntervalTicks: o.heartbeatIntervalTicks ?? 10,
      hibernatingHeartbeatIntervalTicks: o.hibernatingHeartbeatIntervalTicks ?? HIBERNATING_HEARTBEAT_INTERVAL_TICKS,
      safeTsIntervalMs: o.safeTsIntervalMs ?? SAFE_TS_INTERVAL_MS_DEFAULT,
      address: o.address ?? `store:${o.storeId}`,
      capacityBytes: o.capacityBytes ?? 1024 * 1024 * 1024,
      verifyWorkSet: o.verifyWorkSet ?? false,
    };
    const hib = this.opts.hibernatingHeartbeatIntervalTicks;
    if (!Number.isSafeInteger(hib) || hib < 1) throw new StoreConfigError(`hibernatingHeartbeatIntervalTicks must be a positive integer, got ${hib}`);
    this.pdClient = o.pdClient;
    this.pdGc = o.pdGc;
    this.pdOperatorObserver = o.pdOperatorObserver;
    this.pdScheduler = o.pdScheduler;
    this.mutations = o.unsafeTestMutations ?? {};
    this.witness = o.witness ?? false;
    // A witness must never hold the data key: that is what keeps the user's data from it.
    if (this.witness && o.entryCipher) throw new StoreConfigError('a witness store must not be given an entryCipher (the data key): a witness holds only the membership credential');
    if (this.witness && o.dataProofKey) throw new StoreConfigError('a witness store must not be given a dataProofKey (it follows from the data key): a witness holds only the membership credential');
    this.entryCipher = o.entryCipher && keyringOf(o.entryCipher);
    this.dataKeyGate = o.dataProofKey ? new DataKeyGate(o.dataProofKey, o.storeId, undefined, () => this.now()) : undefined;
    this.payloads = new OpenedPayloads(this.entryCipher);
    this.labels = this.witness ? { ...o.labels, [WITNESS_LABEL]: 'true' } : (o.labels ?? {});
    this.dataCfs = dataColumnFamiliesOf(this.dataModel, o.dataColumnFamilies);
    this.snapshotLimits = o.snapshotTransfer ?? {};
    this.applyObservers = [...(o.applyObservers ?? [])];
    this.logs = new RaftLogStore({
      engine: this.engine,
      cf: RAFT_CF,
      onEntriesFetched: (regionId) => {
        this.wake(regionId);
        this.schedule();
      },
    });
  }

  /** Sets what one round does (called once, by the store, before it serves anything). */
  bindRound(round: () => Promise<void>): void {
    this.round = round;
  }

  private makeRaw(peerId: number, log: RegionLog, applied: number, touched: () => void): TrackedRawNode {
    return new TrackedRawNode({
      ...DEFAULT_CONFIG,
      electionTicks: ELECTION_TICKS_DEFAULT,
      heartbeatTicks: 2,
      ...this.raftOpts,
      // A store proposes only where it leads (a follower's proposal answers NotLeader), and
      // drops a proposal another store sends (`StoreLoop.receive`): as in TiKV, never forwarded.
      disableProposalForwarding: true,
      id: peerId,
      storage: log,
      rng: this.rng.fork(),
      applied,
      ...(this.witness && !this.mutations.witnessLeads ? { witness: true } : {}),
      ...(this.mutations.readIndexWithoutTermCommit ? { unsafeTestMutations: { readIndexWithoutTermCommit: true } } : {}),
    }, touched, this.mutations);
  }

  /**
   * Rebuilds `peer`'s Raft node from its persisted state, as a restart would: whatever the old
   * node held only in memory (entries, acks, commit news not yet persisted) is forgotten.
   * Only between rounds (no Ready outstanding).
   */
  restartRaft(peer: RegionPeer): void {
    peer.raw = this.makeRaw(peer.peerId, peer.log, peer.applied, () => this.peersWithWork.add(peer));
    this.peersWithWork.add(peer);
  }

  addPeer(region: Region, peerId: number, log: RegionLog, dedup: DedupTable, applied: number): RegionPeer {
    const machine = this.witness ? new WitnessRegionMachine(region.id === PD_REGION_ID ? 'pd' : 'data', this.witnessEntries) : this.dataMachine;
    // The node is made before its peer: a call into it before the peer exists has nothing to mark.
    let made: RegionPeer | undefined;
    const raw = this.makeRaw(peerId, log, applied, () => {
      if (made) this.peersWithWork.add(made);
    });
    const peer = new RegionPeer({ region, peerId, raw, log, dedup, applied, machine });
    made = peer;
    this.peersWithWork.add(peer);
    this.awake.add(peer);
    peer.onWake = (p) => this.awake.add(p);
    peer.mutations = this.mutations;
    peer.witness = this.witness;
    if (this.witness) return this.placePeer(peer, region);
    if (region.id === PD_REGION_ID) this.hostPd(peer, new PdHost(peerId, PdStateMachine.create(), applied));
    return this.placePeer(peer, region);
  }

  private placePeer(peer: RegionPeer, region: Region): RegionPeer {
    this.peers.set(region.id, peer);
    for (const p of region.peers) this.peerStores.record(p.id, p.storeId);
    return peer;
  }

  /** Makes `peer` PD's replica, backed by `host`. */
  hostPd(peer: RegionPeer, host: PdHost): void {
    if (this.pdGc) host.useGcConfig(this.pdGc);
    if (this.pdScheduler) host.useSchedulerOptions(this.pdScheduler);
    peer.hostPd(host, new PdRegionMachine(host));
  }

  /** Counts one refusal of `reason`. */
  countRefused(reason: string): void {
    this.refused[reason] = (this.refused[reason] ?? 0) + 1;
  }

  assertOpen(): void {
    if (this.closed) throw new StoreClosedError(`store ${this.storeId} is closed`);
    if (this.fatal) throw new StoreClosedError(`store ${this.storeId} stopped after a storage failure: ${String(this.fatal)}`);
  }

  /** Wakes a region's replica: it ticks again and the next round visits it. */
  wake(regionId: number): void {
    const p = this.peers.get(regionId);
    if (p) {
      p.hibernating = false;
      p.idleTicks = 0;
      this.peersWithWork.add(p);
    }
  }

  /** Takes the work set for one round (it starts empty again). */
  takePeersWithWork(): RegionPeer[] {
    const out = [...this.peersWithWork];
    this.peersWithWork.clear();
    return out;
  }

  sleep(ms: number): Promise<void> {
    return new Promise((r) => this.timers.setTimeout(() => r(), ms));
  }

  /** Runs a round soon (coalescing calls). */
  schedule(): void {
    if (this.roundScheduled || this.closed || this.fatal) return;
    this.roundScheduled = true;
    queueMicrotask(() => void this.runRounds());
  }

  /** Asks for one more round after the current one (a peer still has a Ready). */
  scheduleAgain(): void {
    this.roundScheduled = true;
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
  stop(e: unknown): void {
    this.fatal = e;
    this.timers.clearTimeout(this.tickHandle);
    for (const p of this.peers.values()) p.failPending({ kind: 'ServerIsBusy', reason: `store stopped: ${String(e)}`, backoffMs: 1000 });
  }
}
