/**
 * Lock waits and the deadlock detector: a pessimistic lock request that meets another
 * transaction's lock waits for its release on the leader's waiter queue (woken by the apply of
 * the commit or rollback), times out with `KeyIsLocked`, or ends with `Deadlock` when its
 * wait-for edge closes a cycle in the detector's graph. The graph's own rules (cycles, TTL,
 * cleanup, bounds) and the detector request's wire form and leader-only service too.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { decodeStoreRequest, encodeStoreRequest, type RequestOf, type ResponseOf, type Store } from '../src/index.ts';
import type { StoreContext } from '../src/context.ts';
import { DEADLOCK_EDGES_MAX, WaitForGraph, deadlockKeyHash } from '../src/txn/deadlock-detector.ts';
import { LOCK_WAITERS_PER_KEY_MAX, lockWaiters } from '../src/txn/lock-waiters.ts';
import { QuietPd, closeAll, cluster, commit, dec, errorKinds, k, leader, prewrite, put, send, ts, value } from './txn-harness.ts';

afterEach(closeAll);

/** A PD fake whose detector is a graph in this process (the real one runs with PD's leader). */
class DetectingPd extends QuietPd {
  readonly graph = new WaitForGraph();
  detections = 0;
  detectDeadlock(q: RequestOf<'txnDetectDeadlock'>): Promise<ResponseOf<'txnDetectDeadlock'>> {
    if (q.kind === 'detect') this.detections++;
    return Promise.resolve({ ok: true, value: this.graph.answer(q, Date.now()) });
  }
}

function lock(startTs: bigint, keys: string[], extra: Partial<RequestOf<'txnPessimisticLock'>> = {}): Promise<ResponseOf<'txnPessimisticLock'>> {
  return send({ type: 'txnPessimisticLock', keys: keys.map(k), primary: k(keys[0]), startTs, forUpdateTs: startTs, lockTtlMs: 3000, waitTimeoutMs: 0, ...extra });
}

