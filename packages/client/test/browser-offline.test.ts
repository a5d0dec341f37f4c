/**
 * The offline queue in the browser runtime, in Node: its IndexedDB store (fake-indexeddb)
 * keeps records across connections; a tab over an embedded mvcc cluster whose quorum is gone
 * (two of three stores stopped) queues two writes in IndexedDB and lists them; after a
 * "reload" (the tab closed, a new one opened over the same databases) the new tab lists them
 * from IndexedDB and they commit in order once the stores answer again.
 */
import 'fake-indexeddb/auto'; // idb's wrappers check instances against the global IDB classes
import { afterEach, describe, expect, it } from 'vitest';
import { IDBFactory } from 'fake-indexeddb';
import type { MemoryDisk } from '@peerkv/storage';
import { MemoryEngine } from '@peerkv/storage';
import { codec, rangeDigest, type QueuedTxnRecord, type Transaction } from '../src/index.ts';
import { BrowserKvError, BrowserPeerKV, EmbeddedCluster, IdbOfflineQueueStore, unwrapReply, type TabRequest } from '../src/browser/index.ts';
import { FakeLocks, memoryWorkerApi, portWorker } from './browser-fakes.ts';
import { until } from './until.ts';

const t = codec.text;
const s = (v: Uint8Array | undefined): string | undefined => (v ? codec.fromText(v) : undefined);

const disks = new Map<string, MemoryDisk>();
const fakeWorker = (): Worker => portWorker(memoryWorkerApi(disks));

const tabs: BrowserPeerKV[] = [];
afterEach(() => {
  for (const tab of tabs.splice(0)) tab.close();
  disks.clear();
});

const record = (id: string, seq: number): QueuedTxnRecord => ({
  id,
  seq,
  createdAtMs: 1000 + seq,
  mutator: { name: 'add', argsJson: '{"by":1}' },
  readTs: 123n << 18n,
  reads: [t('r')],
  ranges: [{ start: t('a/'), end: t('a0'), digest: new Uint8Array(32).fill(7) }],
  writes: [{ op: 'put', key: t('w'), value: t('v') }, { op: 'delete', key: t('d') }],
  status: 'queued',
  rerun: false,
  attempts: 0,
});

describe('IdbOfflineQueueStore', () => {
  it('keeps records (bigint timestamps, byte keys) across connections; put replaces, delete removes', async () => {
    const factory = new IDBFactory();
    const a = new IdbOfflineQueueStore('peerkv:unit:store:offline-queue', factory);
    await a.put(record('one', 1));
    await a.put(record('two', 2));
    await a.put({ ...record('one', 1), attempt: { startTs: 9n, primary: t('d'), keys: [t('d'), t('w')] }, attempts: 1 });
    await a.close();
    const b = new IdbOfflineQueueStore('peerkv:unit:store:offline-queue', factory);
    const loaded = (await b.load()).sort((x, y) => x.seq - y.seq);
    expect(loaded.map((r) => r.id)).toEqual(['one', 'two']);
    expect(loaded[0]).toEqual({ ...record('one', 1), attempt: { startTs: 9n, primary: t('d'), keys: [t('d'), t('w')] }, attempts: 1 });
    expect(loaded[1].readTs).toBe(123n << 18n);
    await b.delete('one');
    expect((await b.load()).map((r) => r.id)).toEqual(['two']);
    // Another cluster's queue is another database.
    expect(await new IdbOfflineQueueStore('peerkv:other:store:offline-queue', factory).load()).toEqual([]);
  });
});

describe('BrowserPeerKV: writes queued in IndexedDB while the quorum is away', () => {
  const add = async (tx: Transaction, a: { key: string; by: number }): Promise<number> => {
    const v = Number(s(await tx.get(t(a.key))) ?? '0') + a.by;
    tx.put(t(a.key), t(String(v)));
    return v;
  };

  function open(locks: FakeLocks, factory: IDBFactory): BrowserPeerKV {
    const kv = new BrowserPeerKV({
      cluster: 'offline',
      embedded: true,
      testHooks: true,
      locks,
      createWorker: fakeWorker,
      store: { tickIntervalMs: 10 },
      hostProbeMs: 50,
      offlineQueue: new IdbOfflineQueueStore('peerkv:offline:store:offline-queue', factory),
      offlineDecideMs: 1500,
    });
    kv.start();
    tabs.push(kv);
    kv.registerMutator('add', add);
    return kv;
  }

  it('queues two writes, lists them, keeps them across a reload, and commits them in order when the stores are back', async () => {
    const locks = new FakeLocks();
    const factory = new IDBFactory();
    const a = open(locks, factory);
    await a.put(t('x'), t('1'));
    await a.put(t('y'), t('1'));
    await until('the host replica resolved past the writes', async () => {
      const r = await a.staleScan({ start: t('x'), end: t('z') }).catch(() => undefined);
      return r?.pairs.length === 2;
    });
    const st = await a.status();
    const others = st.stores.map((x) => x.storeId).slice(1);
    for (const id of others) await a.stopStore(id);

    const h1 = await a.transaction(
      async (tx) => {
        const v = Number(s(await tx.get(t('x')))) * 10;
        tx.put(t('x'), t(String(v)));
        return v;
      },
      { offline: 'queue' },
    );
    expect(h1.state).toBe('queued');
    expect(h1.value).toBe(10);
    const h2 = await a.mutate<{ key: string; by: number }, number>('add', { key: 'y', by: 5 });
    expect(h2.value).toBe(6);
    expect((await a.pending()).map((p) => [p.id, p.mutator, p.state])).toEqual([
      [h1.id, undefined, 'queued'],
      [h2.id, 'add', 'queued'],
    ]);
    expect(s(await a.staleScan({ start: t('x'), end: t('xx') }).then((r) => r.pairs[0]?.value))).toBe('1');

    // Reload: the tab goes; a new one (over the same IndexedDB) lists the queue and drains it.
    a.close();
    const b = open(locks, factory);
    const listed = await b.pending();
    expect(listed.map((p) => p.id)).toEqual([h1.id, h2.id]);
    const [c1, c2] = await Promise.all([b.whenSettled(h1.id), b.whenSettled(h2.id)]);
    expect(c1.commitTs < c2.commitTs).toBe(true);
    expect(s(await b.get(t('x')))).toBe('10');
    expect(s(await b.get(t('y')))).toBe('6');
    expect(await b.pending()).toEqual([]);
  }, 90_000);
});

