/**
 * `EmbeddedCluster`: the profile's cluster as the Worker runs it. N stores in one
 * `LocalCluster`, each persisting to its own engine (IndexedDB in the browser, one database
 * per store); the first open bootstraps the first region on all of them, later opens reload their
 * regions from storage. It serves `KvRequest`s through a `PeerKV` client and, when enabled,
 * the test hooks (stop/start/partition a store, split a region).
 */
import type { KvEngine } from '@peerkv/storage';
import type { Store, StoreOptions } from '@peerkv/store';
import { PeerKV } from '../client.ts';
import { LocalCluster } from '../local-cluster.ts';
import { BrowserKvError, HOOK_OPS, type ClusterStatus, type HookRequest, type KvRequest, type Reply, type StoreView } from './protocol.ts';
import { RequestLedger, serveData, type DataRequest } from './serve-request.ts';
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
/** Region ids above this are never allocated by `splitRegion`. */
export const REGION_ID_MAX = 1_000_000;

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
  store?: Partial<Omit<StoreOptions, 'storeId' | 'clusterId' | 'engine' | 'transport'>>;
  /** Per-attempt client request timeout, ms. */
  requestTimeoutMs?: number;
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
  private readonly local: LocalCluster;
  private readonly kv: PeerKV;
  private readonly tabWriter: TabWriter;
  private readonly engines = new Map<number, KvEngine>();
  private readonly partitioned = new Set<number>();
  private readonly storeIds: number[];
  private readonly ledger: RequestLedger;
  private opened: ClusterStatus['opened'] = 'reopened';
  private openMs = 0;

  private constructor(private readonly o: EmbeddedClusterOptions & { storeName: string }) {
    const n = o.stores ?? EMBEDDED_STORES_DEFAULT;
    if (!Number.isInteger(n) || n < 1 || n > EMBEDDED_STORES_MAX) throw new BrowserKvError('InvalidArgument', `stores must be 1..${EMBEDDED_STORES_MAX}, got ${n}`);
    this.storeIds = Array.from({ length: n }, (_, i) => i + 1);
    this.local = new LocalCluster({
      clusterId: o.cluster,
      store: o.store,
      openEngine: async (storeId, cfs) => {
        await this.engines.get(storeId)?.close();
        const engine = await o.openEngine(storeDatabaseName(o.cluster, o.storeName, storeId), cfs);
        this.engines.set(storeId, engine);
        return engine;
      },
    });
    const requestTimeoutMs = o.requestTimeoutMs ?? EMBEDDED_REQUEST_TIMEOUT_MS_DEFAULT;
    this.kv = new PeerKV({ pd: this.local, stores: this.local, requestTimeoutMs });
    this.tabWriter = new TabWriter(this.local, requestTimeoutMs);
    this.ledger = new RequestLedger(o.testHooks ?? false);
  }

  /** Opens every store; bootstraps the first region when no store holds a region yet. */
  static async open(o: EmbeddedClusterOptions): Promise<EmbeddedCluster> {
    const c = new EmbeddedCluster({ ...o, storeName: o.storeName ?? 'store' });
    const now = o.now ?? (() => performance.now());
    const started = now();
    for (const id of c.storeIds) await c.local.startStore(id);
    await c.bootstrapIfEmpty();
    if (c.opened === 'reopened') c.campaignEverywhere();
    // The first linearizable read marks the cluster ready (after a reopen, an election runs first).
    await c.kv.get(READY_PROBE_KEY);
    c.openMs = Math.round(now() - started);
    return c;
  }

  /** The first region is created on every store that lacks it, so a half-finished bootstrap completes. */
  private async bootstrapIfEmpty(): Promise<void> {
    const stores = this.storeIds.map((id) => this.local.store(id)!);
    const holding = stores.filter((s) => s.status().regions.length > 0);
    if (holding.length === stores.length) return;
    if (holding.length === 0) {
      this.opened = 'bootstrapped';
      await this.local.bootstrap(this.storeIds);
      return;
    }
    // A half-finished bootstrap: the holders have exactly the first region, which starts at the empty key.
    const region = holding[0].status().regions.find((r) => r.startKey.length === 0);
    if (!region) throw new BrowserKvError('Internal', 'stores hold regions but none holds the first one');
    for (const s of stores) {
      if (s.status().regions.length === 0) {
        await s.createRegion({ id: 1, startKey: region.startKey, endKey: region.endKey, epoch: region.epoch, peers: region.peers });
      }
    }
  }

  /**
   * After a reopen every store of the cluster restarted at once, so no region has a leader:
   * rather than wait out an election timeout, the first store campaigns for each of its
   * regions now (an ordinary Raft election; PreVote and terms keep it safe).
   */
  private campaignEverywhere(): void {
    const first = this.local.store(this.storeIds[0]);
    for (const regionId of first?.regionIds() ?? []) first!.campaign(regionId);
  }

  /** Serves one request; never throws (failures are `Reply` values). */
  call(req: KvRequest): Promise<Reply> {
    return this.ledger.reply(req, (r) => this.serve(r));
  }

  private async serve(req: KvRequest): Promise<unknown> {
    if (req.op === 'status') return this.status();
    if (HOOK_OPS.has(req.op)) return this.hook(req as HookRequest);
    return serveData(this.kv, this.tabWriter, req as DataRequest);
  }

  private async hook(req: HookRequest): Promise<unknown> {
    switch (req.op) {
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
        throw new BrowserKvError('InvalidHook', `${req.op} is a hook of the networked runtime`);
    }
  }

  private knownStore(storeId: number): number {
    if (!this.storeIds.includes(storeId)) throw new BrowserKvError('InvalidHook', `no store ${storeId}`);
    return storeId;
  }

  private async stopStore(id: number): Promise<void> {
    if (!this.local.store(id)) throw new BrowserKvError('InvalidHook', `store ${id} is already stopped`);
    await this.local.stopStore(id);
    await this.engines.get(id)?.close();
    this.engines.delete(id);
  }

  private async startStore(id: number): Promise<void> {
    if (this.local.store(id)) throw new BrowserKvError('InvalidHook', `store ${id} is already running`);
    await this.local.startStore(id);
  }

  /**
   * Cuts every link between the store and the others. The peers on both sides are told the
   * other side is unreachable, as a real transport does when a link drops, so hibernating
   * regions wake and elect.
   */
  private partitionStore(id: number): void {
    const others = this.storeIds.filter((x) => x !== id);
    this.local.router.partition([id], others);
    this.partitioned.add(id);
    for (const o of others) this.local.store(o)?.onStoreDown(id);
    for (const o of others) this.local.store(id)?.onStoreDown(o);
  }

  private heal(): void {
    this.local.router.heal();
    // Leaders with a lagging voter never hibernate, so their heartbeats reach the healed store.
    this.partitioned.clear();
  }

  /** Splits the region holding `splitKey` at it; the new region gets the next free id. */
  private async splitRegion(splitKey: Uint8Array): Promise<{ newRegionId: number }> {
    if (splitKey.length === 0) throw new BrowserKvError('InvalidHook', 'split key must not be empty');
    const running = this.storeIds.map((id) => this.local.store(id)).filter((s): s is Store => s !== undefined);
    const route = await this.local.getRegion(splitKey);
    if (!route) throw new BrowserKvError('RegionError', 'no region holds the split key');
    const leader = running.find((s) => s.status().regions.some((r) => r.regionId === route.region.id && r.role === 'leader'));
    if (!leader) throw new BrowserKvError('RegionError', `region ${route.region.id} has no leader now`);
    const view = leader.status().regions.find((r) => r.regionId === route.region.id)!;
    const maxId = Math.max(...running.flatMap((s) => s.regionIds()));
    const newRegionId = maxId + 1;
    if (newRegionId > REGION_ID_MAX) throw new BrowserKvError('RegionError', `region ids exhausted (${REGION_ID_MAX})`);
    const newPeerIds = view.peers.map((p) => newRegionId * 1000 + p.storeId);
    const r = await leader.split(view.regionId, view.epoch, splitKey, newRegionId, newPeerIds);
    if (!r.ok) throw new BrowserKvError('RegionError', `split refused: ${r.error.kind}`);
    return { newRegionId };
  }

  /** Every store's view, running or not. */
  status(): ClusterStatus {
    const stores: StoreView[] = this.storeIds.map((id) => {
      const s = this.local.store(id);
      const database = storeDatabaseName(this.o.cluster, this.o.storeName, id);
      const partitioned = this.partitioned.has(id);
      if (!s) return { storeId: id, database, up: false, partitioned, regions: [] };
      const st = s.status();
      return { storeId: id, database, up: true, partitioned, counters: st.counters, stoppedReason: st.stoppedReason, regions: st.regions };
    });
    return { cluster: this.o.cluster, mode: 'embedded', opened: this.opened, openMs: this.openMs, testHooks: this.o.testHooks ?? false, stores, requests: { ...this.ledger.requests } };
  }

  /** Stops every store and closes every engine. */
  async close(): Promise<void> {
    this.kv.close();
    await this.local.close();
    for (const e of this.engines.values()) await e.close();
    this.engines.clear();
  }
}
