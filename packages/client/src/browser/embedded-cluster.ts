/**
 * `EmbeddedCluster`: the profile's cluster as the Worker runs it. N stores in one Worker,
 * each persisting to its own engine (IndexedDB in the browser, one database per store); the
 * first open bootstraps the cluster, later opens reload the regions from storage. The raw data
 * model runs them as a `LocalCluster`, the mvcc model as a PD-driven cluster (with the TSO that
 * transactions need): `embedded-backend.ts`. It serves `TabRequest`s: client requests and
 * watches through a `PeerKV` client, its status and, when enabled, the test hooks
 * (stop/start/partition a store, split a region).
 */
import type { ScheduleConfig } from '@peerkv/pd';
import type { KvEngine } from '@peerkv/storage';
import { DATA_MODEL_DEFAULT, type Store, type StoreOptions, type StoreStatus } from '@peerkv/store';
import { PeerKV } from '../client.ts';
import type { ReplicaRead } from '../txn/routing.ts';
import { lateGcLockResolver } from '../remote/store-client.ts';
import { PdEmbeddedBackend, RawEmbeddedBackend, type EmbeddedBackend } from './embedded-backend.ts';
import { BrowserKvError, snapshotProgress, type ClusterStatus, type HookRequest, type TabRequest, type Reply, type StoreView } from './protocol.ts';
import { RequestLedger, serveTab, type TabServing } from './serve-request.ts';
import { HostTrace } from './host-trace.ts';
import { TabWriter } from './tab-writes.ts';

/** Stores of the default embedded cluster (three, so replication and failover are real). */
export const EMBEDDED_STORES_DEFAULT = 3;
/** Most stores one embedded cluster may run. */
export const EMBEDDED_STORES_MAX = 7;
/**
 * Per-attempt request timeout of the embedded client, ms. A request stuck on a leader that was
 * cut off is retried elsewhere after this long (the retry keeps its (clientId, seq)).
 */
export const EMBEDDED_REQUEST_TIMEOUT_MS_DEFAULT = 1000;
/** How to open the embedded cluster. */
export interface EmbeddedClusterOptions {
  /** Cluster name: part of every database name. */
  cluster: string;
  /** Database name prefix of this profile's stores. Default `store`. */
  storeName?: string;
  /** Number of stores, 1..EMBEDDED_STORES_MAX. Default `EMBEDDED_STORES_DEFAULT`. */
  stores?: number;
  /** Enables stop/start/partition/split requests. */
  testHooks?: boolean;
  /** Opens the engine named `database` (IndexedDB in the Worker, memory in unit tests). */
  openEngine: (database: string, columnFamilies: readonly string[]) => Promise<KvEngine>;
  /** Store settings (tick interval, durability, ...). */
  store?: Partial<Omit<StoreOptions, 'storeId' | 'clusterId' | 'engine' | 'transport' | 'pdClient'>>;
  /**
   * `mvcc` (default, `DATA_MODEL_DEFAULT`): every read and write is a transaction at a PD
   * timestamp (the stores then run PD; see `embedded-backend.ts`). `raw`: keys as they are, no
   * PD (stores created raw, the benchmark baseline).
   */
  dataModel?: 'raw' | 'mvcc';
  /** PD's scheduling settings (mvcc only), over PD's defaults with `maxReplicas` capped at `stores`. */
  schedule?: Partial<ScheduleConfig>;
  /** Per-attempt client request timeout, ms. */
  requestTimeoutMs?: number;
  /**
   * The mvcc model: which of the Worker's replicas serves reads and tabs' transaction reads
   * (`ClientOptions.replicaRead`, default `leader`): `follower` one that does not lead, after a
   * `txnReadIndex` on the leader; `closest` the one with the lowest measured round trip (every
   * store is in this Worker, so none is "this store"). The raw model refuses anything but `leader`.
   */
  replicaRead?: ReplicaRead;
  /** Monotonic ms clock for `openMs` (performance.now in the browser). */
  now?: () => number;
}

/** Read once at open: its ReadIndex needs an elected leader. */
const READY_PROBE_KEY = new Uint8Array([0]);

