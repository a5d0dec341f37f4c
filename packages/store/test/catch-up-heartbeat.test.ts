/**
 * A leader reports a region to PD at once, not at the next store heartbeat, when a membership
 * change completes, and when a peer its heartbeat told PD was pending catches up (issue 16, join
 * time: PD runs an operator's next step, and promotes a learner, only once a heartbeat shows the
 * last one done; `catch-up-watch.ts`, `PdWorker.onConfChangeApplied`).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Region, RegionHeartbeat } from '@peerkv/pd';
import { MemoryEngine } from '@peerkv/storage';
import { LocalRouter, STORE_CFS, Store, type PdClient } from '../src/index.ts';
import { StubPd, until } from './helpers.ts';

/** A store heartbeat every 200 ticks of 10 ms: 2 s, far longer than a catch-up. */
const TICK_MS = 10;
const HEARTBEAT_TICKS = 200;

const router = new LocalRouter();
const stores: Store[] = [];
afterEach(async () => {
  router.heal();
  for (const s of stores.splice(0)) {
    router.unregister(s.storeId);
    await s.close();
  }
});

/** A PD stub that timestamps region heartbeats. */
class TimedPd extends StubPd {
  readonly at: { hb: RegionHeartbeat; ms: number; storeBeats: number }[] = [];
  override regionHeartbeat(hb: RegionHeartbeat): ReturnType<PdClient['regionHeartbeat']> {
    this.at.push({ hb, ms: performance.now(), storeBeats: this.storeStats.length });
    return super.regionHeartbeat(hb);
  }
}

async function start(storeId: number, pd: PdClient): Promise<Store> {
  const store = await Store.open({
    storeId,
    clusterId: 'catch-up',
    dataModel: 'raw',
    engine: await MemoryEngine.open({ columnFamilies: STORE_CFS }),
    transport: router.transportFor(storeId),
    pdClient: pd,
    tickIntervalMs: TICK_MS,
    heartbeatIntervalTicks: HEARTBEAT_TICKS,
    hibernateAfterTicks: 1_000_000,
    requestTimeoutMs: 3000,
  });
  router.register(store);
  stores.push(store);
  return store;
}

const REGION: Region = { id: 2, startKey: new Uint8Array(), endKey: new Uint8Array(), epoch: { confVer: 1, version: 1 }, peers: [{ id: 21, storeId: 1, role: 'voter' }] };

/** Store 1 leading region 2 alone and reporting to a `TimedPd`; store 2 up but cut off from it. */
async function leaderAndCutOffStore(): Promise<{ pd: TimedPd; leader: Store }> {
  const pd = new TimedPd();
  const leader = await start(1, pd);
  await leader.createRegion(REGION);
  leader.campaign(2);
  await until('region 2 led', () => leader.status().regions.some((r) => r.regionId === 2 && r.role === 'leader'));
  await start(2, new StubPd());
  router.partition([1], [2]);
  return { pd, leader };
}

describe('a pending peer that catches up', () => {
  it('is reported by a region heartbeat at once, before the next store heartbeat', async () => {
    const { pd, leader } = await leaderAndCutOffStore();
    // Store 2 is cut off: its learner stays pending through a store heartbeat.
    const added = await leader.changePeers(2, [{ type: 'addLearnerNode', peer: { id: 22, storeId: 2, role: 'learner' } }]);
    expect(added.ok).toBe(true);
    await until('a heartbeat naming peer 22 pending', () => pd.at.some((x) => x.hb.pendingPeers.includes(22)), 10_000);
    // Healed just after a store heartbeat: the next periodic one is a full interval away.
    const beats = pd.storeStats.length;
    await until('the next store heartbeat', () => pd.storeStats.length > beats, 10_000);
    const healedAt = performance.now();
    const beatsAtHeal = pd.storeStats.length;
    router.heal();
    await until('a heartbeat showing peer 22 caught up', () => pd.at.some((x) => x.ms > healedAt && x.hb.region.peers.some((p) => p.id === 22) && !x.hb.pendingPeers.includes(22)), 10_000);
    const report = pd.at.find((x) => x.ms > healedAt && !x.hb.pendingPeers.includes(22))!;
    const delayMs = report.ms - healedAt;
    console.log(`catch-up heartbeat ${delayMs.toFixed(0)} ms after the heal (store heartbeat every ${TICK_MS * HEARTBEAT_TICKS} ms)`);
    // Sent by the catch-up, not by the next store heartbeat (none came in between).
    expect(report.storeBeats).toBe(beatsAtHeal);
  });
});

describe('a membership change that completes', () => {
  it('is reported by exactly one region heartbeat at once, before the next store heartbeat', async () => {
    const { pd, leader } = await leaderAndCutOffStore();
    // Store 2 is cut off: its learner never catches up, so no catch-up heartbeat follows.
    // Changed just after a store heartbeat: the next periodic one is a full interval away.
    const beats = pd.storeStats.length;
    await until('the next store heartbeat', () => pd.storeStats.length > beats, 10_000);
    const beatsAtChange = pd.storeStats.length;
    const changedAt = performance.now();
    const added = await leader.changePeers(2, [{ type: 'addLearnerNode', peer: { id: 22, storeId: 2, role: 'learner' } }]);
    expect(added.ok).toBe(true);
    await until('a heartbeat naming learner 22', () => pd.at.some((x) => x.ms > changedAt && x.hb.region.peers.some((p) => p.id === 22)), 10_000);
    // Room for a second one (the joint configuration's entering change, or a repeat) to show up.
    await until('the next store heartbeat', () => pd.storeStats.length > beatsAtChange, 10_000);
    const prompt = pd.at.filter((x) => x.ms > changedAt && x.hb.region.id === 2 && x.storeBeats === beatsAtChange);
    expect(prompt).toHaveLength(1);
    console.log(`conf change heartbeat ${(prompt[0].ms - changedAt).toFixed(0)} ms after the proposal (store heartbeat every ${TICK_MS * HEARTBEAT_TICKS} ms)`);
    const hb = prompt[0].hb;
    expect(hb.region.epoch.confVer).toBe(2);
    expect(hb.region.peers).toEqual([
      { id: 21, storeId: 1, role: 'voter' },
      { id: 22, storeId: 2, role: 'learner' },
    ]);
    expect(hb.pendingPeers).toEqual([22]);
  });
});
