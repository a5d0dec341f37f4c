/**
 * GC end to end on a PD-driven mvcc cluster with a short GC life time: a client's running
 * transaction and snapshot hold PD's safe point back (their registration) and the versions they
 * read stay through the stores' GC rounds; once they end the safe point moves on and the old
 * versions are collected (write-cf records counted on the replica). A reader GC got past (a
 * client that does not register: the "GC past a reader's start ts" mutation) is refused by the
 * store with `SafePointPassed`; a transaction whose registration PD refuses because the safe
 * point already passed it fails typed and `transaction()` re-runs it at a new start ts. The
 * stores' GC workers resolve locks before collecting: a dead client's secondary lock whose
 * primary's commit record is superseded and collected is committed first (not rolled back by
 * the reader that meets it), and a live lock holds PD's safe point behind it.
 */
import { describe, expect, it } from 'vitest';
import { MemoryEngine, type KvEngine } from '@peerkv/storage';
import { CF_LOCK, CF_WRITE } from '@peerkv/txn';
import type { Store } from '@peerkv/store';
import { PdCluster, PeerKV, PeerKVError, codec, type PdService } from '../src/index.ts';
import { until } from './until.ts';

const k = (s: string): Uint8Array => codec.text(s);
const t = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : codec.fromText(b));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** PD's GC knobs here: versions older than 300 ms go unless registered; registrations live ≤ 1 s. */
const PD_GC = { gcLifeTimeMs: 300, gcUpdateIntervalMs: 50, serviceTtlMsMax: 1000 };

async function start(): Promise<{ c: PdCluster; engine: KvEngine; close: () => Promise<void> }> {
  let engine: KvEngine | undefined;
  const c = new PdCluster({
    openEngine: async (_name, cfs) => (engine = await MemoryEngine.open({ columnFamilies: cfs })),
    store: { tickIntervalMs: 10, heartbeatIntervalTicks: 5, dataColumnFamilies: ['default', 'lock', 'write'], dataModel: 'mvcc', pdGc: PD_GC },
  });
  await c.bootstrap('a');
  return { c, engine: engine!, close: () => c.close() };
}

/** PD as the cluster serves it; `registration: 'down'` throws on registrations, `'absent'` offers none. */
function pdOf(c: PdCluster, o: { registration: 'up' | 'down' | 'absent' }): PdService {
  const pd: PdService = {
    getRegion: (key) => c.getRegion(key),
    getRegionById: (id) => c.getRegionById(id),
    getStore: (id) => c.getStore(id),
    getTimestamps: (n) => c.getTimestamps(n),
    getGcSafePoint: () => c.getGcSafePoint(),
  };
  if (o.registration === 'absent') return pd;
  pd.registerGcService = (id, ts, ttl) => {
    if (o.registration === 'down') return Promise.reject(new PeerKVError('Unavailable', 'PD registration is cut off in this test'));
    return c.registerGcService(id, ts, ttl);
  };
  pd.removeGcService = (id) => c.removeGcService(id);
  return pd;
}

/** Write-cf records of user key `key` on the store's engine (encoded keys start with the user key). */
async function versionsOf(engine: KvEngine, key: string): Promise<number> {
  let n = 0;
  for await (const p of engine.scan(CF_WRITE)) if (codec.fromText(p.key.subarray(0, key.length)) === key && p.key.length > key.length) n++;
  return n;
}

/** The only store, and a sender of txn requests (expected to succeed) to the region holding `key`. */
async function regionOf(c: PdCluster, key: string): Promise<{ store: Store; send: (q: object) => Promise<void> }> {
  const store = [...c.stores.values()][0];
  const route = (await c.getRegion(k(key)))!;
  const send = async (q: object): Promise<void> => {
    const r = await store.handle({ regionId: route.region.id, epoch: route.region.epoch, timeoutMs: 2000, ...q } as never);
    expect(r).toMatchObject({ ok: true, value: { ok: true } });
  };
  return { store, send };
}

/** Runs GC rounds on every store until `cond` holds. */
async function gcUntil(c: PdCluster, what: string, cond: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  await until(
    what,
    async () => {
      for (const s of c.stores.values()) await s.gcRound();
      return cond();
    },
    timeoutMs,
  );
}