/** The database name of store `storeId`. */
export function storeDatabaseName(cluster: string, storeName: string, storeId: number): string {
  return `peerkv:${cluster}:${storeName}-${storeId}`;
}

/** The cluster a Worker hosts; see the module header. */
export class EmbeddedCluster {
  private readonly backend: EmbeddedBackend;
  private readonly kv: PeerKV;
  private readonly tabWriter: TabWriter;
  private readonly partitioned = new Set<number>();
  private readonly ledger: RequestLedger;
  /** The latency trace's switch (`host-trace.ts`). */
  private readonly hostTrace = new HostTrace();
  private opened: ClusterStatus['opened'] = 'reopened';
  private openMs = 0;

  private constructor(private readonly o: EmbeddedClusterOptions & { storeName: string }) {
    const n = o.stores ?? EMBEDDED_STORES_DEFAULT;
    if (!Number.isInteger(n) || n < 1 || n > EMBEDDED_STORES_MAX) throw new BrowserKvError('InvalidArgument', `stores must be 1..${EMBEDDED_STORES_MAX}, got ${n}`);
    const mvcc = (o.dataModel ?? DATA_MODEL_DEFAULT) === 'mvcc';
    // A setting that would do nothing is refused: the raw model's reads are not transactional.
    if (!mvcc && o.replicaRead !== undefined && o.replicaRead !== 'leader') throw new BrowserKvError('InvalidArgument', `replicaRead '${String(o.replicaRead)}' needs the mvcc data model`);
    const backendOptions = {
      cluster: o.cluster,
      databaseOf: (slot: number) => storeDatabaseName(o.cluster, o.storeName, slot),
      stores: n,
      openEngine: o.openEngine,
      ...(o.store ? { store: o.store } : {}),
      ...(o.schedule ? { schedule: o.schedule } : {}),
      // Locks a store's GC cannot resolve alone go through this host's client.
      gcLockResolver: lateGcLockResolver(() => this.kv),
    };
    this.backend = mvcc ? new PdEmbeddedBackend(backendOptions) : new RawEmbeddedBackend(backendOptions);
    const requestTimeoutMs = o.requestTimeoutMs ?? EMBEDDED_REQUEST_TIMEOUT_MS_DEFAULT;
    this.kv = new PeerKV({ pd: this.backend.routing, stores: this.backend.routing, requestTimeoutMs, dataModel: mvcc ? 'mvcc' : 'raw', ...(o.replicaRead !== undefined ? { replicaRead: o.replicaRead } : {}) });
    this.tabWriter = new TabWriter(this.backend.routing, requestTimeoutMs);
    this.ledger = new RequestLedger(o.testHooks ?? false);
  }

  /** Opens every store; bootstraps the cluster when no store holds it yet. */
  static async open(o: EmbeddedClusterOptions): Promise<EmbeddedCluster> {
    const c = new EmbeddedCluster({ ...o, storeName: o.storeName ?? 'store' });
    const now = o.now ?? (() => performance.now());
    const started = now();
    try {
      c.opened = await c.backend.open();
      // The first read marks the cluster ready (after a reopen, an election runs first).
      await c.kv.get(READY_PROBE_KEY);
    } catch (e) {
      await c.close();
      throw e;
    }
    c.openMs = Math.round(now() - started);
    return c;
  }

  /** Serves one request; never throws (failures are `Reply` values). */
  call(req: TabRequest): Promise<Reply> {
    return this.ledger.reply(req, (r) => this.hostTrace.serve(r, (x) => serveTab(this.serving, x)));
  }

  /** This runtime's client, status, trace and hooks, as `serveTab` asks for them. */
  private readonly serving: TabServing = {
    withClient: (serve) => serve(this.kv, this.tabWriter),
    status: () => this.status(),
    trace: (on) => this.hostTrace.switch(on, this.kv, this.runningStores()),
    hook: (req) => this.hook(req),
  };

