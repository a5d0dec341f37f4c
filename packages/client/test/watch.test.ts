/**
 * The change feed (`kv.watch`) on an in-process PD cluster of three mvcc stores: puts and
 * deletes in commitTs order per key with monotone watermarks, a resume from a watermark that
 * gives exactly the rest, pages cut inside one transaction, nothing lost or invented across a
 * leader transfer, a leader kill and a split during the watch, `SafePointPassed`, `WatchLagged`,
 * abort and return, and bad input as typed errors.
 */
import { describe, expect, it } from 'vitest';
import { LocalRpc, serveStore } from '@peerkv/store';
import { PdCluster, PeerKV, PeerKVError, RemoteStoreResolver, WatchLaggedError, codec, type Watch, type WatchEvent } from '../src/index.ts';
import { until } from './until.ts';
import { closeTxnClusterAfterEach, start } from './txn-cluster.ts';

closeTxnClusterAfterEach();

const k = (s: string): Uint8Array => codec.text(s);
const t = (b: Uint8Array): string => codec.fromText(b);
const SAFE_TS_MS = 30;

/** A committed write as the feed must report it. */
interface Committed {
  key: string;
  value: string | undefined;
  commitTs: bigint;
}

const show = (e: WatchEvent): string => (e.type === 'resolved' ? `resolved@${e.ts}` : `${t(e.key)}=${e.type === 'put' ? t(e.value) : '∅'}@${e.commitTs}`);
const showCommitted = (c: Committed): string => `${c.key}=${c.value ?? '∅'}@${c.commitTs}`;

/** Commits one write (a put, or a delete when `value` is undefined) and says at which ts. */
async function commit(kv: PeerKV, writes: [string, string | undefined][]): Promise<Committed[]> {
  const { info } = await kv.transactionWithInfo(async (tx) => {
    for (const [key, value] of writes) {
      if (value === undefined) tx.delete(k(key));
      else tx.put(k(key), k(value));
    }
  });
  return writes.map(([key, value]) => ({ key, value, commitTs: info.commitTs! }));
}

/** Reads the watch until a watermark at or above `ts`; checks the watermarks only go up. */
async function readUntil(w: Watch, ts: bigint, into: WatchEvent[] = []): Promise<WatchEvent[]> {
  let last = 0n;
  for (;;) {
    const r = await w.next();
    if (r.done) throw new Error('watch ended');
    into.push(r.value);
    if (r.value.type === 'resolved') {
      expect(r.value.ts > last).toBe(true);
      last = r.value.ts;
      if (r.value.ts >= ts) return into;
    }
  }
}

/** The changes of `events`, checked: per key in commitTs order, each a committed write, and (deduplicated) every committed write above `fromTs`. */
function checkAgainst(events: WatchEvent[], committed: Committed[], fromTs: bigint, upTo: bigint): void {
  const changes = events.filter((e): e is Exclude<WatchEvent, { type: 'resolved' }> => e.type !== 'resolved');
  const lastTs = new Map<string, bigint>();
  for (const e of changes) {
    const key = t(e.key);
    expect(e.commitTs > (lastTs.get(key) ?? 0n), `${key} in commitTs order`).toBe(true);
    lastTs.set(key, e.commitTs);
  }
  const got = new Set(changes.map(show));
  const want = new Set(committed.filter((c) => c.commitTs > fromTs && c.commitTs <= upTo).map(showCommitted));
  // Nothing invented, nothing missing, nothing twice.
  expect([...got].sort()).toEqual([...want].sort());
  expect(changes.length).toBe(got.size);
}

function leaderStore(c: PdCluster, regionId: number): number | undefined {
  for (const [id, s] of c.stores) {
    const peer = (s as unknown as { ctx: { peers: Map<number, { isLeader(): boolean }> } }).ctx.peers.get(regionId);
    if (peer?.isLeader()) return id;
  }
  return undefined;
}

async function dataRegionId(c: PdCluster, key: string): Promise<number> {
  return (await c.getRegion(k(key)))!.region.id;
}

