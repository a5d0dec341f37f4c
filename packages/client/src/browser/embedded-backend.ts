/**
 * The two ways the Worker can run its embedded cluster (N stores in one Worker, one engine each).
 *
 * - `raw`: a `LocalCluster`, routing from the stores' own region views, no placement driver. The
 *   first open creates the first region on every store with fixed ids (store ids 1..N).
 * - `mvcc`: a `PdCluster`, as a deployed cluster runs: store 1's engine bootstraps the cluster
 *   and hosts PD, the others join and PD grows PD's group and the data region to N replicas.
 *   PD gives the timestamps (TSO) that transactions, resolved ts and max-ts sync need, the GC
 *   safe point and the deadlock detector; store ids are PD's. A store's engine is named by its
 *   slot (1..N), and a reopened engine keeps the id it recorded.
 *
 * `EmbeddedCluster` serves requests and hooks over either through this one interface.
 */
import { DEFAULT_SCHEDULE_CONFIG, type ScheduleConfig } from '@peerkv/pd';
import { MVCC_DATA_CFS, Store, storeColumnFamilies, type GcLockResolver, type LocalRouter, type StoreOptions } from '@peerkv/store';
import type { KvEngine } from '@peerkv/storage';
import { LocalCluster } from '../local-cluster.ts';
import { PdCluster } from '../pd-cluster.ts';
import type { PdService, StoreResolver } from '../services.ts';
import { BrowserKvError } from './protocol.ts';

/** Longest wait at a first open for PD to place every replica of the first data region, ms. */
export const EMBEDDED_PLACEMENT_WAIT_MS_MAX = 30_000;
/** Region ids above this are never allocated by the raw backend's split hook. */
export const REGION_ID_MAX = 1_000_000;
/** Poll interval while waiting for the placement, ms. */
const PLACEMENT_POLL_MS = 20;
/** Per-attempt timeout of an id request to PD, ms. */
const PD_ALLOC_TIMEOUT_MS = 2000;

/** Opens the engine of database `database` with the column families a store declares. */
export type OpenEngine = (database: string, columnFamilies: readonly string[]) => Promise<KvEngine>;

/** What `EmbeddedCluster` needs of its stores, whichever way they route. */
export interface EmbeddedBackend {
  /** Routing and store lookup for the cluster's `PeerKV`. */
  readonly routing: PdService & StoreResolver;
  readonly router: LocalRouter;
  /** Starts every store; `bootstrapped` on the very first open, `reopened` after. */
  open(): Promise<'bootstrapped' | 'reopened'>;
  /** Every store id of the cluster, running or stopped, in slot order. */
  storeIds(): number[];
  store(storeId: number): Store | undefined;
  /** The database name of a store. */
  database(storeId: number): string;
  stop(storeId: number): Promise<void>;
  start(storeId: number): Promise<void>;
  /** Ids for splitting a region whose peers sit on `storeIds`: the new region's, and one peer id per store in that order. */
  allocSplitIds(storeIds: readonly number[]): Promise<{ newRegionId: number; newPeerIds: number[] }>;
  close(): Promise<void>;
}

/** Settings common to both backends. */
export interface EmbeddedBackendOptions {
  cluster: string;
  /** Database name of slot `slot` (1..N). */
  databaseOf: (slot: number) => string;
  stores: number;
  openEngine: OpenEngine;
  store?: Partial<Omit<StoreOptions, 'storeId' | 'clusterId' | 'engine' | 'transport' | 'pdClient'>>;
  schedule?: Partial<ScheduleConfig>;
  /** The lock resolver the stores' GC workers use for locks they cannot resolve alone (mvcc). */
  gcLockResolver?: GcLockResolver;
}

/** Tracks the engine each database has open, so a stopped store's engine is closed. */
class Engines {
  private readonly open = new Map<string, KvEngine>();
  constructor(private readonly openEngine: OpenEngine) {}
  async get(database: string, cfs: readonly string[]): Promise<KvEngine> {
    await this.open.get(database)?.close();
    const e = await this.openEngine(database, cfs);
    this.open.set(database, e);
    return e;
  }
  async close(database: string): Promise<void> {
    await this.open.get(database)?.close();
    this.open.delete(database);
  }
  async closeAll(): Promise<void> {
    for (const d of [...this.open.keys()]) await this.close(d);
  }
}

