/**
 * Issue 13, finding 6: what a member holding the cluster secret can no longer do to a store.
 * Each attack is refused, counted, and loses nothing:
 * - a flood of forged leader messages for made-up region ids creates at most
 *   `pendingReplicasMax` replicas (and `pendingReplicasPerSenderMax` per sending store), while
 *   a real leader's message still creates its replica.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Message } from '@peerkv/raft';
import { MemoryEngine } from '@peerkv/storage';
import type { RegionMessage } from '@peerkv/transport';
import { PENDING_REPLICAS_MAX, PENDING_REPLICAS_PER_SENDER_MAX, STORE_CFS, Store } from '../src/index.ts';
import { until } from './helpers.ts';

const opened: Store[] = [];

afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
});

async function openStore(storeId: number): Promise<Store> {
  const engine = await MemoryEngine.open({ columnFamilies: STORE_CFS });
  const s = await Store.open({ storeId, clusterId: 'adv', engine, transport: { send: () => {} }, tickIntervalMs: 10 });
  opened.push(s);
  return s;
}

/** A leader's heartbeat for region `regionId` to this store's would-be peer `peerId`. */
function heartbeat(regionId: number, peerId: number): RegionMessage {
  const message: Message = { type: 'MsgHeartbeat', to: peerId, from: peerId + 1, term: 7, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0 };
  return { regionId, regionEpoch: { confVer: 9, version: 9 }, message };
}

describe('replicas created on demand (issue 13, finding 6)', () => {
  it('a flood of forged messages for unknown region ids creates at most the caps, and is counted', async () => {
    const s = await openStore(1);
    // One sender: 500 made-up regions, a replica each if nothing stopped it.
    s.receive(7, Array.from({ length: 500 }, (_, i) => heartbeat(10_000 + i, 50_000 + 2 * i)));
    await until('the per-sender cap', () => s.regionIds().length >= PENDING_REPLICAS_PER_SENDER_MAX);
    expect(s.regionIds()).toHaveLength(PENDING_REPLICAS_PER_SENDER_MAX);
    expect(s.status().refused?.pendingReplicasPerSenderFull).toBe(500 - PENDING_REPLICAS_PER_SENDER_MAX);
    // Many senders (a member posing as every store id): the store-wide cap holds.
    for (let sender = 100; sender < 120; sender++) {
      s.receive(sender, Array.from({ length: 50 }, (_, i) => heartbeat(20_000 + sender * 100 + i, 900_000 + sender * 1000 + 2 * i)));
    }
    await until('the store-wide cap', () => s.regionIds().length >= PENDING_REPLICAS_MAX);
    expect(s.regionIds()).toHaveLength(PENDING_REPLICAS_MAX);
    expect(s.status().refused?.pendingReplicasFull).toBeGreaterThan(0);
  });

  it('a real leader still gets its replica while another sender floods', async () => {
    const s = await openStore(1);
    s.receive(7, Array.from({ length: 200 }, (_, i) => heartbeat(10_000 + i, 50_000 + 2 * i)));
    await until('the flood capped', () => s.regionIds().length >= PENDING_REPLICAS_PER_SENDER_MAX);
    s.receive(2, [heartbeat(42, 4242)]);
    await until('the real replica', () => s.regionIds().includes(42));
    expect(s.regionIds()).toHaveLength(PENDING_REPLICAS_PER_SENDER_MAX + 1);
  });
});
