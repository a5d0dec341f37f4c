/** Per-key latches: FIFO per key, atomic acquisition of a key set, bounded waiters. */
import { describe, expect, it } from 'vitest';
import { Latches, type LatchGuard } from '../src/txn/latches.ts';

const k = (s: string): Uint8Array => new TextEncoder().encode(s);
const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

/** Acquires and records the order in which holders ran. */
function track(latches: Latches, name: string, keys: string[], ran: string[]): Promise<LatchGuard> {
  const p = latches.acquire(keys.map(k));
  if (p === undefined) throw new Error(`${name} refused`);
  return p.then((g) => {
    ran.push(name);
    return g;
  });
}

describe('latches', () => {
  it('run a command at once when its keys are free, and queue a conflicting one FIFO', async () => {
    const l = new Latches();
    const ran: string[] = [];
    const a = track(l, 'a', ['x', 'y'], ran);
    const b = track(l, 'b', ['y'], ran);
    const c = track(l, 'c', ['y', 'z'], ran);
    const d = track(l, 'd', ['w'], ran);
    await tick();
    expect(ran).toEqual(['a', 'd']);
    (await a).release();
    await tick();
    expect(ran).toEqual(['a', 'd', 'b']);
    (await b).release();
    await tick();
    expect(ran).toEqual(['a', 'd', 'b', 'c']);
    (await c).release();
    (await d).release();
    expect(l.size).toBe(0);
  });

  it('tryAcquire takes free keys at once, refuses held or awaited ones, and queues behind nobody', async () => {
    const l = new Latches();
    const g = l.tryAcquire([k('x'), k('y'), k('x')])!;
    expect(g).toBeDefined();
    expect(l.queued(k('x'))).toBe(1);
    expect(l.tryAcquire([k('y'), k('z')])).toBeUndefined();
    expect(l.queued(k('z'))).toBe(0);
    const ran: string[] = [];
    const b = track(l, 'b', ['y'], ran);
    await tick();
    expect(ran).toEqual([]);
    g.release();
    g.release(); // idempotent
    await tick();
    expect(ran).toEqual(['b']);
    // A waiter-free key is still refused while b holds it.
    expect(l.tryAcquire([k('y')])).toBeUndefined();
    (await b).release();
    const again = l.tryAcquire([k('y')])!;
    again.release();
    expect(l.size).toBe(0);
  });

  it('acquire a key set atomically: no deadlock between crossing orders', async () => {
    const l = new Latches();
    const ran: string[] = [];
    const a = track(l, 'a', ['p', 'q'], ran);
    const b = track(l, 'b', ['q', 'p'], ran);
    await tick();
    expect(ran).toEqual(['a']);
    (await a).release();
    (await b).release();
    expect(ran).toEqual(['a', 'b']);
    expect(l.size).toBe(0);
  });

  it('count a duplicated key once, and run an empty set at once', async () => {
    const l = new Latches();
    const g = await l.acquire([k('x'), k('x')])!;
    expect(l.queued(k('x'))).toBe(1);
    g.release();
    g.release(); // idempotent
    expect(l.size).toBe(0);
    (await l.acquire([])!).release();
  });

  it('a waiter behind two holders runs only when both released', async () => {
    const l = new Latches();
    const ran: string[] = [];
    const a = track(l, 'a', ['x'], ran);
    const b = track(l, 'b', ['y'], ran);
    const c = track(l, 'c', ['x', 'y'], ran);
    await tick();
    (await a).release();
    await tick();
    expect(ran).toEqual(['a', 'b']);
    (await b).release();
    await tick();
    expect(ran).toEqual(['a', 'b', 'c']);
    (await c).release();
  });

  it('refuse a command when a key has waitersMax waiters', async () => {
    const l = new Latches(2);
    const holder = await l.acquire([k('x')])!;
    const w1 = l.acquire([k('x')]);
    const w2 = l.acquire([k('x'), k('y')]);
    expect(w1).toBeDefined();
    expect(w2).toBeDefined();
    expect(l.acquire([k('x')])).toBeUndefined();
    expect(l.acquire([k('z'), k('x')])).toBeUndefined();
    // The refused command queued nowhere.
    expect(l.queued(k('z'))).toBe(0);
    holder.release();
    (await w1!).release();
    (await w2!).release();
    expect(l.size).toBe(0);
  });
});

describe('latches with an abort signal', () => {
  it('a waiter that aborts leaves every queue and lets the one behind it run', async () => {
    const l = new Latches();
    const ran: string[] = [];
    const holder = await l.acquire([k('x')])!;
    const ac = new AbortController();
    const aborted = l.acquire([k('x'), k('y')], ac.signal)!;
    const behind = track(l, 'behind', ['y'], ran);
    await tick();
    // 'behind' waits on y behind the aborting waiter (FIFO), though y is free.
    expect(ran).toEqual([]);
    ac.abort();
    expect(await aborted).toBe('aborted');
    await tick();
    expect(ran).toEqual(['behind']);
    expect(l.queued(k('x'))).toBe(1);
    holder.release();
    (await behind).release();
    expect(l.size).toBe(0);
  });

  it('an abort after the waiter ran changes nothing; an already aborted signal never queues', async () => {
    const l = new Latches();
    const ac = new AbortController();
    const g = await l.acquire([k('x')], ac.signal)!;
    ac.abort();
    expect(g).not.toBe('aborted');
    expect(l.queued(k('x'))).toBe(1);
    (g as { release(): void }).release();
    expect(await l.acquire([k('x')], ac.signal)!).toBe('aborted');
    expect(l.size).toBe(0);
  });
});
