/**
 * Hibernation: idle, caught-up regions stop ticking, so a store with many idle regions does
 * no per-region work on a tick; a request wakes its region.
 */
import { describe, expect, it } from 'vitest';
import type { Region } from '@peerkv/pd';
import { MemoryEngine } from '@peerkv/storage';
import { ManualTimers } from '@peerkv/transport';
import { LocalRouter, STORE_CFS, Store } from '../src/index.ts';
import { StubPd } from './helpers.ts';

function region(id: number): Region {
  const k = (n: number): Uint8Array => new TextEncoder().encode(`r${String(n).padStart(5, '0')}`);
  return { id, startKey: k(id), endKey: k(id + 1), epoch: { confVer: 1, version: 1 }, peers: [{ id: 100_000 + id, storeId: 1, role: 'voter' }] };
}

describe('hibernation', () => {
  it('stops ticking 500 idle regions and wakes one on a write', async () => {
    const router = new LocalRouter();
    const engine = await MemoryEngine.open({ columnFamilies: STORE_CFS });
    const s = await Store.open({ dataModel: 'raw', storeId: 1, clusterId: 'h', engine, transport: router.transportFor(1), tickIntervalMs: 5, hibernateAfterTicks: 20 });
    router.register(s);
    try {
      const n = 500;
      for (let id = 2; id < 2 + n; id++) {
        await s.createRegion(region(id));
        s.campaign(id);
      }
      const asleep = (): number => s.status().regions.filter((r) => r.hibernating).length;
      for (let i = 0; i < 400 && asleep() < n; i++) await new Promise((r) => setTimeout(r, 10));
      expect(asleep()).toBe(n);
      const rounds = s.status().counters.rounds;
      await new Promise((r) => setTimeout(r, 100));
      // Twenty ticks later no region produced work.
      expect(s.status().counters.rounds).toBe(rounds);
      const target = region(77);
      const w = await s.write(77, target.epoch, 'c', 1, [{ type: 'put', cf: 'default', key: target.startKey, value: new Uint8Array([1]) }]);
      expect(w.ok).toBe(true);
      expect(s.status().regions.find((r) => r.regionId === 77)!.hibernating).toBe(false);
      expect(asleep()).toBe(n - 1);
    } finally {
      await s.close();
    }
  });
});

/** Lets rounds, engine writes and the router's deliveries (microtasks and immediates) run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 30; i++) await new Promise((r) => setImmediate(r));
}

/** Three stores on hand-driven timers (ticks of 10 ms) hosting one region led by store 1, every replica hibernating. */
async function hibernatedTrio(mutations: { workSetMissesStep?: boolean }): Promise<{ clock: ManualTimers; router: LocalRouter; stores: Store[]; r: Region }> {
  const clock = new ManualTimers();
  const router = new LocalRouter();
  const r: Region = { ...region(2), peers: [1, 2, 3].map((s) => ({ id: 100 + s, storeId: s, role: 'voter' as const })) };
  const stores: Store[] = [];
  for (const id of [1, 2, 3]) {
    const engine = await MemoryEngine.open({ columnFamilies: STORE_CFS });
    const s = await Store.open({ dataModel: 'raw', storeId: id, clusterId: 'h', engine, transport: router.transportFor(id), timers: clock, now: () => clock.now(), tickIntervalMs: 10, hibernateAfterTicks: 20, unsafeTestMutations: mutations });
    router.register(s);
    stores.push(s);
    await s.createRegion(r);
  }
  stores[0].campaign(r.id);
  const asleep = (): boolean => stores.every((s) => s.status().regions.find((x) => x.regionId === r.id)?.hibernating === true);
  for (let i = 0; i < 500 && !asleep(); i++) {
    clock.advance(10);
    await settle();
  }
  expect(asleep()).toBe(true);
  expect(stores[0].status().regions[0].role).toBe('leader');
  return { clock, router, stores, r };
}

/**
 * `hibernatedTrio`, then the leader is asked to write while no timer fires. Returns whether the
 * write was answered, and then whether it was once one tick ran.
 */
