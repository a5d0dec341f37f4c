/**
 * `TsoBatcher`: concurrent callers share few PD requests, timestamps strictly increase
 * (also when PD answers lower after a leader change), NotLeader is retried with backoff,
 * and the waiter bound refuses the excess with a typed error. Then the same through a real
 * PD-driven cluster (`PeerKV.getTimestamp`) and through the browser runtime's request table.
 */
import { describe, expect, it } from 'vitest';
import { MemoryEngine } from '@peerkv/storage';
import { systemClock } from '@peerkv/transport';
import { PD_REGION_ID, encodeStoreResponse } from '@peerkv/store';
import { PdCluster, PeerKV, PeerKVError, RemotePdService, type TsoCallOptions } from '../src/index.ts';
import { EmbeddedCluster, checkTabRequest, type Reply } from '../src/browser/index.ts';
import { TSO_BATCH_MAX, TsoBatcher, type TsoBatch, type TsoSource } from '../src/tso-batcher.ts';

/** A PD stand-in: answers after `delayMs`, counting requests and the counts asked for. */
class FakePd implements TsoSource {
  next = 1000n;
  counts: number[] = [];
  failures: PeerKVError[] = [];
  delayMs = 2;

  async getTimestamps(count: number): Promise<TsoBatch> {
    this.counts.push(count);
    await new Promise((r) => setTimeout(r, this.delayMs));
    const f = this.failures.shift();
    if (f) throw f;
    const first = this.next;
    this.next += BigInt(count);
    return { first, count };
  }
}

const notLeader = (): PeerKVError => new PeerKVError('Unavailable', 'PD getTimestamps: NotLeader', { kind: 'NotLeader', regionId: 1 });
const opts = { clock: systemClock, random: () => 0.5, backoff: { baseMs: 1, capMs: 4 } };

function strictlyIncreasing(xs: bigint[]): boolean {
  return xs.every((x, i) => i === 0 || x > xs[i - 1]);
}

