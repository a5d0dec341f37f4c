/** Table tests of the timestamp rules, the read view, and action edges the scripts do not show. */
import { describe, expect, it } from 'vitest';
import {
  LOCK_TTL_MS_MAX,
  MemoryCfs,
  MvccReader,
  TS_MAX,
  TxnAssertionError,
  acquirePessimisticLock,
  asyncCommitMinTs,
  commit,
  composeTs,
  gcRange,
  isLockExpired,
  lockBlocksRead,
  prewrite,
  prewriteKey,
  rollback,
  txnHeartbeat,
  type Lock,
  type Mutation,
  type Timestamp,
  type TxnOp,
  type TxnProps,
} from '../src/index.ts';
import { b } from './helpers.ts';

const lock = (over: Partial<Lock>): Lock => ({
  kind: 'put',
  primary: b('p'),
  startTs: 10n,
  ttlMs: 100,
  forUpdateTs: 0n,
  txnSize: 1,
  minCommitTs: 11n,
  useAsyncCommit: false,
  secondaries: [],
  ...over,
});

function world(): { cfs: MemoryCfs; view: MvccReader; run: (r: { ok: boolean; ops?: TxnOp[] }) => void } {
  const cfs = new MemoryCfs();
  return {
    cfs,
    view: new MvccReader(cfs),
    run: (r) => {
      expect(r.ok).toBe(true);
      cfs.apply(r.ops ?? []);
    },
  };
}

const props = (startTs: Timestamp, over: Partial<TxnProps> = {}): TxnProps => ({
  primary: b('a'),
  startTs,
  lockTtlMs: 1000,
  txnSize: 1,
  forUpdateTs: 0n,
  mode: { kind: 'twoPc' },
  ...over,
});
const put = (k: string, v = 'v'): Mutation => ({ op: 'put', key: b(k), value: b(v) });

describe('lockBlocksRead', () => {
  const cases: [string, Partial<Lock>, Timestamp, Timestamp[], boolean][] = [
    ['a put lock at or below the read ts', {}, 20n, [], true],
    ['a delete lock', { kind: 'delete' }, 20n, [], true],
    ['a lock-only lock', { kind: 'lock' }, 20n, [], false],
    ['a pessimistic lock', { kind: 'pessimisticLock' }, 20n, [], false],
    ['a lock started after the read ts', { startTs: 21n }, 20n, [], false],
    ['min_commit_ts above the read ts', { minCommitTs: 21n }, 20n, [], false],
    ['min_commit_ts equal to the read ts', { minCommitTs: 20n }, 20n, [], true],
    ['a bypassed lock', {}, 20n, [10n], false],
    ['another lock bypassed', {}, 20n, [9n], true],
    ['a read at TS_MAX', {}, TS_MAX, [], true],
  ];
  it.each(cases)('%s', (_name, over, readTs, bypass, blocks) => {
    expect(lockBlocksRead(lock(over), readTs, bypass)).toBe(blocks);
  });
});

describe('isLockExpired (physical ms, TiKV: start + ttl < current)', () => {
  const cases: [number, number, number, boolean][] = [
    [1000, 100, 1099, false],
    [1000, 100, 1100, false],
    [1000, 100, 1101, true],
    [1000, 0, 1001, true],
  ];
  it.each(cases)('start %i ttl %i at %i: %s', (start, ttl, now, expired) => {
    expect(isLockExpired(composeTs(start, 5), ttl, composeTs(now, 0))).toBe(expired);
  });
  it('ignores the logical part', () => {
    expect(isLockExpired(composeTs(1000, 9), 100, composeTs(1100, 200_000))).toBe(false);
  });
});

describe('asyncCommitMinTs: max(max_ts + 1, start_ts + 1, for_update_ts + 1)', () => {
  const cases: [Timestamp, Timestamp, Timestamp, Timestamp][] = [
    [10n, 0n, 5n, 11n],
    [10n, 0n, 15n, 16n],
    [10n, 20n, 15n, 21n],
    [10n, 20n, 25n, 26n],
    [10n, 10n, 10n, 11n],
  ];
  it.each(cases)('start %s for_update %s max_ts %s: %s', (start, forUpdate, maxTs, expected) => {
    expect(asyncCommitMinTs(start, forUpdate, maxTs)).toBe(expected);
  });
});

