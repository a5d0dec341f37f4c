/**
 * A Raft message's peers must agree with the link it came over (issue 13): `from` must be a
 * peer on the sending store, `to` a peer on this one, wherever region metadata here says where
 * they are (`peer-stores.ts`). An authenticated member store posing as another store's peer is
 * refused and counted, and its message changes nothing; the same message over the right store's
 * link is stepped. A leader message addressed to a newer peer id here replaces the local replica
 * only on the word of a peer this replica knows on the sending store, or one PD's region places
 * there while placing the addressed peer here (a stale replica that does not know its leader).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Message } from '@peerkv/raft';
import { MemoryEngine } from '@peerkv/storage';
import type { RegionMessage } from '@peerkv/transport';
import type { Region } from '@peerkv/pd';
import { DATA_CF, LEARNED_PEER_STORES_MAX, PeerStores, REPLACEMENT_CHECK_MS_MIN, STORE_CFS, Store, encodeCommand, type Result } from '../src/index.ts';
import { StubPd, threeVoters, until } from './helpers.ts';

const REGION = 5;
const opened: Store[] = [];
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
});

/** Store 1 with a replica (peer 11) of a region whose other peers are 12 on store 2 and 13 on store 3. */
async function storeOne(): Promise<Store> {
  const engine = await MemoryEngine.open({ columnFamilies: STORE_CFS });
  const s = await Store.open({ dataModel: 'raw', storeId: 1, clusterId: 'sender', engine, transport: { send: () => {} }, tickIntervalMs: 10, hibernateAfterTicks: 1_000_000 });
  opened.push(s);
  await s.createRegion(threeVoters(REGION));
  return s;
}

/** A PD that knows the regions in `regions` and records each `getRegionById`. */
class RegionPd extends StubPd {
  readonly regions = new Map<number, Region>();
  readonly asked: number[] = [];
  getRegionById(regionId: number): Promise<Result<{ region: Region } | undefined>> {
    this.asked.push(regionId);
    const region = this.regions.get(regionId);
    return Promise.resolve({ ok: true, value: region ? { region } : undefined });
  }
}

function heartbeat(from: number, to: number, term: number): RegionMessage {
  const message: Message = { type: 'MsgHeartbeat', to, from, term, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0 };
  return { regionId: REGION, regionEpoch: { confVer: 1, version: 1 }, message };
}

const region = (s: Store) => s.status().regions.find((r) => r.regionId === REGION)!;
const settle = () => new Promise((r) => setTimeout(r, 100));

