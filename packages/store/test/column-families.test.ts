/**
 * Column families everywhere: a store declaring a fourth data column family carries it
 * through apply (and its observers), split, snapshot catch-up, replica destroy, size
 * heartbeats and the cross-replica digests; a store refuses an engine that lacks one.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Region } from '@peerkv/pd';
import { MemoryEngine, type KvEngine } from '@peerkv/storage';
import {
  LocalRouter,
  Store,
  StoreConfigError,
  storeColumnFamilies,
  type AppliedCommand,
  type KvOp,
} from '../src/index.ts';
import { StubPd, leaderOf as leaderOfStores, until } from './helpers.ts';

const enc = new TextEncoder();
const k = (s: string): Uint8Array => enc.encode(s);
const DATA_CFS = ['default', 'lock', 'write', 'extra'];

interface Node {
  store: Store;
  engine: KvEngine;
  applied: AppliedCommand[];
}

const router = new LocalRouter();
const nodes = new Map<number, Node>();
/** Records region heartbeats (the size accounting under test). */
const pd = new StubPd();

async function start(storeId: number): Promise<Node> {
  const engine = await MemoryEngine.open({ columnFamilies: storeColumnFamilies(DATA_CFS) });
  const applied: AppliedCommand[] = [];
  const store = await Store.open({
    dataModel: 'raw',
    storeId,
    clusterId: 'cf',
    engine,
    dataColumnFamilies: DATA_CFS,
    applyObservers: [{ onApplied: (c) => applied.push(c) }, { onApplied: () => { throw new Error('a broken observer'); } }],
    transport: router.transportFor(storeId),
    tickIntervalMs: 10,
    hibernateAfterTicks: 1_000_000,
    heartbeatIntervalTicks: 5,
    requestTimeoutMs: 3000,
    logGcThresholdEntries: 20,
    logGcKeepEntries: 2,
    pdClient: pd,
  });
  router.register(store);
  const node = { store, engine, applied };
  nodes.set(storeId, node);
  return node;
}

function leaderOf(regionId: number): Promise<Store> {
  return leaderOfStores(() => [...nodes.values()].map((n) => n.store), regionId);
}

/** Pairs of `cf` in the engine of a node, as strings. */
async function pairsOf(engine: KvEngine, cf: string): Promise<string[]> {
  const out: string[] = [];
  for await (const kv of engine.scan(cf)) out.push(`${new TextDecoder().decode(kv.key)}=${kv.value[0]}`);
  return out;
}

/** One put in every data column family, for key `key`. */
function putsEverywhere(key: string, v: number): KvOp[] {
  return DATA_CFS.map((cf) => ({ type: 'put', cf, key: k(key), value: new Uint8Array([v]) }) as KvOp);
}

afterEach(async () => {
  for (const [id, n] of nodes) {
    router.unregister(id);
    await n.store.close();
  }
  nodes.clear();
});

