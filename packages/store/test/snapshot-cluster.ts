/**
 * The cluster the snapshot tests share: stores over memory engines (each on its own
 * `MemoryDisk`, so a store can be reopened after a crash) behind a `LocalRouter` whose links
 * pass every message through a `Filter`; one region `R` with 40 keys in each of four data
 * column families on three voters, and a fourth store added as a learner that can only catch
 * up by snapshot.
 */
import { expect } from 'vitest';
import type { Region } from '@peerkv/pd';
import { MemoryDisk, MemoryEngine, type KvEngine, type ScanOptions } from '@peerkv/storage';
import type { RegionMessage } from '@peerkv/transport';
import { LocalRouter, Store, storeColumnFamilies, type KvOp, type SnapshotTransferLimits, type StoreTransport } from '../src/index.ts';
import { leaderOf, until } from './helpers.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();
export const k = (s: string): Uint8Array => enc.encode(s);
export const DATA_CFS = ['default', 'lock', 'write', 'extra'];
/** The region the tests replicate. */
export const R = 2;

/** Decides, per message sent from a store, how many copies leave (0 drops it). */
export type Filter = (from: number, to: number, rm: RegionMessage) => number;

export interface Node {
  store: Store;
  engine: KvEngine;
  disk: MemoryDisk;
}

/** How a store is started: its data column families, its disk, and a wrapper around its engine. */
export interface StartOptions {
  dataCfs?: string[];
  disk?: MemoryDisk;
  wrap?: (engine: KvEngine) => KvEngine;
}

export class SnapshotCluster {
  readonly router = new LocalRouter();
  readonly nodes = new Map<number, Node>();
  filter: Filter = () => 1;

  constructor(private readonly clusterId: string) {}

  /** Store `storeId`'s link, through `filter`. */
  transport(storeId: number): StoreTransport {
    const inner = this.router.transportFor(storeId);
    return {
      send: (to, messages) => {
        const out: RegionMessage[] = [];
        for (const m of messages) for (let i = this.filter(storeId, to, m); i > 0; i--) out.push(i > 1 ? structuredClone(m) : m);
        if (out.length > 0) inner.send(to, out);
      },
    };
  }

  /** Opens store `storeId` (on a new disk unless one is given) and registers it. */
  async start(storeId: number, limits: Partial<SnapshotTransferLimits>, o: StartOptions = {}): Promise<Node> {
    const dataCfs = o.dataCfs ?? DATA_CFS;
    const disk = o.disk ?? new MemoryDisk();
    const opened = await MemoryEngine.open({ columnFamilies: storeColumnFamilies(dataCfs), disk });
    const engine = o.wrap ? o.wrap(opened) : opened;
    const store = await Store.open({
      dataModel: 'raw',
      storeId,
      clusterId: this.clusterId,
      engine,
      dataColumnFamilies: dataCfs,
      transport: this.transport(storeId),
      tickIntervalMs: 10,
      hibernateAfterTicks: 1_000_000,
      requestTimeoutMs: 3000,
      logGcThresholdEntries: 20,
      logGcKeepEntries: 2,
      snapshotTransfer: limits,
    });
    this.router.register(store);
    const node = { store, engine, disk };
    this.nodes.set(storeId, node);
    return node;
  }

  /** Forgets store `storeId` (unregistered; the caller closes or crashes it). */
  detach(storeId: number): void {
    this.router.unregister(storeId);
    this.nodes.delete(storeId);
  }

  leaderOf(regionId: number): Promise<Store> {
    return leaderOf(() => [...this.nodes.values()].map((n) => n.store), regionId);
  }

  /** Three voters with 40 keys in every data column family written by one client (the log compacted well past the start). */
  async threeStoresWithData(limits: Partial<SnapshotTransferLimits>): Promise<{ leader: Store; region: Region }> {
    for (const id of [1, 2, 3]) await this.start(id, limits);
    const region: Region = { id: R, startKey: new Uint8Array(), endKey: new Uint8Array(), epoch: { confVer: 1, version: 1 }, peers: [1, 2, 3].map((s) => ({ id: 10 + s, storeId: s, role: 'voter' as const })) };
    for (const n of this.nodes.values()) await n.store.createRegion(region);
    this.nodes.get(1)!.store.campaign(R);
    const leader = await this.leaderOf(R);
    for (let i = 0; i < 40; i++) {
      const key = `k${String(i).padStart(2, '0')}`;
      const ops = DATA_CFS.map((cf) => ({ type: 'put', cf, key: k(key), value: k(`${cf}-${i}`) }) as KvOp);
      const r = await leader.write(R, region.epoch, 'c', i + 1, ops);
      expect(r.ok).toBe(true);
    }
    expect(leader.status().counters.logCompactions).toBeGreaterThan(0);
    return { leader, region };
  }

  /** Adds store 4 as a learner (peer 14); it can only catch up by snapshot. */
  async addLearner(leader: Store, limits: Partial<SnapshotTransferLimits>, o: StartOptions = {}): Promise<Node> {
    const n4 = await this.start(4, limits, o);
    const r = await leader.changePeers(R, [{ type: 'addLearnerNode', peer: { id: 14, storeId: 4, role: 'learner' } }]);
    expect(r.ok).toBe(true);
    return n4;
  }

  /** Store 4 applied what the leader applied (and is not in the middle of a snapshot apply). */
  async caughtUp(n4: Node, leader: Store): Promise<void> {
    await until('store 4 caught up', () => {
      const mine = n4.store.status().regions.find((r) => r.regionId === R);
      return mine !== undefined && !mine.applyingSnapshot && mine.applied >= leader.status().regions.find((r) => r.regionId === R)!.applied;
    });
  }

  /** Checks no store stopped, then closes every one (afterEach). */
  async closeAll(): Promise<void> {
    this.filter = () => 1;
    for (const [id, n] of this.nodes) {
      expect(n.store.status().stoppedReason).toBeUndefined();
      this.router.unregister(id);
      await n.store.close();
    }
    this.nodes.clear();
  }
}

/** `key=value` of every pair of `cf` in `range`. */
export async function pairsOf(engine: KvEngine, cf: string, range: ScanOptions = {}): Promise<string[]> {
  const out: string[] = [];
  for await (const kv of engine.scan(cf, range)) out.push(`${dec.decode(kv.key)}=${dec.decode(kv.value)}`);
  return out;
}