describe('TsoBatcher', () => {
  it('serves many concurrent callers with few PD requests, all distinct', async () => {
    const pd = new FakePd();
    const b = new TsoBatcher(pd, opts);
    const all = await Promise.all(Array.from({ length: 500 }, () => b.getTimestamp()));
    expect(new Set(all).size).toBe(500);
    // The first caller goes alone; everyone who arrived while it was in flight goes next.
    expect(pd.counts.length).toBeLessThanOrEqual(3);
    expect(pd.counts.reduce((a, c) => a + c, 0)).toBe(500);
    expect(b.requests).toBe(pd.counts.length);
  });

  it('caps a request at TSO_BATCH_MAX timestamps', async () => {
    const pd = new FakePd();
    const b = new TsoBatcher(pd, opts);
    const n = TSO_BATCH_MAX * 2 + 10;
    const all = await Promise.all(Array.from({ length: n }, () => b.getTimestamp()));
    expect(new Set(all).size).toBe(n);
    expect(Math.max(...pd.counts)).toBe(TSO_BATCH_MAX);
  });

  it('hands out strictly increasing timestamps in call order, across batches', async () => {
    const pd = new FakePd();
    const b = new TsoBatcher(pd, opts);
    const got: bigint[] = [];
    for (let round = 0; round < 5; round++) {
      const batch = await Promise.all(Array.from({ length: 20 }, () => b.getTimestamp()));
      expect(strictlyIncreasing(batch)).toBe(true);
      got.push(...batch);
    }
    expect(strictlyIncreasing(got)).toBe(true);
  });

  it('never goes back when PD answers lower (a new leader behind an old one)', async () => {
    const pd = new FakePd();
    const b = new TsoBatcher(pd, opts);
    const before = await Promise.all(Array.from({ length: 10 }, () => b.getTimestamp()));
    // A PD answering below what was handed out: its timestamps are dropped and asked for again.
    pd.next = 500n;
    const source = pd.getTimestamps.bind(pd);
    pd.getTimestamps = async (count) => {
      const r = await source(count);
      if (r.first < 1000n) pd.next = 2000n;
      return r;
    };
    const after = await Promise.all(Array.from({ length: 10 }, () => b.getTimestamp()));
    expect(strictlyIncreasing([...before, ...after])).toBe(true);
    expect(after[0]).toBe(2000n);
  });

  it('drops timestamps at or below the last one and asks again for the rest', async () => {
    const answers = [100n, 101n, 99n, 200n];
    const asked: number[] = [];
    const source: TsoSource = {
      getTimestamps: async (count) => {
        asked.push(count);
        return { first: answers.shift()!, count };
      },
    };
    const b = new TsoBatcher(source, opts);
    expect(await b.getTimestamp()).toBe(100n);
    expect(await b.getTimestamp()).toBe(101n);
    // 99 is below what was handed out: dropped, and the one timestamp asked for again.
    expect(await b.getTimestamp()).toBe(200n);
    expect(asked).toEqual([1, 1, 1, 1]);
  });

  it('retries NotLeader with backoff, then serves', async () => {
    const pd = new FakePd();
    pd.failures.push(notLeader(), notLeader(), notLeader());
    const b = new TsoBatcher(pd, opts);
    const all = await Promise.all(Array.from({ length: 5 }, () => b.getTimestamp()));
    expect(new Set(all).size).toBe(5);
    expect(pd.counts.length).toBeGreaterThanOrEqual(4);
  });

  it('gives up with RetryBudgetExhausted carrying the last region error', async () => {
    const pd = new FakePd();
    for (let i = 0; i < 10; i++) pd.failures.push(notLeader());
    const b = new TsoBatcher(pd, { ...opts, backoff: { ...opts.backoff, attemptsMax: 3 } });
    const e = await b.getTimestamp().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(PeerKVError);
    expect((e as PeerKVError).kind).toBe('RetryBudgetExhausted');
    expect((e as PeerKVError).lastRegionError?.kind).toBe('NotLeader');
    expect(pd.counts.length).toBe(3);
    // The batcher keeps working afterwards.
    pd.failures.length = 0;
    expect(typeof (await b.getTimestamp())).toBe('bigint');
  });

  it('is the one retry loop: each attempt asks the source for one try within the budget left', async () => {
    const asked: TsoCallOptions[] = [];
    const source: TsoSource = {
      getTimestamps: async (_count, o = {}) => {
        asked.push(o);
        throw notLeader();
      },
    };
    const budgetMs = 5000;
    const b = new TsoBatcher(source, { ...opts, backoff: { ...opts.backoff, attemptsMax: 4, budgetMs } });
    await expect(b.getTimestamp()).rejects.toMatchObject({ kind: 'RetryBudgetExhausted' });
    expect(asked).toHaveLength(4);
    for (const o of asked) {
      expect(o.once).toBe(true);
      expect(o.timeoutMs).toBeGreaterThan(0);
      expect(o.timeoutMs).toBeLessThanOrEqual(budgetMs);
    }
    expect(asked.map((o) => o.timeoutMs!)).toEqual([...asked.map((o) => o.timeoutMs!)].sort((x, y) => y - x));
  });

  it("a remote PD's timestamp request asked `once` makes one round over the stores, not a budget of rounds", async () => {
    let requests = 0;
    const noLeader = encodeStoreResponse({ type: 'pdTimestamps', result: { ok: false, error: { kind: 'NotLeader', regionId: PD_REGION_ID } } });
    const pd = new RemotePdService({ request: async () => (requests++, noLeader) }, { candidates: () => [1, 2], budgetMs: 600 });
    const t0 = performance.now();
    await expect(pd.getTimestamps(1, { once: true })).rejects.toMatchObject({ kind: 'Unavailable', lastRegionError: { kind: 'NotLeader' } });
    expect(requests).toBe(2);
    expect(performance.now() - t0).toBeLessThan(300);
    // Without `once` the call keeps going round until its budget ends.
    requests = 0;
    const t1 = performance.now();
    await expect(pd.getTimestamps(1)).rejects.toMatchObject({ kind: 'Unavailable' });
    expect(requests).toBeGreaterThan(2);
    expect(performance.now() - t1).toBeGreaterThanOrEqual(590);
  });

  it('does not retry an error that is not a PD unavailability', async () => {
    const source: TsoSource = { getTimestamps: async () => Promise.reject(new PeerKVError('InvalidArgument', 'bad')) };
    const b = new TsoBatcher(source, opts);
    await expect(b.getTimestamp()).rejects.toMatchObject({ kind: 'InvalidArgument' });
  });

  it('refuses callers past the waiter bound with a typed error', async () => {
    const pd = new FakePd();
    pd.delayMs = 20;
    const b = new TsoBatcher(pd, { ...opts, waitersMax: 4 });
    const admitted = [b.getTimestamp()]; // goes out at once: not waiting
    await Promise.resolve();
    for (let i = 0; i < 4; i++) admitted.push(b.getTimestamp());
    expect(b.waiting).toBe(4);
    const e = await b.getTimestamp().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(PeerKVError);
    expect((e as PeerKVError).kind).toBe('Unavailable');
    expect((e as PeerKVError).lastRegionError?.kind).toBe('ServerIsBusy');
    expect(new Set(await Promise.all(admitted)).size).toBe(5);
  });

  it('an aborted waiter leaves; close fails the rest with Closed', async () => {
    const pd = new FakePd();
    pd.delayMs = 20;
    const b = new TsoBatcher(pd, opts);
    const first = b.getTimestamp();
    const ac = new AbortController();
    const aborted = b.getTimestamp({ signal: ac.signal });
    const kept = b.getTimestamp();
    ac.abort();
    await expect(aborted).rejects.toMatchObject({ kind: 'Aborted' });
    await first;
    await kept;
    expect(pd.counts).toEqual([1, 1]);
    const pending = b.getTimestamp();
    const waiting = b.getTimestamp();
    b.close();
    await expect(waiting).rejects.toMatchObject({ kind: 'Closed' });
    await expect(pending).rejects.toMatchObject({ kind: 'Closed' });
    await expect(b.getTimestamp()).rejects.toMatchObject({ kind: 'Closed' });
  });
});