/** The raw model's stores: fixed ids 1..N, the first region created on every store. */
export class RawEmbeddedBackend implements EmbeddedBackend {
  private readonly local: LocalCluster;
  private readonly engines: Engines;
  private readonly ids: number[];

  constructor(private readonly o: EmbeddedBackendOptions) {
    this.ids = Array.from({ length: o.stores }, (_, i) => i + 1);
    this.engines = new Engines(o.openEngine);
    this.local = new LocalCluster({ clusterId: o.cluster, store: { ...o.store, dataModel: 'raw' }, openEngine: (id, cfs) => this.engines.get(o.databaseOf(id), cfs) });
  }

  get routing(): PdService & StoreResolver {
    return this.local;
  }
  get router(): LocalRouter {
    return this.local.router;
  }

  async open(): Promise<'bootstrapped' | 'reopened'> {
    for (const id of this.ids) await this.local.startStore(id);
    const opened = await this.bootstrapIfEmpty();
    if (opened === 'reopened') this.campaignEverywhere();
    return opened;
  }

  /** The first region is created on every store that lacks it, so a half-finished bootstrap completes. */
  private async bootstrapIfEmpty(): Promise<'bootstrapped' | 'reopened'> {
    const stores = this.ids.map((id) => this.local.store(id)!);
    const holding = stores.filter((s) => s.status().regions.length > 0);
    if (holding.length === stores.length) return 'reopened';
    if (holding.length === 0) {
      await this.local.bootstrap(this.ids);
      return 'bootstrapped';
    }
    // A half-finished bootstrap: the holders have exactly the first region, which starts at the empty key.
    const region = holding[0].status().regions.find((r) => r.startKey.length === 0);
    if (!region) throw new BrowserKvError('Internal', 'stores hold regions but none holds the first one');
    for (const s of stores) {
      if (s.status().regions.length === 0) {
        await s.createRegion({ id: 1, startKey: region.startKey, endKey: region.endKey, epoch: region.epoch, peers: region.peers });
      }
    }
    return 'reopened';
  }

  /**
   * After a reopen every store of the cluster restarted at once, so no region has a leader:
   * rather than wait out an election timeout, the first store campaigns for each of its
   * regions now (an ordinary Raft election; PreVote and terms keep it safe).
   */
  private campaignEverywhere(): void {
    const first = this.local.store(this.ids[0]);
    for (const regionId of first?.regionIds() ?? []) first!.campaign(regionId);
  }

  storeIds(): number[] {
    return this.ids;
  }
  store(storeId: number): Store | undefined {
    return this.local.store(storeId);
  }
  database(storeId: number): string {
    return this.o.databaseOf(storeId);
  }
  async stop(storeId: number): Promise<void> {
    await this.local.stopStore(storeId);
    await this.engines.close(this.o.databaseOf(storeId));
  }
  async start(storeId: number): Promise<void> {
    await this.local.startStore(storeId);
  }

  /** The next free region id; peer ids follow the fixed scheme `regionId * 1000 + storeId`. */
  async allocSplitIds(storeIds: readonly number[]): Promise<{ newRegionId: number; newPeerIds: number[] }> {
    const running = this.ids.map((id) => this.local.store(id)).filter((s): s is Store => s !== undefined);
    const newRegionId = Math.max(...running.flatMap((s) => s.regionIds())) + 1;
    if (newRegionId > REGION_ID_MAX) throw new BrowserKvError('RegionError', `region ids exhausted (${REGION_ID_MAX})`);
    return { newRegionId, newPeerIds: storeIds.map((s) => newRegionId * 1000 + s) };
  }

  async close(): Promise<void> {
    await this.local.close();
    await this.engines.closeAll();
  }
}

/** The mvcc model's stores: a PD-driven cluster in one Worker (see the module header). */
export class PdEmbeddedBackend implements EmbeddedBackend {
  private readonly pd: PdCluster;
  private readonly engines: Engines;
  /** Store id → slot, learned as each store starts. */
  private readonly slotOf = new Map<number, number>();

