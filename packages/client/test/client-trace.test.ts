/**
 * The client side of the latency trace (`trace.ts`, `browser/host-trace.ts`): a `SpanTrace`
 * keeps each span's newest `TRACE_SAMPLES_MAX` durations and at most `TRACE_SPANS_MAX` spans;
 * a client writing through an mvcc cluster records `tso`, `route` and `send:txnPrewrite` per
 * write, each fitting in what the caller saw and the send holding the leader store's own
 * spans; with tracing off nothing reads the trace's clock or records; a host's `trace` request
 * turns it on afresh and off, and `status().trace` shows the host's and its leading store's spans.
 */
import { describe, expect, it } from 'vitest';
import { MemoryDisk, MemoryEngine } from '@peerkv/storage';
import { SpanTrace, TRACE_SAMPLES_MAX, TRACE_SPANS_MAX, codec, type TraceClock } from '../src/index.ts';
import { EmbeddedCluster, unwrapReply, type TraceView } from '../src/browser/index.ts';
import { closeTxnClusterAfterEach, start } from './txn-cluster.ts';

closeTxnClusterAfterEach();

/** A clock that counts its reads, over the real one. */
function countingClock(): TraceClock & { reads: number } {
  const c = { reads: 0, now: () => (c.reads++, performance.now()) };
  return c;
}

describe('SpanTrace', () => {
  it('keeps the newest TRACE_SAMPLES_MAX durations per span and at most TRACE_SPANS_MAX spans', () => {
    let now = 0;
    const t = new SpanTrace({ now: () => now });
    // Ten slow samples (100 ms), then TRACE_SAMPLES_MAX of 2 ms: the slow ones leave the ring.
    for (let i = 0; i < 10 + TRACE_SAMPLES_MAX; i++) {
      const t0 = t.now();
      now += i < 10 ? 100 : 2;
      t.record('send:write', t0);
    }
    const s = t.summary().spans['send:write'];
    expect(s).toEqual({ samples: TRACE_SAMPLES_MAX, p50Ms: 2, p99Ms: 2, meanMs: 2 });
    for (let i = 1; i < TRACE_SPANS_MAX + 5; i++) t.record(`host:x${i}`, now);
    expect(Object.keys(t.summary().spans)).toHaveLength(TRACE_SPANS_MAX);
    expect(t.summary().droppedSamples).toBe(5);
  });

  it('time() records a span that failed too', async () => {
    let now = 0;
    const t = new SpanTrace({ now: () => now });
    await expect(
      t.time('route', async () => {
        now += 7;
        throw new Error('no route');
      }),
    ).rejects.toThrow('no route');
    expect(t.summary().spans.route).toEqual({ samples: 1, p50Ms: 7, p99Ms: 7, meanMs: 7 });
  });
});

describe('client spans', () => {
  it('an mvcc write records tso, route and send:txnPrewrite within what the caller saw, the send holding the leader store\'s spans', async () => {
    const { c, kv } = await start();
    const client = kv('mvcc');
    await client.put(codec.text('warm'), codec.text('x'));
    for (const s of c.stores.values()) s.clearWriteTrace();
    const clock = countingClock();
    const trace = new SpanTrace(clock);
    client.setTrace(trace);
    const n = 30;
    let callerMs = 0;
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await client.put(codec.text(`k${i}`), new Uint8Array(100));
      callerMs += performance.now() - t0;
    }
    const spans = trace.summary().spans;
    // Each write: a start ts, one 1PC prewrite (nothing failed, nothing retried) and two region
    // lookups (the committer groups the keys by region, then the send locates the first key).
    expect(spans.tso.samples).toBe(n);
    expect(spans.route.samples).toBe(2 * n);
    expect(spans['send:txnPrewrite'].samples).toBe(n);
    const total = (name: string): number => spans[name].meanMs * spans[name].samples;
    // Means add up: the spans happen one after the other inside each write.
    expect(total('tso') + total('route') + total('send:txnPrewrite')).toBeLessThanOrEqual(callerMs + 0.01 * 3);
    // The leader's store answered every prewrite: its spans sit inside the client's send.
    const led = [...c.stores.values()].map((s) => s.status().writeTrace).filter((w) => w !== undefined);
    expect(led).toHaveLength(1);
    expect(led[0]!.samples).toBe(n);
    expect(led[0]!.meanMs.total).toBeLessThanOrEqual(spans['send:txnPrewrite'].meanMs + 0.001);
    expect(clock.reads).toBeGreaterThanOrEqual(6 * n);

    // Off: the same writes read the trace's clock not once and record nothing.
    client.setTrace(undefined);
    const before = JSON.stringify(trace.summary());
    clock.reads = 0;
    for (let i = 0; i < n; i++) await client.put(codec.text(`k${i}`), new Uint8Array(100));
    await client.get(codec.text('k0'));
    expect(clock.reads).toBe(0);
    expect(JSON.stringify(trace.summary())).toBe(before);
  });
});

describe('host trace', () => {
  it('the trace request turns the host\'s spans on afresh and off; status().trace shows them with the leading store\'s', async () => {
    const disks = new Map<string, MemoryDisk>();
    const c = await EmbeddedCluster.open({
      cluster: 'trace',
      dataModel: 'mvcc',
      store: { tickIntervalMs: 10, heartbeatIntervalTicks: 5 },
      requestTimeoutMs: 500,
      openEngine: async (name, cfs) => {
        if (!disks.has(name)) disks.set(name, new MemoryDisk());
        return MemoryEngine.open({ columnFamilies: cfs, disk: disks.get(name) });
      },
    });
    try {
      const put = (i: number) => c.call({ kind: 'kv', request: { type: 'put', key: codec.text(`k${i}`), value: new Uint8Array(100) } }).then((r) => unwrapReply(r));
      await put(0);
      expect(c.status().trace).toMatchObject({ on: false });
      expect(c.status().trace?.host).toBeUndefined();
      const first = unwrapReply<TraceView>(await c.call({ kind: 'tab', request: { type: 'trace', on: true } }));
      expect(first.on).toBe(false);
      // Turned on afresh: the write before is forgotten by the stores too.
      expect(c.status().trace?.store).toBeUndefined();
      const n = 12;
      for (let i = 1; i <= n; i++) await put(i);
      const on = c.status().trace!;
      expect(on.on).toBe(true);
      expect(on.host!.spans['host:put'].samples).toBe(n);
      expect(on.host!.spans['send:txnPrewrite'].samples).toBe(n);
      expect(on.host!.spans['send:txnPrewrite'].meanMs).toBeLessThanOrEqual(on.host!.spans['host:put'].meanMs);
      expect(on.store!.summary.samples).toBe(n);
      expect(on.store!.summary.meanMs.total).toBeLessThanOrEqual(on.host!.spans['send:txnPrewrite'].meanMs + 0.001);
      // Status is not a traced request, nor counted as a read.
      expect(on.host!.spans['host:status']).toBeUndefined();
      const off = unwrapReply<TraceView>(await c.call({ kind: 'tab', request: { type: 'trace', on: false } }));
      expect(off.host!.spans['host:put'].samples).toBe(n);
      await put(n + 1);
      expect(c.status().trace?.host).toBeUndefined();
      // A malformed switch is a typed refusal.
      const bad = await c.call({ kind: 'tab', request: { type: 'trace', on: 'yes' } } as never);
      expect(bad.ok ? undefined : bad.error.kind).toBe('InvalidArgument');
    } finally {
      await c.close();
    }
  });
});
