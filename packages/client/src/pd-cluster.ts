/**
 * `PdCluster`: stores in one process whose membership, placement and repair are driven by
 * the placement driver, as in a deployed cluster: the first store bootstraps a one-store
 * cluster; every other store joins by asking PD for an id (an engine that lost its data
 * joins as a new store); PD's checkers grow PD's group and the data regions to the
 * configured replica count, rebuild replicas of dead stores and split large regions.
 * Routing answers come from PD's state. Used by Node integration tests, the simulator's
 * cluster mode and benchmarks.
 */
import type { GcRegisterResult, Region, ScheduleConfig, StoreMeta } from '@peerkv/pd';
import { DEFAULT_SCHEDULE_CONFIG, regionContainsKey } from '@peerkv/pd';
import { BOOTSTRAP_IDS, LocalPdClient, LocalRouter, LocalRpc, PD_REGION_ID, Store, serveStore, type LocalRpcOptions, dataColumnFamiliesOf, storeColumnFamilies, type GcLockResolver, type LocalRouterOptions, type PdClient, type Result, type StoreOptions } from '@peerkv/store';
import type { KvEngine } from '@peerkv/storage';
import { PeerKVError } from './errors.ts';
import type { ClusterStatus, PdService, RegionRoute, StatusSource, StoreResolver } from './services.ts';

/** Wait between two attempts to get a store id from PD, ms. */
export const JOIN_RETRY_DELAY_MS = 20;

export interface PdClusterOptions {
  /** Opens the engine named `name` (a device's storage), creating it empty if new. */
  openEngine: (name: string, columnFamilies: readonly string[]) => Promise<KvEngine>;
  store?: Partial<Omit<StoreOptions, 'storeId' | 'clusterId' | 'engine' | 'transport' | 'pdClient'>>;
  /** Scheduling settings written to PD at bootstrap. */
  schedule?: Partial<ScheduleConfig>;
  clusterId?: string;
  /**
   * Builds the PD client every store uses (default: `LocalPdClient`, which stamps PD commands
   * with `Date.now`); a simulator passes one that reads its virtual clock.
   */
  pdClient?: (stores: () => Iterable<Store>) => PdClient;
  /** Waits `ms` between join retries (default: a real `setTimeout`); a simulator passes virtual time. */
  sleep?: (ms: number) => Promise<void>;
  /** Network behaviour of the router (message delay on virtual timers, seeded loss); none by default. */
  router?: LocalRouterOptions;
  /**
   * Request/response between the stores (`LocalRpc`; cut with the router's `partition`). It
   * carries the data-key proof of stores started with a `dataProofKey` (a leader's ask before a
   * data snapshot, and a client's proof: `rpc`'s endpoints). Default: no delay, the platform's
   * timers.
   */
  rpc?: Omit<LocalRpcOptions, 'router'>;
  /** The seed of a store's election randomness (default: `store.seed`, else the store id). */
  seedOf?: (storeId: number) => number;
  /** Options of one store, merged over `store` (a simulator gives each store its own clock). */
  storeOptionsOf?: (storeId: number, name: string) => Partial<Omit<StoreOptions, 'storeId' | 'clusterId' | 'engine' | 'transport' | 'pdClient'>>;
}

const realSleep = (ms: number): Promise<void> => new Promise((res) => setTimeout(res, ms));

export class PdCluster implements PdService, StoreResolver, StatusSource {
  readonly router: LocalRouter;
  /** Requests to the stores, served as over a link (`serveStore`, with each store's data-key gate). */
  readonly rpc: LocalRpc;
  /** Stops serving each running store's requests. */
  private readonly unserve = new Map<number, () => void>();
  readonly stores = new Map<number, Store>();
  /** The engine name each running store uses. */
  readonly engineOf = new Map<number, string>();
  readonly pdClient: PdClient;
  /**
   * The lock resolver the stores' GC workers use for locks they cannot resolve themselves
   * (`StoreOptions.gcLockResolver`): set it to a client's (`kv.gcLockResolver()`), on the same
   * clock as the cluster. Unset, those locks wait for a reader.
   */
  gcLockResolver: GcLockResolver | undefined;
  private readonly clusterId: string;

