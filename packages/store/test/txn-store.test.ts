/**
 * The store side of Percolator over three stores (LocalRouter): prewrite, commit, rollback,
 * check-txn-status, resolve-lock, heartbeat, snapshot reads, through `Store.handle` on the
 * region's leader, each action's writes replicated as one `txn` command.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CF_LOCK } from '@peerkv/txn';
import type { ResponseOf, Store } from '../src/index.ts';
import type { StoreContext } from '../src/context.ts';
import { txnState } from '../src/txn/scheduler.ts';
import { sleep, until } from './helpers.ts';
import { REGION, closeAll, dec, cluster, commit, errorKinds, get, getValue, k, leader, moveLeader, pd, prewrite, put, router, send, stores, ts, value } from './txn-harness.ts';

afterEach(closeAll);

describe('txn requests on the store', () => {
  it('prewrite + commit: visible at a later ts and not before; replicated as txn commands', async () => {
    await cluster();
    expect(value(await prewrite(ts(100), [put('a', 'A1'), put('b', 'B1')]))).toEqual({ minCommitTs: ts(100) + 1n });
    // Locked: a read at or above the start ts meets the lock; below it sees nothing.
    expect(errorKinds(await get('a', ts(150)))).toEqual(['KeyIsLocked']);
    expect(await getValue('a', ts(90))).toBeUndefined();
    value(await commit(ts(100), ts(110), ['a', 'b']));
    expect(await getValue('a', ts(110))).toBe('A1');
    expect(await getValue('b', ts(200))).toBe('B1');
    expect(await getValue('a', ts(109))).toBeUndefined();
    // Every replica applied the same txn commands, lock and write column families included.
    await until('every replica applied both txn commands', () => [...stores.values()].every((n) => n.applied.filter((c) => c.type === 'txn').length === 2));
    const cmds = stores.get(3)!.applied.filter((c) => c.type === 'txn');
    expect(cmds[0].ops.every((op) => op.cf === CF_LOCK)).toBe(true);
    expect(new Set(cmds[1].ops.map((op) => op.cf))).toEqual(new Set(['lock', 'write']));
    // A scan sees both at a later ts, nothing at an earlier one.
    const scanned = value(await send({ type: 'txnScan', start: k('a'), limit: 10, ts: ts(300) }));
    expect(scanned.pairs.map((p) => `${dec.decode(p.key)}=${dec.decode(p.value)}`)).toEqual(['a=A1', 'b=B1']);
    expect(value(await send({ type: 'txnScan', start: k('a'), limit: 10, ts: ts(105) })).pairs).toEqual([]);
  });

  it('a conflicting prewrite: KeyIsLocked while locked, WriteConflict after a newer commit', async () => {
    await cluster();
    value(await prewrite(ts(100), [put('a', 'A1')]));
    expect(errorKinds(await prewrite(ts(105), [put('a', 'X'), put('c', 'C')]))).toEqual(['KeyIsLocked']);
    value(await commit(ts(100), ts(110), ['a']));
    // Started before that commit: a write conflict (first committer wins).
    expect(errorKinds(await prewrite(ts(105), [put('a', 'X')]))).toEqual(['WriteConflict']);
    // The refused prewrite wrote nothing: 'c' has no lock.
    expect(await getValue('c', ts(500))).toBeUndefined();
    value(await prewrite(ts(120), [put('a', 'A2')]));
  });

  it('rollback: the lock goes, a rollback record refuses a late prewrite; rolling back a commit is Committed', async () => {
    await cluster();
    value(await prewrite(ts(100), [put('a', 'A1')]));
    value(await send({ type: 'txnRollback', keys: [k('a')], startTs: ts(100) }));
    expect(await getValue('a', ts(500))).toBeUndefined();
    expect(errorKinds(await prewrite(ts(100), [put('a', 'A1')]))).toEqual(['WriteConflict']);
    expect(errorKinds(await commit(ts(100), ts(110), ['a']))).toEqual(['TxnNotFound']);
    value(await prewrite(ts(200), [put('b', 'B')]));
    value(await commit(ts(200), ts(210), ['b']));
    expect(errorKinds(await send({ type: 'txnRollback', keys: [k('b')], startTs: ts(200) }))).toEqual(['Committed']);
  });

  it('check-txn-status: alive within the TTL (pushed for a reader), rolled back past it; heartbeat extends it', async () => {
    await cluster();
    value(await prewrite(ts(1000), [put('p', 'P'), put('s', 'S')], k('p'), { lockTtlMs: 100 }));
    const check = (currentTs: bigint, callerStartTs = 0n): Promise<ResponseOf<'txnCheckStatus'>> =>
      send({ type: 'txnCheckStatus', primaryKey: k('p'), lockTs: ts(1000), callerStartTs, currentTs, rollbackIfNotExist: false });
    const alive = value(await check(ts(1050), ts(1040)));
    expect(alive.kind).toBe('locked');
    expect(alive.kind === 'locked' && alive.minCommitTsPushed && alive.lock.minCommitTs).toBe(ts(1050));
    // Heartbeat: TTL up to 500 ms; still alive at +300.
    expect(value(await send({ type: 'txnHeartbeat', primaryKey: k('p'), startTs: ts(1000), adviseTtlMs: 500 }))).toEqual({ ttlMs: 500 });
    expect(value(await check(ts(1300))).kind).toBe('locked');
    expect(value(await check(ts(1501)))).toEqual({ kind: 'rolledBack', reason: 'ttlExpired' });
    expect(value(await check(ts(1600)))).toEqual({ kind: 'rolledBack', reason: 'rolledBack' });
    expect(errorKinds(await send({ type: 'txnHeartbeat', primaryKey: k('p'), startTs: ts(1000), adviseTtlMs: 900 }))).toEqual(['TxnNotFound']);
    // The secondary follows the primary: resolve-lock rolls it back.
    value(await send({ type: 'txnResolveLock', keys: [k('s')], startTs: ts(1000) }));
    expect(await getValue('s', ts(2000))).toBeUndefined();
  });

  it('resolve-lock commits the secondaries at the primary commit ts; a retried commit is idempotent', async () => {
    await cluster();
    value(await prewrite(ts(100), [put('p', 'P'), put('s1', 'S1'), put('s2', 'S2')], k('p')));
    value(await commit(ts(100), ts(120), ['p']));
    // A reader meets a secondary's lock, asks the primary, resolves.
    const locked = await get('s1', ts(130));
    expect(errorKinds(locked)).toEqual(['KeyIsLocked']);
    const status = value(await send({ type: 'txnCheckStatus', primaryKey: k('p'), lockTs: ts(100), callerStartTs: ts(130), currentTs: ts(130), rollbackIfNotExist: false }));
    expect(status).toEqual({ kind: 'committed', commitTs: ts(120) });
    value(await send({ type: 'txnResolveLock', keys: [k('s1'), k('s2')], startTs: ts(100), commitTs: ts(120) }));
    expect(await getValue('s1', ts(130))).toBe('S1');
    expect(await getValue('s2', ts(120))).toBe('S2');
    expect(await getValue('s2', ts(119))).toBeUndefined();
    // Retries: a commit again, a resolve again, a prewrite again: nothing changes, nothing proposed.
    const before = stores.get(1)!.applied.filter((c) => c.type === 'txn').length;
    value(await commit(ts(100), ts(120), ['p', 's1']));
    value(await send({ type: 'txnResolveLock', keys: [k('s2')], startTs: ts(100), commitTs: ts(120) }));
    value(await prewrite(ts(100), [put('p', 'P')]));
    await sleep(50);
    expect(stores.get(1)!.applied.filter((c) => c.type === 'txn').length).toBe(before);
    expect(await getValue('p', ts(500))).toBe('P');
  });

  it('resolve-lock with no keys resolves every lock of the transaction in the region, and no other', async () => {
    await cluster();
    value(await prewrite(ts(100), [put('p', 'P'), put('s1', 'S1'), put('s2', 'S2'), put('s3', 'S3')], k('p')));
    value(await prewrite(ts(105), [put('o', 'O')]));
    value(await commit(ts(100), ts(120), ['p']));
    value(await send({ type: 'txnResolveLock', keys: [], startTs: ts(100), commitTs: ts(120) }));
    for (const key of ['s1', 's2', 's3']) expect(await getValue(key, ts(130))).toBe(key.toUpperCase());
    expect(errorKinds(await get('o', ts(130)))).toEqual(['KeyIsLocked']);
    // Nothing left: a second call finds nothing and writes nothing.
    const before = stores.get(1)!.applied.filter((c) => c.type === 'txn').length;
    value(await send({ type: 'txnResolveLock', keys: [], startTs: ts(100), commitTs: ts(120) }));
    await sleep(30);
    expect(stores.get(1)!.applied.filter((c) => c.type === 'txn').length).toBe(before);
  });

  it('a leader change between prewrite and commit: the new leader commits what the old one prewrote', async () => {
    await cluster();
    const first = await leader();
    value(await prewrite(ts(100), [put('a', 'A'), put('b', 'B')]));
    const other = await moveLeader(first);
    // The old leader refuses (NotLeader); the new one has the locks (it read after a ReadIndex).
    const refused = await commit(ts(100), ts(110), ['a', 'b'], first);
    expect(!refused.ok && refused.error.kind).toBe('NotLeader');
    value(await commit(ts(100), ts(110), ['a', 'b'], other));
    expect(await getValue('a', ts(200))).toBe('A');
    expect(await getValue('b', ts(200))).toBe('B');
  });

  it('a prewrite that timed out on a cut-off leader is retried after the heal: idempotent, then commits', async () => {
    await cluster();
    const first = await leader();
    const others = [1, 2, 3].filter((id) => id !== first.storeId);
    router.partition([first.storeId], others);
    const cut = await first.handle({ type: 'txnPrewrite', regionId: 2, epoch: REGION.epoch, mutations: [put('a', 'A')], primary: k('a'), startTs: ts(100), lockTtlMs: 3000, txnSize: 1, mode: { kind: 'twoPc' }, timeoutMs: 200 });
    // (MaybeCommitted: a write command reads its snapshot locally and proposes; the leader was deposed while it waited.)
    expect(!cut.ok && ['Timeout', 'NotLeader', 'MaybeCommitted'].includes(cut.error.kind)).toBe(true);
    router.heal();
    await until('a leader answers again', async () => {
      const r = await prewrite(ts(100), [put('a', 'A')]);
      return r.ok && r.value.ok;
    });
    value(await prewrite(ts(100), [put('a', 'A')]));
    value(await commit(ts(100), ts(110), ['a']));
    expect(await getValue('a', ts(120))).toBe('A');
  });

  it('a write command reads its snapshot locally on a leader that applied its term\'s commit; an answer proposing nothing is confirmed by a ReadIndex', async () => {
    await cluster();
    const l = await leader();
    value(await prewrite(ts(90), [put('w', 'W')]));
    const raw = (l as unknown as { ctx: { peers: Map<number, { raw: { readIndex(ctx: Uint8Array): void } }> } }).ctx.peers.get(2)!.raw;
    let readIndexes = 0;
    const original = raw.readIndex.bind(raw);
    raw.readIndex = (ctx: Uint8Array) => {
      readIndexes++;
      original(ctx);
    };
    value(await prewrite(ts(100), [put('a', 'A')]));
    value(await commit(ts(100), ts(110), ['a']));
    expect(readIndexes).toBe(0);
    // A retried prewrite finds its own lock and proposes nothing: its answer waits for a ReadIndex.
    value(await prewrite(ts(90), [put('w', 'W')]));
    expect(readIndexes).toBe(1);
    // Reads always ReadIndex.
    expect(await getValue('a', ts(120))).toBe('A');
    expect(readIndexes).toBe(2);
  });

  it('a write command reads its latched keys from the engine, with no snapshot; a read or a range command takes one', async () => {
    await cluster();
    const l = await leader();
    const engine = (l as unknown as { ctx: { engine: { snapshot(): Promise<unknown> } } }).ctx.engine;
    let snapshots = 0;
    const original = engine.snapshot.bind(engine);
    engine.snapshot = () => {
      snapshots++;
      return original();
    };
    value(await prewrite(ts(100), [put('a', 'A'), put('b', 'B')]));
    value(await commit(ts(100), ts(110), ['a', 'b']));
    const onePc = value(await prewrite(ts(120), [put('c', 'C')], k('c'), { mode: { kind: 'onePc' } }));
    expect(snapshots).toBe(0);
    expect(await getValue('a', ts(130))).toBe('A');
    expect(await getValue('c', onePc.onePcCommitTs!)).toBe('C');
    expect(snapshots).toBe(2);
    // A region-wide resolve lists the transaction's locks on a snapshot (no keys to latch).
    value(await prewrite(ts(140), [put('d', 'D')]));
    value(await send({ type: 'txnResolveLock', startTs: ts(140), keys: [] }));
    expect(snapshots).toBeGreaterThan(2);
    expect(await getValue('d', onePc.onePcCommitTs!)).toBe(undefined);
  });

  it('latches serialize two conflicting prewrites sent at once: one wins, the other meets its lock', async () => {
    await cluster();
    const l = await leader();
    const send2 = (startTs: bigint, v: string): Promise<ResponseOf<'txnPrewrite'>> =>
      l.handle({ type: 'txnPrewrite', regionId: 2, epoch: REGION.epoch, mutations: [put('x', v), put('y', v)], primary: k('x'), startTs, lockTtlMs: 3000, txnSize: 2, mode: { kind: 'twoPc' } });
    const [r1, r2] = await Promise.all([send2(ts(100), 'one'), send2(ts(101), 'two')]);
    const outcomes = [r1, r2].map((r) => (r.ok && r.value.ok ? 'ok' : errorKinds(r).join()));
    expect(outcomes.sort()).toEqual(['KeyIsLocked,KeyIsLocked', 'ok']);
  });

  it('a command that waits out its timeout (or its caller\'s abort) on a latch answers ServerIsBusy and writes nothing', async () => {
    await cluster();
    const l = await leader();
    const ctx = (l as unknown as { ctx: StoreContext }).ctx;
    // Another command holds 'a' (as one whose proposal is still in flight does).
    const held = txnState(ctx).latches.tryAcquire([k('a')])!;
    const txnsBefore = stores.get(1)!.applied.filter((c) => c.type === 'txn').length;
    const q = (startTs: bigint) => ({ type: 'txnPrewrite' as const, regionId: 2, epoch: REGION.epoch, mutations: [put('b', 'B'), put('a', 'A')], primary: k('b'), startTs, lockTtlMs: 3000, txnSize: 2, mode: { kind: 'onePc' as const } });
    const timedOut = await l.handle({ ...q(ts(100)), timeoutMs: 50 });
    expect(timedOut).toMatchObject({ ok: false, error: { kind: 'ServerIsBusy', reason: expect.stringContaining('timed out waiting for its key latches') as string } });
    const caller = new AbortController();
    const aborted = l.handle({ ...q(ts(101)), timeoutMs: 5000 }, { signal: caller.signal });
    await sleep(20);
    caller.abort();
    expect(await aborted).toMatchObject({ ok: false, error: { kind: 'ServerIsBusy', reason: expect.stringContaining('aborted by the caller') as string } });
    // Neither ran: no lock, no commit, no txn command, and no latch left behind but the holder's.
    expect(txnState(ctx).latches.queued(k('a'))).toBe(1);
    expect(txnState(ctx).latches.queued(k('b'))).toBe(0);
    expect(await getValue('b', ts(500))).toBeUndefined();
    expect(await getValue('a', ts(500))).toBeUndefined();
    expect(stores.get(1)!.applied.filter((c) => c.type === 'txn').length).toBe(txnsBefore);
    // Once the latch is free, the retry runs (the client's retry of ServerIsBusy).
    held.release();
    const retried = value(await l.handle({ ...q(ts(100)), timeoutMs: 5000 }));
    expect(await getValue('a', retried.onePcCommitTs!)).toBe('A');
  });

  it('async commit and 1PC take their commit ts above every read ts (maxTs)', async () => {
    await cluster();
    pd.tsoNext = ts(50); // the leader's sync from PD raises maxTs to 50 only: the read decides
    // A read at 500 on this store: a later async-commit prewrite's locks must be above it.
    expect(await getValue('z', ts(500))).toBeUndefined();
    const r = value(await prewrite(ts(100), [put('a', 'A'), put('b', 'B')], k('a'), { mode: { kind: 'asyncCommit', secondaries: [k('b')] } }));
    expect(r.minCommitTs).toBe(ts(500) + 1n);
    const one = value(await prewrite(ts(200), [put('c', 'C')], k('c'), { mode: { kind: 'onePc' } }));
    expect(one.onePcCommitTs).toBe(ts(500) + 1n);
    expect(await getValue('c', ts(600))).toBe('C');
    expect(await getValue('c', ts(500))).toBeUndefined();
  });

  /** A read at T on leader A, leadership to B, then an async-commit and a 1PC prewrite on B: their commit ts. */
  async function readThenPrewriteOnNewLeader(T: bigint): Promise<{ asyncMin: bigint; onePc: bigint | undefined }> {
    const a = await leader();
    expect(await getValue('z', T, a)).toBeUndefined();
    const b = await moveLeader(a);
    const r = value(await prewrite(ts(100), [put('a', 'A'), put('b', 'B')], k('a'), { mode: { kind: 'asyncCommit', secondaries: [k('b')] } }, b));
    const one = value(await prewrite(ts(200), [put('c', 'C')], k('c'), { mode: { kind: 'onePc' } }, b));
    return { asyncMin: r.minCommitTs, onePc: one.onePcCommitTs };
  }

  it('a new leader syncs maxTs from PD before async commit or 1PC: their commit ts is above a read served by the old leader', async () => {
    await cluster();
    const T = ts(500);
    pd.tsoNext = T + 10n; // the TSO has moved past T (it handed T out before the read)
    const { asyncMin, onePc } = await readThenPrewriteOnNewLeader(T);
    expect(asyncMin > T).toBe(true);
    expect(onePc! > T).toBe(true);
    expect(await getValue('c', T)).toBeUndefined();
    // Once per (region, term): the second prewrite on B did not ask PD again.
    expect(pd.tsoCalls).toBe(1);
  });

  it('without the sync (maxTsSyncOff) the same run commits below the old leader\'s read: the test above catches it', async () => {
    await cluster(undefined, { unsafeTestMutations: { maxTsSyncOff: true } });
    const T = ts(500);
    pd.tsoNext = T + 10n;
    const { asyncMin, onePc } = await readThenPrewriteOnNewLeader(T);
    expect(asyncMin <= T).toBe(true);
    expect(onePc! <= T).toBe(true);
    // The snapshot-isolation violation: a read at T saw nothing, now it sees the 1PC write.
    expect(await getValue('c', T)).toBe('C');
  });

  it('PD unreachable: an async-commit or 1PC prewrite on an unsynced leader is ServerIsBusy, a 2PC prewrite is served; it syncs once PD is back', async () => {
    await cluster();
    pd.tsoDown = true;
    const asyncQ = { mode: { kind: 'asyncCommit' as const, secondaries: [] } };
    const busy = await prewrite(ts(100), [put('a', 'A')], k('a'), asyncQ);
    expect(!busy.ok && busy.error.kind).toBe('ServerIsBusy');
    const busyOne = await prewrite(ts(100), [put('a', 'A')], k('a'), { mode: { kind: 'onePc' } });
    expect(!busyOne.ok && busyOne.error.kind).toBe('ServerIsBusy');
    value(await prewrite(ts(150), [put('x', 'X')]));
    pd.tsoDown = false;
    pd.tsoNext = ts(900);
    expect(value(await prewrite(ts(100), [put('a', 'A')], k('a'), asyncQ)).minCommitTs).toBe(ts(900) + 1n);
  });

  it('a store without the lock and write column families refuses txn requests with TxnUnsupported', async () => {
    await cluster(['default']);
    const r = await prewrite(ts(100), [put('a', 'A')]);
    expect(r.ok && !r.value.ok && r.value.errors[0]).toEqual({ kind: 'TxnUnsupported', missingColumnFamilies: ['lock', 'write'] });
  });

  it('refuses nonsense fields with StoreRequestError, never running the action', async () => {
    await cluster();
    const l = await leader();
    await expect(l.handle({ type: 'txnCommit', regionId: 2, epoch: REGION.epoch, keys: [k('a')], startTs: ts(10), commitTs: ts(10) })).rejects.toMatchObject({ kind: 'BadField' });
    await expect(l.handle({ type: 'txnPrewrite', regionId: 2, epoch: REGION.epoch, mutations: [put('a', '1'), put('a', '2')], primary: k('a'), startTs: 1n, lockTtlMs: 1, txnSize: 1, mode: { kind: 'twoPc' } })).rejects.toMatchObject({ kind: 'BadField' });
    await expect(l.handle({ type: 'txnGet', regionId: 2, epoch: REGION.epoch, key: k('a'), ts: 5 as unknown as bigint })).rejects.toMatchObject({ kind: 'BadField' });
    await expect(l.handle({ type: 'txnPrewrite', regionId: 2, epoch: REGION.epoch, mutations: [put('a', '1')], primary: k('a'), startTs: ts(10), lockTtlMs: 1, txnSize: 1, mode: { kind: 'twoPc' }, readTs: ts(11) })).rejects.toMatchObject({ kind: 'BadField' });
    await expect(l.handle({ type: 'txnPrewrite', regionId: 2, epoch: REGION.epoch, mutations: [put('a', '1')], primary: k('a'), startTs: ts(10), lockTtlMs: 1, txnSize: 1, mode: { kind: 'twoPc' }, readTs: 0n })).rejects.toMatchObject({ kind: 'BadField' });
  });

  it('a queued transaction\'s prewrite (readTs below startTs): a commit since readTs on a read or written key is a WriteConflict; none is a lock', async () => {
    await cluster();
    value(await prewrite(ts(100), [put('a', 'A1')]));
    value(await commit(ts(100), ts(110), ['a']));
    // Read `a` at 105 (before that commit), commits now at 200: refused, whether it writes or only read `a`.
    expect(errorKinds(await prewrite(ts(200), [{ op: 'lock', key: k('a') }, put('b', 'B')], k('a'), { readTs: ts(105) }))).toEqual(['WriteConflict']);
    expect(errorKinds(await prewrite(ts(201), [put('a', 'X')], k('a'), { readTs: ts(105) }))).toEqual(['WriteConflict']);
    // Read at 120, after it: the read key is locked (a `lock` mutation), committed as a lock record.
    value(await prewrite(ts(202), [{ op: 'lock', key: k('a') }, put('b', 'B')], k('a'), { readTs: ts(120) }));
    expect(errorKinds(await prewrite(ts(203), [put('a', 'Y')]))).toEqual(['KeyIsLocked']);
    value(await commit(ts(202), ts(210), ['a', 'b']));
    expect(await getValue('a', ts(300))).toBe('A1');
    expect(await getValue('b', ts(300))).toBe('B');
  });
});