async function writeWithTicksStopped(mutations: { workSetMissesStep?: boolean }): Promise<{ withoutTick: boolean; afterTick: boolean }> {
  const { clock, stores, r } = await hibernatedTrio(mutations);
  try {
    let answered: boolean | undefined;
    void stores[0].write(r.id, r.epoch, 'c', 1, [{ type: 'put', cf: 'default', key: r.startKey, value: new Uint8Array([1]) }]).then((w) => (answered = w.ok));
    await settle();
    const withoutTick = answered === true;
    clock.advance(10);
    await settle();
    return { withoutTick, afterTick: answered === true };
  } finally {
    for (const s of stores) await s.close();
  }
}

/** The stores' election timeout in ticks (the default): a replica's randomized timeout lies in [this, 2 × this). */
const ELECTION_TICKS = 10;

describe('a hibernating region whose leader is gone', () => {
  it('elects a new leader within two election timeouts of a request to a follower, with no link-down news', async () => {
    const { clock, router, stores, r } = await hibernatedTrio({});
    try {
      // Store 1's process died: its links fall silent, and no store has heard yet that it is down.
      router.partition([1], [2, 3]);
      // A client that lost the leader asks a follower: it answers NotLeader and wakes.
      const w = await stores[1].write(r.id, r.epoch, 'c', 1, [{ type: 'put', cf: 'default', key: r.startKey, value: new Uint8Array([1]) }]);
      expect(w.ok).toBe(false);
      const led = (): boolean => stores.slice(1).some((s) => s.status().regions.find((x) => x.regionId === r.id)?.role === 'leader');
      let ticks = 0;
      for (; ticks < 40 * ELECTION_TICKS && !led(); ticks++) {
        clock.advance(10);
        await settle();
      }
      console.log(`new leader ${ticks} ticks after the request (election timeout ${ELECTION_TICKS} ticks)`);
      // The woken follower campaigns within its randomized timeout; the other voter, woken by
      // the vote request, must not keep the dead leader's lease and ignore it.
      expect(led()).toBe(true);
      expect(ticks).toBeLessThanOrEqual(2 * ELECTION_TICKS);
    } finally {
      for (const s of stores) await s.close();
    }
  });
});

describe('the round work set (missed wakeups)', () => {
  it('a write to a hibernating 3-replica region commits with every timer stopped: each replica a message wakes is visited', async () => {
    const r = await writeWithTicksStopped({});
    expect(r.withoutTick).toBe(true);
  });

  it('with the wakeup broken (mutation workSetMissesStep) the same write waits for a tick, so the test above would fail', async () => {
    const r = await writeWithTicksStopped({ workSetMissesStep: true });
    expect(r.withoutTick).toBe(false);
    // The followers were woken (they tick again): the tick puts them back in the work set.
    expect(r.afterTick).toBe(true);
  });
});

/**
 * One store on manual timers reporting to a stub PD, leading `n` single-replica regions (ids
 * 2..n+1), all hibernating; `tick(k)` advances k store ticks of 10 ms.
 */
async function hibernatedStore(n: number, o: { hibernateAfterTicks: number; heartbeatIntervalTicks: number; hibernatingHeartbeatIntervalTicks: number }): Promise<{ s: Store; pd: StubPd; tick: (k: number) => Promise<void> }> {
  const clock = new ManualTimers();
  const router = new LocalRouter();
  const pd = new StubPd();
  const engine = await MemoryEngine.open({ columnFamilies: STORE_CFS });
  const s = await Store.open({ dataModel: 'raw', storeId: 1, clusterId: 'h', engine, transport: router.transportFor(1), timers: clock, now: () => clock.now(), tickIntervalMs: 10, ...o, pdClient: pd });
  router.register(s);
  const tick = async (k: number): Promise<void> => {
    for (let i = 0; i < k; i++) {
      clock.advance(10);
      await settle();
    }
  };
  for (let id = 2; id < 2 + n; id++) {
    await s.createRegion(region(id));
    s.campaign(id);
  }
  for (let i = 0; i < 200 && s.status().regions.some((r) => !r.hibernating); i++) await tick(1);
  expect(s.status().regions.every((r) => r.hibernating)).toBe(true);
  return { s, pd, tick };
}