describe("a Raft message's peers against the link (issue 13)", () => {
  it("refuses store 2's message from store 3's peer and steps the same message over store 3's link", async () => {
    const s = await storeOne();
    // Store 2 (an authenticated member) claims peer 13, which is on store 3: a leader at term 50.
    s.receive(2, [heartbeat(13, 11, 50)]);
    await settle();
    expect(s.status().refused?.raftPeerNotOnSender).toBe(1);
    expect(region(s).term).toBeLessThan(50); // (its lone replica campaigns, in low terms)
    // The genuine message, over store 3's link, is stepped: the replica follows term 50.
    s.receive(3, [heartbeat(13, 11, 50)]);
    await until('the genuine heartbeat stepped', () => region(s).term === 50);
    expect(s.status().refused?.raftPeerNotOnSender).toBe(1);
  });

  it('refuses a message addressed to a peer on another store', async () => {
    const s = await storeOne();
    s.receive(3, [heartbeat(13, 12, 50)]);
    await settle();
    expect(s.status().refused?.raftPeerNotHere).toBe(1);
    expect(region(s).term).toBeLessThan(50);
  });

  it('replaces the local replica for a newer peer id only on the word of a known peer on the sender', async () => {
    const s = await storeOne();
    // A member not in the region, or one posing under a made-up peer id: refused, the replica stays.
    s.receive(2, [heartbeat(999, 500, 50)]);
    s.receive(2, [heartbeat(13, 500, 50)]);
    await settle();
    expect(s.status().refused?.raftReplacementUnverified).toBe(1);
    expect(s.status().refused?.raftPeerNotOnSender).toBe(1);
    expect(region(s).peerId).toBe(11);
    // Peer 13 over store 3's link: the local replica was removed and re-added as peer 500.
    s.receive(3, [heartbeat(13, 500, 50)]);
    await until('replaced by peer 500', () => region(s)?.peerId === 500);
  });

  it("replaces a replica made on demand that knows no peer once PD's region places the addressed peer here and the sender's peer on its store", async () => {
    // Sim --cluster --seed 8: store 8's replica of region 17 (peer 31) was made on demand and
    // never got a snapshot, so it holds no peers; the group moved on and re-added store 8 as
    // peer 35, and leader peer 19's every message to it was refused as unverified, for good.
    const pd = new RegionPd();
    let nowMs = 0;
    const engine = await MemoryEngine.open({ columnFamilies: STORE_CFS });
    const s = await Store.open({ dataModel: 'raw', storeId: 1, clusterId: 'sender', engine, transport: { send: () => {} }, tickIntervalMs: 10, hibernateAfterTicks: 1_000_000, pdClient: pd, now: () => nowMs });
    opened.push(s);
    s.receive(3, [heartbeat(19, 31, 5)]);
    await until('replica 31 made on demand', () => region(s)?.peerId === 31);
    pd.regions.set(REGION, { ...threeVoters(REGION), epoch: { confVer: 4, version: 1 }, peers: [{ id: 19, storeId: 3, role: 'voter' }, { id: 20, storeId: 2, role: 'voter' }, { id: 35, storeId: 1, role: 'learner' }] });
    // Store 2 posing as leader peer 19: unverified (PD is asked), then, once PD's region says 19
    // is on store 3, refused as a peer of another store; the replica stays.
    s.receive(2, [heartbeat(19, 35, 50)]);
    expect(s.status().refused?.raftReplacementUnverified).toBe(1);
    await until('PD asked', () => pd.asked.length === 1);
    await settle();
    s.receive(2, [heartbeat(19, 35, 50)]);
    expect(s.status().refused?.raftPeerNotOnSender).toBe(1);
    // A made-up peer addressed here that PD's region does not place here replaces nothing.
    nowMs += REPLACEMENT_CHECK_MS_MIN;
    s.receive(2, [heartbeat(999, 500, 50)]);
    await until('PD asked again', () => pd.asked.length === 2);
    await settle();
    s.receive(2, [heartbeat(999, 500, 50)]);
    expect(s.status().refused?.raftReplacementUnverified).toBe(3);
    expect(pd.asked).toHaveLength(2); // at most once per region and REPLACEMENT_CHECK_MS_MIN
    expect(region(s).peerId).toBe(31);
    // The real leader, over store 3's link: replaced by peer 35.
    s.receive(3, [heartbeat(19, 35, 50)]);
    await until('replaced by peer 35', () => region(s)?.peerId === 35);
  });

  it('learns where an unknown peer is from messages, bounded, and never over a recorded peer', () => {
    const p = new PeerStores();
    p.record(13, 3);
    p.learn(13, 2);
    expect(p.storeOf(13)).toBe(3);
    for (let id = 0; id <= LEARNED_PEER_STORES_MAX; id++) p.learn(100_000 + id, 2);
    expect(p.storeOf(100_000)).toBeUndefined(); // the oldest learned pair was forgotten
    expect(p.storeOf(100_000 + LEARNED_PEER_STORES_MAX)).toBe(2);
    expect(p.recordedStoreOf(100_001)).toBeUndefined();
    // A record stays: the first region metadata wins over a later, conflicting one.
    p.record(13, 2);
    expect(p.recordedStoreOf(13)).toBe(3);
  });

  it("drops a proposal another store sends (no store forwards one): a member's MsgProp appends nothing, counted", async () => {
    const engine = await MemoryEngine.open({ columnFamilies: STORE_CFS });
    const s = await Store.open({ dataModel: 'raw', storeId: 1, clusterId: 'sender', engine, transport: { send: () => {} }, tickIntervalMs: 10, hibernateAfterTicks: 1_000_000 });
    opened.push(s);
    // Store 1 is the region's only voter (it leads alone); store 2 holds a learner, a member.
    const r = threeVoters(REGION);
    await s.createRegion({ ...r, peers: [r.peers[0], { ...r.peers[1], role: 'learner' }] });
    await until('store 1 leads', () => region(s).role === 'leader' && region(s).applied === region(s).commit && region(s).commit > 0);
    const before = region(s).commit;
    // The learner's store sends a write entry as a proposal: past every request check, a
    // leader stepping it would append and commit it.
    const data = encodeCommand({ type: 'write', clientId: 'forged', seq: 1, ackFloor: 0, stampMs: 0, ops: [{ type: 'put', cf: DATA_CF, key: new Uint8Array([1]), value: new Uint8Array([2]) }] });
    const message: Message = { type: 'MsgProp', to: 11, from: 12, term: 0, logTerm: 0, index: 0, entries: [{ term: 0, index: 0, type: 'normal', data }], commit: 0, reject: false, rejectHint: 0 };
    s.receive(2, [{ regionId: REGION, regionEpoch: { confVer: 1, version: 1 }, message }]);
    await settle();
    expect(s.status().refused?.raftProposalFromStore).toBe(1);
    expect(region(s).commit).toBe(before);
    expect(await engine.get(DATA_CF, new Uint8Array([1]))).toBeUndefined();
  });
});