/** The store's context (private to the store; the waiters hang off it). */
const ctxOf = (s: Store): StoreContext => (s as unknown as { ctx: StoreContext }).ctx;
const text = (v: Uint8Array | undefined): string | undefined => (v === undefined ? undefined : dec.decode(v));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('lock waits', () => {
  it('waits for the holder and acquires once it commits (woken by the apply, not by the timeout), returning the committed value', async () => {
    await cluster();
    value(await lock(ts(100), ['a']));
    const t0 = Date.now();
    const waiting = lock(ts(110), ['a'], { forUpdateTs: ts(200), waitTimeoutMs: 10_000, returnValues: true });
    await sleep(100);
    expect(lockWaiters(ctxOf(await leader())).waiting).toBe(1);
    value(await prewrite(ts(100), [{ ...put('a', 'A1'), pessimistic: true }], k('a'), { forUpdateTs: ts(100) }));
    value(await commit(ts(100), ts(130), ['a']));
    expect(value(await waiting).values?.map(text)).toEqual(['A1']);
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('a waiter whose forUpdateTs is below the holder\'s commit wakes with WriteConflict at once; one woken by a pessimistic rollback acquires', async () => {
    await cluster();
    value(await lock(ts(100), ['a', 'b']));
    const conflicted = lock(ts(110), ['a'], { waitTimeoutMs: 10_000 });
    const acquired = lock(ts(120), ['b'], { waitTimeoutMs: 10_000 });
    await sleep(100);
    const t0 = Date.now();
    value(await prewrite(ts(100), [{ ...put('a', 'A1'), pessimistic: true }], k('a'), { forUpdateTs: ts(100) }));
    value(await commit(ts(100), ts(130), ['a']));
    expect(errorKinds(await conflicted)).toEqual(['WriteConflict']);
    value(await send({ type: 'txnPessimisticRollback', keys: [k('b')], startTs: ts(100), forUpdateTs: ts(100) }));
    value(await acquired);
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('times out with KeyIsLocked after waitTimeoutMs, leaving no waiter behind', async () => {
    await cluster();
    value(await lock(ts(100), ['a']));
    const t0 = Date.now();
    expect(errorKinds(await lock(ts(110), ['a'], { waitTimeoutMs: 300 }))).toEqual(['KeyIsLocked']);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(lockWaiters(ctxOf(await leader())).waiting).toBe(0);
  });

  it('waits only while the bounds allow: beyond LOCK_WAITERS_PER_KEY_MAX waiters on a key, KeyIsLocked at once', async () => {
    await cluster();
    value(await lock(ts(100), ['a']));
    const l = await leader();
    const waiters = lockWaiters(ctxOf(l));
    const held = Array.from({ length: LOCK_WAITERS_PER_KEY_MAX }, () => waiters.wait(k('a'), 10_000));
    const t0 = Date.now();
    expect(errorKinds(await lock(ts(110), ['a'], { waitTimeoutMs: 5000 }))).toEqual(['KeyIsLocked']);
    expect(Date.now() - t0).toBeLessThan(2000);
    for (const w of held) w?.end({ kind: 'timeout' });
    expect(waiters.waiting).toBe(0);
  });

  it('two transactions locking two keys in opposite order: the second wait closes a cycle and answers Deadlock; the first acquires after the loser rolls back', async () => {
    const detector = new DetectingPd();
    await cluster(undefined, { pdClient: detector });
    value(await lock(ts(100), ['a']));
    value(await lock(ts(200), ['b']));
    const first = lock(ts(100), ['b'], { forUpdateTs: ts(300), waitTimeoutMs: 10_000 });
    await sleep(100);
    const t0 = Date.now();
    const second = await lock(ts(200), ['a'], { forUpdateTs: ts(300), waitTimeoutMs: 10_000 });
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(second.ok && !second.value.ok && second.value.errors[0]).toMatchObject({ kind: 'Deadlock', lockTs: ts(100), lockKey: k('a'), deadlockKeyHash: deadlockKeyHash(k('b')) });
    value(await send({ type: 'txnPessimisticRollback', keys: [k('b')], startTs: ts(200), forUpdateTs: ts(200) }));
    value(await first);
    expect(detector.detections).toBe(2);
    // The winner's edge was cleaned up once it stopped waiting.
    await sleep(50);
    expect(detector.graph.edgeCount).toBe(0);
  });
});

describe('the deadlock detector', () => {
  it('finds cycles through several transactions, not paths; expired and cleaned-up edges do not count', () => {
    const g = new WaitForGraph();
    const h = (s: string): bigint => deadlockKeyHash(k(s));
    expect(g.detect(1n, 2n, h('a'), 1000, 0)).toBeUndefined();
    expect(g.detect(2n, 3n, h('b'), 1000, 0)).toBeUndefined();
    expect(g.detect(4n, 3n, h('c'), 1000, 0)).toBeUndefined();
    expect(g.detect(3n, 1n, h('d'), 1000, 0)).toEqual({ deadlockKeyHash: h('b') });
    expect(g.detect(3n, 4n, h('d'), 1000, 0)).toEqual({ deadlockKeyHash: h('c') });
    expect(g.edgeCount).toBe(3);
    // Past their TTL the edges are gone: the same wait is no longer a cycle.
    expect(g.detect(3n, 1n, h('d'), 1000, 1000)).toBeUndefined();
    g.clear();
    g.detect(1n, 2n, h('a'), 1000, 0);
    g.cleanUpWaitFor(1n, 2n, h('other key'));
    expect(g.detect(2n, 1n, h('b'), 1000, 0)).toBeDefined();
    g.cleanUpWaitFor(1n, 2n, h('a'));
    expect(g.detect(2n, 1n, h('b'), 1000, 0)).toBeUndefined();
    g.cleanUp(2n);
    expect(g.edgeCount).toBe(0);
    expect(g.detect(5n, 5n, h('a'), 1000, 0)).toBeUndefined();
  });

  it('keeps at most DEADLOCK_EDGES_MAX edges (expired ones make room)', () => {
    const g = new WaitForGraph();
    for (let i = 0; i < DEADLOCK_EDGES_MAX + 10; i++) g.detect(BigInt(2 * i + 1), BigInt(2 * i + 2), 0n, 100, 0);
    expect(g.edgeCount).toBe(DEADLOCK_EDGES_MAX);
    g.detect(1_000_000n, 1_000_001n, 0n, 100, 200);
    expect(g.edgeCount).toBe(1);
  });

  it('round-trips its request on the wire; a store without PD\'s leader answers a region error for PD\'s region', async () => {
    await cluster();
    const q: RequestOf<'txnDetectDeadlock'> = { type: 'txnDetectDeadlock', kind: 'cleanUpWaitFor', waiterTs: ts(1), holderTs: ts(2), key: k('a'), keyHash: (1n << 64n) - 1n, ttlMs: 10, timeoutMs: 100 };
    expect(decodeStoreRequest(encodeStoreRequest(q))).toEqual(q);
    const r = await (await leader()).handle(q);
    expect(r).toMatchObject({ ok: false, error: { kind: 'RegionNotFound', regionId: 1 } });
    await expect((await leader()).handle({ ...q, keyHash: -1n })).rejects.toMatchObject({ kind: 'BadField' });
  });
});
