/**
 * Pending apply of received snapshots (TiKV's `PeerState::Applying`): a new replica's snapshot
 * is staged chunk by chunk, its Raft state and the region's `applying` state are persisted in
 * one write, and its data is applied in several engine writes; reads meanwhile are refused
 * with a retryable `ServerIsBusy`; a store stopped in the middle resumes at open and ends
 * identical to the leader; a staged stream gone at open leaves the region unserved (counted in
 * `status()`), never half-served, and the store runs on.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ForwardingEngine, MemoryEngine, StorageError, WriteBatch, type KvEngine, type WriteOptions } from '@peerkv/storage';
import { storeColumnFamilies, type SnapshotTransferLimits, type Store } from '../src/index.ts';
import { META_CF, RAFT_CF, STAGED_PREFIX_END, STAGED_PREFIX_START, dedupPrefix, prefixEnd } from '../src/keys.ts';
import { until } from './helpers.ts';
import { DATA_CFS, R, SnapshotCluster, k, pairsOf, type Node } from './snapshot-cluster.ts';

const dec = new TextDecoder();
/** Small chunks and one chunk per apply write: a 40-key region takes dozens of each. */
const LIMITS: Partial<SnapshotTransferLimits> = { chunkBytesMax: 64, chunksInflightMax: 2, applyBatchBytesMax: 64 };
const c = new SnapshotCluster('apply');

/** An engine that can hold back the writes `gate` picks (the machine "dies" before they land). */
class GatedEngine extends ForwardingEngine {
  gate: ((ops: WriteBatch['ops']) => boolean) | undefined;
  held: { reject: (e: unknown) => void } | undefined;
  override write(batch: WriteBatch, o: WriteOptions): Promise<void> {
    if (!this.held && this.gate?.(batch.ops)) return new Promise((_resolve, reject) => (this.held = { reject }));
    return this.inner.write(batch, o);
  }
}

/** Adds store 4 as a learner, its engine's writes gated by `gate`. */
async function addLearner(leader: Store, gate?: GatedEngine['gate']): Promise<Node> {
  return c.addLearner(leader, LIMITS, { wrap: (e) => Object.assign(new GatedEngine(e), { gate }) });
}

function gated(n: Node): GatedEngine {
  return n.engine as GatedEngine;
}

/** Whether a batch is one of a pending apply's data writes (puts into data column families only). */
function isApplyWrite(ops: WriteBatch['ops']): boolean {
  return ops.length > 0 && ops.every((op) => op.type === 'put' && DATA_CFS.includes(op.cf));
}

/** The region's data in every data cf and its dedup records. */
async function regionState(engine: KvEngine): Promise<string[]> {
  const out: string[] = [];
  for (const cf of DATA_CFS) out.push(...(await pairsOf(engine, cf)).map((p) => `${cf}:${p}`));
  const prefix = dedupPrefix(R);
  for await (const kv of engine.scan(META_CF, { start: prefix, end: prefixEnd(prefix) })) out.push(`dedup:${dec.decode(kv.key.subarray(prefix.length))}=${kv.value.join(',')}`);
  return out;
}

async function stagedChunks(engine: KvEngine): Promise<number> {
  let n = 0;
  for await (const _ of engine.scan(META_CF, { start: STAGED_PREFIX_START, end: STAGED_PREFIX_END })) n++;
  return n;
}

/** The process of store 4 dies while its held write is in flight. */
async function crash(n4: Node): Promise<void> {
  c.detach(4);
  const closing = n4.store.close();
  n4.disk.crash({ kind: 'process', random: () => 0 });
  gated(n4).held!.reject(new StorageError('Closed', 'the machine crashed before the write completed'));
  await closing;
}

afterEach(() => c.closeAll());