describe('MvccReader over MemoryCfs', () => {
  it('lists a key’s writes newest first, seeks at a ts, and never mixes a key with its extensions', async () => {
    const { view, run } = world();
    for (const [k, start, commitTs] of [['a', 10n, 11n], ['a', 20n, 21n], ['a\0', 12n, 13n], ['ab', 14n, 15n], ['a', 30n, 31n]] as const) {
      run(await prewrite(view, props(start, { primary: b(k) }), [put(k)]));
      run(await commit(view, b(k), start, commitTs));
    }
    const ts: Timestamp[] = [];
    for await (const v of view.writes(b('a'), TS_MAX)) ts.push(v.commitTs);
    expect(ts).toEqual([31n, 21n, 11n]);
    const below: Timestamp[] = [];
    for await (const v of view.writes(b('a'), 25n)) below.push(v.commitTs);
    expect(below).toEqual([21n, 11n]);
    expect((await view.seekWrite(b('a'), 20n))?.commitTs).toBe(11n);
    expect(await view.seekWrite(b('a'), 10n)).toBeUndefined();
    const keys: string[] = [];
    for await (const k of view.writeKeys({}, 10)) keys.push(new TextDecoder().decode(k));
    expect(keys).toEqual(['a', 'a\0', 'ab']);
    const limited: string[] = [];
    for await (const k of view.writeKeys({ start: b('a\0'), end: b('b') }, 1)) limited.push(new TextDecoder().decode(k));
    expect(limited).toEqual(['a\0']);
  });
});

describe('MvccReader point reads', () => {
  it('reads locks and values through getSync when the reader offers it, never get', async () => {
    const { cfs, view, run } = world();
    run(await prewrite(view, props(10n), [{ op: 'put', key: b('a'), value: new Uint8Array(300).fill(1) }]));
    const calls: string[] = [];
    const syncOnly = new MvccReader({
      get: () => {
        calls.push('get');
        return Promise.resolve(undefined);
      },
      getSync: (cf, key) => {
        calls.push(`getSync ${cf}`);
        return cfs.getSync(cf, key);
      },
      scan: (cf, o) => cfs.scan(cf, o),
    });
    expect((await syncOnly.lock(b('a')))?.startTs).toBe(10n);
    expect(await syncOnly.value(b('a'), 10n)).toEqual(new Uint8Array(300).fill(1));
    expect(calls).toEqual(['getSync lock', 'getSync default']);
  });
});

