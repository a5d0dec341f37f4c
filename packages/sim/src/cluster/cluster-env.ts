/**
 * The simulated deployment: a `PdCluster` of `MemoryEngine` stores on `MemoryDisk`s, all on
 * one `VirtualScheduler`. Owns the devices (a device keeps its disk across restarts; a wipe
 * gives it a new disk, so it rejoins as a new store), the disks' behaviour (per-write delay,
 * slow disks with stalls), each store's clock skew, the network between stores (delay,
 * loss, duplication, reordering, partitions), the fault actions the nemesis calls (crash,
 * graceful restart, wipe, partition) and the record of stores that stopped with an error.
 */
import { ENGINE_LABEL, WITNESS_LABEL, type OperatorEvent } from '@peerkv/pd';
import { SeededRng } from '@peerkv/raft';
import { META_CF, PD_REGION_ID, STAGED_PREFIX_START, TEMP_STORE_ID_MIN, isSnapshotFrameMessage, isTempStoreId, type ApplyObserver, type DataProofMac, type Store } from '@peerkv/store';
import { ForwardingEngine, MemoryDisk, MemoryEngine, type CrashReport, type MemoryDiskStats } from '@peerkv/storage';
import type { RegionMessage } from '@peerkv/transport';
import { PdCluster } from 'peerkv';
import type { ClusterSimOptions } from './options.ts';
import { VirtualPdClient } from './virtual-pd-client.ts';
import { VirtualScheduler } from './virtual-scheduler.ts';
import { DataKeySwitchChecker } from './data-key-rotation.ts';
import { simDataKeyring, simDataProofMac } from './sim-cipher.ts';

/** One simulated device: its storage and the store currently running on it, if any. */
export interface Device {
  /** The `device` placement label. */
  label: string;
  /** The engine name of its current storage (a new one after a wipe). */
  engineName: string;
  /** The store id its storage belongs to, once joined. */
  storeId?: number;
  /** True while a store runs on it. */
  up: boolean;
  /** True while a start/stop is in progress (the nemesis leaves it alone). */
  busy: boolean;
  wipes: number;
  /** A witness store runs on it (`ClusterSimOptions.witness`: the last device); it keeps that role across wipes. */
  witness: boolean;
  /** Its `engine` label (`ClusterSimOptions.engines`), kept across wipes. */
  engine?: string;
}

/** The engines `--engines` devices alternate between. */
export const SIM_ENGINES = ['chromium', 'firefox'] as const;

/** A store that stopped itself (`status().stoppedReason`) or failed to start. */
export interface StoreFault {
  atMs: number;
  device: string;
  storeId?: number;
  reason: string;
}

/** The device whose disk fails once under mutation `diskWriteFailure`. */
const FAULTY_DISK_DEVICE = 'dev1';
/** When that disk fails, virtual ms into the run. */
const FAULTY_DISK_AFTER_MS = 2_000;

/** How long a crash aimed at a write in flight (or at pending reads) waits for one, virtual ms. */
const AIMED_CRASH_WAIT_MS = 60;

/** Times a device tries `PdCluster.join` (each try waits ~2 s of virtual time for PD) before it is reported. */
export const JOIN_ATTEMPTS_MAX = 5;
/** Pause between two join tries, ms. */
export const JOIN_RETRY_GAP_MS = 500;

/** Mixes the run seed with a store id into a store's election seed. */
function storeSeed(seed: number, storeId: number): number {
  return (Math.imul(seed ^ 0x5bd1e995, 0x9e3779b1) + storeId * 0x85ebca6b) >>> 0;
}

