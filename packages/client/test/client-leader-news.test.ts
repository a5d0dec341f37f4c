/**
 * Leader news in the client (`ClientOptions.leaderNews`, `leader-wakeup.ts`): the leader's
 * store is gone, PD still names it, and no follower knows a leader yet (an election under
 * way), so the write backs off; news of the new leader from the store next to the client ends
 * that pause and the write goes to the new leader at once. Time is a `ManualTimers` clock:
 * the write must finish without the clock reaching the end of its backoff.
 */
import { describe, expect, it } from 'vitest';
import type { Peer, Region } from '@peerkv/pd';
import type { Result } from '@peerkv/store';
import { ManualTimers } from '@peerkv/transport';
import { LeaderWakeup } from '../src/leader-wakeup.ts';
import { RegionCache } from '../src/region-cache.ts';
import { PeerKV, codec, type KvService, type LeaderNewsOfRegion, type PdService, type RegionRoute } from '../src/index.ts';

const t = codec.text;
const epoch = { confVer: 1, version: 1 };
const peer = (id: number, storeId: number): Peer => ({ id, storeId, role: 'voter' });
const region: Region = { id: 3, startKey: new Uint8Array(), endKey: new Uint8Array(), epoch, peers: [peer(5, 2), peer(8, 6), peer(9, 7)] };
/** Every backoff pause: the clock never gets this far in the cases that must not wait. */
const BACKOFF_MS = 10_000;

/** Lets pending promise callbacks run (the client's awaits between timer-free steps). */
async function settle(): Promise<void> {
  for (let i = 0; i < 50; i++) await Promise.resolve();
}

/** A cluster whose leader's store (2) is gone; stores 6 and 7 answer `NotLeader` without a hint until 7 is `elected` (`onAsk` sees each ask first). */
function cluster(onAsk: (storeId: number) => void = () => undefined) {
  const state = { elected: false, asked: [] as number[] };
  // PD has not heard of the new leader: it still names 5@2.
  const route: RegionRoute = { region, leader: peer(5, 2) };
  const pd: PdService = { getRegion: async () => route, getRegionById: async () => route, getStore: async () => undefined };
  const svc = (storeId: number): KvService => ({
    storeId,
    handle: async (q) => {
      if (q.type !== 'write') throw new Error(`unexpected ${q.type}`);
      state.asked.push(storeId);
      onAsk(storeId);
      const r: Result<void> = storeId === 7 && state.elected ? { ok: true, value: undefined } : { ok: false, error: { kind: 'NotLeader', regionId: 3 } };
      return r as never;
    },
  });
  const services = new Map<number, KvService>([6, 7].map((id) => [id, svc(id)]));
  let listener: ((news: LeaderNewsOfRegion) => void) | undefined;
  const clock = new ManualTimers();
  const kv = new PeerKV({
    pd,
    stores: { store: (id) => services.get(id) },
    // The fake services answer raw writes.
    dataModel: 'raw',
    clock,
    random: () => 0.99,
    backoff: { attemptsMax: 20, baseMs: BACKOFF_MS, capMs: BACKOFF_MS, budgetMs: 10 * BACKOFF_MS },
    leaderNews: (l) => {
      listener = l;
      return () => (listener = undefined);
    },
  });
  const news = () => {
    state.elected = true;
    listener?.({ regionId: 3, leader: peer(9, 7) });
  };
  return { kv, clock, state, news, listening: () => listener !== undefined };
}

/** A write under way in a new `cluster()` whose first attempt (at follower 6) failed: it is in its backoff. */
async function firstAttemptFailed() {
  const c = cluster();
  let finished = false;
  const put = c.kv.put(t('a'), t('1')).then(() => (finished = true));
  await settle();
  expect(c.state.asked).toEqual([6]);
  return { c, put, done: () => finished };
}

describe('PeerKV and leader news', () => {
  it('without news, a write whose region has no known leader waits out its backoff (the control case)', async () => {
    const { c, put, done } = await firstAttemptFailed();
    c.state.elected = true; // 7 leads, but nobody tells the client
    c.clock.advance(BACKOFF_MS / 2);
    await settle();
    expect(done()).toBe(false);
    for (let i = 0; i < 10 && !done(); i++) {
      c.clock.advance(BACKOFF_MS);
      await settle();
    }
    await put;
    expect(c.clock.now()).toBeGreaterThanOrEqual(0.99 * BACKOFF_MS);
    await c.kv.close();
  });

  it('news of the new leader ends the backoff: the write goes to it at once', async () => {
    const { c, put, done } = await firstAttemptFailed();
    c.news();
    await settle();
    await put;
    expect(done()).toBe(true);
    expect(c.clock.now()).toBe(0);
    expect(c.state.asked).toEqual([6, 7]);
    // The news is the cached leader now: the next write asks 7 first.
    c.state.asked.length = 0;
    await c.kv.put(t('b'), t('2'));
    expect(c.state.asked).toEqual([7]);
    await c.kv.close();
    expect(c.listening()).toBe(false);
  });

  it('news that arrives while an attempt is out ends the pause after it at once', async () => {
    let c: ReturnType<typeof cluster> | undefined = undefined;
    c = cluster((storeId) => {
      if (storeId === 6 && !c!.state.elected) c!.news();
    });
    await c.kv.put(t('a'), t('1'));
    expect(c.clock.now()).toBe(0);
    expect(c.state.asked).toEqual([6, 7]);
    await c.kv.close();
  });
});

describe('LeaderWakeup', () => {
  it('a pause ends with news of its region only, elapsed time, or the caller\'s abort', async () => {
    const clock = new ManualTimers();
    const w = new LeaderWakeup(clock);
    const mark = w.mark();
    const ends: string[] = [];
    void w.pause(3, 100).then((e) => ends.push(`3:${e}`));
    void w.pause(4, 100).then((e) => ends.push(`4:${e}`));
    const abort = new AbortController();
    void w.pause(5, 100, abort.signal).then((e) => ends.push(`5:${e}`));
    w.wake(3);
    abort.abort();
    await settle();
    expect(ends.sort()).toEqual(['3:news', '5:aborted']);
    clock.advance(100);
    await settle();
    expect(ends.sort()).toEqual(['3:news', '4:elapsed', '5:aborted']);
    // News after the mark ends a later pause at once; news of another region does not.
    expect(await w.pause(3, 100, undefined, mark)).toBe('news');
    const later = w.pause(4, 100, undefined, w.mark());
    clock.advance(100);
    expect(await later).toBe('elapsed');
  });
});

describe('RegionCache.learnLeader', () => {
  it('sets a leader among the cached peers and ends the doubt, and ignores a peer the region does not have', () => {
    const cache = new RegionCache();
    cache.insert({ region, leader: peer(5, 2) });
    cache.markStale(3);
    cache.learnLeader(3, peer(10, 8));
    expect(cache.locate(t('k'))).toEqual({ route: { region }, stale: true });
    cache.learnLeader(3, peer(9, 7));
    expect(cache.locate(t('k'))).toEqual({ route: { region, leader: peer(9, 7) }, stale: false });
    cache.learnLeader(99, peer(9, 7)); // not cached: nothing
    expect(cache.size).toBe(1);
  });
});
