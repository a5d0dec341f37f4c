/**
 * The tab layer of the browser runtime in Node: several `BrowserPeerKV` handles share one
 * BroadcastChannel, elect a host through an in-memory lock manager, and reach the host's
 * "Worker" (a comlink MessageChannel around a memory-engine cluster whose disks outlive it).
 * The host leaves with requests in flight; the next tab reopens the stores and serves them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { MemoryDisk } from '@peerkv/storage';
import { CLIENT_WRITE_WINDOW_SEQS } from '@peerkv/store';
import { codec, type Transaction } from '../src/index.ts';
import { BrowserKvError, BrowserPeerKV, openBrowser, type StaleSnapshot, type TabRequest, type OpenBrowserOptions } from '../src/browser/index.ts';
import type { WorkerOpenOptions } from '../src/browser/worker-api.ts';
import type { TabSubscriptions } from '../src/browser/tab-subscribe.ts';
import { FakeLocks, memoryWorkerApi, portWorker } from './browser-fakes.ts';
import { until } from './until.ts';
import { PendingCalls } from '../src/browser/tab-channel.ts';

const t = codec.text;
const s = (v: Uint8Array | undefined) => (v ? codec.fromText(v) : undefined);

const disks = new Map<string, MemoryDisk>();
let workersStarted = 0;
let workersOpened = 0;
/** Opens that fail before reaching the stores (a Worker or storage failing to start). */
let failOpens = 0;
/** What the page asked the last Worker to open. */
let lastOpen: WorkerOpenOptions | undefined;

/** A "Worker" over memory disks, counting starts and opens, failing `failOpens` opens. */
function fakeWorker(): Worker {
  workersStarted++;
  const api = memoryWorkerApi(disks);
  const open = api.open;
  api.open = (o) => {
    workersOpened++;
    lastOpen = o;
    if (failOpens > 0) {
      failOpens--;
      return Promise.resolve({ ok: false, error: { kind: 'Internal', message: 'injected open failure' } });
    }
    return open(o);
  };
  return portWorker(api);
}

/** A transaction function adding one to the counter `n`, read with `read`; counts its runs. */
function increment(runs: { n: number }, read: (tx: Transaction) => Promise<Uint8Array | undefined>): (tx: Transaction) => Promise<void> {
  return async (tx) => {
    runs.n++;
    const n = Number(s(await read(tx)));
    tx.put(t('n'), t(String(n + 1)));
  };
}

const tabs: BrowserPeerKV[] = [];
afterEach(() => {
  for (const tab of tabs.splice(0)) tab.close();
  disks.clear();
  workersStarted = 0;
  workersOpened = 0;
  failOpens = 0;
});