describe('heartbeats of hibernating regions', () => {
  it('a hibernating region heartbeats once per hibernatingHeartbeatIntervalTicks, in turn; an awake one at every store heartbeat', async () => {
    const n = 20;
    // A store heartbeat every 2 ticks; an idle region's every 20 ticks (10 store heartbeats).
    const { s, pd, tick } = await hibernatedStore(n, { hibernateAfterTicks: 10, heartbeatIntervalTicks: 2, hibernatingHeartbeatIntervalTicks: 20 });
    try {
      await tick(20);
      pd.heartbeats.length = 0;
      await tick(20);
      // Ten store heartbeats: each idle region sent exactly one (not ten).
      const ids = pd.heartbeats.map((h) => h.region.id).sort((a, b) => a - b);
      expect(ids).toEqual(Array.from({ length: n }, (_, i) => i + 2));
      // The store heartbeats count every hibernating leader, though each beat visits a slice of them.
      expect(pd.storeStats.at(-1)).toMatchObject({ regionCount: n, leaderCount: n });
      // A write wakes region 7: it heartbeats at every store heartbeat again.
      const r7 = region(7);
      const w = s.write(7, r7.epoch, 'c', 1, [{ type: 'put', cf: 'default', key: r7.startKey, value: new Uint8Array([1]) }]);
      await settle();
      expect((await w).ok).toBe(true);
      pd.heartbeats.length = 0;
      await tick(6);
      expect(pd.heartbeats.filter((h) => h.region.id === 7).length).toBe(3);
      // Awake region 7 is counted once, not also by its share from when it slept.
      expect(pd.storeStats.at(-1)).toMatchObject({ regionCount: n, leaderCount: n });
    } finally {
      await s.close();
    }
  });

  it('a leader that wakes and hibernates again between two store heartbeats heartbeats at the next one, not at its patrol turn', async () => {
    // A store heartbeat every 10 ticks, hibernation after 2 idle ticks (so a write's whole awake
    // spell fits between two heartbeats), an idle region's turn every 1,000 ticks (100 beats).
    const { s, pd, tick: ticks } = await hibernatedStore(20, { hibernateAfterTicks: 2, heartbeatIntervalTicks: 10, hibernatingHeartbeatIntervalTicks: 1000 });
    const tick = (): Promise<void> => ticks(1);
    try {
      // Just after a store heartbeat (one more store stats sent), region 7 takes a write.
      const beats = pd.storeStats.length;
      for (let i = 0; i < 20 && pd.storeStats.length === beats; i++) await tick();
      expect(pd.storeStats.length).toBe(beats + 1);
      pd.heartbeats.length = 0;
      const r7 = region(7);
      const w = s.write(7, r7.epoch, 'c', 1, [{ type: 'put', cf: 'default', key: r7.startKey, value: new Uint8Array([1]) }]);
      await settle();
      expect((await w).ok).toBe(true);
      for (let i = 0; i < 5; i++) await tick();
      // Asleep again before the next store heartbeat.
      expect(pd.storeStats.length).toBe(beats + 1);
      expect(s.status().regions.find((r) => r.regionId === 7)!.hibernating).toBe(true);
      for (let i = 0; i < 5; i++) await tick();
      expect(pd.storeStats.length).toBe(beats + 2);
      // PD hears of region 7 at that heartbeat (before, only at its turn, up to 100 beats later).
      expect(pd.heartbeats.filter((h) => h.region.id === 7).length).toBe(1);
    } finally {
      await s.close();
    }
  });

  it('refuses a hibernatingHeartbeatIntervalTicks that is not a positive integer', async () => {
    const engine = await MemoryEngine.open({ columnFamilies: STORE_CFS });
    await expect(Store.open({ dataModel: 'raw', storeId: 1, clusterId: 'h', engine, transport: new LocalRouter().transportFor(1), hibernatingHeartbeatIntervalTicks: 0 })).rejects.toThrow(/hibernatingHeartbeatIntervalTicks/);
  });
});