describe('pending apply of a received snapshot', () => {
  it('applies the staged stream in several writes, then serves it and drops the staging', async () => {
    const { leader } = await c.threeStoresWithData(LIMITS);
    const n4 = await addLearner(leader);
    await c.caughtUp(n4, leader);
    const st = n4.store.status().snapshotTransfer!;
    expect(st.chunksStaged).toBeGreaterThan(30);
    expect(st.appliesStarted).toBe(1);
    expect(st.appliesCompleted).toBe(1);
    // 40 keys × 4 column families in ~64-byte batches: dozens of writes, never one.
    expect(st.applyWrites).toBeGreaterThan(20);
    expect(st.applying).toEqual([]);
    expect(n4.store.status().counters.snapshotsInstalled).toBe(1);
    expect(await regionState(n4.engine)).toEqual(await regionState(c.nodes.get(leader.storeId)!.engine));
    expect(await stagedChunks(n4.engine)).toBe(0);
    const epoch = n4.store.status().regions.find((r) => r.regionId === R)!.epoch;
    const v = await n4.store.get(R, epoch, k('k07'), 'follower');
    expect(v.ok && dec.decode(v.value!)).toBe('default-7');
  });

  it('refuses reads while applying; a store stopped mid-apply resumes at open and ends identical to the leader', async () => {
    const { leader, region } = await c.threeStoresWithData(LIMITS);
    let applyWrites = 0;
    // Two apply writes land, the third is in flight when the machine dies.
    const n4 = await addLearner(leader, (ops) => isApplyWrite(ops) && ++applyWrites === 3);
    await until('an apply write held', () => gated(n4).held !== undefined);
    const st = n4.store.status();
    expect(st.regions.find((r) => r.regionId === R)!.applyingSnapshot).toBe(true);
    const progress = st.snapshotTransfer!.applying;
    expect(progress).toHaveLength(1);
    expect(progress[0]).toMatchObject({ regionId: R, chunksApplied: 2 });
    expect(progress[0].chunks).toBeGreaterThan(10);
    for (const consistency of ['follower', 'stale'] as const) {
      const r = await n4.store.get(R, region.epoch, k('k01'), consistency);
      expect(r.ok).toBe(false);
      expect(!r.ok && r.error).toMatchObject({ kind: 'ServerIsBusy', reason: expect.stringContaining('applying a snapshot') });
    }
    // Part of the data is in place, not all of it.
    const partial = (await pairsOf(gated(n4).inner, 'default')).length;
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThan(40);

    await crash(n4);
    const again = await c.start(4, LIMITS, { disk: n4.disk });
    expect(again.store.status().snapshotTransfer!.appliesResumed).toBe(1);
    await c.caughtUp(again, leader);
    expect(again.store.status().snapshotTransfer!.appliesCompleted).toBe(1);
    expect(await regionState(again.engine)).toEqual(await regionState(c.nodes.get(leader.storeId)!.engine));
    expect(await stagedChunks(again.engine)).toBe(0);
    // The replica follows new writes after the apply.
    expect((await leader.write(R, region.epoch, 'c', 41, [{ type: 'put', cf: 'lock', key: k('k40'), value: k('late') }])).ok).toBe(true);
    await c.caughtUp(again, leader);
    expect(await regionState(again.engine)).toEqual(await regionState(c.nodes.get(leader.storeId)!.engine));
  });

  it('a staged stream gone at open leaves the region unserved and counted, and the store runs on', async () => {
    const { leader, region } = await c.threeStoresWithData(LIMITS);
    let applyWrites = 0;
    const n4 = await addLearner(leader, (ops) => isApplyWrite(ops) && ++applyWrites === 2);
    await until('an apply write held', () => gated(n4).held !== undefined);
    await crash(n4);
    const raw = await MemoryEngine.open({ columnFamilies: storeColumnFamilies(DATA_CFS), disk: n4.disk });
    await raw.write(new WriteBatch().deleteRange(META_CF, STAGED_PREFIX_START, STAGED_PREFIX_END), { durability: 'strict' });
    await raw.close();
    const again = await c.start(4, LIMITS, { disk: n4.disk });
    await until('the apply failed', () => again.store.status().snapshotTransfer!.appliesFailed === 1);
    const st = again.store.status();
    expect(st.stoppedReason).toBeUndefined();
    expect(st.snapshotTransfer!.applying[0]).toMatchObject({ regionId: R, failed: expect.stringContaining('gone') });
    expect(st.regions.find((r) => r.regionId === R)!.applyingSnapshot).toBe(true);
    const r = await again.store.get(R, region.epoch, k('k01'), 'stale');
    expect(!r.ok && r.error.kind).toBe('ServerIsBusy');
  });

  it('a replica that applied its own removal and crashed before its destroy landed is destroyed at open; a new replica there starts clean (sim --txn seed 32)', async () => {
    const { leader, region } = await c.threeStoresWithData(LIMITS);
    const n4 = await addLearner(leader);
    await c.caughtUp(n4, leader);
    // The destroy that follows the removal (one write: the Raft log's range deleted) never lands.
    gated(n4).gate = (ops) => ops.some((op) => op.type === 'deleteRange' && op.cf === RAFT_CF);
    expect((await leader.changePeers(R, [{ type: 'removeNode', peer: { id: 14, storeId: 4, role: 'learner' } }])).ok).toBe(true);
    await until('store 4 applied its removal and its destroy is held', () => gated(n4).held !== undefined);
    await crash(n4);
    // Reopened: the removed replica is gone, Raft log and all.
    const again = await c.start(4, LIMITS, { disk: n4.disk });
    expect(again.store.status().regions.find((r) => r.regionId === R)).toBeUndefined();
    let raftKeys = 0;
    for await (const _ of again.engine.scan(RAFT_CF)) raftKeys++;
    expect(raftKeys).toBe(0);
    // Added back under a new peer id, it catches up by snapshot and holds what the leader holds.
    expect((await leader.changePeers(R, [{ type: 'addLearnerNode', peer: { id: 24, storeId: 4, role: 'learner' } }])).ok).toBe(true);
    expect((await leader.write(R, { ...region.epoch, confVer: region.epoch.confVer + 3 }, 'c', 41, [{ type: 'put', cf: 'lock', key: k('k40'), value: k('late') }])).ok).toBe(true);
    await c.caughtUp(again, leader);
    expect(await regionState(again.engine)).toEqual(await regionState(c.nodes.get(leader.storeId)!.engine));
  });
});