describe('BrowserPeerKV across tabs (embedded cluster)', () => {

  function open(locks: FakeLocks, cluster: string, extra: Partial<OpenBrowserOptions> = {}): BrowserPeerKV {
    const kv = new BrowserPeerKV({ cluster, embedded: true, locks, createWorker: fakeWorker, store: { tickIntervalMs: 10 }, hostProbeMs: 50, ...extra });
    kv.start();
    tabs.push(kv);
    return kv;
  }

  it('hands replicaRead to the embedded Worker, whose reads and transactions then work through it', async () => {
    const locks = new FakeLocks();
    const a = open(locks, 'replica-read', { dataModel: 'mvcc', replicaRead: 'follower' });
    await a.put(t('r'), t('1'));
    expect(lastOpen).toMatchObject({ mode: 'embedded', dataModel: 'mvcc', replicaRead: 'follower' });
    expect(s(await a.get(t('r')))).toBe('1');
    await a.transaction(async (tx) => tx.put(t('r'), t(String(Number(s(await tx.get(t('r')))) + 1))));
    expect(s(await a.get(t('r')))).toBe('2');
  });

  it('elects one host, serves attached tabs, and fails over with requests in flight', async () => {
    const locks = new FakeLocks();
    const [a, b, c] = [open(locks, 'failover'), open(locks, 'failover'), open(locks, 'failover')];
    await a.put(t('from-a'), t('1'));
    await b.put(t('from-b'), t('2'));
    await c.batchPut([{ key: t('from-c'), value: t('3') }]);
    const st = await c.status();
    expect(st.hostTabId).toBe(a.tabId);
    expect(st.isHost).toBe(false);
    expect(a.isHost && !b.isHost && !c.isHost).toBe(true);
    expect(st.opened).toBe('bootstrapped');

    // C's write is in flight when the host leaves; B (next in the lock queue) takes over.
    const inflight = c.put(t('during'), t('4'));
    a.close();
    await inflight;
    expect(b.isHost).toBe(true);
    const after = await c.status();
    expect(after.hostTabId).toBe(b.tabId);
    expect(after.opened).toBe('reopened');
    // Every tab started a standby Worker; only the two hosts opened the stores in theirs.
    expect(workersStarted).toBe(3);
    expect(workersOpened).toBe(2);
    const got = await c.batchGet([t('from-a'), t('from-b'), t('from-c'), t('during')]);
    expect(got.map(s)).toEqual(['1', '2', '3', '4']);
    expect((await b.scan({ start: t('from-') })).map((p) => codec.fromText(p.key))).toEqual(['from-a', 'from-b', 'from-c']);
  });

  it.each([
    ['mvcc (the default): a write is a transaction', undefined, 'commitTxn'],
    ['raw', 'raw' as const, 'put'],
  ])('tells every tab about writes and refuses hooks unless the host enabled them, %s', async (_name, dataModel, op) => {
    const locks = new FakeLocks();
    const cluster = `notify-${dataModel ?? 'default'}`;
    const extra = dataModel ? { dataModel } : {};
    const [a, b] = [open(locks, cluster, extra), open(locks, cluster, extra)];
    expect(a.dataModel).toBe(dataModel ?? 'mvcc');
    const seen: string[] = [];
    b.subscribe((x) => seen.push(x));
    await a.put(t('k'), t('v'));
    await expect.poll(() => seen).toEqual([op]);
    const err = await b.stopStore(1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BrowserKvError);
    expect((err as BrowserKvError).kind).toBe('HooksDisabled');
  });

  it('a tab writes past the stores\' per-client record window: its writes acknowledge the finished ones (ack floor)', async () => {
    const locks = new FakeLocks();
    // Stamps are the raw model's dedup (an mvcc write is a transaction, once by its start ts).
    const [a, b] = [open(locks, 'ack-floor', { dataModel: 'raw' }), open(locks, 'ack-floor', { dataModel: 'raw' })];
    const n = CLIENT_WRITE_WINDOW_SEQS + 200;
    // From the attached tab (stamped by it, served by the host), 64 at a time.
    for (let i = 0; i < n; i += 64) {
      await Promise.all(Array.from({ length: Math.min(64, n - i) }, (_, j) => b.put(t(`w${i + j}`), t(String(i + j)))));
    }
    expect(s(await a.get(t(`w${n - 1}`)))).toBe(String(n - 1));
  }, 60_000);

  it('refuses signaling without a secret, with a typed error', async () => {
    await expect(openBrowser({ cluster: 'nosecret', signaling: ['ws://127.0.0.1:1'], locks: new FakeLocks(), createWorker: fakeWorker })).rejects.toMatchObject({ kind: 'InvalidArgument' });
  });

  it('a host whose store fails to open keeps the lock and tries again; each failure ends the waiting calls of every tab with its error', async () => {
    const locks = new FakeLocks();
    failOpens = 2;
    const a = open(locks, 'reopen-retry');
    const b = open(locks, 'reopen-retry');
    const failed = await Promise.all([a.put(t('k'), t('1')).catch((e: unknown) => e), b.get(t('k')).catch((e: unknown) => e)]);
    for (const e of failed) {
      expect(e).toBeInstanceOf(BrowserKvError);
      expect((e as BrowserKvError).message).toMatch(/injected open failure \(attempt [12]; trying again in \d+ ms\)/);
    }
    // The third open succeeds (after 1 s, then 2 s): A hosts, both tabs are served.
    await until('A hosts', () => a.isHost, 10_000);
    await a.put(t('k'), t('1'));
    expect(s(await b.get(t('k')))).toBe('1');
    expect(workersOpened).toBe(3);
    expect(b.isHost).toBe(false);
  }, 20_000);

  it('fails a call with Timeout when no host answers within the deadline, and Closed after close', async () => {
    const locks = new FakeLocks();
    // Someone else holds the lock and never serves.
    void locks.request('peerkv:hostless:store:host', {}, () => new Promise(() => {}));
    const kv = open(locks, 'hostless', { requestDeadlineMs: 200 });
    const err = await kv.get(t('x')).catch((e: unknown) => e);
    expect((err as BrowserKvError).kind).toBe('Timeout');
    kv.close();
    await expect(kv.get(t('x'))).rejects.toMatchObject({ kind: 'Closed' });
  });

  it('a write sent to a host that never answers is Undetermined, never a plain Timeout', async () => {
    let now = 0;
    const calls = new PendingCalls('tab-a', () => undefined, () => now);
    const sentWrite = calls.add({ kind: 'kv', request: { type: 'put', key: t('k'), value: t('v') } }, 'host-1', 100);
    const sentRead = calls.add({ kind: 'kv', request: { type: 'get', key: t('k') } }, 'host-1', 100);
    const unsentWrite = calls.add({ kind: 'kv', request: { type: 'put', key: t('k'), value: t('v') } }, undefined, 100);
    now = 200;
    calls.expire();
    expect(await sentWrite).toMatchObject({ ok: false, error: { kind: 'Undetermined' } });
    expect(await sentRead).toMatchObject({ ok: false, error: { kind: 'Timeout' } });
    expect(await unsentWrite).toMatchObject({ ok: false, error: { kind: 'Timeout' } });
    const closing = calls.add({ kind: 'kv', request: { type: 'delete', key: t('k') } }, 'host-1', 100);
    calls.failAll('Closed');
    expect(await closing).toMatchObject({ ok: false, error: { kind: 'Undetermined' } });
  });

  it('a change resent to a new host that fails there is Undetermined (the first host may have applied it), unless the failure is definite', async () => {
    const now = 0;
    const calls = new PendingCalls('tab-a', () => undefined, () => now);
    const commit: TabRequest = { kind: 'kv', request: { type: 'commitTxn', startTs: 5n, mutations: [{ op: 'put', key: t('k'), value: t('v') }] } };
    const resent = calls.add(commit, 'host-1', 1000);
    const conflicted = calls.add(commit, 'host-1', 1000);
    const read = calls.add({ kind: 'kv', request: { type: 'get', key: t('k') } }, 'host-1', 1000);
    const once = calls.add(commit, undefined, 1000);
    calls.resendTo('host-2');
    calls.settle(1, { ok: false, error: { kind: 'Unavailable', message: 'no region known for key' } });
    calls.settle(2, { ok: false, error: { kind: 'WriteConflict', message: 'conflict' } });
    calls.settle(3, { ok: false, error: { kind: 'Unavailable', message: 'x' } });
    calls.settle(4, { ok: false, error: { kind: 'Unavailable', message: 'x' } });
    expect(await resent).toMatchObject({ ok: false, error: { kind: 'Undetermined' } });
    expect(await conflicted).toMatchObject({ ok: false, error: { kind: 'WriteConflict' } });
    expect(await read).toMatchObject({ ok: false, error: { kind: 'Unavailable' } });
    // Sent to one host only (the first time to host-2): its failure stands.
    expect(await once).toMatchObject({ ok: false, error: { kind: 'Unavailable' } });
    // This tab becomes the host: what it had sent to the old host is served here as a resend.
    const taken = calls.add(commit, 'host-2', 1000);
    const [drained] = calls.drainAll();
    drained.resolve({ ok: false, error: { kind: 'Unavailable', message: 'x' } });
    expect(await taken).toMatchObject({ ok: false, error: { kind: 'Undetermined' } });
  });
});

