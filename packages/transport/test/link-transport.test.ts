import { describe, expect, it } from 'vitest';
import { encodePackets } from '../src/chunking.ts';
import { ManualTimers } from '../src/timers.ts';
import { connect, PipeLink, sendSealed, seqMessage, seqOf, TestTransport, testKeys, until } from './helpers.ts';

async function pair(secretB = 's3cret', clusterB = 'c1') {
  const a = new TestTransport({ localStoreId: 1, keys: await testKeys('c1', 's3cret') });
  const b = new TestTransport({ localStoreId: 2, keys: await testKeys(clusterB, secretB) });
  return { a, b };
}

describe('LinkTransport', () => {
  it('authenticates both sides, then delivers every message in order, batched', async () => {
    const { a, b } = await pair();
    const ups: number[] = [];
    a.onPeer((e) => e.type === 'up' && ups.push(e.storeId));
    connect(a, b);
    for (let i = 0; i < 2000; i += 100) a.send(2, Array.from({ length: 100 }, (_, j) => seqMessage(i + j)));
    await until(() => b.messages().length === 2000);
    expect(b.messages().map(seqOf)).toEqual(Array.from({ length: 2000 }, (_, i) => i));
    expect(ups).toEqual([2]);
    expect(a.peers()).toEqual([2]);
    const c = a.counters();
    expect(c.messagesSent).toBe(2000);
    expect(c.framesSent).toBeLessThan(200); // batched: far fewer frames than messages
    expect(Object.values(c.drops).every((n) => n === 0)).toBe(true);
  });

  it('chunks large batches and reassembles them', async () => {
    const { a, b } = await pair();
    connect(a, b);
    a.send(2, [seqMessage(7, 200_000), seqMessage(8, 40_000)]);
    await until(() => b.messages().length === 2);
    expect(b.messages().map(seqOf)).toEqual([7, 8]);
    expect(b.messages()[0].message.entries[0].data.length).toBe(200_000);
  });

  it('a store with the wrong secret never gets a message delivered, and is counted', async () => {
    const { a, b } = await pair('wrong');
    connect(a, b);
    b.send(1, [seqMessage(1), seqMessage(2)]);
    // Whichever side checks the other's proof first drops the link.
    await until(() => a.counters().drops.authFailed + b.counters().drops.authFailed >= 1);
    await until(() => b.counters().drops.peerDown === 2);
    expect(a.received).toEqual([]);
    expect(b.received).toEqual([]);
    expect(a.peers()).toEqual([]);
    expect(b.peers()).toEqual([]);
  });

  it('drops and counts Raft frames sent before authentication', async () => {
    const a = new TestTransport({ localStoreId: 1, keys: await testKeys('c1', 's3cret') });
    const rogue = new PipeLink();
    const h = a.attach(9, rogue);
    const batch = { clusterId: 'c1', fromStoreId: 9, toStoreId: 1, messages: [seqMessage(1)] };
    for (const p of encodePackets({ type: 'raftBatch', batch }, 16 * 1024)) h.receive(p);
    await until(() => a.counters().drops.unauthenticated === 1);
    expect(a.received).toEqual([]);
  });

  it('a forged proof followed at once by Raft frames: nothing is delivered, all is counted', async () => {
    const a = new TestTransport({ localStoreId: 1, keys: await testKeys('c1', 's3cret') });
    const rogue = new PipeLink();
    const h = a.attach(9, rogue);
    const frames = [
      { type: 'authHello' as const, clusterId: 'c1', storeId: 9, nonce: new Uint8Array(32).fill(1) },
      { type: 'authProof' as const, proof: new Uint8Array(32).fill(2) },
      { type: 'raftBatch' as const, batch: { clusterId: 'c1', fromStoreId: 9, toStoreId: 1, messages: [seqMessage(1)] } },
      { type: 'raftBatch' as const, batch: { clusterId: 'c1', fromStoreId: 9, toStoreId: 1, messages: [seqMessage(2)] } },
    ];
    for (const f of frames) for (const p of encodePackets(f, 16 * 1024)) h.receive(p);
    await until(() => a.counters().drops.authFailed === 1);
    expect(a.counters().drops.unauthenticated).toBe(2);
    expect(a.received).toEqual([]);
    expect(rogue.closed).toBe(true);
  });

  it('drops a link whose hello names another cluster', async () => {
    const { a, b } = await pair('s3cret', 'other');
    connect(a, b);
    await until(() => a.counters().drops.foreignCluster === 1 && b.counters().drops.foreignCluster === 1);
    expect(a.peers()).toEqual([]);
  });

  it('drops a link on a frame that does not decode, and counts it', async () => {
    const { a, b } = await pair();
    const [la] = connect(a, b);
    await until(() => b.peers().length === 1);
    await sendSealed(await testKeys('c1', 's3cret'), la, 1, 2, [new Uint8Array([0, 77, 1])]);
    await until(() => b.counters().drops.decodeError === 1);
    await until(() => a.peers().length === 0 && b.peers().length === 0);
  });

  it('drops a link on a reassembly violation, and counts it', async () => {
    const { a, b } = await pair();
    const [la] = connect(a, b);
    await until(() => b.peers().length === 1);
    await sendSealed(await testKeys('c1', 's3cret'), la, 1, 2, [new Uint8Array([1, 0xff, 0xff, 0xff, 0x7f, 0, 2])]); // a 268 MB frame
    await until(() => b.counters().drops.reassembly === 1);
    expect(b.peers()).toEqual([]);
  });

  it('bounds the send queue and counts drops; unknown targets are unreachable', async () => {
    const keys = await testKeys('c1', 's3cret');
    const a = new TestTransport({ localStoreId: 1, keys, queueLengthMax: 10, autoFlush: false });
    a.attach(2, new PipeLink());
    const r = a.send(2, Array.from({ length: 15 }, (_, i) => seqMessage(i)));
    expect(r).toEqual({ queued: 10, dropped: 5 });
    expect(a.send(3, [seqMessage(1)])).toEqual({ queued: 0, dropped: 1 });
    expect(a.counters().drops.queueFull).toBe(5);
    expect(a.counters().drops.peerUnreachable).toBe(1);
  });

  it('pauses while the link buffer is over the high-water mark and resumes on drain', async () => {
    const keys = await testKeys('c1', 's3cret');
    const timers = new ManualTimers();
    const a = new TestTransport({ localStoreId: 1, keys, timers, bufferedAmountHighBytes: 1000, batchBytesMax: 500 });
    const b = new TestTransport({ localStoreId: 2, keys });
    const [la] = connect(a, b);
    await until(() => a.peers().length === 1 && b.peers().length === 1);
    la.buffered = 5000;
    a.send(2, Array.from({ length: 50 }, (_, i) => seqMessage(i, 100)));
    await new Promise((r) => setTimeout(r, 5));
    expect(b.messages()).toEqual([]);
    expect(a.counters().backpressurePauses).toBe(1);
    timers.advance(10); // poll finds it still full
    expect(a.counters().backpressurePauses).toBe(2);
    la.buffered = 0;
    la.handle?.drained();
    await until(() => b.messages().length === 50);
    expect(b.messages().map(seqOf)).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('drops a link that does not authenticate in time and reports the peer down on close', async () => {
    const keys = await testKeys('c1', 's3cret');
    const timers = new ManualTimers();
    const a = new TestTransport({ localStoreId: 1, keys, timers, authTimeoutMs: 1000 });
    a.attach(5, new PipeLink());
    timers.advance(1000);
    expect(a.counters().drops.authTimeout).toBe(1);
    const b = new TestTransport({ localStoreId: 2, keys });
    const downs: string[] = [];
    a.onPeer((e) => e.type === 'down' && downs.push(`${e.storeId}`));
    const [la, lb] = connect(a, b);
    await until(() => a.peers().length === 1);
    lb.close();
    await until(() => downs.length === 1);
    expect(a.peers()).toEqual([]);
  });
});

describe('LinkTransport keepalive', () => {
  it('keeps a quiet link up, and drops a link whose peer went silent', async () => {
    const a = new TestTransport({ localStoreId: 1, keys: await testKeys('c1', 's3cret'), keepaliveIntervalMs: 20, keepaliveMissesMax: 3 });
    const b = new TestTransport({ localStoreId: 2, keys: await testKeys('c1', 's3cret'), keepaliveIntervalMs: 20, keepaliveMissesMax: 3 });
    const downs: string[] = [];
    a.onPeer((e) => e.type === 'down' && downs.push(e.reason));
    const [la, lb] = connect(a, b);
    await until(() => a.peers().includes(2) && b.peers().includes(1));
    // No traffic for many intervals: the keepalives hold the link, delivering nothing.
    await new Promise((r) => setTimeout(r, 200));
    expect(a.peers()).toEqual([2]);
    expect(a.messages()).toEqual([]);
    // The path dies without any close event (a killed process): packets vanish both ways.
    la.peer = null;
    lb.peer = null;
    await until(() => !a.peers().includes(2));
    expect(downs[0]).toMatch(/silent/);
    a.close();
    b.close();
  });
});