describe('GC with live readers', () => {
  it('a running transaction and a snapshot hold the safe point back; after they end old versions are collected', async () => {
    const { c, engine, close } = await start();
    const kv = new PeerKV({ pd: pdOf(c, { registration: 'up' }), stores: c, dataModel: 'mvcc' });
    try {
      for (let i = 1; i <= 4; i++) await kv.put(k('x'), k(`v${i}`));
      expect(await versionsOf(engine, 'x')).toBe(4);
      const snap = await kv.snapshot();
      expect(t(await snap.get(k('x')))).toBe('v4');
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      let startTs = 0n;
      const reads: (string | undefined)[] = [];
      const running = kv.transactionWithInfo(async (tx) => {
        startTs = tx.startTs;
        reads.push(t(await tx.get(k('x'))));
        await gate;
        reads.push(t(await tx.get(k('x'))));
      });
      await until('the transaction began', () => startTs > 0n);
      for (let i = 5; i <= 7; i++) await kv.put(k('x'), k(`v${i}`));
      // Well past the life time and the new PD leader's hold: the safe point moves, up to the readers.
      await gcUntil(c, 'the safe point moved', async () => (await c.getGcSafePoint()) > 0n);
      await sleep(1500);
      for (const s of c.stores.values()) await s.gcRound();
      const held = await c.getGcSafePoint();
      expect(held).toBeGreaterThan(0n);
      expect(held <= snap.ts && held <= startTs).toBe(true);
      // What they read is still there, at their ts.
      expect(t(await snap.get(k('x')))).toBe('v4');
      release();
      const { info } = await running;
      expect(info.attempts).toBe(1);
      expect(reads).toEqual(['v4', 'v4']);
      expect(await versionsOf(engine, 'x')).toBeGreaterThanOrEqual(4);

      // Ended (the snapshot is no longer read): its hold lapses only after GC_HOLD_IDLE_MS, so drop
      // the client (close() removes the registration) and watch the old versions go.
      kv.close();
      await gcUntil(c, 'the old versions are collected', async () => (await versionsOf(engine, 'x')) === 1);
      const kv2 = new PeerKV({ pd: pdOf(c, { registration: 'up' }), stores: c, dataModel: 'mvcc' });
      expect(t(await kv2.get(k('x')))).toBe('v7');
      kv2.close();
    } finally {
      kv.close();
      await close();
    }
  });

  it('a reader GC got past is refused by the store, typed (it does not register: the mutation)', async () => {
    const { c, engine, close } = await start();
    const kv = new PeerKV({ pd: pdOf(c, { registration: 'absent' }), stores: c, dataModel: 'mvcc' });
    try {
      await kv.put(k('x'), k('old'));
      const snap = await kv.snapshot();
      expect(t(await snap.get(k('x')))).toBe('old');
      await kv.put(k('x'), k('new'));
      await gcUntil(c, 'GC passed the reader', async () => (await c.getGcSafePoint()) > snap.ts && (await versionsOf(engine, 'x')) === 1);
      const e = await snap.get(k('x')).catch((err: unknown) => err);
      expect(e).toBeInstanceOf(PeerKVError);
      expect(e).toMatchObject({ kind: 'SafePointPassed' });
      // A snapshot asked for below the safe point is refused before any read.
      await expect(kv.snapshot(snap.ts)).rejects.toMatchObject({ kind: 'InvalidArgument' });
      expect(t(await kv.get(k('x')))).toBe('new');
    } finally {
      kv.close();
      await close();
    }
  });

  it('a transaction whose registration finds the safe point past it fails typed and runs again at a new start ts', async () => {
    const { c, close } = await start();
    const mode = { registration: 'down' as 'up' | 'down' | 'absent' };
    const kv = new PeerKV({ pd: pdOf(c, mode), stores: c, dataModel: 'mvcc' });
    try {
      await kv.put(k('x'), k('1'));
      const errors: unknown[] = [];
      const { value, info } = await kv.transactionWithInfo(async (tx) => {
        const first = t(await tx.get(k('x')));
        if (errors.length > 0) return first;
        // PD cannot hear this client: nothing holds the safe point back for this start ts.
        await until('PD passed the start ts', async () => (await c.getGcSafePoint()) > tx.startTs);
        mode.registration = 'up';
        try {
          for (;;) {
            await tx.get(k('x'));
            await sleep(20);
          }
        } catch (e) {
          errors.push(e);
          throw e;
        }
      });
      expect(value).toBe('1');
      expect(info.attempts).toBe(2);
      expect(errors[0]).toBeInstanceOf(PeerKVError);
      expect(errors[0]).toMatchObject({ kind: 'SafePointPassed', message: expect.stringMatching(/PD's GC safe point/) });

      // With no re-runs left the caller sees it.
      mode.registration = 'down';
      const failed = kv.transaction(
        async (tx) => {
          await until('PD passed the start ts', async () => (await c.getGcSafePoint()) > tx.startTs);
          mode.registration = 'up';
          for (;;) {
            await tx.get(k('x'));
            await sleep(20);
          }
        },
        { retriesMax: 0 },
      );
      await expect(failed).rejects.toMatchObject({ kind: 'SafePointPassed' });
    } finally {
      kv.close();
      await close();
    }
  });
  it('a lock left by a client that died after committing its primary is resolved by the GC worker before the primary\'s commit record goes', async () => {
    const { c, engine, close } = await start();
    const kv = new PeerKV({ pd: pdOf(c, { registration: 'up' }), stores: c, dataModel: 'mvcc' });
    try {
      const { store, send } = await regionOf(c, 'hp');
      // A client prewrote hp (primary) and hs, committed hp, and died (it never registered with PD).
      const dead = await kv.getTimestamp();
      await send({ type: 'txnPrewrite', mutations: [{ op: 'put', key: k('hp'), value: k('P1') }, { op: 'put', key: k('hs'), value: k('S1') }], primary: k('hp'), startTs: dead, lockTtlMs: 50, txnSize: 2, mode: { kind: 'twoPc' } });
      await send({ type: 'txnCommit', keys: [k('hp')], startTs: dead, commitTs: await kv.getTimestamp() });
      // A newer commit supersedes hp's record; the safe point may then pass both.
      await kv.put(k('hp'), k('P2'));
      await sleep(400);
      // GC collects hp's superseded record: the dead client's record must not go while hs is locked.
      await gcUntil(c, 'hp\'s superseded version collected', async () => (await versionsOf(engine, 'hp')) === 1);
      expect((await c.getGcSafePoint()) > dead).toBe(true);
      let locksLeft = 0;
      for await (const _ of engine.scan(CF_LOCK)) locksLeft++;
      // hs reads as committed, not rolled back by a reader that found no trace of hp's commit ...
      expect(t(await kv.get(k('hs')))).toBe('S1');
      expect(t(await kv.get(k('hp')))).toBe('P2');
      // ... because the worker committed it before GC passed it (no lock was left for the reader).
      expect(locksLeft).toBe(0);
      expect(store.gcStatus().stats.locksResolved).toBeGreaterThanOrEqual(1);
    } finally {
      kv.close();
      await close();
    }
  });
  it('a lock the GC worker cannot resolve (its transaction is alive) holds PD\'s safe point behind it until it goes', async () => {
    const { c, close } = await start();
    const kv = new PeerKV({ pd: pdOf(c, { registration: 'absent' }), stores: c, dataModel: 'mvcc' });
    try {
      const { store, send } = await regionOf(c, 'lk');
      const live = await kv.getTimestamp();
      await send({ type: 'txnPrewrite', mutations: [{ op: 'put', key: k('lk'), value: k('L') }], primary: k('lk'), startTs: live, lockTtlMs: 60_000, txnSize: 1, mode: { kind: 'twoPc' } });
      for (let i = 0; i < 3; i++) await kv.put(k('x'), k(`v${i}`));
      // Past the life time and the PD leader's hold: without the lock the safe point would pass it.
      await gcUntil(c, 'the safe point moved', async () => (await c.getGcSafePoint()) > 0n);
      await sleep(1200);
      for (let i = 0; i < 3; i++) await store.gcRound();
      expect(await c.getGcSafePoint()).toBeLessThanOrEqual(live);
      // Its transaction rolls back: the registration goes and the safe point moves on.
      await send({ type: 'txnRollback', keys: [k('lk')], startTs: live });
      await gcUntil(c, 'the safe point passed the lock', async () => (await c.getGcSafePoint()) > live);
    } finally {
      kv.close();
      await close();
    }
  });
});
