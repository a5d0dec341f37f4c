/**
 * A Raft message's peers must agree with the link it came over (issue 13): `from` must be a
 * peer on the sending store, `to` a peer on this one, wherever region metadata here says where
 * they are (`peer-stores.ts`). An authenticated member store posing as another store's peer is
 * refused and counted, and its message changes nothing; the same message over the right store's
 * link is stepped. A leader message addressed to a newer peer id here replaces the local replica
 * only on the word of a peer this replica knows on the sending store.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Message } from '@peerkv/raft';
import { MemoryEngine } from '@peerkv/storage';
import type { RegionMessage } from '@peerkv/transport';
import { LEARNED_PEER_STORES_MAX, PeerStores, STORE_CFS, Store } from '../src/index.ts';
import { threeVoters, until } from './helpers.ts';

const REGION = 5;
const opened: Store[] = [];
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
});

/** Store 1 with a replica (peer 11) of a region whose other peers are 12 on store 2 and 13 on store 3. */
async function storeOne(): Promise<Store> {
  const engine = await MemoryEngine.open({ columnFamilies: STORE_CFS });
  const s = await Store.open({ storeId: 1, clusterId: 'sender', engine, transport: { send: () => {} }, tickIntervalMs: 10, hibernateAfterTicks: 1_000_000 });
  opened.push(s);
  await s.createRegion(threeVoters(REGION));
  return s;
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
});