describe('actions: edges', () => {
  it('a refused prewrite returns every key’s error and no op', async () => {
    const { view, run } = world();
    run(await prewrite(view, props(10n, { primary: b('x') }), [put('x'), put('y')]));
    const r = await prewrite(view, props(20n), [put('a'), put('x'), put('y')]);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.map((e) => e.kind)).toEqual(['KeyIsLocked', 'KeyIsLocked']);
    expect(r).not.toHaveProperty('ops');
  });

  it('asserts on programmer errors: a key twice, commit ts not above start ts, a 1PC ts not above start ts', async () => {
    const { view } = world();
    await expect(prewrite(view, props(10n), [put('a'), put('a')])).rejects.toThrow(TxnAssertionError);
    await expect(commit(view, b('a'), 10n, 10n)).rejects.toThrow(TxnAssertionError);
    await expect(prewriteKey(view, props(10n, { mode: { kind: 'onePc', commitTs: 10n } }), put('a'))).rejects.toThrow(TxnAssertionError);
    await expect(prewriteKey(view, props(10n, { forUpdateTs: 5n }), put('a'))).rejects.toThrow(TxnAssertionError);
  });

  it('a commit over another transaction’s rollback at the same ts keeps the rollback as a flag', async () => {
    const { view, run, cfs } = world();
    run(await prewrite(view, props(10n), [put('a')]));
    // Transaction 15 is rolled back on `a` while 10 holds the lock (a newer rollback record
    // before the prewrite would have been a write conflict).
    run(await rollback(view, b('a'), 15n));
    const r = await commit(view, b('a'), 10n, 15n);
    run(r);
    const v = await view.seekWrite(b('a'), 15n);
    expect(v?.write).toMatchObject({ kind: 'put', startTs: 10n, hasOverlappedRollback: true });
    // The rolled-back transaction 15 still cannot prewrite.
    const late = await prewriteKey(view, props(15n), put('a'));
    expect(late.ok).toBe(false);
    expect(cfs.entries('write')).toHaveLength(1);
  });

  it('1PC over another transaction’s rollback at its commit ts keeps the rollback too', async () => {
    const { view, run } = world();
    run(await acquirePessimisticLock(view, { key: b('a'), primary: b('a'), startTs: 10n, forUpdateTs: 10n, lockTtlMs: 1000, shouldNotExist: false, returnValue: false }));
    run(await rollback(view, b('a'), 15n));
    run(await prewrite(view, props(10n, { forUpdateTs: 10n, mode: { kind: 'onePc', commitTs: 15n } }), [{ ...put('a'), pessimistic: true }]));
    expect((await view.seekWrite(b('a'), 15n))?.write.hasOverlappedRollback).toBe(true);
  });

  it('optimistic 1PC over another transaction’s rollback at its commit ts is a WriteConflict (any record above the start ts is)', async () => {
    const { view, run } = world();
    run(await rollback(view, b('a'), 15n));
    const r = await prewriteKey(view, props(10n, { mode: { kind: 'onePc', commitTs: 15n } }), put('a'));
    expect(r.ok ? 'ok' : r.error.kind).toBe('WriteConflict');
  });

  it('optimistic 1PC of a key reads its lock once and scans its write records once (the conflict scan rules out a rollback at the commit ts)', async () => {
    const { cfs, run } = world();
    run(await prewrite(new MvccReader(cfs), props(5n, { mode: { kind: 'onePc', commitTs: 6n } }), [put('a')]));
    const calls = { get: 0, scan: 0 };
    const counted = new MvccReader({
      get: (cf, key) => (calls.get++, cfs.get(cf, key)),
      scan: (cf, o) => (calls.scan++, cfs.scan(cf, o)),
    });
    const r = await prewrite(counted, props(10n, { mode: { kind: 'onePc', commitTs: 12n } }), [put('a')]);
    expect(r).toMatchObject({ ok: true, onePcCommitTs: 12n });
    expect(calls).toEqual({ get: 1, scan: 1 });
  });

  it('1PC refuses a key it already prewrote by 2PC (it must not claim a commit)', async () => {
    const { view, run } = world();
    run(await prewrite(view, props(10n), [put('a')]));
    const r = await prewriteKey(view, props(10n, { mode: { kind: 'onePc', commitTs: 12n } }), put('a'));
    expect(r.ok ? 'ok' : r.error.kind).toBe('KeyIsLocked');
  });

  it('a retried prewrite of a committed transaction is committed, also when a later transaction has locked the key since (sim --txn seed 83)', async () => {
    const { view, run } = world();
    // 1PC committed at 12; transaction 20 then locks the key.
    run(await prewrite(view, props(10n, { mode: { kind: 'onePc', commitTs: 12n } }), [put('a'), put('b')]));
    run(await prewrite(view, props(20n), [put('a')]));
    const again = await prewrite(view, props(10n, { mode: { kind: 'onePc', commitTs: 30n } }), [put('a'), put('b')]);
    expect(again).toMatchObject({ ok: true, ops: [], onePcCommitTs: 12n });
    // 2PC: committed at 14, then locked by 25; the retried prewrite says so (and writes nothing).
    run(await prewrite(view, props(13n), [put('c')]));
    run(await commit(view, b('c'), 13n, 14n));
    run(await prewrite(view, props(25n), [put('c')]));
    expect(await prewriteKey(view, props(13n), put('c'))).toMatchObject({ ok: true, ops: [], committedTs: 14n });
    // Not committed: the other transaction's lock still refuses it.
    const other = await prewriteKey(view, props(16n), put('c'));
    expect(other.ok ? 'ok' : other.error.kind).toBe('KeyIsLocked');
  });

  it('caps a heartbeat at LOCK_TTL_MS_MAX', async () => {
    const { view, run } = world();
    run(await prewrite(view, props(10n), [put('a')]));
    const r = await txnHeartbeat(view, b('a'), 10n, LOCK_TTL_MS_MAX * 2);
    expect(r.ok && r.ttlMs).toBe(LOCK_TTL_MS_MAX);
  });

  it('GC over a range stops at keysMax and says where to go on', async () => {
    const { view, run } = world();
    let ts = 10n;
    for (const k of ['a', 'b', 'c']) {
      for (let i = 0; i < 2; i++) {
        run(await prewrite(view, props(ts, { primary: b(k) }), [put(k)]));
        run(await commit(view, b(k), ts, ts + 1n));
        ts += 2n;
      }
    }
    const first = await gcRange(view, {}, 100n, 2);
    expect(first.versionsDropped).toBe(2);
    expect(new TextDecoder().decode(first.nextKey)).toBe('c');
    const rest = await gcRange(view, { start: first.nextKey }, 100n, 2);
    expect(rest).toMatchObject({ versionsDropped: 1 });
    expect(rest.nextKey).toBeUndefined();
  });
});