/**
 * The default (networked) runtime in Node: each store a `NetHost` in a fake Worker, stores of
 * one profile linked by Node's BroadcastChannel (no signaling), an empty store creating or
 * joining the cluster on its own.
 */
describe('BrowserPeerKV, networked store per profile', () => {

  function open(locks: FakeLocks, cluster: string, extra: Partial<OpenBrowserOptions> = {}): BrowserPeerKV {
    const kv = new BrowserPeerKV({
      cluster,
      locks,
      createWorker: fakeWorker,
      store: { tickIntervalMs: 10, heartbeatIntervalTicks: 5, requestTimeoutMs: 1000 },
      bootstrapProbeMs: 400,
      hostProbeMs: 50,
      testHooks: true,
      ...extra,
    });
    kv.start();
    tabs.push(kv);
    return kv;
  }

  it('three tabs share the profile\'s one store: it creates the cluster, the host leaves mid-write, the next tab reopens it', async () => {
    const locks = new FakeLocks();
    const cluster = `net-tabs-${Math.random().toString(36).slice(2)}`;
    const [a, b, c] = [open(locks, cluster), open(locks, cluster), open(locks, cluster)];
    await a.put(t('k1'), t('1'));
    const st = await b.status();
    expect(st.mode).toBe('net');
    expect(st.opened).toBe('bootstrapped');
    expect(st.stores.filter((x) => x.local).map((x) => x.storeId)).toEqual([st.localStoreId]);
    const inflight = c.put(t('k2'), t('2'));
    a.close();
    await inflight;
    expect(b.isHost).toBe(true);
    const after = await c.status();
    expect(after.opened).toBe('reopened');
    expect(after.localStoreId).toBe(st.localStoreId);
    expect((await c.batchGet([t('k1'), t('k2')])).map(s)).toEqual(['1', '2']);
  }, 60_000);

  it('the mvcc data model: two tabs run conflicting transactions (no lost update), tab writes are transactions, every tab hears of commits', async () => {
    const locks = new FakeLocks();
    const cluster = `net-txn-${Math.random().toString(36).slice(2)}`;
    const [a, b] = [open(locks, cluster, { dataModel: 'mvcc' }), open(locks, cluster, { dataModel: 'mvcc' })];
    await a.put(t('n'), t('0'));
    expect(s(await b.get(t('n')))).toBe('0');
    let heard = 0;
    const stop = b.subscribe((op) => void (op === 'commitTxn' && heard++));
    const runs = { n: 0 };
    const inc = (tab: BrowserPeerKV) =>
      tab.transaction(
        increment(runs, (tx) => tx.get(t('n'))),
        { retriesMax: 50 },
      );
    await Promise.all([inc(a), inc(b), inc(a), inc(b), inc(a), inc(b)]);
    expect(s(await (await a.snapshot()).get(t('n')))).toBe('6');
    expect(runs.n).toBeGreaterThanOrEqual(6);
    await until('b heard every commit', () => heard >= 6);
    stop();
    // Writes of a tab are transactions: a batch across keys, a range delete.
    await b.batchPut([{ key: t('x1'), value: t('1') }, { key: t('x2'), value: t('2') }]);
    await a.deleteRange(t('x1'), t('x2'));
    expect((await b.batchGet([t('x1'), t('x2')])).map(s)).toEqual([undefined, '2']);
    const scanned: string[] = [];
    for await (const p of (await b.snapshot()).scan({ prefix: t('x') })) scanned.push(codec.fromText(p.key));
    expect(scanned).toEqual(['x2']);
    // From the host's own replica at its resolved ts (no leader needed), saying as of when.
    await until('the stale scan sees x2', async () => {
      // (Until the leader's first advance reaches this replica: 'no resolved ts yet'.)
      const r = await b.staleScan({ start: t('x'), end: t('y') }).catch(() => undefined);
      return r !== undefined && r.ts !== undefined && r.pairs.map((p) => codec.fromText(p.key)).join() === 'x2';
    });
    await expect(b.staleScan({ reverse: true })).rejects.toMatchObject({ kind: 'InvalidArgument' });
    // A conflict without re-runs is a typed error, and nothing of it committed.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow = a.transaction(async (tx) => {
      await tx.get(t('n'));
      tx.put(t('n'), t('slow'));
      await gate;
    }, { retriesMax: 0 });
    await b.transaction(async (tx) => tx.put(t('n'), t('fast')));
    release();
    await expect(slow).rejects.toMatchObject({ kind: 'WriteConflict' });
    expect(s(await a.get(t('n')))).toBe('fast');
  }, 60_000);

  it('a tab reads at a timestamp (readTs, maxStaleness) through the host, snapshot({ maxStaleness }) says as of when, and bad staleness is refused typed', async () => {
    const locks = new FakeLocks();
    const cluster = `net-stale-${Math.random().toString(36).slice(2)}`;
    const [a, b] = [open(locks, cluster, { dataModel: 'mvcc' }), open(locks, cluster, { dataModel: 'mvcc' })];
    await a.batchPut([{ key: t('s1'), value: t('1') }, { key: t('s2'), value: t('2') }]);
    await until('b reaches the host', async () => (await b.status()).isHost === false);
    // (Until the leader's first resolved-ts advance reaches the host's replica: 'no resolved ts yet'.)
    let snap!: StaleSnapshot;
    await until('a snapshot at the host replica\'s resolved ts sees the writes', async () => {
      snap = await b.snapshot({ maxStaleness: Infinity });
      return (await snap.get(t('s1')).catch(() => undefined)) !== undefined;
    });
    const asOf = snap.ts!;
    expect(typeof asOf).toBe('bigint');
    // Later reads of the snapshot are at its ts, even after a newer write.
    await a.put(t('s1'), t('new'));
    expect((await snap.batchGet([t('s1'), t('s2')])).map(s)).toEqual(['1', '2']);
    const scanned: string[] = [];
    for await (const p of snap.scan({ prefix: t('s') })) scanned.push(`${codec.fromText(p.key)}=${s(p.value)}`);
    expect(scanned).toEqual(['s1=1', 's2=2']);
    expect(snap.ts).toBe(asOf);
    const at = await b.snapshot({ readTs: asOf });
    expect(at.ts).toBe(asOf);
    expect(s(await at.get(t('s1')))).toBe('1');
    // Single reads: at readTs; at most maxStaleness old (a bound of 0 goes to the leader at a fresh ts).
    expect(s(await b.get(t('s1'), { readTs: asOf }))).toBe('1');
    expect((await b.batchGet([t('s1'), t('s2')], { readTs: asOf })).map(s)).toEqual(['1', '2']);
    expect((await b.scan({ start: t('s'), end: t('t'), readTs: asOf })).map((p) => s(p.value))).toEqual(['1', '2']);
    expect(s(await b.get(t('s1'), { maxStaleness: 0 }))).toBe('new');
    expect(['1', 'new']).toContain(s(await b.get(t('s1'), { maxStaleness: Infinity })));
    // Bad staleness: refused by the host's request check (InvalidArgument), or by the tab's own snapshot.
    const refused = (p: Promise<unknown>) => p.then(() => 'ok', (e: { kind?: unknown }) => e.kind);
    expect(await refused(b.get(t('s1'), { maxStaleness: -1 }))).toBe('InvalidArgument');
    expect(await refused(b.get(t('s1'), { maxStaleness: Number.NaN }))).toBe('InvalidArgument');
    expect(await refused(b.get(t('s1'), { readTs: 5 as never }))).toBe('InvalidArgument');
    expect(await refused(b.batchGet([t('s1')], { readTs: asOf, maxStaleness: 1000 }))).toBe('InvalidArgument');
    expect(await refused(b.scan({ readTs: 0n }))).toBe('InvalidArgument');
    expect(await refused(b.snapshot({ maxStaleness: -1 }))).toBe('InvalidArgument');
    expect(await refused(b.snapshot({ readTs: asOf, maxStaleness: 1000 }))).toBe('InvalidArgument');
    const call = (request: unknown) => refused((b as unknown as { request(r: TabRequest): Promise<unknown> }).request({ kind: 'kv', request } as TabRequest));
    expect(await call({ type: 'staleBatchGet', keys: [t('s1')] })).toBe('InvalidArgument');
    expect(await call({ type: 'staleBatchGet', keys: [t('s1')], readTs: asOf })).toBe('ok');
  }, 60_000);

  it('pessimistic transactions from a tab that is not the host lock through the host: increments wait instead of conflicting, a held lock is LockWaitTimeout, a lock cycle is a Deadlock that re-runs', async () => {
    const locks = new FakeLocks();
    const cluster = `net-pess-${Math.random().toString(36).slice(2)}`;
    const [a, b] = [open(locks, cluster, { dataModel: 'mvcc' }), open(locks, cluster, { dataModel: 'mvcc' })];
    await a.put(t('n'), t('0'));
    const host = (await a.status()).isHost ? a : b;
    const guest = host === a ? b : a;
    expect((await guest.status()).isHost).toBe(false);
    // Read-modify-writes through getForUpdate from both tabs: each waits for the lock, none conflicts.
    const runs = { n: 0 };
    const inc = (tab: BrowserPeerKV) =>
      tab.transactionWithInfo(
        increment(runs, (tx) => tx.getForUpdate(t('n'))),
        { pessimistic: true, retriesMax: 0, waitTimeoutMs: 20_000 },
      );
    const done = await Promise.all([inc(guest), inc(host), inc(guest), inc(guest), inc(host), inc(guest)]);
    expect(s(await guest.get(t('n')))).toBe('6');
    expect(runs.n).toBe(6);
    // One key in one region: each commits by 1PC (its pessimistic lock converted in the same write).
    expect(done.every((d) => d.info.attempts === 1 && d.info.onePc)).toBe(true);
    // The host holds w's lock; the guest's wait for it ends at its waitTimeoutMs, typed, not re-run.
    let locked = false;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const holder = host.transaction(
      async (tx) => {
        await tx.getForUpdate(t('w'));
        locked = true;
        await gate;
        tx.put(t('w'), t('host'));
      },
      { pessimistic: true },
    );
    await until('the host holds w', () => locked);
    let waiterRuns = 0;
    const waiter = guest.transaction(
      async (tx) => {
        waiterRuns++;
        await tx.getForUpdate(t('w'));
      },
      { pessimistic: true, waitTimeoutMs: 300 },
    );
    await expect(waiter).rejects.toMatchObject({ kind: 'LockWaitTimeout' });
    expect(waiterRuns).toBe(1);
    release();
    await holder;
    // Two transactions locking x and y in opposite orders: the detector breaks the cycle, the
    // deadlocked run is re-run, and both commit.
    const attempts: number[] = [];
    const both = (tab: BrowserPeerKV, first: string, second: string) =>
      tab.transactionWithInfo(
        async (tx) => {
          await tx.getForUpdate(t(first));
          await new Promise((r) => setTimeout(r, 200));
          const v = Number(s(await tx.getForUpdate(t(second))) ?? '0');
          tx.put(t(first), t(String(v + 1)));
        },
        { pessimistic: true, waitTimeoutMs: 10_000 },
      );
    for (const r of await Promise.all([both(guest, 'x', 'y'), both(host, 'y', 'x')])) attempts.push(r.info.attempts);
    expect(attempts.sort()).toEqual([1, 2]);
    expect(s(await host.get(t('w')))).toBe('host');
  }, 60_000);

  it('a host page hidden for hiddenDrainMs marks its store draining; visible again, serving', async () => {
    // A minimal document: visibility state and its event.
    const doc = Object.assign(new EventTarget(), { visibilityState: 'visible' as DocumentVisibilityState });
    (globalThis as { document?: unknown }).document = doc;
    try {
      const locks = new FakeLocks();
      const cluster = `net-hidden-${Math.random().toString(36).slice(2)}`;
      const a = open(locks, cluster, { hiddenDrainMs: 100 });
      await a.put(t('k'), t('v'));
      const draining = async () => (await a.status()).stores.find((x) => x.local)?.draining;
      expect(await draining()).toBe(false);
      doc.visibilityState = 'hidden';
      doc.dispatchEvent(new Event('visibilitychange'));
      await until('draining while hidden', async () => (await draining()) === true);
      doc.visibilityState = 'visible';
      doc.dispatchEvent(new Event('visibilitychange'));
      await until('serving when visible', async () => (await draining()) === false);
    } finally {
      delete (globalThis as { document?: unknown }).document;
    }
  }, 30_000);

  it('subscribe hears every commit of another device once (over the change feed), its own once, and stops with the last listener', async () => {
    const locks = new FakeLocks();
    const cluster = `net-sub-${Math.random().toString(36).slice(2)}`;
    // Watermarks every 100 ms, regions awake (an idle one advances them every 10 s only).
    const store = { tickIntervalMs: 10, heartbeatIntervalTicks: 5, requestTimeoutMs: 1000, safeTsIntervalMs: 100, hibernateAfterTicks: 100_000 };
    // b opens once a's store serves (opened together, each may bootstrap a cluster of its own).
    const a = open(locks, cluster, { storeName: 'a', store });
    await a.put(t('hello-a'), t('1'));
    const b = open(locks, cluster, { storeName: 'b', store });
    await b.put(t('hello-b'), t('1'));
    expect((await b.status()).opened).toBe('joined');
    const heard: string[] = [];
    const stop = b.subscribe((op) => heard.push(op));
    // The other device's commits reach b only by the feed (its tab channel is b's profile's
    // own), from the feed's start ts on (taken by b's host just after subscribe).
    const feed = (b as unknown as { subscriptions: TabSubscriptions }).subscriptions;
    await until('the feed has a watermark', () => feed.resolvedTs !== undefined, 15_000);
    await a.batchPut([{ key: t('x1'), value: t('1') }, { key: t('x2'), value: t('2') }]);
    await until('b heard a\'s commit', () => heard.length >= 1, 15_000);
    await a.put(t('x3'), t('3'));
    await until('b heard a\'s second commit', () => heard.length >= 2, 15_000);
    // b's own commit: told at once, and not again when the feed delivers it.
    await b.put(t('x4'), t('4'));
    expect(heard).toHaveLength(3);
    await a.put(t('x5'), t('5'));
    await until('b heard a\'s third commit (after its own came by the feed too)', () => heard.length >= 4, 15_000);
    expect(heard).toEqual(['commitTxn', 'commitTxn', 'commitTxn', 'commitTxn']);
    stop();
    expect(feed.following).toBe(false);
    await a.put(t('x6'), t('6'));
    await new Promise((r) => setTimeout(r, 2500));
    expect(heard).toHaveLength(4);
  }, 60_000);

  it('stores of three names form one cluster; a partitioned store cannot commit, the majority can; healed, all converge', async () => {
    const locks = new FakeLocks();
    const cluster = `net-part-${Math.random().toString(36).slice(2)}`;
    const [a, b, c] = ['a', 'b', 'c'].map((storeName) => open(locks, cluster, { storeName }));
    await Promise.all([a, b, c].map((kv) => kv.put(t(`hello-${kv.storeName}`), t('1'))));
    const opened = await Promise.all([a, b, c].map(async (kv) => (await kv.status()).opened));
    expect(opened.sort()).toEqual(['bootstrapped', 'joined', 'joined']);
    const ids = await Promise.all([a, b, c].map(async (kv) => (await kv.status()).localStoreId!));
    // PD grows the data region onto all three stores.
    await until('the data region on three voters', async () => {
      const st = await a.status();
      const local = st.stores.find((x) => x.local)!;
      return local.regions.some((r) => r.regionId !== 1 && r.peers.filter((p) => p.role === 'voter').length === 3);
    });

    // Cut c off from a and b inside its transport.
    await c.partition([ids[0], ids[1]]);
    await until('a and b see c gone', async () => !((await a.status()).members ?? []).includes(ids[2]) && !((await b.status()).members ?? []).includes(ids[2]));
    // c's write cannot commit: after 2 s it has not been acknowledged and the majority does not see it.
    let minority = 'pending';
    const cut = c.put(t('minority'), t('x')).then(
      () => (minority = 'acknowledged'),
      (e: unknown) => (minority = (e as BrowserKvError).kind),
    );
    await new Promise((r) => setTimeout(r, 2000));
    expect(minority).not.toBe('acknowledged');
    expect(await a.get(t('minority'))).toBeUndefined();
    await a.put(t('during'), t('majority'));
    expect(s(await b.get(t('during')))).toBe('majority');

    await c.heal();
    await cut;
    await until('c reads the majority\'s write', async () => s(await c.get(t('during')).catch(() => undefined)) === 'majority');
    await until('every replica at one applied index', async () => {
      const sts = await Promise.all([a, b, c].map((kv) => kv.status()));
      const applied = sts.map((st) => st.stores.find((x) => x.local)!.regions.filter((r) => r.regionId !== 1).map((r) => `${r.regionId}:${r.applied}`).join(','));
      return applied[0] !== '' && new Set(applied).size === 1;
    });
  }, 90_000);
});