  constructor(private readonly o: PdClusterOptions) {
    this.clusterId = o.clusterId ?? 'pd-cluster';
    this.router = new LocalRouter(o.router);
    this.rpc = new LocalRpc({ ...o.rpc, router: this.router });
    const stores = (): Iterable<Store> => this.stores.values();
    this.pdClient = o.pdClient ? o.pdClient(stores) : new LocalPdClient(stores);
  }

  private async startStore(storeId: number, engine: KvEngine, name: string, labels: Record<string, string>): Promise<Store> {
    const store = await Store.open({
      ...this.o.store,
      ...this.o.storeOptionsOf?.(storeId, name),
      ...(this.o.seedOf ? { seed: this.o.seedOf(storeId) } : {}),
      storeId,
      clusterId: this.clusterId,
      engine,
      transport: this.router.transportFor(storeId),
      pdClient: this.pdClient,
      gcLockResolver: { resolveLocks: (locks) => this.gcLockResolver?.resolveLocks(locks) ?? Promise.resolve() },
      address: name,
      labels,
    });
    this.router.register(store);
    this.serve(store);
    this.stores.set(storeId, store);
    this.engineOf.set(storeId, name);
    return store;
  }

  /**
   * Serves `store`'s requests over `rpc`, its data-key gate deciding who gets user data, and
   * lets the gate ask the others for their proof. A store going up or down is a new link for
   * every other one: what it proved on the old one no longer counts (as `bindStore` does).
   */
  private serve(store: Store): void {
    const endpoint = this.rpc.endpoint(store.storeId);
    store.dataKeyGate?.attach(endpoint);
    this.unserve.set(store.storeId, serveStore(store, endpoint, { countRefused: (r) => store.countRefused(r), ...(store.dataKeyGate ? { dataKeyGate: store.dataKeyGate } : {}) }));
    this.forgetLink(store.storeId);
  }

  private forgetLink(storeId: number): void {
    for (const s of this.stores.values()) if (s.storeId !== storeId) s.dataKeyGate?.forget(storeId);
  }

  /** The column families a store's engine opens with: its data model's, unless the options name them. */
  private columnFamilies(): string[] {
    return storeColumnFamilies(dataColumnFamiliesOf(this.o.store?.dataModel, this.o.store?.dataColumnFamilies));
  }

  /** Creates the cluster on the engine `name`: one store holding PD's group and every key. */
  async bootstrap(name: string, labels: Record<string, string> = {}): Promise<Store> {
    const engine = await this.o.openEngine(name, this.columnFamilies());
    const store = await this.startStore(BOOTSTRAP_IDS.store, engine, name, labels);
    const r = await store.bootstrapCluster({ clusterNumber: 1, address: name, labels });
    if (!r.ok || r.value.kind !== 'bootstrapped') throw new Error(`bootstrap failed: ${JSON.stringify(r)}`);
    const cfg = await store.pdPropose({ kind: 'setScheduleConfig', config: { ...DEFAULT_SCHEDULE_CONFIG, ...this.o.schedule } });
    if (!cfg.ok || cfg.value.kind !== 'configSet') throw new Error(`schedule config refused: ${JSON.stringify(cfg)}`);
    return store;
  }

  /**
   * Starts the store of engine `name`: its recorded identity if it has one (a restart),
   * else a new store id from PD (a new device, or one whose storage was wiped).
   */
  async join(name: string, labels: Record<string, string> = {}): Promise<Store> {
    const engine = await this.o.openEngine(name, this.columnFamilies());
    const ident = await Store.readIdentity(engine);
    let storeId = ident?.storeId;
    if (storeId === undefined) {
      for (let attempt = 0; attempt < 100 && storeId === undefined; attempt++) {
        const r = await this.pdClient.putStore(0, name, labels, { timeoutMs: 2000 });
        if (r.ok && r.value.kind === 'storePut') storeId = r.value.storeId;
        else await (this.o.sleep ?? realSleep)(JOIN_RETRY_DELAY_MS);
      }
      if (storeId === undefined) throw new Error('PD did not assign a store id');
    }
    return this.startStore(storeId, engine, name, labels);
  }

