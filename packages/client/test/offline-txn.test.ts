/**
 * Writes while the quorum is away (`txn/offline-txns.ts`), over three mvcc stores: a client
 * next to store b is cut off from a and c (and from PD's TSO) while b is partitioned from them;
 * its transactions are queued against b's replica, then commit in order once it is back — a
 * conflicting one re-run by its mutator or rejected with the keys, an attempt whose answer was
 * lost decided on its primary and never applied twice, and a queue taken over by a new client.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Store } from '@peerkv/store';
import { MemoryOfflineQueueStore, PdCluster, type ClientOptions, PeerKV, PeerKVError, codec, type KvService, type OfflineQueueStore, type PdService, type QueuedTxnRecord, type Transaction } from '../src/index.ts';
import { closeTxnClusterAfterEach, safeTsOf, start } from './txn-cluster.ts';
import { until } from './until.ts';

closeTxnClusterAfterEach();
const clients: PeerKV[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

const k = (s: string): Uint8Array => codec.text(s);
const t = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : codec.fromText(b));
const num = (b: Uint8Array | undefined): number => Number(t(b) ?? '0');

/** A network between the local client and the cluster that can be cut: PD routing still answers (b's PD replica has it), the TSO does not. */
class Link {
  cut = false;
  /** Answers of txnCommit and txnRollback requests are lost (after they applied). */
  dropCommitAnswers = false;
  constructor(
    private readonly c: PdCluster,
    private readonly localStoreId: number,
  ) {}

  pd(): PdService {
    const c = this.c;
    const down = (): Promise<never> => Promise.reject(new PeerKVError('Unavailable', 'cut off from PD'));
    return {
      getRegion: (key) => c.getRegion(key),
      getRegionById: (id) => c.getRegionById(id),
      getStore: (id) => c.getStore(id),
      getTimestamps: (n) => (this.cut ? down() : c.getTimestamps(n)),
      getGcSafePoint: () => (this.cut ? down() : c.getGcSafePoint()),
      registerGcService: (id, ts, ttl) => (this.cut ? down() : c.registerGcService(id, ts, ttl)),
      removeGcService: (id) => (this.cut ? down() : c.removeGcService(id)),
    };
  }

  stores(): { store(id: number): KvService | undefined } {
    return {
      store: (id) => {
        if (this.cut && id !== this.localStoreId) return undefined;
        const s = this.c.store(id);
        if (s === undefined) return undefined;
        const link = this;
        return new Proxy(s, {
          get(target, prop) {
            if (prop !== 'handle') return Reflect.get(target, prop) as unknown;
            return async (req: Parameters<Store['handle']>[0], o?: Parameters<Store['handle']>[1]) => {
              const r = await target.handle(req, o);
              if (link.dropCommitAnswers && (req.type === 'txnCommit' || req.type === 'txnRollback')) return { ok: false, error: { kind: 'Timeout', what: 'answer lost (test)' } };
              return r;
            };
          },
        }) as unknown as KvService;
      },
    };
  }
}

async function setUp(store: Parameters<typeof start>[0] = {}): Promise<{ c: PdCluster; b: Store; writer: PeerKV; link: Link; local: (queue?: OfflineQueueStore, extra?: Partial<ClientOptions>) => PeerKV; cutOff: () => void; reconnect: () => void }> {
  const { c, kv } = await start({ safeTsIntervalMs: 50, ...store });
  const [a, b, cc] = [...c.stores.values()];
  const writer = kv('mvcc');
  const link = new Link(c, b.storeId);
  const local = (queue?: OfflineQueueStore, extra: Partial<ClientOptions> = {}): PeerKV => {
    const local = new PeerKV({ pd: link.pd(), stores: link.stores(), dataModel: 'mvcc', localStoreId: b.storeId, backoff: { budgetMs: 800, capMs: 200 }, offlineDecideMs: 1500, ...(queue ? { offlineQueue: queue } : {}), ...extra });
    clients.push(local);
    return local;
  };
  return {
    c,
    b,
    writer,
    link,
    local,
    cutOff: () => {
      link.cut = true;
      c.router.partition([b.storeId], [a.storeId, cc.storeId]);
    },
    reconnect: () => {
      link.cut = false;
      c.router.heal();
    },
  };
}

async function seed(writer: PeerKV, b: Store, pairs: Record<string, string>): Promise<void> {
  for (const [key, v] of Object.entries(pairs)) await writer.put(k(key), k(v));
  const after = await writer.getTimestamp();
  await until('b resolved past the seeded writes', () => safeTsOf(b) > after);
}

const add = async (tx: Transaction, args: { key: string; by: number }): Promise<number> => {
  const v = num(await tx.get(k(args.key))) + args.by;
  tx.put(k(args.key), k(String(v)));
  return v;
};