describe('PeerKV.getTimestamp', () => {
  it('gets batched, increasing timestamps from a PD-driven cluster', async () => {
    const c = new PdCluster({
      openEngine: (_name, cfs) => MemoryEngine.open({ columnFamilies: cfs }),
      store: { tickIntervalMs: 10 },
    });
    try {
      await c.bootstrap('dev-a');
      const kv = new PeerKV({ pd: c, stores: c, backoff: { baseMs: 2, capMs: 50 } });
      const counted = { n: 0 };
      const leader = [...c.stores.values()].find((s) => s.pdIsLeader())!;
      const orig = leader.pdGetTimestamps.bind(leader);
      leader.pdGetTimestamps = (count, o) => {
        counted.n++;
        return orig(count, o);
      };
      const a = await Promise.all(Array.from({ length: 200 }, () => kv.getTimestamp()));
      const b = await Promise.all(Array.from({ length: 200 }, () => kv.getTimestamp()));
      expect(new Set([...a, ...b]).size).toBe(400);
      expect(b.every((x) => x > a.reduce((m, y) => (y > m ? y : m), 0n))).toBe(true);
      expect(counted.n).toBeLessThanOrEqual(6);
      // Physical part is near now (ms since the epoch).
      expect(Number(a[0] >> 18n)).toBeGreaterThan(Date.now() - 60_000);
      kv.close();
      await expect(kv.getTimestamp()).rejects.toMatchObject({ kind: 'Closed' });
    } finally {
      await c.close();
    }
  });

  it('refuses with Unavailable when its PD serves no timestamps', async () => {
    const pd = { getRegion: async () => undefined, getRegionById: async () => undefined, getStore: async () => undefined };
    const kv = new PeerKV({ dataModel: 'raw', pd, stores: { store: () => undefined } });
    await expect(kv.getTimestamp()).rejects.toMatchObject({ kind: 'Unavailable' });
  });
});

describe('getTimestamp from a tab', () => {
  it('is a checked op the host serves through its client', async () => {
    expect(checkTabRequest({ kind: 'kv', request: { type: 'getTimestamp' } })).toEqual({ kind: 'kv', request: { type: 'getTimestamp' } });
    const open = (dataModel: 'raw' | undefined): Promise<EmbeddedCluster> =>
      EmbeddedCluster.open({
        cluster: 'tso',
        store: { tickIntervalMs: 10 },
        requestTimeoutMs: 500,
        openEngine: (_name, cfs) => MemoryEngine.open({ columnFamilies: cfs }),
        ...(dataModel ? { dataModel } : {}),
      });
    // The raw embedded runtime routes without PD: the op runs and is refused as a typed error.
    const raw = await open('raw');
    try {
      const r: Reply = await raw.call({ kind: 'kv', request: { type: 'getTimestamp' } });
      expect(r).toMatchObject({ ok: false, error: { kind: 'Unavailable' } });
    } finally {
      await raw.close();
    }
    // The default (mvcc) one runs PD in its Worker: the tab gets a timestamp.
    const mvcc = await open(undefined);
    try {
      const r: Reply = await mvcc.call({ kind: 'kv', request: { type: 'getTimestamp' } });
      expect(r.ok && typeof r.value === 'bigint' && r.value > 0n).toBe(true);
    } finally {
      await mvcc.close();
    }
  });
});
