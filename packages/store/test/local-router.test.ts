/**
 * `LocalRouter` network faults: per-link order by default, seeded duplication (a deep copy
 * outside the link's order) and reordering, and a stopped store's late sends never leave it.
 */
import { describe, expect, it } from 'vitest';
import type { RegionMessage } from '@peerkv/transport';
import { LocalRouter, type LocalRouterOptions } from '../src/local-router.ts';
import type { Store } from '../src/store.ts';

/** Virtual timers for the router's delay. */
class Timers {
  now = 0;
  private due: { at: number; seq: number; fn: () => void }[] = [];
  private seq = 0;
  setTimeout(fn: () => void, ms: number): unknown {
    this.due.push({ at: this.now + ms, seq: this.seq++, fn });
    return undefined;
  }
  runAll(): void {
    for (;;) {
      this.due.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.due.shift();
      if (!next) return;
      this.now = next.at;
      next.fn();
    }
  }
}

/** A fake store that records what it receives (the message's `index` tags each send). */
function sink(storeId: number, got: number[], copies: RegionMessage[][] = []): Store {
  return {
    storeId,
    receive: (_from: number, ms: RegionMessage[]) => {
      copies.push(ms);
      for (const m of ms) got.push(m.message.index);
    },
    onStoreDown: () => undefined,
  } as unknown as Store;
}

const msg = (tag: number): RegionMessage => ({ regionId: 1, message: { type: 'MsgApp', from: 1, to: 2, term: 1, logTerm: 1, index: tag, entries: [], commit: 0 } }) as unknown as RegionMessage;

function setup(extra: Partial<LocalRouterOptions>, delays: number[]): { router: LocalRouter; timers: Timers; got: number[]; copies: RegionMessage[][] } {
  const timers = new Timers();
  const router = new LocalRouter({ delay: { timers, now: () => timers.now, delayMs: () => delays.shift() ?? 1 }, ...extra });
  const got: number[] = [];
  const copies: RegionMessage[][] = [];
  router.register(sink(2, got, copies));
  return { router, timers, got, copies };
}

describe('LocalRouter faults', () => {
  it('keeps per-link order without reorder, even when a later send has a shorter delay', () => {
    const { router, timers, got } = setup({}, [10, 1, 5]);
    const t = router.transportFor(1);
    for (const tag of [1, 2, 3]) t.send(2, [msg(tag)]);
    timers.runAll();
    expect(got).toEqual([1, 2, 3]);
  });

  it('a reordered send takes only its own delay and overtakes earlier sends', () => {
    const flags = [false, true, false];
    const { router, timers, got } = setup({ reorder: () => flags.shift() ?? false }, [10, 1, 5]);
    const t = router.transportFor(1);
    for (const tag of [1, 2, 3]) t.send(2, [msg(tag)]);
    timers.runAll();
    expect(got).toEqual([2, 1, 3]);
    expect(router.stats.reordered).toBe(1);
  });

  it('an out-of-order send takes the out-of-order delay when one is given', () => {
    const timers = new Timers();
    const router = new LocalRouter({ delay: { timers, now: () => timers.now, delayMs: () => 5, outOfOrderDelayMs: () => 100 }, reorder: () => true });
    const got: number[] = [];
    router.register(sink(2, got));
    router.transportFor(1).send(2, [msg(1)]);
    timers.runAll();
    expect(got).toEqual([1]);
    expect(timers.now).toBe(100);
  });

  it('a duplicated send arrives twice, the copy sharing no objects with the original', () => {
    const flags = [true];
    const { router, timers, got, copies } = setup({ duplicate: () => flags.shift() ?? false }, [1, 7]);
    router.transportFor(1).send(2, [msg(1)]);
    timers.runAll();
    expect(got).toEqual([1, 1]);
    expect(copies[0][0]).not.toBe(copies[1][0]);
    expect(copies[1][0]).toEqual(copies[0][0]);
    expect(router.stats.duplicated).toBe(1);
  });

  it('a stopped store sends nothing more; its restarted incarnation sends again', () => {
    const { router, timers, got } = setup({}, []);
    const old = router.transportFor(1);
    router.register(sink(1, []));
    router.unregister(1);
    old.send(2, [msg(1)]);
    const fresh = router.transportFor(1);
    fresh.send(2, [msg(2)]);
    timers.runAll();
    expect(got).toEqual([2]);
    expect(router.stats.fromStopped).toBe(1);
  });

  it('without options nothing is duplicated or reordered (one microtask later, in order)', async () => {
    const router = new LocalRouter();
    const got: number[] = [];
    router.register(sink(2, got));
    const t = router.transportFor(1);
    for (const tag of [1, 2, 3]) t.send(2, [msg(tag)]);
    expect(got).toEqual([]);
    await Promise.resolve();
    expect(got).toEqual([1, 2, 3]);
    expect(router.stats).toEqual({ duplicated: 0, reordered: 0, fromStopped: 0 });
  });
});
