/**
 * `LocalCluster`: several stores in one process (or one page) over a `LocalRouter`, with a
 * routing service built from the stores' own region views. For tests and the embedded raw
 * runtime; a deployed cluster routes through PD instead.
 *
 * It has no PD, so no timestamps: its stores run the `raw` data model unless its options name
 * another (`LOCAL_CLUSTER_DATA_MODEL`), and a `PeerKV` over it names `dataModel: 'raw'` (an mvcc
 * client asks PD for timestamps and gets `Unavailable`). MVCC clusters are `PdCluster`s.
 */
import type { Region, StoreMeta } from '@peerkv/pd';
import { compareKeys, isEpochStale, regionContainsKey } from '@peerkv/pd';
import { LocalRouter, Store, dataColumnFamiliesOf, storeColumnFamilies, type StoreOptions } from '@peerkv/store';
import type { KvEngine } from '@peerkv/storage';
import type { ClusterStatus, PdService, RegionRoute, StatusSource, StoreResolver } from './services.ts';

export interface LocalClusterOptions {
  /** Opens the engine of store `storeId` (memory, IndexedDB or LevelDB). */
  openEngine: (storeId: number, columnFamilies: readonly string[]) => Promise<KvEngine>;
  /** Extra store settings (tick interval, log GC, ...). */
  store?: Partial<Omit<StoreOptions, 'storeId' | 'clusterId' | 'engine' | 'transport'>>;
  clusterId?: string;
}

/** The data model of a `LocalCluster`'s stores unless `store.dataModel` names one: raw, since it has no TSO. */
export const LOCAL_CLUSTER_DATA_MODEL = 'raw' as const;

export class LocalCluster implements PdService, StoreResolver, StatusSource {
  readonly router = new LocalRouter();
  readonly stores = new Map<number, Store>();

  constructor(private readonly o: LocalClusterOptions) {}

  /** Starts a store (empty, or reopening its engine's data). */
  async startStore(storeId: number): Promise<Store> {
    const dataModel = this.o.store?.dataModel ?? LOCAL_CLUSTER_DATA_MODEL;
    const engine = await this.o.openEngine(storeId, storeColumnFamilies(dataColumnFamiliesOf(dataModel, this.o.store?.dataColumnFamilies)));
    const store = await Store.open({
      ...this.o.store,
      dataModel,
      storeId,
      clusterId: this.o.clusterId ?? 'local',
      engine,
      transport: this.router.transportFor(storeId),
    });
    this.router.register(store);
    this.stores.set(storeId, store);
    return store;
  }

  /** Stops a store as if its process died; its engine's data stays for a restart. */
  async stopStore(storeId: number): Promise<void> {
    const s = this.stores.get(storeId);
    if (!s) return;
    this.router.unregister(storeId);
    this.stores.delete(storeId);
    await s.close();
  }

  /** Creates the first data region (id 2; 1 is PD's), covering every key, on `storeIds` (peer ids 1000+storeId). */
  async bootstrap(storeIds: number[]): Promise<void> {
    const region: Region = {
      id: 2,
      startKey: new Uint8Array(),
      endKey: new Uint8Array(),
      epoch: { confVer: 1, version: 1 },
      peers: storeIds.map((s) => ({ id: 1000 + s, storeId: s, role: 'voter' as const })),
    };
    for (const id of storeIds) await this.stores.get(id)!.createRegion(region);
    this.stores.get(storeIds[0])!.campaign(2);
  }

  store(storeId: number): Store | undefined {
    return this.stores.get(storeId);
  }

  /** The newest view of every region across the running stores, with its leader if known. */
  private routes(): RegionRoute[] {
    const best = new Map<number, RegionRoute>();
    for (const s of this.stores.values()) {
      for (const r of s.status().regions) {
        if (r.peers.length === 0) continue;
        const region: Region = { id: r.regionId, startKey: r.startKey, endKey: r.endKey, epoch: r.epoch, peers: r.peers };
        const cur = best.get(r.regionId);
        const leader = r.role === 'leader' ? r.peers.find((p) => p.id === r.peerId) : undefined;
        if (!cur || isEpochStale(cur.region.epoch, region.epoch)) best.set(r.regionId, { region, leader: leader ?? cur?.leader });
        else if (leader) cur.leader = leader;
      }
    }
    return [...best.values()].sort((a, b) => compareKeys(a.region.startKey, b.region.startKey));
  }

  async getRegion(key: Uint8Array): Promise<RegionRoute | undefined> {
    return this.routes().find((r) => regionContainsKey(r.region, key));
  }

  async getRegionById(regionId: number): Promise<RegionRoute | undefined> {
    return this.routes().find((r) => r.region.id === regionId);
  }

  async getStore(storeId: number): Promise<StoreMeta | undefined> {
    return this.stores.has(storeId) ? { id: storeId, address: `local:${storeId}`, labels: {}, state: 'up' } : undefined;
  }

  async clusterStatus(): Promise<ClusterStatus> {
    const stores = [...this.stores.values()].map((s) => {
      const st = s.status();
      return { storeId: st.storeId, up: st.stoppedReason === undefined, ...(st.stoppedReason ? { stoppedReason: st.stoppedReason } : {}), regions: st.regions };
    });
    return { stores, operators: [] };
  }

  async close(): Promise<void> {
    for (const id of [...this.stores.keys()]) await this.stopStore(id);
  }
}
