/**
 * `CompositeTransport`: routing by preference with failover, merged peer events, request
 * routing, summed counters, the partition hook on every part. Parts are
 * `BroadcastChannelTransport`s on two channels (two cluster ids) over Node's real
 * BroadcastChannel, and hand-wired `TestTransport`s where link states must be controlled.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { BroadcastChannelTransport } from '../src/broadcast-channel-transport.ts';
import type { RaftBatch } from '../src/codec/envelope.ts';
import { CompositeTransport, CompositeTransportError } from '../src/composite-transport.ts';
import { PipeLink, seqMessage, seqOf, TestTransport, testKeys, until, rejection, watch } from './helpers.ts';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

let clusterSeq = 0;

async function bc(storeId: number, cluster: string): Promise<BroadcastChannelTransport> {
  const t = new BroadcastChannelTransport({ localStoreId: storeId, keys: await testKeys(cluster, 'pw'), heartbeatIntervalMs: 50, departureTimeoutMs: 2000 });
  cleanups.push(() => t.close());
  return t;
}

/** A store with a preferred part on channel A and a fallback on channel B. */
async function store(storeId: number, clusters: [string, string]) {
  const a = await bc(storeId, clusters[0]);
  const b = await bc(storeId, clusters[1]);
  return { ...watch(new CompositeTransport([a, b]), cleanups), a, b };
}

const seqs = (got: RaftBatch[]) => got.flatMap((b) => b.messages).map(seqOf);


