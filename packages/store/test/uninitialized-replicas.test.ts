/**
 * Uninitialized replicas (FINDINGS.md S2): a replica made by a message for a region this store
 * does not host, before any snapshot or split gives it the region's state.
 * - A split's right half replaces such a replica, also one a message created while the split's
 *   write was in flight: that replica's Raft state (commit 0) is never persisted over the
 *   split's initial state (commit `RAFT_INIT_INDEX`), or the store could not restart.
 * - A vote request creates one (TiKV's `is_initial_msg`): a region whose leader is gone can
 *   elect one with the vote of a replica this store lost in a crash before it was initialized.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { compareKeys, type Region } from '@peerkv/pd';
import { ForwardingEngine, MemoryDisk, MemoryEngine, type KvEngine, type WriteBatch, type WriteOptions } from '@peerkv/storage';
import { LocalRouter, META_CF, RAFT_INIT_INDEX, STORE_CFS, Store, regionStateKey, type Result, type StoreTransport } from '../src/index.ts';
import { leaderOf, sleep, until } from './helpers.ts';

const enc = new TextEncoder();
const k = (s: string): Uint8Array => enc.encode(s);

/** The parent region, on stores 1-3 (peers 101-103), and its right half after the split. */
const PARENT = 2;
const RIGHT = 3;
const RIGHT_PEERS = [201, 202, 203];

/** Holds the first write that creates region `regionId`'s state (a split's right half) until released. */
class GatedEngine extends ForwardingEngine {
  private armed: number | undefined;
  private release: (() => void) | undefined;
  /** Set while the armed write is held. */
  holding = false;

  arm(regionId: number): void {
    this.armed = regionId;
  }

  open(): void {
    this.release?.();
  }

  override async write(batch: WriteBatch, o: WriteOptions): Promise<void> {
    const key = this.armed === undefined ? undefined : regionStateKey(this.armed);
    if (key && batch.ops.some((op) => op.type === 'put' && op.cf === META_CF && compareKeys(op.key, key) === 0)) {
      this.armed = undefined;
      this.holding = true;
      await new Promise<void>((r) => (this.release = r));
      this.holding = false;
    }
    return super.write(batch, o);
  }
}

function must<T>(r: Result<T>): T {
  if (!r.ok) throw new Error(`region error: ${JSON.stringify(r.error)}`);
  return r.value;
}

const opened: Store[] = [];

afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
});

async function openStore(storeId: number, engine: KvEngine, transport: StoreTransport): Promise<Store> {
  const s = await Store.open({ dataModel: 'raw', storeId, clusterId: 'uninit', engine, transport, tickIntervalMs: 10, hibernateAfterTicks: 1_000_000, requestTimeoutMs: 3000 });
  opened.push(s);
  return s;
}

function regionOf(s: Store, regionId: number): ReturnType<Store['status']>['regions'][number] | undefined {
  return s.status().regions.find((r) => r.regionId === regionId);
}

