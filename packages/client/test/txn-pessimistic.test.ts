/**
 * Pessimistic transactions over a PD-driven cluster of three mvcc stores: `getForUpdate` locks
 * and reads the newest value (write skew prevented, where plain snapshot reads allow it), lock
 * waits on the stores, the deadlock detector on PD's leader (two transactions locking two keys
 * in opposite order: one `Deadlock`, the other commits; re-run, both commit), counters that never
 * re-run `fn`, heartbeats that keep a waiting transaction's primary alive, and a lock wait timeout.
 */
import { describe, expect, it } from 'vitest';
import { PeerKV, PeerKVError, codec, type Transaction } from '../src/index.ts';
import { closeTxnClusterAfterEach, start } from './txn-cluster.ts';

closeTxnClusterAfterEach();

const k = (s: string): Uint8Array => codec.text(s);
const t = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : codec.fromText(b));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A gate `n` parties pass once all have arrived. */
function barrier(n: number): () => Promise<void> {
  let arrived = 0;
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return () => {
    if (++arrived === n) open();
    return opened;
  };
}

async function read(kv: PeerKV, key: string): Promise<string | undefined> {
  return t(await (await kv.snapshot()).get(k(key)));
}

describe('pessimistic transactions', () => {
  it('getForUpdate prevents write skew: of two doctors going off call, the second sees the first gone (plain snapshot reads let both go)', async () => {
    const { kv } = await start();
    const [a, b] = [kv(), kv()];
    const offCall = (x: PeerKV, me: string, read: (tx: Transaction, key: string) => Promise<Uint8Array | undefined>, gate: () => Promise<void>, pessimistic: boolean): Promise<unknown> =>
      x.transaction(
        async (tx) => {
          const onCall = [t(await read(tx, 'alice')), t(await read(tx, 'bob'))].filter((v) => v === 'on').length;
          await gate();
          if (onCall >= 2) tx.put(k(me), k('off'));
        },
        { pessimistic, retriesMax: 0, waitTimeoutMs: 10_000 },
      );
    const reset = (): Promise<unknown> => a.transaction(async (tx) => (tx.put(k('alice'), k('on')), tx.put(k('bob'), k('on'))));
    // Snapshot isolation alone: both read two on call, both go off (write skew, allowed under SI).
    await reset();
    const both = barrier(2);
    await Promise.all([offCall(a, 'alice', (tx, key) => tx.get(k(key)), both, false), offCall(b, 'bob', (tx, key) => tx.get(k(key)), both, false)]);
    expect([await read(a, 'alice'), await read(a, 'bob')]).toEqual(['off', 'off']);
    // getForUpdate in pessimistic transactions: the second waits for the first's locks and reads its write.
    await reset();
    const first = barrier(1);
    const one = offCall(a, 'alice', (tx, key) => tx.getForUpdate(k(key)), () => sleep(300).then(first), true);
    await sleep(100);
    const two = offCall(b, 'bob', (tx, key) => tx.getForUpdate(k(key)), () => Promise.resolve(), true);
    await Promise.all([one, two]);
    expect([await read(a, 'alice'), await read(a, 'bob')]).toEqual(['off', 'on']);
  });

  it('two transactions locking two keys in opposite order: one gets Deadlock (found by the detector, not the timeout) and commits nothing, the other commits', async () => {
    const { kv } = await start();
    const [a, b] = [kv(), kv()];
    const bothLocked = barrier(2);
    const cross = (x: PeerKV, first: string, second: string): Promise<string> =>
      x.transaction(
        async (tx) => {
          await tx.getForUpdate(k(first));
          await bothLocked();
          await tx.getForUpdate(k(second));
          tx.put(k(first), k(`by-${first}`));
          tx.put(k(second), k(`by-${first}`));
          return first;
        },
        { pessimistic: true, retriesMax: 0, waitTimeoutMs: 20_000 },
      );
    const t0 = Date.now();
    const outcomes = await Promise.allSettled([cross(a, 'p', 'q'), cross(b, 'q', 'p')]);
    expect(Date.now() - t0).toBeLessThan(10_000);
    const won = outcomes.filter((o): o is PromiseFulfilledResult<string> => o.status === 'fulfilled');
    const lost = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0].reason).toBeInstanceOf(PeerKVError);
    expect((lost[0].reason as PeerKVError).kind).toBe('Deadlock');
    const winner = `by-${won[0].value}`;
    expect([await read(a, 'p'), await read(a, 'q')]).toEqual([winner, winner]);
  });

  it('with re-runs, the deadlocked transaction runs again with a new start ts and both commit', async () => {
    const { kv } = await start();
    const [a, b] = [kv(), kv()];
    const firstRound = barrier(2);
    let round = 0;
    const cross = (x: PeerKV, first: string, second: string) =>
      x.transactionWithInfo(
        async (tx) => {
          const r = round++;
          await tx.getForUpdate(k(first));
          if (r < 2) await firstRound();
          const n = Number(t(await tx.getForUpdate(k(second))) ?? '0');
          tx.put(k(second), k(String(n + 1)));
        },
        { pessimistic: true, waitTimeoutMs: 20_000 },
      );
    const [x, y] = await Promise.all([cross(a, 'p', 'q'), cross(b, 'q', 'p')]);
    expect(x.info.attempts + y.info.attempts).toBe(3);
    expect([await read(a, 'p'), await read(a, 'q')]).toEqual(['1', '1']);
  });

  it('a deadlock victim re-runs only once its pessimistic locks are rolled back, so the transaction it blocked takes them first and the cycle does not close again', async () => {
    const { c, kv } = await start();
    // Every store's txnPessimisticRollback answers 300 ms late: a re-run that does not wait for
    // it starts while the victim's locks are still held.
    const rollbacksDone: number[] = [];
    const stores = {
      store(id: number) {
        const svc = c.store(id);
        if (svc === undefined) return undefined;
        return new Proxy(svc, {
          get(target, prop) {
            if (prop !== 'handle') {
              const v = Reflect.get(target, prop, target) as unknown;
              return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
            }
            return async (q: Parameters<typeof target.handle>[0], o?: Parameters<typeof target.handle>[1]) => {
              if (q.type !== 'txnPessimisticRollback') return target.handle(q, o);
              await sleep(300);
              const r = await target.handle(q, o);
              rollbacksDone.push(Date.now());
              return r;
            };
          },
        });
      },
    };
    const [a, b] = [new PeerKV({ pd: c, stores, dataModel: 'mvcc' }), new PeerKV({ pd: c, stores, dataModel: 'mvcc' })];
    const bothLocked = barrier(2);
    const reRunsAt: number[] = [];
    const cross = (x: PeerKV, first: string, second: string) => {
      let runs = 0;
      return x.transactionWithInfo(
        async (tx) => {
          if (++runs > 1) reRunsAt.push(Date.now());
          await tx.getForUpdate(k(first));
          if (runs === 1) await bothLocked();
          const n = Number(t(await tx.getForUpdate(k(second))) ?? '0');
          tx.put(k(first), k(String(n + 1)));
        },
        { pessimistic: true, waitTimeoutMs: 20_000 },
      );
    };
    try {
      const [x, y] = await Promise.all([cross(a, 'p', 'q'), cross(b, 'q', 'p')]);
      // One deadlock, one re-run: the re-run waited behind the winner instead of racing it.
      expect([x.info.attempts, y.info.attempts].sort()).toEqual([1, 2]);
      expect(reRunsAt).toHaveLength(1);
      expect(rollbacksDone.length).toBeGreaterThanOrEqual(1);
      expect(reRunsAt[0]).toBeGreaterThanOrEqual(rollbacksDone[0]);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('counter increments with getForUpdate wait instead of conflicting: every one commits on its first run', async () => {
    const { kv } = await start();
    const xs = [kv(), kv(), kv()];
    await xs[0].transaction(async (tx) => tx.put(k('n'), k('0')));
    let runs = 0;
    const inc = (x: PeerKV) =>
      x.transactionWithInfo(
        async (tx) => {
          runs++;
          expect(tx.forUpdateTs).toBeUndefined();
          const n = Number(t(await tx.getForUpdate(k('n'))));
          // The read for update is as of a ts past the start ts (it saw the increments committed since).
          expect(tx.forUpdateTs! > tx.startTs).toBe(true);
          forUpdate.push({ ts: tx.forUpdateTs!, n });
          tx.put(k('n'), k(String(n + 1)));
        },
        { pessimistic: true, retriesMax: 0, waitTimeoutMs: 20_000 },
      );
    const forUpdate: { ts: bigint; n: number }[] = [];
    const done = await Promise.all(Array.from({ length: 12 }, (_, i) => inc(xs[i % 3])));
    expect(await read(xs[1], 'n')).toBe('12');
    // Ordered by forUpdateTs, the values read are 0..11: each run's snapshot is its forUpdateTs.
    expect(forUpdate.sort((a, b) => (a.ts < b.ts ? -1 : 1)).map((x) => x.n)).toEqual(Array.from({ length: 12 }, (_, i) => i));
    expect(runs).toBe(12);
    // One key in one region: each commits by 1PC (its pessimistic lock converted in the same write).
    expect(done.every((d) => d.info.attempts === 1 && d.info.onePc)).toBe(true);
  });

  it('commits its converted locks by 1PC or by async commit, above its forUpdateTs, and leaves no lock', async () => {
    const { kv } = await start();
    const [a, b] = [kv(), kv()];
    await a.transaction(async (tx) => (tx.put(k('x'), k('0')), tx.put(k('y'), k('0'))));
    const run = (how: { onePc: boolean; asyncCommit: boolean }, v: string) => {
      let forUpdateTs = 0n;
      return a
        .transactionWithInfo(
          async (tx) => {
            await tx.getForUpdate(k('x'));
            await tx.getForUpdate(k('y'));
            forUpdateTs = tx.forUpdateTs!;
            tx.put(k('x'), k(v));
            tx.put(k('y'), k(v));
          },
          { pessimistic: true, retriesMax: 0, ...how },
        )
        .then((r) => ({ ...r.info, forUpdateTs }));
    };
    const onePc = await run({ onePc: true, asyncCommit: false }, '1');
    expect(onePc.onePc).toBe(true);
    expect(onePc.commitTs! > onePc.forUpdateTs).toBe(true);
    expect([await read(b, 'x'), await read(b, 'y')]).toEqual(['1', '1']);
    const async = await run({ onePc: false, asyncCommit: true }, '2');
    expect(async.onePc).toBe(false);
    expect(async.commitTs! > async.forUpdateTs).toBe(true);
    expect([await read(b, 'x'), await read(b, 'y')]).toEqual(['2', '2']);
    // No lock is left: a pessimistic writer of both keys does not wait.
    const t0 = Date.now();
    await b.transaction(async (tx) => (await tx.getForUpdate(k('x')), await tx.getForUpdate(k('y')), tx.put(k('x'), k('3'))), { pessimistic: true, retriesMax: 0, waitTimeoutMs: 500 });
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(await read(a, 'x')).toBe('3');
  });

  it('heartbeats keep a long transaction\'s primary alive past its TTL: a writer waiting on it does not roll it back', async () => {
    const { kv } = await start();
    const [a, b] = [kv(), kv()];
    const long = a.transactionWithInfo(
      async (tx) => {
        await tx.getForUpdate(k('h'));
        await sleep(1500);
        tx.put(k('h'), k('long'));
      },
      { pessimistic: true, lockTtlMs: 300, retriesMax: 0 },
    );
    await sleep(200);
    // An optimistic writer meets the pessimistic lock, resolves through the primary: alive, it waits.
    const writer = b.transaction(async (tx) => tx.put(k('h'), k('writer')), { retriesMax: 20 });
    const { info } = await long;
    expect(info.attempts).toBe(1);
    await writer;
    expect(await read(a, 'h')).toBe('writer');
  });

  it('a lock held past waitTimeoutMs is LockWaitTimeout (not re-run); lockKeys locks without reading', async () => {
    const { kv } = await start();
    const [a, b] = [kv(), kv()];
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const holder = a.transaction(
      async (tx) => {
        await tx.lockKeys([k('w'), k('w2')]);
        await held;
      },
      { pessimistic: true },
    );
    await sleep(200);
    let runs = 0;
    const t0 = Date.now();
    const waiter = b.transaction(
      async (tx) => {
        runs++;
        await tx.getForUpdate(k('w2'));
      },
      { pessimistic: true, waitTimeoutMs: 400 },
    );
    await expect(waiter).rejects.toMatchObject({ kind: 'LockWaitTimeout' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(350);
    expect(runs).toBe(1);
    release();
    await holder;
    // The holder committed its locks (lock records, no values); the keys are free again.
    await b.transaction(async (tx) => tx.put(k('w2'), k('free')), { pessimistic: true, waitTimeoutMs: 100 });
    expect(await read(a, 'w2')).toBe('free');
  });

  it('a dead holder\'s lock is resolved once its TTL is out, between store waits: the waiter acquires within its waitTimeoutMs', async () => {
    const { c, kv } = await start();
    const a = kv();
    const route = (await c.getRegion(k('d')))!;
    const dead = await a.getTimestamp();
    // A pessimistic transaction that locked `d` and died (a closed tab): no heartbeat, no rollback.
    let locked = false;
    for (const s of c.stores.values()) {
      const r = await s.handle({ type: 'txnPessimisticLock', regionId: route.region.id, epoch: route.region.epoch, keys: [k('d')], primary: k('d'), startTs: dead, forUpdateTs: dead, lockTtlMs: 300, waitTimeoutMs: 0, timeoutMs: 2000 });
      locked ||= r.ok && r.value.ok;
    }
    expect(locked).toBe(true);
    const t0 = Date.now();
    const { info } = await a.transactionWithInfo(async (tx) => tx.put(k('d'), k('alive')), { pessimistic: true, waitTimeoutMs: 5000, retriesMax: 0 });
    expect(info.attempts).toBe(1);
    expect(Date.now() - t0).toBeLessThan(4000);
    expect(await read(a, 'd')).toBe('alive');
  });

  it('in an optimistic transaction getForUpdate joins the commit\'s conflict check: a concurrent commit to the key is a WriteConflict', async () => {
    const { kv } = await start();
    const [a, b] = [kv(), kv()];
    await a.transaction(async (tx) => tx.put(k('g'), k('0')));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow = a.transaction(
      async (tx) => {
        await tx.getForUpdate(k('g'));
        await gate;
        tx.put(k('other'), k('x'));
      },
      { retriesMax: 0 },
    );
    await sleep(100);
    await b.transaction(async (tx) => tx.put(k('g'), k('1')));
    release();
    await expect(slow).rejects.toMatchObject({ kind: 'WriteConflict' });
    expect(await read(a, 'other')).toBeUndefined();
  });
});
