/**
 * `BrowserPeerKV.watch` in Node: two tabs over an embedded mvcc cluster; the watch of the tab
 * that does not host runs on the host's client (`host-watches.ts`). Writes from both tabs arrive
 * once each, in commitTs order per key, under watermarks that never go backwards; the host
 * tab closes, the other tab takes over (a new Worker, which runs no such watch: `WatchGone`),
 * and the watch opens again from its last watermark and loses nothing. The host ops refuse an
 * unknown watch (`WatchGone`) and bad fields (`InvalidArgument`).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { codec, type WatchEvent } from '../src/index.ts';
import { BrowserKvError, BrowserPeerKV, unwrapReply, type TabRequest } from '../src/browser/index.ts';
import { FakeLocks, memoryTabs } from './browser-fakes.ts';
import { until } from './until.ts';

const t = codec.text;
const { fakeWorker, tabs } = memoryTabs<BrowserPeerKV>(afterEach);

function open(locks: FakeLocks): BrowserPeerKV {
  const kv = new BrowserPeerKV({ cluster: 'watch', embedded: true, dataModel: 'mvcc', locks, createWorker: fakeWorker, store: { tickIntervalMs: 10 }, hostProbeMs: 50 });
  kv.start();
  tabs.push(kv);
  return kv;
}

/** Consumes `w` into `seen` until stopped. */
function collect(w: AsyncIterable<WatchEvent>, seen: WatchEvent[]): Promise<unknown> {
  return (async () => {
    for await (const e of w) seen.push(e);
  })().catch((e: unknown) => e);
}

describe('BrowserPeerKV.watch', () => {
  it('delivers every commit from both tabs, in commitTs order per key, with rising watermarks, across a host failover', async () => {
    const locks = new FakeLocks();
    const a = open(locks);
    await a.put(t('w/seed'), t('0'));
    const b = open(locks);
    await until('b reaches the host', async () => (await b.status()).isHost === false);
    const w = b.watch({ prefix: t('w/') });
    const seen: WatchEvent[] = [];
    const done = collect(w, seen);
    await until('the watch has a watermark', async () => seen.some((e) => e.type === 'resolved'));

    const committed: { key: string; commitTs: bigint }[] = [];
    const write = async (tab: BrowserPeerKV, key: string, value: string): Promise<void> => {
      const { info } = await tab.transactionWithInfo(async (tx) => tx.put(t(key), t(value)));
      committed.push({ key, commitTs: info.commitTs! });
    };
    for (let i = 0; i < 5; i++) {
      await write(a, `w/${i % 2}`, `a${i}`);
      await write(b, `w/${i % 3}`, `b${i}`);
    }
    await until('the writes before the failover arrived', async () => committed.every((c) => seen.some((e) => e.type === 'put' && codec.fromText(e.key) === c.key && e.commitTs === c.commitTs)));

    // The host tab goes: b hosts a new Worker, which runs no watch; b's watch opens again.
    a.close();
    await until('b hosts', async () => (await b.status()).isHost);
    for (let i = 0; i < 5; i++) await write(b, `w/${i % 2}`, `c${i}`);
    const lastTs = committed.reduce((m, c) => (c.commitTs > m ? c.commitTs : m), 0n);
    await until('a watermark past the last write', async () => seen.some((e) => e.type === 'resolved' && e.ts >= lastTs), 30_000);
    await w.return();
    expect(await done).toBeUndefined();

    const changes = seen.filter((e): e is Extract<WatchEvent, { type: 'put' }> => e.type === 'put');
    const ids = changes.map((e) => `${codec.fromText(e.key)}@${e.commitTs}`);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.sort()).toEqual(committed.map((c) => `${c.key}@${c.commitTs}`).sort());
    let watermark = 0n;
    const lastByKey = new Map<string, bigint>();
    for (const e of seen) {
      if (e.type === 'resolved') {
        expect(e.ts > watermark).toBe(true);
        watermark = e.ts;
        continue;
      }
      // Nothing arrives at or below a watermark already given.
      expect(e.commitTs > watermark).toBe(true);
      const k = codec.fromText(e.key);
      expect(e.commitTs > (lastByKey.get(k) ?? 0n)).toBe(true);
      lastByKey.set(k, e.commitTs);
    }
  }, 60_000);

  it('the host refuses an unknown watch (WatchGone) and bad fields (InvalidArgument); the raw model has no watch', async () => {
    const locks = new FakeLocks();
    const a = open(locks);
    await a.put(t('k'), t('v'));
    const call = (req: unknown) => (a as unknown as { request(r: TabRequest): Promise<unknown> }).request(req as TabRequest).then(
      () => 'ok',
      (e: BrowserKvError) => e.kind,
    );
    expect(await call({ kind: 'tab', request: { type: 'watchNext', watchId: 'nope' } })).toBe('WatchGone');
    expect(await call({ kind: 'tab', request: { type: 'watchNext', watchId: 'nope', eventsMax: 0 } })).toBe('InvalidArgument');
    expect(await call({ kind: 'tab', request: { type: 'watchNext', watchId: 'nope', waitMs: 60_000 } })).toBe('InvalidArgument');
    expect(await call({ kind: 'tab', request: { type: 'watchOpen', start: 'w/' } })).toBe('InvalidArgument');
    expect(await call({ kind: 'tab', request: { type: 'watchOpen', start: t('w/'), fromTs: 0n } })).toBe('InvalidArgument');
    expect(await call({ kind: 'tab', request: { type: 'watchClose', watchId: 'nope' } })).toBe('ok');
    const opened = unwrapReply<{ watchId: string; fromTs: bigint }>({ ok: true, value: await (a as unknown as { request(r: TabRequest): Promise<unknown> }).request({ kind: 'tab', request: { type: 'watchOpen', start: t('w/') } }) });
    expect(typeof opened.watchId).toBe('string');
    expect(await call({ kind: 'tab', request: { type: 'watchClose', watchId: opened.watchId } })).toBe('ok');
    expect(await call({ kind: 'tab', request: { type: 'watchNext', watchId: opened.watchId, waitMs: 0 } })).toBe('WatchGone');
    // `fromTs` in the range (the issue's `watch({ prefix, fromTs })`) is taken, as in the options.
    const fromTs = await a.getTimestamp();
    const { info } = await a.transactionWithInfo(async (tx) => tx.put(t('f/1'), t('one')));
    const seen: WatchEvent[] = [];
    const w = a.watch({ prefix: t('f/'), fromTs });
    const done = collect(w, seen);
    await until('the commit before the watch arrived', async () => seen.some((e) => e.type === 'put' && e.commitTs === info.commitTs));
    await w.return();
    expect(await done).toBeUndefined();
    const refusal = (f: () => unknown): unknown => {
      try {
        f();
      } catch (e) {
        return (e as { kind?: unknown }).kind;
      }
      return 'ok';
    };
    expect(refusal(() => a.watch({ prefix: t('f/'), fromTs }, { fromTs }))).toBe('InvalidArgument');
    expect(refusal(() => a.watch({ prefix: t('f/'), signal: new AbortController().signal } as never))).toBe('InvalidArgument');
    const raw = new BrowserPeerKV({ cluster: 'watch-raw', embedded: true, dataModel: 'raw', locks, createWorker: fakeWorker });
    expect(() => raw.watch({ prefix: t('w/') })).toThrow(BrowserKvError);
    raw.close();
  }, 60_000);
});