/** Splits the region holding `key` at `key` through its leader. */
async function split(c: PdCluster, key: string): Promise<void> {
  const region = (await c.getRegion(k(key)))!.region;
  let done = false;
  for (const s of c.stores.values()) {
    const newRegionId = 5000 + region.id;
    const r = await s.handle({ type: 'split', regionId: region.id, epoch: region.epoch, splitKey: k(key), newRegionId, newPeerIds: region.peers.map((_, i) => newRegionId * 10 + i + 1) });
    if (r.ok) {
      done = true;
      break;
    }
  }
  expect(done).toBe(true);
  await until(`PD knows the split at ${key}`, async () => t((await c.getRegion(k(key)))!.region.startKey) === key);
}

describe('kv.watch', () => {
  it('yields puts and deletes of the range in commitTs order per key, with watermarks that only go up', async () => {
    const { kv } = await start({ safeTsIntervalMs: SAFE_TS_MS });
    const a = kv('mvcc');
    const w = a.watch({ prefix: k('w/') });
    const first = w.next(); // starts the watch at a fresh ts
    await until('the watch started', () => w.resolvedTs > 0n);
    const fromTs = w.resolvedTs;
    const committed: Committed[] = [];
    committed.push(...(await commit(a, [['w/a', '1'], ['w/b', '1']])));
    committed.push(...(await commit(a, [['w/a', '2']])));
    committed.push(...(await commit(a, [['w/b', undefined], ['x/outside', 'no']])));
    committed.push(...(await commit(a, [['w/a', '3'], ['w/c', 'long'.repeat(100)]])));
    const upTo = await a.getTimestamp();
    const events = [(await first).value as WatchEvent];
    await readUntil(w, upTo, events);
    checkAgainst(events, committed.filter((c) => c.key.startsWith('w/')), fromTs, upTo);
    expect(events.some((e) => e.type === 'delete' && t(e.key) === 'w/b')).toBe(true);
    // The watch holds PD's GC safe point at its watermark (one pinned hold), and lets go at the end.
    const gc = (a as unknown as { txn: { routing: { gc: { liveHolds(): number; registration(): { minStartTs: bigint } | undefined } } } }).txn.routing.gc;
    expect(gc.liveHolds()).toBe(1);
    await until('the watch registered its watermark with PD', () => gc.registration() !== undefined);
    expect(gc.registration()!.minStartTs <= w.resolvedTs).toBe(true);
    await w.return();
    await w.settled();
    expect(gc.liveHolds()).toBe(0);
  }, 60_000);

  it('a watch from a watermark yields exactly the changes after it; a page cut inside one transaction loses nothing', async () => {
    const { kv } = await start({ safeTsIntervalMs: SAFE_TS_MS });
    const a = kv('mvcc');
    const fromTs = await a.getTimestamp();
    const committed: Committed[] = [];
    committed.push(...(await commit(a, [['p/1', 'a']])));
    const w1 = a.watch({ start: k('p/'), end: k('p0') }, { fromTs, pageEventsMax: 2 });
    const mid = await a.getTimestamp();
    const part1 = await readUntil(w1, mid);
    const watermark = (part1.at(-1) as { ts: bigint }).ts;
    await w1.return();
    // A transaction of 7 keys (one commitTs), read back 2 events a page.
    committed.push(...(await commit(a, Array.from({ length: 7 }, (_, i): [string, string] => [`p/k${i}`, `v${i}`]))));
    committed.push(...(await commit(a, [['p/1', undefined]])));
    const upTo = await a.getTimestamp();
    const w2 = a.watch({ start: k('p/'), end: k('p0') }, { fromTs: watermark, pageEventsMax: 2 });
    const part2 = await readUntil(w2, upTo);
    await w2.return();
    checkAgainst(part1, committed, fromTs, watermark);
    checkAgainst(part2, committed, watermark, upTo);
    checkAgainst([...part1, ...part2], committed, fromTs, upTo);
  }, 60_000);

  it('after its first page, the leader answers from its live buffer (no engine scan), with the same changes, and a page cut inside one transaction loses nothing', async () => {
    const { c, kv } = await start({ safeTsIntervalMs: SAFE_TS_MS });
    const a = kv('mvcc');
    const committed: Committed[] = [];
    // Written before the watch (and before any buffer): only a scan can deliver them.
    committed.push(...(await commit(a, [['b/old1', 'x'], ['b/old2', 'y']])));
    const fromTs = (await a.getTimestamp()) - 1n;
    committed.push(...(await commit(a, [['b/old3', 'z']])));
    const cdc = () => [...c.stores.values()].map((s) => s.status().cdc).reduce((t, x) => ({ fromBuffer: t.fromBuffer + (x?.pagesFromBuffer ?? 0), scanned: t.scanned + (x?.pagesScanned ?? 0) }), { fromBuffer: 0, scanned: 0 });
    const w = a.watch({ prefix: k('b/') }, { fromTs, pageEventsMax: 3 });
    const events: WatchEvent[] = [];
    await readUntil(w, await a.getTimestamp(), events);
    const afterFirst = cdc();
    expect(afterFirst.scanned).toBeGreaterThan(0);
    for (let i = 0; i < 6; i++) committed.push(...(await commit(a, [[`b/k${i % 3}`, `v${i}`]])));
    committed.push(...(await commit(a, Array.from({ length: 5 }, (_, i): [string, string | undefined] => [`b/t${i}`, i === 4 ? undefined : `t${i}`]))));
    committed.push(...(await commit(a, [['b/k0', undefined], ['b/long', 'long'.repeat(200)]])));
    const upTo = await a.getTimestamp();
    await readUntil(w, upTo, events);
    await w.return();
    checkAgainst(events, committed, fromTs, upTo);
    const after = cdc();
    // Every later page came from the buffer: the leader did not scan again (no leader change here).
    expect(after.fromBuffer).toBeGreaterThan(afterFirst.fromBuffer);
    expect(after.scanned).toBe(afterFirst.scanned);
  }, 60_000);

  it('loses and invents nothing across a leader transfer, a leader kill and a split during the watch', async () => {
    const { c, kv } = await start({ safeTsIntervalMs: SAFE_TS_MS });
    const a = kv('mvcc');
    const fromTs = await a.getTimestamp();
    const w = a.watch({ prefix: k('m/') }, { fromTs });
    const events: WatchEvent[] = [];
    let reading = true;
    const reader = (async () => {
      while (reading) {
        const r = await w.next();
        if (r.done) return;
        events.push(r.value);
      }
    })();
    const committed: Committed[] = [];
    let n = 0;
    const writeSome = async (count: number): Promise<void> => {
      for (let i = 0; i < count; i++, n++) committed.push(...(await commit(a, [[`m/${String.fromCharCode(97 + (n % 26))}`, `v${n}`]])));
    };
    await writeSome(10);
    // Leader transfer.
    const region = await dataRegionId(c, 'm/a');
    const before = leaderStore(c, region)!;
    const target = c.regions().find((r) => r.id === region)!.peers.find((p) => p.storeId !== before)!;
    c.stores.get(before)!.transferLeader(region, target.id);
    await writeSome(10);
    await until('leadership moved', () => leaderStore(c, region) !== undefined && leaderStore(c, region) !== before);
    // A split inside the watched range.
    await split(c, 'm/n');
    await writeSome(20);
    // The leader of the left half dies.
    const victim = leaderStore(c, region)!;
    await c.kill(victim);
    await writeSome(10);
    const upTo = await a.getTimestamp();
    await until('the feed resolved past the last write', () => events.some((e) => e.type === 'resolved' && e.ts >= upTo), 40_000);
    reading = false;
    await w.return();
    await reader;
    await w.settled();
    // The split cut the watched range in two: two pull loops covered it.
    expect((w as unknown as { spans: unknown[] }).spans.length).toBe(2);
    const resolved = events.filter((e) => e.type === 'resolved').map((e) => (e as { ts: bigint }).ts);
    for (let i = 1; i < resolved.length; i++) expect(resolved[i] > resolved[i - 1]).toBe(true);
    const last = resolved.at(-1)!;
    checkAgainst(events, committed, fromTs, last);
  }, 90_000);

  it('works over the RPC transport: a client that reaches every store only by requests', async () => {
    const { c, kv } = await start({ safeTsIntervalMs: SAFE_TS_MS });
    const rpc = new LocalRpc({ router: c.router });
    for (const s of c.stores.values()) serveStore(s, rpc.endpoint(s.storeId));
    const home = [...c.stores.keys()][0];
    const remote = new PeerKV({ pd: c, stores: new RemoteStoreResolver(rpc.endpoint(home), { requestTimeoutMs: 2000 }), dataModel: 'mvcc', requestTimeoutMs: 2000 });
    const writer = kv('mvcc');
    try {
      const fromTs = await writer.getTimestamp();
      const w = remote.watch({ prefix: k('r/') }, { fromTs });
      const committed = [...(await commit(writer, [['r/a', '1'], ['r/b', '2']])), ...(await commit(writer, [['r/a', undefined]]))];
      const upTo = await writer.getTimestamp();
      const before = rpc.delivered;
      const events = await readUntil(w, upTo);
      await w.return();
      checkAgainst(events, committed, fromTs, upTo);
      expect(rpc.delivered).toBeGreaterThan(before);
    } finally {
      remote.close();
    }
  }, 60_000);

  it('refuses a fromTs below the GC safe point with SafePointPassed', async () => {
    const { c, kv } = await start({ safeTsIntervalMs: SAFE_TS_MS });
    const a = kv('mvcc');
    const old = await a.getTimestamp();
    const sp = await a.getTimestamp();
    const pdStore = [...c.stores.values()].find((s) => s.pdIsLeader())!;
    await pdStore.pdPropose({ kind: 'setGcSafePoint', safePoint: sp });
    for (const s of c.stores.values()) await (s as unknown as { gc: { learnSafePoint(): Promise<bigint> } }).gc.learnSafePoint();
    const w = a.watch({ prefix: k('g/') }, { fromTs: old });
    await expect(w.next()).rejects.toMatchObject({ kind: 'SafePointPassed' });
    await w.settled();
    // From the safe point on it works.
    const ok = a.watch({ prefix: k('g/') }, { fromTs: sp });
    const first = await ok.next();
    expect(first.value).toMatchObject({ type: 'resolved' });
    await ok.return();
  }, 60_000);

  it('a consumer more than bufferEventsMax behind gets WatchLagged with the ts to resume from, and resuming there gives the rest', async () => {
    const { kv } = await start({ safeTsIntervalMs: SAFE_TS_MS });
    const a = kv('mvcc');
    const fromTs = await a.getTimestamp();
    const w = a.watch({ prefix: k('l/') }, { fromTs, bufferEventsMax: 3 });
    const first = (await w.next()).value as WatchEvent;
    expect(first.type).toBe('resolved');
    const consumed = (first as { ts: bigint }).ts;
    // Ten changes and the consumer reads none of them: the loop overflows the buffer and stops.
    const committed = await commit(a, Array.from({ length: 10 }, (_, i): [string, string] => [`l/${i}`, `${i}`]));
    await w.settled();
    const e = await w.next().then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(WatchLaggedError);
    expect((e as WatchLaggedError).kind).toBe('WatchLagged');
    expect((e as WatchLaggedError).resumeTs).toBe(consumed);
    expect(await w.next()).toEqual({ done: true, value: undefined });
    const again = a.watch({ prefix: k('l/') }, { fromTs: (e as WatchLaggedError).resumeTs });
    const upTo = await a.getTimestamp();
    const rest = await readUntil(again, upTo);
    await again.return();
    checkAgainst(rest, committed, consumed, upTo);
    expect(rest.filter((x) => x.type === 'put').length).toBe(10);
  }, 60_000);

  it('an abort stops every loop and the next read throws Aborted; return() ends it', async () => {
    const { kv } = await start({ safeTsIntervalMs: SAFE_TS_MS });
    const a = kv('mvcc');
    const ac = new AbortController();
    const w = a.watch({ prefix: k('z/') }, { signal: ac.signal });
    expect((await w.next()).value).toMatchObject({ type: 'resolved' });
    const pending = w.next();
    ac.abort();
    await expect(pending).rejects.toMatchObject({ kind: 'Aborted' });
    await w.settled();
    const w2 = a.watch({ prefix: k('z/') });
    const p2 = w2.next();
    await w2.return();
    expect(await p2).toMatchObject({ done: true });
    await w2.settled();
    // A for-await loop with break ends the watch too.
    const w3 = a.watch({ prefix: k('z/') });
    for await (const e of w3) {
      expect(e.type).toBe('resolved');
      break;
    }
    await w3.settled();
  }, 60_000);

  it('takes fromTs in the range too: watch({ prefix, fromTs }) delivers the commits above it', async () => {
    const { kv } = await start({ safeTsIntervalMs: SAFE_TS_MS });
    const a = kv('mvcc');
    const fromTs = await a.getTimestamp();
    const committed = await commit(a, [['f/1', 'one']]);
    const w = a.watch({ prefix: k('f/'), fromTs });
    const events = await readUntil(w, committed[0].commitTs);
    await w.return();
    // Without it the watch starts at a fresh ts, after the commit, and never sees it.
    expect(events.filter((e) => e.type === 'put').map(show)).toEqual([showCommitted(committed[0])]);
  }, 60_000);

  it('refuses bad input with typed errors', async () => {
    const { c, kv } = await start();
    const a = kv('mvcc');
    const bad = (f: () => unknown): void => {
      expect(f).toThrow(PeerKVError);
      try {
        f();
      } catch (e) {
        expect((e as PeerKVError).kind).toBe('InvalidArgument');
      }
    };
    bad(() => a.watch({ start: k('b'), end: k('a') }));
    bad(() => a.watch({ start: k('a'), end: k('a') }));
    bad(() => a.watch({ prefix: k('a'), start: k('a') } as never));
    bad(() => a.watch({ prefix: 'a' } as never));
    bad(() => a.watch({ prefix: k('a') }, { bufferEventsMax: -1 }));
    bad(() => a.watch({ prefix: k('a') }, { bufferEventsMax: 0 }));
    bad(() => a.watch({ prefix: k('a') }, { pageEventsMax: 1.5 }));
    bad(() => a.watch({ prefix: k('a') }, { pageBytesMax: -1 }));
    bad(() => a.watch({ prefix: k('a') }, { fromTs: -1n }));
    bad(() => a.watch({ prefix: k('a') }, { fromTs: 5 as never }));
    // `fromTs` in the range is taken (below), given twice or as another field it is refused.
    bad(() => a.watch({ prefix: k('a'), fromTs: 5n }, { fromTs: 5n }));
    bad(() => a.watch({ prefix: k('a'), fromTs: -1n }));
    bad(() => a.watch({ prefix: k('a'), signal: new AbortController().signal } as never));
    bad(() => a.watch({ start: k('a'), fromTS: 5n } as never));
    const raw = new PeerKV({ pd: c, stores: c, dataModel: 'raw' });
    bad(() => raw.watch({ prefix: k('a') }));
    raw.close();
    // The store refuses a reversed range and negative limits too (any caller, not only this client).
    const region = (await c.getRegion(k('a')))!.region;
    const store = [...c.stores.values()][0];
    const base = { type: 'txnCdcPull' as const, regionId: region.id, epoch: region.epoch, start: k('a'), fromTs: 1n, eventsMax: 1, bytesMax: 1, waitMs: 0 };
    await expect(store.handle({ ...base, end: k('0') })).rejects.toMatchObject({ kind: 'BadField' });
    await expect(store.handle({ ...base, eventsMax: -1 })).rejects.toMatchObject({ kind: 'BadField' });
  }, 60_000);
});