describe('prewrite with a readTs below the start ts (a transaction queued offline)', () => {
  // The key's history: which transaction committed what at which ts, then a prewrite of
  // transaction 50 whose reads were at `readTs`.
  type Step = ['put' | 'delete' | 'lock', number, number] | ['rollback', number];
  const cases: [string, Step[], Timestamp | undefined, Mutation['op'], string][] = [
    ['a put after readTs and before startTs conflicts', [['put', 30, 31]], 20n, 'put', 'WriteConflict'],
    ['a delete after readTs conflicts', [['delete', 30, 31]], 20n, 'lock', 'WriteConflict'],
    ['a read key (lock mutation) changed after readTs conflicts', [['put', 30, 31]], 20n, 'lock', 'WriteConflict'],
    ['a put at readTs does not conflict', [['put', 19, 20]], 20n, 'put', 'ok'],
    ['a put before readTs does not conflict', [['put', 10, 11]], 20n, 'lock', 'ok'],
    ['a lock record after readTs changes no value', [['lock', 30, 31]], 20n, 'put', 'ok'],
    ['another transaction’s rollback after readTs changes no value', [['rollback', 30]], 20n, 'put', 'ok'],
    ['without readTs the same put is before startTs: no conflict', [['put', 30, 31]], undefined, 'put', 'ok'],
    ['readTs equal to startTs is the plain check', [['put', 30, 31]], 50n, 'put', 'ok'],
    ['a commit after startTs conflicts either way', [['put', 55, 56]], 20n, 'lock', 'WriteConflict'],
    ['an old put then a newer lock record: the put decides', [['put', 30, 31], ['lock', 40, 41]], 20n, 'put', 'WriteConflict'],
  ];
  it.each(cases)('%s', async (_name, history, readTs, op, expected) => {
    const { view, run } = world();
    for (const step of history) {
      if (step[0] === 'rollback') {
        run(await rollback(view, b('k'), BigInt(step[1])));
        continue;
      }
      const [kind, start, commitTs] = step;
      const m: Mutation = kind === 'put' ? put('k') : { op: kind, key: b('k') };
      run(await prewrite(view, props(BigInt(start), { primary: b('k') }), [m]));
      run(await commit(view, b('k'), BigInt(start), BigInt(commitTs)));
    }
    const m: Mutation = op === 'put' ? put('k') : { op: op as 'lock', key: b('k') };
    const r = await prewriteKey(view, props(50n, { primary: b('k'), ...(readTs === undefined ? {} : { readTs }) }), m);
    expect(r.ok ? 'ok' : r.error.kind).toBe(expected);
    if (!r.ok && r.error.kind === 'WriteConflict') expect(r.error.conflictCommitTs > (readTs ?? 50n)).toBe(true);
  });

  it('own rollback at the start ts is still SelfRolledBack, and readTs above startTs is an assertion', async () => {
    const { view, run } = world();
    run(await rollback(view, b('k'), 50n));
    const r = await prewriteKey(view, props(50n, { primary: b('k'), readTs: 20n }), put('k'));
    expect(r.ok ? 'ok' : r.error).toMatchObject({ kind: 'WriteConflict', conflictStartTs: 50n });
    await expect(prewriteKey(view, props(50n, { readTs: 51n }), put('a'))).rejects.toThrow(TxnAssertionError);
    await expect(prewriteKey(view, props(50n, { readTs: 0n }), put('a'))).rejects.toThrow(TxnAssertionError);
  });

  it('the prewritten lock keeps a later writer out until the queued transaction commits', async () => {
    const { view, run } = world();
    run(await prewrite(view, props(50n, { primary: b('k'), readTs: 20n }), [{ op: 'lock', key: b('k') }]));
    const other = await prewriteKey(view, props(60n, { primary: b('k') }), put('k'));
    expect(other.ok ? 'ok' : other.error.kind).toBe('KeyIsLocked');
    run(await commit(view, b('k'), 50n, 70n));
    expect((await view.seekWrite(b('k'), 70n))?.write.kind).toBe('lock');
    // The later writer (start 60) now meets a commit after its start ts.
    const again = await prewriteKey(view, props(60n, { primary: b('k') }), put('k'));
    expect(again.ok ? 'ok' : again.error.kind).toBe('WriteConflict');
  });
});