  /** Stops a store as if its device died (its engine's data stays for a restart). */
  async kill(storeId: number): Promise<void> {
    const s = this.stores.get(storeId);
    if (!s) return;
    this.router.unregister(storeId);
    this.unserve.get(storeId)?.();
    this.unserve.delete(storeId);
    this.rpc.unregister(storeId);
    s.dataKeyGate?.attach(undefined);
    this.stores.delete(storeId);
    this.forgetLink(storeId);
    await s.close();
  }

  store(storeId: number): Store | undefined {
    return this.stores.get(storeId);
  }

  /** The PD state of the PD leader (or of any replica when none leads). */
  private pdView(): ReturnType<Store['pdState']> {
    let any: ReturnType<Store['pdState']>;
    for (const s of this.stores.values()) {
      if (s.pdIsLeader()) return s.pdState();
      any ??= s.pdState();
    }
    return any;
  }

  private route(region: Region | undefined, leader: RegionRoute['leader']): RegionRoute | undefined {
    return region ? { region, leader } : undefined;
  }

  async getRegion(key: Uint8Array): Promise<RegionRoute | undefined> {
    const info = this.pdView()?.getRegion(key);
    if (!info || info.region.id === PD_REGION_ID || !regionContainsKey(info.region, key)) return undefined;
    return this.route(info.region, info.leader);
  }

  async getRegionById(regionId: number): Promise<RegionRoute | undefined> {
    const info = this.pdView()?.getRegionById(regionId);
    return info ? this.route(info.region, info.leader) : undefined;
  }

  async getStore(storeId: number): Promise<StoreMeta | undefined> {
    return this.pdView()?.getStore(storeId)?.meta;
  }

  /** `count` consecutive TSO timestamps from the PD leader's store (`Unavailable` with the region error when it cannot answer). */
  async getTimestamps(count: number): Promise<{ first: bigint; count: number }> {
    const leader = [...this.stores.values()].find((s) => s.pdIsLeader());
    const r: Result<{ first: bigint; count: number }> = leader ? await leader.pdGetTimestamps(count) : { ok: false, error: { kind: 'NotLeader', regionId: PD_REGION_ID } };
    if (!r.ok) throw new PeerKVError('Unavailable', `PD getTimestamps: ${r.error.kind}`, r.error);
    return r.value;
  }

  /** PD's GC safe point as the PD leader's replica (or any replica) has applied it; `Unavailable` without PD. */
  async getGcSafePoint(): Promise<bigint> {
    const sm = this.pdView();
    if (!sm) throw new PeerKVError('Unavailable', 'PD getGcSafePoint: no PD replica is up', { kind: 'RegionNotFound', regionId: PD_REGION_ID });
    return sm.gcSafePoint;
  }

  /** Registers or refreshes a GC service on the PD leader's store (`Unavailable` without one). */
  async registerGcService(serviceId: string, minStartTs: bigint, ttlMs: number): Promise<GcRegisterResult> {
    const leader = [...this.stores.values()].find((s) => s.pdIsLeader());
    const r: Result<GcRegisterResult> = leader ? leader.pdRegisterGcService(serviceId, minStartTs, ttlMs) : { ok: false, error: { kind: 'NotLeader', regionId: PD_REGION_ID } };
    if (!r.ok) throw new PeerKVError('Unavailable', `PD registerGcService: ${r.error.kind}`, r.error);
    return r.value;
  }

  /** Removes a GC service's registration. */
  async removeGcService(serviceId: string): Promise<void> {
    await this.registerGcService(serviceId, 0n, 0);
  }

  /** Data regions PD knows, with their peers' stores. */
  regions(): Region[] {
    return (this.pdView()?.allRegions() ?? []).map((i) => i.region).filter((r) => r.id !== PD_REGION_ID);
  }

  async clusterStatus(): Promise<ClusterStatus> {
    const stores = [...this.stores.values()].map((s) => {
      const st = s.status();
      return { storeId: st.storeId, up: st.stoppedReason === undefined, ...(st.stoppedReason ? { stoppedReason: st.stoppedReason } : {}), regions: st.regions };
    });
    return { stores, operators: [...this.stores.values()].find((s) => s.pdIsLeader())?.pdOperators() ?? [] };
  }

  async close(): Promise<void> {
    for (const id of [...this.stores.keys()]) await this.kill(id);
  }
}