describe('uninitialized replicas', () => {
  it("a split's right half replaces an uninitialized replica made while the split's write was in flight; the store restarts", async () => {
    // Store 3's votes for the right half are lost, so only the new leader's appends reach it.
    let dropVotesToStore3 = true;
    const router = new LocalRouter({ drop: (_from, to, msgs) => dropVotesToStore3 && to === 3 && msgs.some((m) => m.regionId === RIGHT && (m.message.type === 'MsgVote' || m.message.type === 'MsgPreVote')) });
    const disk3 = new MemoryDisk();
    const gate = new GatedEngine(await MemoryEngine.open({ columnFamilies: STORE_CFS, disk: disk3 }));
    const stores = new Map<number, Store>();
    for (const id of [1, 2, 3]) {
      const s = await openStore(id, id === 3 ? gate : await MemoryEngine.open({ columnFamilies: STORE_CFS }), router.transportFor(id));
      router.register(s);
      stores.set(id, s);
    }
    const parent: Region = { id: PARENT, startKey: new Uint8Array(), endKey: new Uint8Array(), epoch: { confVer: 1, version: 1 }, peers: [1, 2, 3].map((s) => ({ id: 100 + s, storeId: s, role: 'voter' as const })) };
    for (const s of stores.values()) await s.createRegion(parent);
    stores.get(1)!.campaign(PARENT);
    const leader = await leaderOf(() => stores.values(), PARENT);
    const epoch = regionOf(leader, PARENT)!.epoch;
    must(await leader.write(PARENT, epoch, 'c', 1, [{ type: 'put', cf: 'default', key: k('x'), value: k('before') }]));

    // Store 3's write holding the split (the right half's initial state) stays in flight...
    gate.arm(RIGHT);
    must(await leader.split(PARENT, epoch, k('m'), RIGHT, RIGHT_PEERS));
    await until('the split write held on store 3', () => gate.holding);
    // ...while the right half's leader (stores 1 and 2) makes an uninitialized replica there.
    await until('an uninitialized right half on store 3', () => regionOf(stores.get(3)!, RIGHT)?.peers.length === 0);
    router.partition([3], [1, 2]);
    gate.open();
    await until('the split peer on store 3', () => regionOf(stores.get(3)!, RIGHT)?.peers.length === 3);
    await sleep(100); // the rounds after the split's (the replaced replica's Ready would be in one)

    // A restart loads the split's initial state, not the replaced replica's (commit 0).
    router.unregister(3);
    await stores.get(3)!.close();
    const restarted = await openStore(3, await MemoryEngine.open({ columnFamilies: STORE_CFS, disk: disk3 }), router.transportFor(3));
    router.register(restarted);
    expect(restarted.status().stoppedReason).toBeUndefined();
    expect(regionOf(restarted, RIGHT)).toMatchObject({ peerId: 203, peers: RIGHT_PEERS.map((id, i) => ({ id, storeId: i + 1, role: 'voter' })) });
    expect(regionOf(restarted, RIGHT)!.commit).toBeGreaterThanOrEqual(RAFT_INIT_INDEX);

    // And it catches up with the right half once the partition heals.
    dropVotesToStore3 = false;
    router.heal();
    const rightLeader = await leaderOf(() => [stores.get(1)!, stores.get(2)!, restarted], RIGHT);
    const rightEpoch = regionOf(rightLeader, RIGHT)!.epoch;
    must(await rightLeader.write(RIGHT, rightEpoch, 'c', 2, [{ type: 'put', cf: 'default', key: k('y'), value: k('after') }]));
    const applied = regionOf(rightLeader, RIGHT)!.applied;
    await until('store 3 applies the write', () => (regionOf(restarted, RIGHT)?.applied ?? 0) >= applied);
    expect(new TextDecoder().decode(must(await restarted.get(RIGHT, rightEpoch, k('x'), 'follower'))!)).toBe('before');
  });

  it('a vote request creates the replica: a leaderless region elects a leader with the vote of a replica a crash lost uninitialized', async () => {
    // Region R's voters are peers 101 (store 1), 102 (store 2, down for good) and 103 (store 3,
    // which lost its uninitialized replica in a crash: it hosts nothing of R). Peer 101 needs
    // 103's vote, and no leader exists to send 103 an append that would make its replica.
    const router = new LocalRouter();
    const stores = new Map<number, Store>();
    for (const id of [1, 3]) {
      const s = await openStore(id, await MemoryEngine.open({ columnFamilies: STORE_CFS }), router.transportFor(id));
      router.register(s);
      stores.set(id, s);
    }
    const region: Region = { id: PARENT, startKey: new Uint8Array(), endKey: new Uint8Array(), epoch: { confVer: 1, version: 1 }, peers: [1, 2, 3].map((s) => ({ id: 100 + s, storeId: s, role: 'voter' as const })) };
    await stores.get(1)!.createRegion(region);
    expect(stores.get(3)!.regionIds()).toEqual([]);
    stores.get(1)!.campaign(PARENT);
    const leader = await leaderOf(() => stores.values(), PARENT);
    expect(leader).toBe(stores.get(1));
    must(await leader.write(PARENT, region.epoch, 'c', 1, [{ type: 'put', cf: 'default', key: k('x'), value: k('v') }]));
    // The replica the vote made is initialized by the new leader's snapshot and serves reads.
    const applied = regionOf(leader, PARENT)!.applied;
    await until('store 3 applies the write', () => (regionOf(stores.get(3)!, PARENT)?.applied ?? 0) >= applied);
    expect(regionOf(stores.get(3)!, PARENT)).toMatchObject({ peerId: 103, peers: region.peers });
    expect(new TextDecoder().decode(must(await stores.get(3)!.get(PARENT, region.epoch, k('x'), 'follower'))!)).toBe('v');
  });
});