  constructor(private readonly o: EmbeddedBackendOptions) {
    this.engines = new Engines(o.openEngine);
    this.pd = new PdCluster({
      clusterId: o.cluster,
      store: { ...o.store, dataColumnFamilies: MVCC_DATA_CFS, dataModel: 'mvcc' },
      schedule: { ...DEFAULT_SCHEDULE_CONFIG, maxReplicas: Math.min(o.stores, DEFAULT_SCHEDULE_CONFIG.maxReplicas), ...o.schedule },
      openEngine: (database, cfs) => this.engines.get(database, cfs),
    });
    this.pd.gcLockResolver = o.gcLockResolver;
  }

  get routing(): PdService & StoreResolver {
    return this.pd;
  }
  get router(): LocalRouter {
    return this.pd.router;
  }

  async open(): Promise<'bootstrapped' | 'reopened'> {
    const first = this.o.databaseOf(1);
    const probe = await this.engines.get(first, storeColumnFamilies(MVCC_DATA_CFS));
    const known = await Store.readIdentity(probe);
    await this.engines.close(first);
    const opened = known ? 'reopened' : 'bootstrapped';
    if (!known) this.track(1, await this.pd.bootstrap(first));
    for (let slot = known ? 1 : 2; slot <= this.o.stores; slot++) this.track(slot, await this.pd.join(this.o.databaseOf(slot)));
    if (opened === 'bootstrapped') await this.placed();
    else for (const s of this.pd.stores.values()) for (const regionId of s.regionIds()) s.campaign(regionId);
    return opened;
  }

  private track(slot: number, s: Store): void {
    this.slotOf.set(s.storeId, slot);
  }

  /** Waits until PD placed the configured replicas of every data region (bounded). */
  private async placed(): Promise<void> {
    const want = Math.min(this.o.stores, this.o.schedule?.maxReplicas ?? DEFAULT_SCHEDULE_CONFIG.maxReplicas);
    const deadline = Date.now() + EMBEDDED_PLACEMENT_WAIT_MS_MAX;
    for (;;) {
      const regions = this.pd.regions();
      if (regions.length > 0 && regions.every((r) => r.peers.filter((p) => p.role === 'voter').length >= want)) return;
      if (Date.now() > deadline) throw new BrowserKvError('Internal', `PD did not place ${want} replicas within ${EMBEDDED_PLACEMENT_WAIT_MS_MAX} ms`);
      await new Promise((res) => setTimeout(res, PLACEMENT_POLL_MS));
    }
  }

  storeIds(): number[] {
    return [...this.slotOf.entries()].sort((a, b) => a[1] - b[1]).map(([id]) => id);
  }
  store(storeId: number): Store | undefined {
    return this.pd.store(storeId);
  }
  database(storeId: number): string {
    return this.o.databaseOf(this.slotOf.get(storeId) ?? 0);
  }
  async stop(storeId: number): Promise<void> {
    await this.pd.kill(storeId);
    await this.engines.close(this.database(storeId));
  }
  async start(storeId: number): Promise<void> {
    const s = await this.pd.join(this.database(storeId));
    if (s.storeId !== storeId) throw new BrowserKvError('Internal', `store ${storeId}'s engine reopened as store ${s.storeId}`);
  }

  /** Ids from PD's allocator, as a deployed cluster's split takes them. */
  async allocSplitIds(storeIds: readonly number[]): Promise<{ newRegionId: number; newPeerIds: number[] }> {
    const ids: number[] = [];
    while (ids.length < storeIds.length + 1) {
      const r = await this.pd.pdClient.allocId({ timeoutMs: PD_ALLOC_TIMEOUT_MS });
      if (!r.ok) throw new BrowserKvError('RegionError', `no id from PD: ${r.error.kind}`);
      ids.push(r.value);
    }
    return { newRegionId: ids[0], newPeerIds: ids.slice(1) };
  }

  async close(): Promise<void> {
    await this.pd.close();
    await this.engines.closeAll();
  }
}