describe('the host side of a queued commit (ops commitQueuedTxn, decideTxnAttempt)', () => {
  let c: EmbeddedCluster | undefined;
  afterEach(async () => {
    await c?.close();
    c = undefined;
  });

  it('refuses a commit whose read key or range changed since its read ts, naming them across the wire; decides attempts; checks fields', async () => {
    c = await EmbeddedCluster.open({
      cluster: 'queued-commit',
      dataModel: 'mvcc',
      store: { tickIntervalMs: 10, heartbeatIntervalTicks: 5 },
      requestTimeoutMs: 500,
      openEngine: (_name, cfs) => MemoryEngine.open({ columnFamilies: cfs }),
    });
    const call = async <T>(req: TabRequest): Promise<T> => unwrapReply<T>(await c!.call(req));
    const ts = (): Promise<bigint> => call<bigint>({ kind: 'kv', request: { type: 'getTimestamp' } });
    await call({ kind: 'kv', request: { type: 'put', key: t('x'), value: t('1') } });
    await call({ kind: 'kv', request: { type: 'put', key: t('item/1'), value: t('a') } });
    const readTs = await ts();
    const digest = await rangeDigest([{ key: t('item/1'), value: t('a') }]);
    await call({ kind: 'kv', request: { type: 'put', key: t('x'), value: t('2') } });

    // x changed after the read ts: refused, x named.
    const s1 = await ts();
    const refused = await call({ kind: 'kv', request: { type: 'commitQueuedTxn', startTs: s1, readTs, ranges: [], mutations: [{ op: 'lock', key: t('x') }, { op: 'put', key: t('y'), value: t('1') }] } }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(BrowserKvError);
    expect((refused as BrowserKvError).kind).toBe('WriteConflict');
    expect((refused as BrowserKvError).keys?.map((k) => codec.fromText(k))).toEqual(['x']);
    // That attempt never commits: deciding it rolls it back.
    expect(await call({ kind: 'kv', request: { type: 'decideTxnAttempt', startTs: s1, primary: t('x') } })).toEqual({});

    // The range is unchanged: commits; a new item makes it a conflict named by the range's start.
    const s2 = await ts();
    const { commitTs } = await call<{ commitTs: bigint }>({ kind: 'kv', request: { type: 'commitQueuedTxn', startTs: s2, readTs, ranges: [{ start: t('item/'), end: t('item0'), digest }], mutations: [{ op: 'put', key: t('count'), value: t('1') }] } });
    expect(await call({ kind: 'kv', request: { type: 'decideTxnAttempt', startTs: s2, primary: t('count') } })).toEqual({ committed: commitTs });
    await call({ kind: 'kv', request: { type: 'put', key: t('item/2'), value: t('b') } });
    const s3 = await ts();
    const ranged = await call({ kind: 'kv', request: { type: 'commitQueuedTxn', startTs: s3, readTs, ranges: [{ start: t('item/'), end: t('item0'), digest }], mutations: [{ op: 'put', key: t('count2'), value: t('1') }] } }).catch((e: unknown) => e);
    expect((ranged as BrowserKvError).kind).toBe('WriteConflict');
    expect((ranged as BrowserKvError).keys?.map((k) => codec.fromText(k))).toEqual(['item/']);
    expect(await call({ kind: 'kv', request: { type: 'snapshotGet', ts: await ts(), key: t('count2') } })).toBeUndefined();

    // Fields a tab may get wrong.
    const kindOf = async (req: unknown): Promise<string> => {
      const r = await c!.call(req as TabRequest);
      return r.ok ? 'ok' : r.error.kind;
    };
    const s4 = await ts();
    expect(await kindOf({ kind: 'kv', request: { type: 'commitQueuedTxn', startTs: s4, readTs, ranges: [], mutations: [{ op: 'insert', key: t('a'), value: t('1') }] } })).toBe('InvalidArgument');
    expect(await kindOf({ kind: 'kv', request: { type: 'commitQueuedTxn', startTs: s4, readTs: s4 + 1n, ranges: [], mutations: [{ op: 'put', key: t('a'), value: t('1') }] } })).toBe('InvalidArgument');
    expect(await kindOf({ kind: 'kv', request: { type: 'commitQueuedTxn', startTs: s4, readTs, ranges: [{ start: t('a'), end: t('b'), digest: new Uint8Array(33) }], mutations: [{ op: 'put', key: t('a'), value: t('1') }] } })).toBe('InvalidArgument');
    expect(await kindOf({ kind: 'kv', request: { type: 'commitQueuedTxn', startTs: s4, readTs, ranges: [], mutations: [] } })).toBe('InvalidArgument');
    expect(await kindOf({ kind: 'kv', request: { type: 'decideTxnAttempt', startTs: 0n, primary: t('a') } })).toBe('InvalidArgument');
  }, 60_000);
});