/** Mixes the run seed with a name into a seed (FNV-1a over the name). */
function nameSeed(seed: number, salt: number, name: string): number {
  let h = (0x811c9dc5 ^ seed ^ salt) >>> 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** What the nemesis' crashes did to the disks, summed. */
export interface CrashStats {
  crashes: number;
  powerCuts: number;
  /** Writes in flight that a crash tore (a prefix of the batch landed; only with `tearChance`). */
  tornWrites: number;
  /** Writes in flight that a crash lost. */
  inFlightLost: number;
  /** Writes in flight that landed whole although never reported complete. */
  inFlightLanded: number;
  /** Completed writes never synced that a power cut lost. */
  unsyncedLost: number;
}

/** Snapshot faults injected (`netSnapshotDropRate`, `stagedChunkLossChance`). */
export interface SnapshotFaultStats {
  /** Sends of snapshot traffic lost besides `netDropRate`. */
  snapshotSendsDropped: number;
  /** Staged chunks a pending apply found gone. */
  stagedChunksLost: number;
}

/** Whether a send carries snapshot traffic: a MsgSnap header or a snapshot frame. */
function carriesSnapshot(messages: readonly RegionMessage[]): boolean {
  return messages.some((rm) => rm.message.type === 'MsgSnap' || isSnapshotFrameMessage(rm));
}

/**
 * A store's engine whose reads of a data region's staged snapshot chunks (meta cf, key
 * `n` + region id + ...) come back missing with probability `chance`, as if the staging was
 * lost after the transfer completed. PD's region is spared (its snapshot is read back inside
 * the round, where a loss stops the store: a different fault).
 */
class StagedChunkLosingEngine extends ForwardingEngine {
  constructor(
    inner: MemoryEngine,
    private readonly chance: number,
    private readonly rng: SeededRng,
    private readonly stats: SnapshotFaultStats,
  ) {
    super(inner);
  }

  override get(cf: string, key: Uint8Array): Promise<Uint8Array | undefined> {
    if (cf === META_CF && key.length >= 9 && key[0] === STAGED_PREFIX_START[0]) {
      const regionId = Number(new DataView(key.buffer, key.byteOffset).getBigUint64(1));
      if (regionId !== PD_REGION_ID && this.rng.nextFloat() < this.chance) {
        this.stats.stagedChunksLost++;
        return Promise.resolve(undefined);
      }
    }
    return this.inner.get(cf, key);
  }
}

/**
 * Operators PD finished in a run: those that succeeded by kind (`replaceReplica`: a replica on
 * a down, offline or damaged store rebuilt elsewhere; `addReplica`, `removeReplica`, ...), and
 * those that did not by outcome.
 */
export interface OperatorCounts {
  replaceReplica: number;
  addReplica: number;
  removeReplica: number;
  placement: number;
  pdGroup: number;
  drainLeader: number;
  balanceLeader: number;
  balanceRegion: number;
  split: number;
  timeout: number;
  stale: number;
  cancelled: number;
}

/** Every count 0. */
export function emptyOperatorCounts(): OperatorCounts {
  return { replaceReplica: 0, addReplica: 0, removeReplica: 0, placement: 0, pdGroup: 0, drainLeader: 0, balanceLeader: 0, balanceRegion: 0, split: 0, timeout: 0, stale: 0, cancelled: 0 };
}

function countOperators(into: OperatorCounts, events: readonly OperatorEvent[]): void {
  for (const e of events) {
    if (e.outcome === 'success') into[e.operator.kind]++;
    else into[e.outcome]++;
  }
}

/**
 * The data-key proofs of a run (`data-key-proof.ts`): clients prove to each store they ask for
 * user data, leaders ask a store before they send it a data snapshot.
 */
export interface DataKeyProofStats {
  /** Proofs clients ran after a store answered `DataKeyUnproven` (a new store, or a link that came back). */
  clientProofs: number;
  /** Client proofs that failed (the link lost a step: the request is retried as a timeout). */
  clientProofsFailed: number;
  /**
   * Answers still `DataKeyUnproven` after the client's proof failed (a step lost): the request
   * fails as a `Timeout` and the client retries it, proving again.
   */
  refusedAfterFailedProof: number;
  /**
   * Answers still `DataKeyUnproven` after the client's proof succeeded with no link going down
   * or up since (`linkEpoch`): must stay 0 (a violation): a member is never refused data.
   */
  refusedAfterProof: number;
  /** Stores that proved the data key to a leader's ask, summed over the stores' gates (stores stopped included). */
  receiversProven: number;
  /** Leaders' asks that failed (lost, or the link changed meanwhile). */
  asksFailed: number;
}

/** The cluster under test plus its devices. */
export class ClusterEnv {
  readonly sched: VirtualScheduler;
  readonly pd: PdCluster;
  readonly devices: Device[] = [];
  readonly storeFaults: StoreFault[] = [];
  /** Human-readable fault log, for failure reports. */
  readonly trace: string[] = [];
  /** Scans that returned keys out of range or out of order (reported as violations). */
  readonly scanProblems: string[] = [];
  private readonly disks = new Map<string, MemoryDisk>();
  /** The engine currently open on each disk (closed on a graceful restart). */
  private readonly engines = new Map<string, MemoryEngine>();
  /** Reads waiting for a ReadIndex at each store object (kept by the client network). */
  readonly readsInFlight = new WeakMap<Store, number>();
  /** Store objects that crashed: nothing they answer after the crash reaches a client. */
  private readonly crashedStores = new WeakSet<Store>();
  readonly crashStats: CrashStats = { crashes: 0, powerCuts: 0, tornWrites: 0, inFlightLost: 0, inFlightLanded: 0, unsyncedLost: 0 };
  readonly snapshotFaults: SnapshotFaultStats = { snapshotSendsDropped: 0, stagedChunksLost: 0 };
  /** Operators PD finished, over every PD leader of the run (`operatorCounts`). */
  readonly operators: OperatorCounts = emptyOperatorCounts();
  /** The skew of each store's clock, ms, by store id (only stores that started). */
  readonly clockSkews = new Map<number, number>();
  private partitioned = false;
  /** Stores opened per engine name so far (each incarnation's nonce prefix differs). */
  private readonly storeOpens = new Map<string, number>();
  /** Told every command any mvcc store applies (the change feed's check of what was committed); add before `setup`. */
  readonly applyObservers: ApplyObserver[] = [];
  /** Virtual time when the env was created. */
  readonly startMs: number;
  /**
   * The data-proof MAC every full store and every client holds (none with `SIM_SEAL=0`): the
   * stores serve user data only to callers that proved it (`StoreOptions.dataProofKey`).
   */
  readonly dataProofMac: DataProofMac | undefined;
  readonly proofStats: DataKeyProofStats = { clientProofs: 0, clientProofsFailed: 0, refusedAfterFailedProof: 0, refusedAfterProof: 0, receiversProven: 0, asksFailed: 0 };
  /** Temporary ids handed to clients so far (`nextClientId`). */
  private clients = 0;
  /** The data-key rotation fault and its `dataKeySwitch` check (data-key-rotation.ts). */
  readonly dataKeys = new DataKeySwitchChecker();
  /** Bumped whenever links go down or up (a store stops or starts, a partition heals): proofs made before may be void. */
  linkEpoch = 0;

  constructor(readonly o: ClusterSimOptions) {
    this.sched = new VirtualScheduler(o.seed);
    const sched = this.sched;
    this.startMs = sched.now();
    const net = new SeededRng(o.seed ^ 0x6e657477);
    // Its own stream, so the other network faults draw as they did before it existed.
    const snapNet = new SeededRng(o.seed ^ 0x736e6170);
    const [dMin, dMax] = o.netDelayMs;
    const [lMin, lMax] = o.netLongDelayMs;
    const env = this;
    const sealing = process.env.SIM_SEAL !== '0';
    this.dataProofMac = sealing ? simDataProofMac(o.seed) : undefined;
    const proofMac = this.dataProofMac;
    // The requests of the data-key proof (leaders' asks, clients' proofs) travel on their own
    // seeded stream, lost at the network's rate.
    const rpcNet = new SeededRng(o.seed ^ 0x72706321);
    const storeOptions = {
      timers: sched,
      tickIntervalMs: o.tickIntervalMs,
      heartbeatIntervalTicks: 5,
      // An idle region's heartbeat every 1 s of virtual time (default 60 s): PD's operators for
      // hibernating regions start within the convergence window.
      hibernatingHeartbeatIntervalTicks: 50,
      // Every round checks that no replica with work was left out of the round's work set.
      verifyWorkSet: true,
      // The write trace reads virtual time too (it only observes).
      traceClock: sched,
      requestTimeoutMs: o.requestTimeoutMs,
      logGcThresholdEntries: o.logGc.thresholdEntries,
      logGcKeepEntries: o.logGc.keepEntries,
      // Tiny chunks and a small window: the simulator's small regions still travel as many
      // chunks, through loss, duplication and reordering.
      snapshotTransfer: { chunkBytesMax: 48, chunksInflightMax: 3, resendMs: 150, resendsMax: 8, receiveTimeoutMs: 2_000, requestIntervalMs: o.snapshotRequestIntervalMs },
      durability: o.durability,
      // Every PD leader's finished operators (the summary's repairs).
      pdOperatorObserver: (events: readonly OperatorEvent[]) => countOperators(env.operators, events),
      ...(o.safeTsIntervalMs !== undefined ? { safeTsIntervalMs: o.safeTsIntervalMs } : {}),
      ...(o.storeGcIntervalMs !== undefined ? { gcIntervalMs: o.storeGcIntervalMs } : {}),
      ...(o.pdGc !== undefined ? { pdGc: { ...o.pdGc } } : {}),
      ...(o.pdPatrolRegionsPerRound !== undefined ? { pdScheduler: { patrolRegionsPerRoundMin: o.pdPatrolRegionsPerRound, patrolRegionsPerRoundMax: o.pdPatrolRegionsPerRound } } : {}),
      ...(o.dataColumnFamilies ? { dataColumnFamilies: o.dataColumnFamilies } : {}),
      dataModel: o.dataModel,
      ...(o.mutations.store ? { unsafeTestMutations: { ...o.mutations.store } } : {}),
      // mvcc stores fan out to the env's observers (raw runs keep none: nothing changes there).
      ...(o.dataModel === 'mvcc' ? { applyObservers: [{ onApplied: (cmd: Parameters<ApplyObserver['onApplied']>[0]) => env.applyObservers.forEach((x) => x.onApplied(cmd)) }] } : {}),
    };
    this.pd = new PdCluster({
      openEngine: async (name, cfs) => {
        let disk = this.disks.get(name);
        if (!disk) this.disks.set(name, (disk = this.newDisk(name)));
        const engine = await MemoryEngine.open({ columnFamilies: cfs, disk });
        this.engines.set(name, engine);
        if (o.mutations.diskWriteFailure && name === FAULTY_DISK_DEVICE) this.failOneWrite(engine);
        if (o.stagedChunkLossChance <= 0) return engine;
        const rng = new SeededRng(nameSeed(o.seed, 0x73746167, `${name}#${disk.stats.crashes}`));
        return new StagedChunkLosingEngine(engine, o.stagedChunkLossChance, rng, this.snapshotFaults);
      },
      store: storeOptions,
      // Each store's clock is the virtual clock plus its own skew (a restart keeps it).
      storeOptionsOf: (storeId, name) => {
        const skew = env.skewOf(storeId);
        env.clockSkews.set(storeId, skew);
        const witness = env.devices.some((d) => d.witness && d.engineName === name);
        // Full stores seal write and txn payloads (a witness gets no data key), each incarnation
        // with its own nonce prefix.
        const opens = (env.storeOpens.get(name) ?? 0) + 1;
        env.storeOpens.set(name, opens);
        const full = proofMac ? { entryCipher: simDataKeyring(o.seed, nameSeed(o.seed, 0x6e6f6e63, `${name}#${opens}`)), dataProofKey: proofMac } : {};
        return { now: () => sched.now() + skew, ...(witness ? { witness } : full) };
      },
      schedule: { maxStoreDownTimeMs: o.maxStoreDownTimeMs, regionSplitKeys: o.regionSplitKeys, maxReplicas: o.maxReplicas, operatorTimeoutMs: 5_000, ...(o.engines ? { replicaEnginesMin: SIM_ENGINES.length } : {}) },
      // Between stores only: a client's requests take the client network's loss (client-net.ts).
      rpc: { timers: sched, deliveryDelayMs: dMin, drop: (from, to) => !isTempStoreId(from) && !isTempStoreId(to) && rpcNet.nextFloat() < o.netDropRate },
      pdClient: (stores) => new VirtualPdClient(stores, sched.now, (storeId) => this.skewOf(storeId)),
      sleep: sched.sleep,
      router: {
        delay: {
          timers: sched,
          now: sched.now,
          delayMs: () => dMin + net.nextInt(dMax - dMin + 1),
          // A packet on another path: usually as fast as the rest, sometimes much later.
          outOfOrderDelayMs: () => (net.nextFloat() < o.netLongDelayShare ? lMin + net.nextInt(lMax - lMin + 1) : dMin + net.nextInt(dMax - dMin + 1)),
        },
        drop: (_from, _to, messages) => {
          if (net.nextFloat() < o.netDropRate) return true;
          if (o.netSnapshotDropRate <= 0 || !carriesSnapshot(messages) || snapNet.nextFloat() >= o.netSnapshotDropRate) return false;
          this.snapshotFaults.snapshotSendsDropped++;
          return true;
        },
        duplicate: () => net.nextFloat() < o.netDuplicateRate,
        reorder: () => net.nextFloat() < o.netReorderRate,
      },
      seedOf: (storeId) => storeSeed(o.seed, storeId),
    });
  }

  /** Stops store `storeId` (`PdCluster.kill`), its gate's counters kept. */
  private async kill(storeId: number): Promise<void> {
    const s = this.pd.store(storeId);
    if (s) this.collectGateStats(s);
    this.linkEpoch++;
    await this.pd.kill(storeId);
  }

  /** A temporary id for a new client (its identity on the stores' links). */
  nextClientId(): number {
    return TEMP_STORE_ID_MIN + ++this.clients;
  }

  /** The stores' gate counters, added to `proofStats` (a stopping store's before it goes, the rest at the end). */
  collectGateStats(s: Store): void {
    const g = s.dataKeyGate?.stats;
    if (!g) return;
    this.proofStats.receiversProven += g.receiversProven;
    this.proofStats.asksFailed += g.asksFailed;
    g.receiversProven = 0;
    g.asksFailed = 0;
  }

  /** The clock skew of store `storeId`, ms: a pure function of the seed and the id (a restart keeps it). */
  skewOf(storeId: number): number {
    const rng = new SeededRng(nameSeed(this.o.seed, 0x736b6577, `store${storeId}`));
    if (rng.nextFloat() >= this.o.clockSkewChance) return 0;
    return Math.round((rng.nextFloat() * 2 - 1) * this.o.clockSkewMsMax);
  }

  /** A new disk for engine `name`: seeded per-write delays, slow with `slowDiskChance`, with occasional stalls. */
  private newDisk(name: string): MemoryDisk {
    const rng = new SeededRng(nameSeed(this.o.seed, 0x6469736b, name));
    const slow = rng.nextFloat() < this.o.slowDiskChance;
    const [min, max] = slow ? this.o.slowDiskDelayMs : this.o.diskDelayMs;
    const [sMin, sMax] = this.o.diskStallMs;
    const writeDelayMs = (): number => {
      if (slow && rng.nextFloat() < this.o.diskStallChance) return sMin + rng.nextInt(sMax - sMin + 1);
      return min + rng.nextInt(max - min + 1);
    };
    const disk = new MemoryDisk({ timers: this.sched, writeDelayMs, trackUnsynced: true });
    disk.unsynced = this.o.mutations.unsyncedDisk === true;
    if (slow) this.log(`disk ${name} is slow (${min}-${max} ms per write, stalls ${sMin}-${sMax} ms)`);
    return disk;
  }

  /** The engine open on device `d`'s current disk, if its store runs (the txn simulator's GC writes through it). */
  engineOf(d: Device): MemoryEngine | undefined {
    return d.up ? this.engines.get(d.engineName) : undefined;
  }

  /** Counters of every disk ever used, summed. */
  diskStats(): MemoryDiskStats {
    const sum: MemoryDiskStats = { writes: 0, slowWrites: 0, crashes: 0, inFlightLost: 0, inFlightLanded: 0, torn: 0, unsyncedLost: 0 };
    for (const d of this.disks.values()) for (const k of Object.keys(sum) as (keyof MemoryDiskStats)[]) sum[k] += d.stats[k];
    return sum;
  }

  /** True if `s` crashed: an answer it gives now never reaches a client. */
  isCrashed(s: Store): boolean {
    return this.crashedStores.has(s);
  }

  private diskFailed = false;

  /** Makes one write of `engine` fail once the run is `FAULTY_DISK_AFTER_MS` old (mutation `diskWriteFailure`). */
  private failOneWrite(engine: MemoryEngine): void {
    const write = engine.write.bind(engine);
    engine.write = async (batch, opts) => {
      if (!this.diskFailed && this.rel() >= FAULTY_DISK_AFTER_MS) {
        this.diskFailed = true;
        this.log(`disk write of ${FAULTY_DISK_DEVICE} fails (injected)`);
        throw new Error('injected disk write failure');
      }
      return write(batch, opts);
    };
  }

  /** Virtual ms since the run started (times in histories and reports). */
  rel(): number {
    return this.sched.now() - this.startMs;
  }

  /** Adds a line to the run's trace. */
  note(msg: string): void {
    this.log(msg);
  }

  private log(msg: string): void {
    this.trace.push(`${this.sched.now() - this.startMs}ms ${msg}`);
  }


  /** Stores currently running. */
  liveStores(): Store[] {
    return [...this.pd.stores.values()];
  }

  /** Creates the devices and starts the first store (bootstrap); joins the others. */
  async setup(): Promise<void> {
    for (let i = 0; i < this.o.stores; i++) {
      const label = `dev${i}`;
      const witness = this.o.witness && i === this.o.stores - 1;
      this.devices.push({ label, engineName: label, up: false, busy: false, wipes: 0, witness, ...(this.o.engines ? { engine: SIM_ENGINES[i % SIM_ENGINES.length] } : {}) });
    }
    const first = this.devices[0];
    const s = await this.pd.bootstrap(first.engineName, this.labelsOf(first));
    first.storeId = s.storeId;
    first.up = true;
    this.log(`bootstrap ${first.label} as store ${s.storeId}`);
    for (const d of this.devices.slice(1)) await this.start(d);
  }

  /** The labels `d`'s store registers with: its device, its engine under `--engines`, and `witness=true` on the witness device. */
  labelsOf(d: Device): Record<string, string> {
    return { device: d.label, ...(d.engine ? { [ENGINE_LABEL]: d.engine } : {}), ...(d.witness ? { [WITNESS_LABEL]: 'true' } : {}) };
  }

  /** Store ids of running witness stores. */
  witnessStoreIds(): Set<number> {
    return new Set(this.devices.flatMap((d) => (d.witness && d.up && d.storeId !== undefined ? [d.storeId] : [])));
  }

  /** Starts the store of `d` from its current disk (a restart, or a join as a new store). */
  async start(d: Device): Promise<void> {
    d.busy = true;
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          const s = await this.pd.join(d.engineName, this.labelsOf(d));
          this.log(`${d.storeId === s.storeId ? 'restart' : 'join'} ${d.label} as store ${s.storeId}`);
          this.linkEpoch++;
          d.storeId = s.storeId;
          d.up = true;
          return;
        } catch (e) {
          // PD may be without a leader for a while (its group lost a quorum): a device retries.
          const noId = e instanceof Error && e.message === 'PD did not assign a store id';
          if (!noId || attempt >= JOIN_ATTEMPTS_MAX) throw e;
          this.log(`${d.label}: PD assigned no store id yet (attempt ${attempt}), retrying`);
          await this.sched.sleep(JOIN_RETRY_GAP_MS);
        }
      }
    } catch (e) {
      this.storeFaults.push({ atMs: this.sched.now(), device: d.label, storeId: d.storeId, reason: `start failed: ${String((e as Error).stack ?? e)}` });
    } finally {
      d.busy = false;
    }
  }

  /** Records a stopped store's reason (once per store incarnation). */
  noteStopped(s: Store, device: string): void {
    this.dataKeys.collect(s, this.rel());
    const reason = s.status().stoppedReason;
    if (reason !== undefined && !this.storeFaults.some((f) => f.storeId === s.storeId && f.reason === reason)) {
      this.storeFaults.push({ atMs: this.sched.now(), device, storeId: s.storeId, reason });
    }
  }

  /**
   * Crashes the store of `d`: its disk crashes first (writes in flight lost, landed whole or,
   * with `tearChance`, torn; on a power cut, unsynced writes lost), then the dead store object
   * is unregistered (it sends nothing more) and stopped without any graceful step. The disk
   * keeps what survived, for a restart.
   */
  async crash(d: Device, rng: SeededRng): Promise<void> {
    if (!d.up || d.storeId === undefined) return;
    d.busy = true;
    const aim = rng.nextFloat();
    if (aim < this.o.crashMidWriteChance + this.o.crashDuringReadsChance) {
      // Aim at a write in flight, or at reads waiting for their ReadIndex (the store may be
      // idle: give up after a while).
      const disk = this.disks.get(d.engineName);
      const store = d.storeId !== undefined ? this.pd.store(d.storeId) : undefined;
      const ready = aim < this.o.crashMidWriteChance ? (): boolean => disk === undefined || disk.inFlightCount() > 0 : (): boolean => store === undefined || (this.readsInFlight.get(store) ?? 0) > 0;
      for (let i = 0; i < AIMED_CRASH_WAIT_MS && !ready(); i++) await this.sched.sleep(1);
      if (!d.up || d.storeId === undefined) {
        d.busy = false;
        return;
      }
    }
    const s = this.pd.store(d.storeId);
    if (s) {
      this.noteStopped(s, d.label);
      this.crashedStores.add(s);
    }
    d.up = false;
    const power = this.o.mutations.unsyncedDisk === true || rng.nextFloat() < this.o.powerCutChance;
    const tear = rng.nextFloat() < this.o.tearChance;
    const disk = this.disks.get(d.engineName);
    const r: CrashReport = disk ? disk.crash({ kind: power ? 'power' : 'process', tear, random: () => rng.nextFloat() }) : { inFlightLost: 0, inFlightLanded: 0, unsyncedLost: 0 };
    const c = this.crashStats;
    c.crashes++;
    if (power) c.powerCuts++;
    if (r.torn) c.tornWrites++;
    c.inFlightLost += r.inFlightLost;
    c.inFlightLanded += r.inFlightLanded;
    c.unsyncedLost += r.unsyncedLost;
    const torn = r.torn ? `, torn ${r.torn.opsLanded}/${r.torn.opsTotal} ops` : '';
    this.log(`crash${power ? ' (power cut)' : ''} ${d.label} (store ${d.storeId}): in flight lost ${r.inFlightLost}, landed ${r.inFlightLanded}${torn}; unsynced lost ${r.unsyncedLost}`);
    // The old store object is dead: its engine rejects everything, so its round stops at once.
    await this.kill(d.storeId);
    d.busy = false;
  }

  /**
   * Stops the store of `d` gracefully, as a closing tab does: hands its leaderships away,
   * waits `drainGraceMs`, closes the store, lets its engine's writes land and closes the
   * engine. The disk survives.
   */
  async stop(d: Device): Promise<void> {
    if (!d.up || d.storeId === undefined) return;
    d.busy = true;
    const moved = this.pd.store(d.storeId)?.drain() ?? [];
    this.log(`drain ${d.label} (store ${d.storeId}): leadership of regions [${moved}] handed over`);
    await this.sched.sleep(this.o.drainGraceMs);
    const s = this.pd.store(d.storeId);
    if (!s) {
      d.busy = false;
      return;
    }
    this.noteStopped(s, d.label);
    d.up = false;
    this.log(`stop ${d.label} (store ${d.storeId}) gracefully`);
    await this.kill(d.storeId);
    await this.engines.get(d.engineName)?.close();
    d.busy = false;
  }

  /** Crashes the store of `d` and replaces its disk with an empty one: it will join as a new store. */
  async wipe(d: Device, rng: SeededRng): Promise<void> {
    await this.crash(d, rng);
    d.wipes++;
    d.engineName = `${d.label}-w${d.wipes}`;
    this.log(`wipe ${d.label} (old store ${d.storeId})`);
  }

  /**
   * Asks a region led by the store of `d` to hand its leadership to another voter (as PD's
   * balancer does, but at a time of the nemesis' choosing). Returns what was asked, if anything.
   */
  transferLeader(d: Device, rng: SeededRng): string | undefined {
    const s = d.up && d.storeId !== undefined ? this.pd.store(d.storeId) : undefined;
    if (!s) return undefined;
    const led = s.status().regions.filter((r) => r.role === 'leader' && r.regionId !== PD_REGION_ID);
    if (led.length === 0) return undefined;
    const r = led[rng.nextInt(led.length)];
    const others = r.peers.filter((p) => p.role === 'voter' && p.storeId !== s.storeId);
    if (others.length === 0) return undefined;
    const to = others[rng.nextInt(others.length)];
    s.transferLeader(r.regionId, to.id);
    const what = `region ${r.regionId} from store ${s.storeId} to peer ${to.id} on store ${to.storeId}`;
    this.log(`transfer leader of ${what}`);
    return what;
  }

  /** Cuts the stores of `side` from every other store. */
  partition(side: Device[]): void {
    const a = side.flatMap((d) => (d.storeId === undefined ? [] : [d.storeId]));
    const b = this.devices.filter((d) => !side.includes(d)).flatMap((d) => (d.storeId === undefined ? [] : [d.storeId]));
    this.pd.rpc.partition(a, b);
    this.partitioned = true;
    this.log(`partition [${a}] | [${b}]`);
  }

  /** Heals every partition. */
  heal(): void {
    if (!this.partitioned) return;
    this.pd.rpc.heal();
    // The links came back: what either side proved to the other was on the old ones.
    this.linkEpoch++;
    for (const s of this.liveStores()) for (const t of this.liveStores()) if (s !== t) s.dataKeyGate?.forget(t.storeId);
    this.partitioned = false;
    this.log('heal');
  }

  /** True while a partition is in place. */
  isPartitioned(): boolean {
    return this.partitioned;
  }

  /** Heals partitions and starts every stopped device (wiped ones join as new stores). */
  async healAll(): Promise<void> {
    this.heal();
    for (const d of this.devices) if (!d.up && !d.busy) await this.start(d);
  }

  /** Stores of running devices that stopped with an error. */
  collectStopped(): void {
    for (const d of this.devices) {
      const s = d.up && d.storeId !== undefined ? this.pd.store(d.storeId) : undefined;
      if (s) this.noteStopped(s, d.label);
    }
  }

  /** PD's group region as the PD leader sees it. */
  pdGroupPeers(): { storeId: number; role: string }[] | undefined {
    const leader = this.liveStores().find((s) => s.pdIsLeader());
    return leader?.pdState()?.pdGroup?.region.peers;
  }

  /** The PD region id (excluded from data-region checks). */
  static readonly PD_REGION = PD_REGION_ID;
}