describe('column families', () => {
  it('refuses an engine opened without a declared data column family, and a bad declaration', async () => {
    const engine = await MemoryEngine.open({ columnFamilies: storeColumnFamilies(['default']) });
    const base = { storeId: 9, clusterId: 'cf', engine, dataModel: 'raw' as const, transport: router.transportFor(9) };
    await expect(Store.open({ ...base, dataColumnFamilies: DATA_CFS })).rejects.toThrow(StoreConfigError);
    await expect(Store.open({ ...base, dataColumnFamilies: ['lock'] })).rejects.toThrow(/must include 'default'/);
    await expect(Store.open({ ...base, dataColumnFamilies: ['default', 'meta'] })).rejects.toThrow(/store's own column family/);
    await expect(Store.open({ ...base, dataColumnFamilies: ['default', 'x', 'x'] })).rejects.toThrow(/declared twice/);
  });

  it('carries a fourth column family through apply, split, snapshot, destroy, size and digests', async () => {
    for (const id of [1, 2, 3]) await start(id);
    const region: Region = { id: 2, startKey: new Uint8Array(), endKey: new Uint8Array(), epoch: { confVer: 1, version: 1 }, peers: [1, 2, 3].map((s) => ({ id: 10 + s, storeId: s, role: 'voter' as const })) };
    for (const n of nodes.values()) await n.store.createRegion(region);
    nodes.get(1)!.store.campaign(2);
    let leader = await leaderOf(2);

    // Apply: one write touching every column family, seen by the observers with its cf and index.
    let seq = 0;
    for (let i = 0; i < 30; i++) {
      const key = `k${String(i).padStart(2, '0')}`;
      const r = await leader.write(2, region.epoch, 'c', ++seq, putsEverywhere(key, i));
      expect(r.ok).toBe(true);
    }
    for (const n of nodes.values()) {
      await until('every replica applied the writes', async () => (await pairsOf(n.engine, 'extra')).length === 30);
      for (const cf of DATA_CFS) expect(await pairsOf(n.engine, cf)).toHaveLength(30);
    }
    const seen = nodes.get(1)!.applied.filter((c) => c.type === 'write');
    expect(seen).toHaveLength(30);
    expect(seen[0].ops.map((op) => op.cf)).toEqual(DATA_CFS);
    expect(seen.map((c) => c.index)).toEqual([...seen.map((c) => c.index)].sort((a, b) => a - b));
    expect(nodes.get(1)!.store.status().stoppedReason).toBeUndefined();
    // An observer added later sees what applies from then on, until it stops.
    const late: AppliedCommand[] = [];
    const stop = nodes.get(2)!.store.observeApply({ onApplied: (c) => late.push(c) });
    expect((await leader.write(2, region.epoch, 'c', ++seq, putsEverywhere('k99', 99))).ok).toBe(true);
    await until('the late observer saw the write', () => late.length === 1);
    stop();
    expect((await leader.write(2, region.epoch, 'c', ++seq, DATA_CFS.map((cf) => ({ type: 'delete', cf, key: k('k99') }) as KvOp))).ok).toBe(true);
    await until('store 2 applied the delete', async () => !(await pairsOf(nodes.get(2)!.engine, 'extra')).some((p) => p.startsWith('k99')));
    expect(late).toHaveLength(1);
    expect(late[0].ops.map((op) => op.cf)).toEqual(DATA_CFS);

    // Size: region heartbeats count every column family's keys.
    await until('a heartbeat counting every column family', () => pd.heartbeats.some((h) => h.region.id === 2 && h.approximateKeys === 30 * DATA_CFS.length));

    // Split: both halves keep their data in every column family, the same on every replica.
    const split = await leader.split(2, region.epoch, k('k15'), 3, [21, 22, 23]);
    expect(split.ok).toBe(true);
    await until('the right half on every store', () => [...nodes.values()].every((n) => n.store.regionIds().includes(3)));
    const digests = async (): Promise<Map<string, Set<string>>> => {
      const by = new Map<string, Set<string>>();
      for (const n of nodes.values()) {
        for (const d of await n.store.regionDigests()) {
          const key = `${d.regionId}@${d.applied}`;
          by.set(key, (by.get(key) ?? new Set()).add(`${d.hash}/${d.keys}`));
        }
      }
      return by;
    };
    await until('replicas agree on both halves', async () => {
      const d = await digests();
      const r2 = [...d].filter(([key]) => key.startsWith('2@'));
      const r3 = [...d].filter(([key]) => key.startsWith('3@'));
      return r2.length === 1 && r3.length === 1 && r2[0][1].size === 1 && r3[0][1].size === 1;
    });
    for (const [key, hashes] of await digests()) {
      const keys = Number([...hashes][0].split('/')[1]);
      expect(keys, key).toBe(15 * DATA_CFS.length);
    }

    // Snapshot: a fourth store joins region 3 after its log was compacted, and gets every cf.
    const right = nodes.get(1)!.store.regionForKey(k('k20'))!;
    const rightLeader = await leaderOf(right.id);
    for (let i = 0; i < 30; i++) {
      const r = await rightLeader.write(right.id, right.epoch, 'c2', i + 1, [{ type: 'put', cf: 'extra', key: k('k29'), value: new Uint8Array([i]) } as KvOp]);
      expect(r.ok).toBe(true);
    }
    const fourth = await start(4);
    const add = await rightLeader.changePeers(right.id, [{ type: 'addLearnerNode', peer: { id: 24, storeId: 4, role: 'learner' } }]);
    expect(add.ok).toBe(true);
    await until('the new replica holds every column family', async () => {
      for (const cf of DATA_CFS) if ((await pairsOf(fourth.engine, cf)).length !== 15) return false;
      return true;
    });
    expect(fourth.store.status().counters.snapshotsInstalled).toBeGreaterThan(0);
    expect((await pairsOf(fourth.engine, 'extra')).includes('k29=29')).toBe(true);

    // Destroy: removing the replica deletes its data in every column family.
    const remove = await rightLeader.changePeers(right.id, [{ type: 'removeNode', peer: { id: 24, storeId: 4, role: 'learner' } }]);
    expect(remove.ok).toBe(true);
    await until('the removed replica left no data', async () => {
      for (const cf of DATA_CFS) if ((await pairsOf(fourth.engine, cf)).length !== 0) return false;
      return true;
    });
    leader = await leaderOf(2);
    for (const n of nodes.values()) expect(n.store.status().stoppedReason).toBeUndefined();
  });
});