  private async hook(req: HookRequest): Promise<unknown> {
    switch (req.type) {
      case 'stopStore':
        return this.stopStore(this.knownStore(req.storeId));
      case 'startStore':
        return this.startStore(this.knownStore(req.storeId));
      case 'partitionStore':
        return this.partitionStore(this.knownStore(req.storeId));
      case 'heal':
        return this.heal();
      case 'splitRegion':
        return this.splitRegion(req.splitKey);
      case 'partition':
      case 'slowDisk':
        throw new BrowserKvError('InvalidHook', `${req.type} is a hook of the networked runtime`);
    }
  }

  private knownStore(storeId: number): number {
    if (!this.backend.storeIds().includes(storeId)) throw new BrowserKvError('InvalidHook', `no store ${storeId}`);
    return storeId;
  }

  private async stopStore(id: number): Promise<void> {
    if (!this.backend.store(id)) throw new BrowserKvError('InvalidHook', `store ${id} is already stopped`);
    await this.backend.stop(id);
  }

  private async startStore(id: number): Promise<void> {
    if (this.backend.store(id)) throw new BrowserKvError('InvalidHook', `store ${id} is already running`);
    await this.backend.start(id);
  }

  /**
   * Cuts every link between the store and the others. The peers on both sides are told the
   * other side is unreachable, as a real transport does when a link drops, so hibernating
   * regions wake and elect.
   */
  private partitionStore(id: number): void {
    const others = this.backend.storeIds().filter((x) => x !== id);
    this.backend.router.partition([id], others);
    this.partitioned.add(id);
    for (const o of others) this.backend.store(o)?.onStoreDown(id);
    for (const o of others) this.backend.store(id)?.onStoreDown(o);
  }

  private heal(): void {
    this.backend.router.heal();
    // Leaders with a lagging voter never hibernate, so their heartbeats reach the healed store.
    this.partitioned.clear();
  }

  /** Splits the region holding `splitKey` at it, with ids from the backend. */
  private async splitRegion(splitKey: Uint8Array): Promise<{ newRegionId: number }> {
    if (splitKey.length === 0) throw new BrowserKvError('InvalidHook', 'split key must not be empty');
    const running = this.runningStores();
    const route = await this.backend.routing.getRegion(splitKey);
    if (!route) throw new BrowserKvError('RegionError', 'no region holds the split key');
    const leader = running.find((s) => s.status().regions.some((r) => r.regionId === route.region.id && r.role === 'leader'));
    if (!leader) throw new BrowserKvError('RegionError', `region ${route.region.id} has no leader now`);
    const view = leader.status().regions.find((r) => r.regionId === route.region.id)!;
    const { newRegionId, newPeerIds } = await this.backend.allocSplitIds(view.peers.map((p) => p.storeId));
    const r = await leader.split(view.regionId, view.epoch, splitKey, newRegionId, newPeerIds);
    if (!r.ok) throw new BrowserKvError('RegionError', `split refused: ${r.error.kind}`);
    return { newRegionId };
  }

  /** Every store's view, running or not. */
  status(): ClusterStatus {
    /** The running stores' statuses (for the trace). */
    const running: StoreStatus[] = [];
    const stores: StoreView[] = this.backend.storeIds().map((id) => {
      const s = this.backend.store(id);
      const database = this.backend.database(id);
      const partitioned = this.partitioned.has(id);
      if (!s) return { storeId: id, database, up: false, partitioned, regions: [] };
      const st = s.status();
      running.push(st);
      const catchUp = snapshotProgress(st.snapshotTransfer);
      return { storeId: id, database, up: true, partitioned, counters: st.counters, stoppedReason: st.stoppedReason, regions: st.regions, ...(catchUp ? { catchUp } : {}) };
    });
    return { cluster: this.o.cluster, mode: 'embedded', opened: this.opened, openMs: this.openMs, testHooks: this.o.testHooks ?? false, stores, requests: { ...this.ledger.requests }, trace: this.hostTrace.view(running) };
  }

  /** The stores running now. */
  private runningStores(): Store[] {
    return this.backend.storeIds().flatMap((id) => this.backend.store(id) ?? []);
  }

  /** Stops every store and closes every engine. */
  async close(): Promise<void> {
    this.kv.close();
    await this.backend.close();
  }
}
