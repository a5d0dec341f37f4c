/**
 * The simulated deployment: a `PdCluster` of `MemoryEngine` stores on `MemoryDisk`s, all on
 * one `VirtualScheduler`. Owns the devices (a device keeps its disk across restarts; a wipe
 * gives it a new disk, so it rejoins as a new store), the fault actions the nemesis calls,
 * and the record of stores that stopped with an error.
 */
import { SeededRng } from '@peerkv/raft';
import { PD_REGION_ID, type Store } from '@peerkv/store';
import { MemoryDisk, MemoryEngine } from '@peerkv/storage';
import { PdCluster } from 'peerkv';
import type { ClusterSimOptions } from './options.ts';
import { VirtualPdClient } from './virtual-pd-client.ts';
import { VirtualScheduler } from './virtual-scheduler.ts';

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
}

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

/** Times a device tries `PdCluster.join` (each try waits ~2 s of virtual time for PD) before it is reported. */
export const JOIN_ATTEMPTS_MAX = 5;
/** Pause between two join tries, ms. */
export const JOIN_RETRY_GAP_MS = 500;

/** Mixes the run seed with a store id into a store's election seed. */
function storeSeed(seed: number, storeId: number): number {
  return (Math.imul(seed ^ 0x5bd1e995, 0x9e3779b1) + storeId * 0x85ebca6b) >>> 0;
}

/** The cluster under test plus its devices. */
export class ClusterEnv {
  readonly sched: VirtualScheduler;
  readonly pd: PdCluster;
  readonly devices: Device[] = [];
  readonly storeFaults: StoreFault[] = [];
  /** Human-readable fault log, for failure reports. */
  readonly trace: string[] = [];
  private readonly disks = new Map<string, MemoryDisk>();
  private partitioned = false;
  /** Virtual time when the env was created. */
  readonly startMs: number;

  constructor(readonly o: ClusterSimOptions) {
    this.sched = new VirtualScheduler(o.seed);
    const sched = this.sched;
    this.startMs = sched.now();
    const net = new SeededRng(o.seed ^ 0x6e657477);
    const [dMin, dMax] = o.netDelayMs;
    this.pd = new PdCluster({
      openEngine: async (name, cfs) => {
        let disk = this.disks.get(name);
        if (!disk) this.disks.set(name, (disk = new MemoryDisk()));
        const engine = await MemoryEngine.open({ columnFamilies: cfs, disk });
        if (o.mutations.diskWriteFailure && name === FAULTY_DISK_DEVICE) this.failOneWrite(engine);
        return engine;
      },
      store: {
        timers: sched,
        now: sched.now,
        tickIntervalMs: o.tickIntervalMs,
        heartbeatIntervalTicks: 5,
        requestTimeoutMs: o.requestTimeoutMs,
        logGcThresholdEntries: 40,
        logGcKeepEntries: 8,
      },
      schedule: { maxStoreDownTimeMs: o.maxStoreDownTimeMs, regionSplitKeys: o.regionSplitKeys, maxReplicas: o.maxReplicas, operatorTimeoutMs: 5_000 },
      pdClient: (stores) => new VirtualPdClient(stores, sched.now),
      sleep: sched.sleep,
      router: {
        delay: { timers: sched, now: sched.now, delayMs: () => dMin + net.nextInt(dMax - dMin + 1) },
        drop: () => net.nextFloat() < o.netDropRate,
      },
      seedOf: (storeId) => storeSeed(o.seed, storeId),
    });
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
      this.devices.push({ label, engineName: label, up: false, busy: false, wipes: 0 });
    }
    const first = this.devices[0];
    const s = await this.pd.bootstrap(first.engineName, { device: first.label });
    first.storeId = s.storeId;
    first.up = true;
    this.log(`bootstrap ${first.label} as store ${s.storeId}`);
    for (const d of this.devices.slice(1)) await this.start(d);
  }

  /** Starts the store of `d` from its current disk (a restart, or a join as a new store). */
  async start(d: Device): Promise<void> {
    d.busy = true;
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          const s = await this.pd.join(d.engineName, { device: d.label });
          this.log(`${d.storeId === s.storeId ? 'restart' : 'join'} ${d.label} as store ${s.storeId}`);
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
    const reason = s.status().stoppedReason;
    if (reason !== undefined && !this.storeFaults.some((f) => f.storeId === s.storeId && f.reason === reason)) {
      this.storeFaults.push({ atMs: this.sched.now(), device, storeId: s.storeId, reason });
    }
  }

  /** Kills the store of `d` (its disk survives). */
  async kill(d: Device): Promise<void> {
    if (!d.up || d.storeId === undefined) return;
    d.busy = true;
    const s = this.pd.store(d.storeId);
    if (s) this.noteStopped(s, d.label);
    d.up = false;
    this.log(`kill ${d.label} (store ${d.storeId})`);
    await this.pd.kill(d.storeId);
    d.busy = false;
  }

  /** Kills the store of `d` and replaces its disk with an empty one: it will join as a new store. */
  async wipe(d: Device): Promise<void> {
    await this.kill(d);
    d.wipes++;
    d.engineName = `${d.label}-w${d.wipes}`;
    this.log(`wipe ${d.label} (old store ${d.storeId})`);
  }

  /** Cuts the stores of `side` from every other store. */
  partition(side: Device[]): void {
    const a = side.flatMap((d) => (d.storeId === undefined ? [] : [d.storeId]));
    const b = this.devices.filter((d) => !side.includes(d)).flatMap((d) => (d.storeId === undefined ? [] : [d.storeId]));
    this.pd.router.partition(a, b);
    this.partitioned = true;
    this.log(`partition [${a}] | [${b}]`);
  }

  /** Heals every partition. */
  heal(): void {
    if (!this.partitioned) return;
    this.pd.router.heal();
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