describe('CompositeTransport', () => {
  it('refuses no parts and parts of different stores, with typed errors', async () => {
    expect(() => new CompositeTransport([])).toThrow(CompositeTransportError);
    const keys = await testKeys('c', 's');
    const x = new TestTransport({ localStoreId: 1, keys });
    const y = new TestTransport({ localStoreId: 2, keys });
    cleanups.push(() => x.close(), () => y.close());
    try {
      new CompositeTransport([x, y]);
      throw new Error('built');
    } catch (e) {
      expect(e).toBeInstanceOf(CompositeTransportError);
      expect((e as CompositeTransportError).kind).toBe('StoreIdMismatch');
    }
  });

  it('routes through the preferred part, fails over when it loses the peer, and comes back', async () => {
    const clusters: [string, string] = [`cmp-a-${++clusterSeq}`, `cmp-b-${clusterSeq}`];
    const s1 = await store(1, clusters);
    const s2 = await store(2, clusters);
    await until(() => [s1.a, s1.b, s2.a, s2.b].every((t) => t.peers().length === 1));
    // Reachable twice, announced once.
    expect(s1.events).toEqual([{ type: 'up', storeId: 2 }]);
    expect(s2.events).toEqual([{ type: 'up', storeId: 1 }]);
    expect(s1.t.peers()).toEqual([2]);

    s1.t.send(2, [seqMessage(1)]);
    await until(() => seqs(s2.got).length === 1);
    expect(s1.a.counters().messagesSent).toBe(1);
    expect(s1.b.counters().messagesSent).toBe(0);
    expect([...(await s1.t.request(2, new Uint8Array([7])))]).toEqual([7, 1]);
    expect(s1.a.counters().rpc.requestsSent).toBe(1);

    // The preferred part loses store 2: no down event, traffic moves to the other part.
    s1.a.partition([2]);
    await until(() => s2.a.peers().length === 0);
    expect(s1.events).toHaveLength(1);
    expect(s2.events).toHaveLength(1);
    expect(s1.t.peers()).toEqual([2]);
    s1.t.send(2, [seqMessage(2)]);
    s2.t.send(1, [seqMessage(3)]);
    await until(() => seqs(s2.got).length === 2 && seqs(s1.got).length === 1);
    expect(seqs(s2.got)).toEqual([1, 2]);
    expect(seqs(s1.got)).toEqual([3]);
    expect(s1.b.counters().messagesSent).toBe(1);
    expect(s2.b.counters().messagesSent).toBe(1);
    expect([...(await s2.t.request(1, new Uint8Array([8])))]).toEqual([8, 2]);
    expect(s2.b.counters().rpc.requestsSent).toBe(1);

    // Healed: the preferred part takes over again.
    s1.a.heal();
    await until(() => s1.a.peers().length === 1 && s2.a.peers().length === 1);
    const viaA = s1.a.counters().messagesSent;
    s1.t.send(2, [seqMessage(4)]);
    await until(() => seqs(s2.got).length === 3);
    expect(s1.a.counters().messagesSent).toBe(viaA + 1);
    expect(s1.events).toEqual([{ type: 'up', storeId: 2 }]);

    // Counters are summed field by field over both parts.
    const c = s1.t.counters();
    const [ca, cb] = [s1.a.counters(), s1.b.counters()];
    expect(c.messagesSent).toBe(ca.messagesSent + cb.messagesSent);
    expect(c.bytesReceived).toBe(ca.bytesReceived + cb.bytesReceived);
    expect(c.rpc.requestsSent).toBe(ca.rpc.requestsSent + cb.rpc.requestsSent);
    expect(c.rpc.requestsServed).toBe(ca.rpc.requestsServed + cb.rpc.requestsServed);
    expect(c.rpc.requestsServed).toBe(1);
    expect(c.rpc.requestsSent).toBe(1);
  });

  it('partitions through every part: one down event, sends drop, requests reject; heal brings one up', async () => {
    const clusters: [string, string] = [`cmp-a-${++clusterSeq}`, `cmp-b-${clusterSeq}`];
    const s1 = await store(1, clusters);
    const s2 = await store(2, clusters);
    const s3 = await store(3, clusters);
    await until(() => [s1, s2, s3].every((s) => s.a.peers().length === 2 && s.b.peers().length === 2));
    s1.t.partition([2]);
    expect(s1.t.partitionedStores()).toEqual([2]);
    expect(s1.a.partitionedStores()).toEqual([2]);
    expect(s1.b.partitionedStores()).toEqual([2]);
    expect(s1.t.peers()).toEqual([3]);
    await until(() => s2.t.peers().length === 1);
    expect(s1.events.filter((e) => e.type === 'down')).toEqual([{ type: 'down', storeId: 2, reason: 'partitioned' }]);
    expect(s2.events.filter((e) => e.type === 'down')).toHaveLength(1);
    expect(s1.t.send(2, [seqMessage(1)])).toEqual({ queued: 0, dropped: 1 });
    expect(s1.t.counters().drops.peerUnreachable).toBe(1);
    expect((await rejection(s1.t.request(2, new Uint8Array([1])))).kind).toBe('Unreachable');
    expect(s1.t.counters().rpc.requestsFailed).toBe(1);
    s1.t.send(3, [seqMessage(2)]);
    await until(() => seqs(s3.got).length === 1);

    s1.t.heal();
    expect(s1.t.partitionedStores()).toEqual([]);
    await until(() => s1.t.peers().length === 2 && s2.t.peers().length === 2);
    expect(s1.events.filter((e) => e.type === 'up' && e.storeId === 2)).toHaveLength(2);
    s1.t.send(2, [seqMessage(3)]);
    await until(() => seqs(s2.got).length === 1);
  });

  it('queues on a part whose link is still authenticating; drops here when no part has a link', async () => {
    const keys = await testKeys('c', 's');
    const x = new TestTransport({ localStoreId: 1, keys });
    const y = new TestTransport({ localStoreId: 1, keys });
    const t = new CompositeTransport([x, y]);
    cleanups.push(() => t.close());
    expect(t.send(2, [seqMessage(1)])).toEqual({ queued: 0, dropped: 1 });
    expect(t.counters().drops.peerUnreachable).toBe(1);
    expect(x.counters().drops.peerUnreachable + y.counters().drops.peerUnreachable).toBe(0);
    y.attach(2, new PipeLink()); // a link that never authenticates (no one at the other end)
    expect(t.send(2, [seqMessage(2)])).toEqual({ queued: 1, dropped: 0 });
    expect(t.counters().drops.peerUnreachable).toBe(1);
    expect(t.peers()).toEqual([]);
  });

  it('registers the request handler on every part and unsubscribes from all', async () => {
    const clusters: [string, string] = [`cmp-a-${++clusterSeq}`, `cmp-b-${clusterSeq}`];
    const s1 = await store(1, clusters);
    const b2 = await bc(2, clusters[1]); // reachable only through part B
    await until(() => s1.t.peers().length === 1 && b2.peers().length === 1);
    expect([...(await b2.request(1, new Uint8Array([1])))]).toEqual([1, 2]);
    const off = s1.t.onRequest(async () => new Uint8Array([42]));
    expect([...(await b2.request(1, new Uint8Array([1])))]).toEqual([42]);
    off();
    expect((await rejection(b2.request(1, new Uint8Array([1])))).kind).toBe('RemoteFailed');
  });

  it('close closes every part and reports the remaining peers down once', async () => {
    const clusters: [string, string] = [`cmp-a-${++clusterSeq}`, `cmp-b-${clusterSeq}`];
    const s1 = await store(1, clusters);
    const s2 = await store(2, clusters);
    await until(() => [s1.a, s1.b, s2.a, s2.b].every((t) => t.peers().length === 1));
    s1.t.close();
    expect(s1.events.filter((e) => e.type === 'down')).toHaveLength(1);
    expect(s1.t.send(2, [seqMessage(1)]).dropped).toBe(1);
    expect(s1.t.counters().drops.closed).toBe(1);
    expect((await rejection(s1.t.request(2, new Uint8Array([1])))).kind).toBe('Closed');
    await until(() => s2.t.peers().length === 0);
    expect(s2.events.filter((e) => e.type === 'down')).toHaveLength(1);
  });
});