describe('offline transactions: queued while the quorum is away', () => {
  it('online it is a normal transaction; offline two writes queue, are listed, and commit in order when the quorum is back', async () => {
    const { writer, b, local, cutOff, reconnect } = await setUp();
    await seed(writer, b, { x: '1', y: '1' });
    const kv = local();
    kv.registerMutator('add', add);
    const online = await kv.mutate<{ key: string; by: number }, number>('add', { key: 'x', by: 1 });
    expect(online.state).toBe('committed');
    expect(online.value).toBe(2);
    await online.committed;
    const after = await writer.getTimestamp();
    await until('b resolved past the online write', () => safeTsOf(b) > after);

    cutOff();
    const started = Date.now();
    const h1 = await kv.transaction(
      async (tx) => {
        const v = num(await tx.get(k('x'))) * 10;
        tx.put(k('x'), k(String(v)));
        return v;
      },
      { offline: 'queue' },
    );
    // Decided within the bound: the online run's start ts never came.
    expect(Date.now() - started).toBeLessThan(1500 + 2000);
    expect(h1.value).toBe(20);
    expect(h1.state).toBe('queued');
    // The second joins the queue at once (something is queued).
    const h2 = await kv.mutate<{ key: string; by: number }, number>('add', { key: 'y', by: 5 });
    expect(h2.value).toBe(6);
    const pending = await kv.pending();
    expect(pending.map((p) => [p.id, p.mutator, p.state])).toEqual([
      [h1.id, undefined, 'queued'],
      [h2.id, 'add', 'queued'],
    ]);
    expect(pending[0].createdAtMs).toBeLessThanOrEqual(pending[1].createdAtMs);
    // Still away: nothing commits.
    await kv.drainQueue();
    expect((await kv.pending()).length).toBe(2);
    expect(t(await writer.get(k('x')))).toBe('2');

    reconnect();
    const [c1, c2] = await Promise.all([h1.committed, h2.committed]);
    expect(c1.commitTs < c2.commitTs).toBe(true);
    expect(c1.reran || c2.reran).toBe(false);
    expect(t(await writer.get(k('x')))).toBe('20');
    expect(t(await writer.get(k('y')))).toBe('6');
    expect(await kv.pending()).toEqual([]);
    expect(h1.state).toBe('committed');
  }, 60_000);

  it('a conflict (another device changed what it read): re-run by its mutator on the new data; without one, rejected naming the keys; a changed range too', async () => {
    const { writer, b, local, cutOff, reconnect } = await setUp();
    await seed(writer, b, { x: '1', y: '1', 'item/1': 'a', 'item/2': 'b', other: '0' });
    const kv = local();
    kv.registerMutator('add', add);
    await kv.get(k('x'));
    cutOff();
    const rerun = await kv.mutate<{ key: string; by: number }, number>('add', { key: 'x', by: 1 });
    expect(rerun.value).toBe(2);
    const rejected = await kv.transaction(
      async (tx) => {
        tx.put(k('z'), k(String(num(await tx.get(k('y'))) * 2)));
      },
      { offline: 'queue' },
    );
    const countItems = async (tx: Transaction): Promise<void> => {
      let n = 0;
      for await (const _ of tx.scan({ prefix: k('item/') })) n++;
      tx.put(k('count'), k(String(n)));
    };
    const ranged = await kv.transaction(countItems, { offline: 'queue' });
    // Unrelated to anything read: commits although it was queued.
    const blind = await kv.transaction(async (tx) => tx.put(k('w'), k('1')), { offline: 'queue' });

    // Meanwhile the other devices (a quorum) change x, y and the item range.
    await writer.put(k('x'), k('100'));
    await writer.put(k('y'), k('50'));
    await writer.put(k('item/3'), k('c'));
    await writer.put(k('other'), k('1'));

    reconnect();
    expect(await rerun.committed).toMatchObject({ reran: true });
    expect(t(await writer.get(k('x')))).toBe('101');
    const e = await rejected.committed.catch((x: unknown) => x);
    expect(e).toBeInstanceOf(PeerKVError);
    expect((e as PeerKVError).kind).toBe('QueuedTxnConflict');
    expect((e as PeerKVError).keys?.map(t)).toEqual(['y']);
    const r = await ranged.committed.catch((x: unknown) => x);
    expect((r as PeerKVError).kind).toBe('QueuedTxnConflict');
    expect((r as PeerKVError).keys?.map(t)).toEqual(['item/']);
    await blind.committed;
    expect(t(await writer.get(k('w')))).toBe('1');
    // Nothing of the rejected ones was written; they stay listed until dismissed.
    expect(await writer.get(k('z'))).toBeUndefined();
    expect(await writer.get(k('count'))).toBeUndefined();
    const listed = await kv.pending();
    expect(listed.map((p) => [p.id, p.state, p.lastError?.kind])).toEqual([
      [rejected.id, 'rejected', 'QueuedTxnConflict'],
      [ranged.id, 'rejected', 'QueuedTxnConflict'],
    ]);
    await kv.dismissPending(rejected.id);
    await kv.dismissPending(ranged.id);
    expect(await kv.pending()).toEqual([]);
    await expect(kv.dismissPending(rejected.id)).rejects.toMatchObject({ kind: 'InvalidArgument' });
  }, 60_000);

  it('an attempt whose commit answer was lost (Undetermined) is decided on its primary and applied once', async () => {
    const { writer, b, link, local, cutOff, reconnect } = await setUp();
    await seed(writer, b, { x: '1' });
    const queue = new MemoryOfflineQueueStore();
    const kv = local(queue);
    await kv.get(k('x'));
    cutOff();
    const h = await kv.transaction(
      async (tx) => {
        tx.put(k('x'), k(String(num(await tx.get(k('x'))) + 10)));
      },
      { offline: 'queue' },
    );
    // Back, but every commit answer is lost: the primary commit applies, the client cannot know.
    link.dropCommitAnswers = true;
    reconnect();
    await until('the queued commit was attempted and left undecided', async () => {
      const [p] = await kv.pending();
      return p?.state === 'committing' && p.lastError !== undefined;
    });
    // It committed; the client does not know and keeps it queued, undecided.
    expect(t(await writer.get(k('x')))).toBe('11');
    const [undecided] = await kv.pending();
    expect(undecided).toMatchObject({ id: h.id, state: 'committing', attempts: 1 });
    const [stored] = await queue.load();
    expect(stored.attempt).toBeDefined();
    link.dropCommitAnswers = false;
    // Decided on the primary: committed at the attempt's ts, not sent again.
    const { commitTs } = await h.committed;
    expect(t(await writer.get(k('x')))).toBe('11');
    const snap = await writer.snapshot(commitTs - 1n);
    expect(t(await snap.get(k('x')))).toBe('1');
    // Out of the queue; its record stays, emptied, so other clients of the store learn the outcome.
    expect((await queue.load()).map((r) => [r.status, r.commitTs, r.writes.length])).toEqual([['committed', commitTs, 0]]);
  }, 60_000);

  it('the queue survives the client: a new client over the same queue store commits it (and decides an attempt the old one left)', async () => {
    const { writer, b, local, cutOff, reconnect } = await setUp();
    await seed(writer, b, { x: '1', y: '1' });
    const queue = new MemoryOfflineQueueStore();
    const first = local(queue);
    first.registerMutator('add', add);
    await first.get(k('x'));
    cutOff();
    const h1 = await first.mutate<{ key: string; by: number }, number>('add', { key: 'x', by: 2 });
    const h2 = await first.transaction(
      async (tx) => {
        tx.put(k('y'), k('7'));
      },
      { offline: 'queue' },
    );
    first.close();
    // An attempt the first client sent before it went (its outcome unknown to anyone): the
    // record says so, and the primary holds nothing of it, so it is rolled back and sent anew.
    const records = await queue.load();
    const withAttempt: QueuedTxnRecord = { ...records.find((r) => r.id === h2.id)!, attempt: { startTs: 5n, primary: k('y'), keys: [k('y')] } };
    await queue.put(withAttempt);
    reconnect();

    const second = local(queue);
    second.registerMutator('add', add);
    const listed = await second.pending();
    expect(listed.map((p) => p.id)).toEqual([h1.id, h2.id]);
    expect(listed.map((p) => p.state)).toEqual(['queued', 'committing']);
    const [c1, c2] = await Promise.all([second.whenSettled(h1.id), second.whenSettled(h2.id)]);
    expect(c1.commitTs < c2.commitTs).toBe(true);
    expect(t(await writer.get(k('x')))).toBe('3');
    expect(t(await writer.get(k('y')))).toBe('7');
    expect(await second.pending()).toEqual([]);
  }, 60_000);

  it('a conflicting transaction whose mutator is not registered (yet, after a restart) waits for it, in order, then re-runs', async () => {
    const { writer, b, local, cutOff, reconnect } = await setUp();
    await seed(writer, b, { x: '1' });
    const queue = new MemoryOfflineQueueStore();
    const first = local(queue);
    first.registerMutator('add', add);
    await first.get(k('x'));
    cutOff();
    const h1 = await first.mutate<{ key: string; by: number }, number>('add', { key: 'x', by: 1 });
    const h2 = await first.transaction(async (tx) => tx.put(k('later'), k('1')), { offline: 'queue' });
    first.close();
    await writer.put(k('x'), k('100'));
    reconnect();
    const second = local(queue);
    await second.drainQueue();
    // Blocked at the head: the conflict needs the mutator; the next one waits behind it.
    const listed = await second.pending();
    expect(listed.map((p) => [p.id, p.state, p.lastError?.kind])).toEqual([
      [h1.id, 'queued', 'MutatorNotRegistered'],
      [h2.id, 'queued', undefined],
    ]);
    expect(await writer.get(k('later'))).toBeUndefined();
    second.registerMutator('add', add);
    expect(await second.whenSettled(h1.id)).toMatchObject({ reran: true });
    await second.whenSettled(h2.id);
    expect(t(await writer.get(k('x')))).toBe('101');
    expect(t(await writer.get(k('later')))).toBe('1');
  }, 60_000);

  it('GC passed its read ts while it was away: what it read cannot be checked, so it re-runs (mutator) or is rejected', async () => {
    // Versions older than 300 ms may go unless registered; the cut-off client cannot register.
    const { c, writer, b, local, cutOff, reconnect } = await setUp({ pdGc: { gcLifeTimeMs: 300, gcUpdateIntervalMs: 50, serviceTtlMsMax: 1000 } });
    await seed(writer, b, { x: '1', y: '1' });
    const kv = local();
    kv.registerMutator('add', add);
    await kv.get(k('x'));
    cutOff();
    const withMutator = await kv.mutate<{ key: string; by: number }, number>('add', { key: 'x', by: 1 });
    const without = await kv.transaction(async (tx) => tx.put(k('z'), k(String(Number(t(await tx.get(k('y')))) + 1))), { offline: 'queue' });
    const queuedBy = await writer.getTimestamp();
    await until('PD GC safe point passed the queued read ts', async () => (await c.getGcSafePoint()) > queuedBy);
    reconnect();
    expect(await withMutator.committed).toMatchObject({ reran: true });
    expect(t(await writer.get(k('x')))).toBe('2');
    const e = (await without.committed.catch((x: unknown) => x)) as PeerKVError;
    expect(e.kind).toBe('QueuedTxnConflict');
    expect(e.message).toMatch(/GC passed/);
    expect(e.keys?.map(t).sort()).toEqual(['y', 'z']);
    expect(await writer.get(k('z'))).toBeUndefined();
  }, 60_000);

  it('limits: a full queue refuses with QueueFull and keeps what it holds; bad mutators and arguments are InvalidArgument', async () => {
    const { c, writer, b, local, cutOff } = await setUp();
    await seed(writer, b, { x: '1' });
    const kv = new PeerKV({ pd: c, stores: c, dataModel: 'mvcc' });
    clients.push(kv);
    expect(() => new PeerKV({ pd: c, stores: c, dataModel: 'mvcc', offlineQueueTxnsMax: 0 })).toThrow(PeerKVError);
    await expect(kv.mutate('nope', {})).rejects.toMatchObject({ kind: 'InvalidArgument' });
    expect(() => kv.registerMutator('', add)).toThrow(PeerKVError);
    kv.registerMutator('add', add);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await expect(kv.mutate('add', cyclic)).rejects.toMatchObject({ kind: 'InvalidArgument' });
    const raw = new PeerKV({ pd: c, stores: c, dataModel: 'raw' });
    clients.push(raw);
    expect(() => raw.registerMutator('add', add)).toThrow(PeerKVError);

    // Pessimistic is not an offline option (an untyped caller's): refused online and offline, never run optimistic.
    const pessimistic = { offline: 'queue', pessimistic: true } as unknown as { offline: 'queue' };
    await expect(kv.transaction(async (tx) => tx.put(k('p'), k('1')), pessimistic)).rejects.toMatchObject({ kind: 'InvalidArgument', message: expect.stringMatching(/queued offline cannot be pessimistic/) });
    const small = local(undefined, { offlineQueueTxnsMax: 2, offlineQueueBytesMax: 200 });
    await small.get(k('x'));
    cutOff();
    await expect(small.transaction(async (tx) => tx.put(k('p'), k('1')), pessimistic)).rejects.toMatchObject({ kind: 'InvalidArgument' });
    const big = new Uint8Array(150);
    const h = await small.transaction(async (tx) => tx.put(k('a'), big), { offline: 'queue' });
    await expect(small.transaction(async (tx) => tx.put(k('b'), big), { offline: 'queue' })).rejects.toMatchObject({ kind: 'QueueFull' });
    await small.transaction(async (tx) => tx.put(k('c'), k('1')), { offline: 'queue' });
    await expect(small.transaction(async (tx) => tx.put(k('d'), k('1')), { offline: 'queue' })).rejects.toMatchObject({ kind: 'QueueFull' });
    expect((await small.pending()).map((p) => p.id)[0]).toBe(h.id);
    expect((await small.pending()).length).toBe(2);
  }, 60_000);
});
