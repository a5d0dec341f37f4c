/**
 * The partition test hook (`partition`/`heal`/`partitionedStores`) on the link engine, on
 * `BroadcastChannelTransport` over Node's real BroadcastChannel, and on `WebRtcTransport`
 * with fake peers through the real signaling server.
 */
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { SignalingServer } from '@peerkv/signaling';
import { BroadcastChannelTransport } from '../src/broadcast-channel-transport.ts';
import type { LinkTransport } from '../src/link-transport.ts';
import type { WebSocketCtor } from '../src/signaling-client.ts';
import { WebRtcTransport } from '../src/webrtc-transport.ts';
import { heldBus, type HeldBus } from './fake-bus.ts';
import { fakePeerFactory } from './fake-peer.ts';
import { connect, PipeLink, seqMessage, seqOf, TestTransport, testKeys, until, rejection, watch as watchTransport, type Watched } from './helpers.ts';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

type Node<T extends LinkTransport> = Watched<T>;

function watch<T extends LinkTransport>(t: T): Node<T> {
  return watchTransport(t, cleanups);
}

const seqs = (n: Node<LinkTransport>) => n.got.flatMap((b) => b.messages).map(seqOf);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


let clusterSeq = 0;

async function bcStore(storeId: number, cluster: string): Promise<Node<BroadcastChannelTransport>> {
  return watch(new BroadcastChannelTransport({ localStoreId: storeId, keys: await testKeys(cluster, 'pw'), heartbeatIntervalMs: 50, departureTimeoutMs: 2000 }));
}

describe('LinkTransport partition hook', () => {
  it('closes the link, refuses a new one, and lets a new one through after heal', async () => {
    const keys = await testKeys('c1', 's');
    const a = watch(new TestTransport({ localStoreId: 1, keys }));
    const b = watch(new TestTransport({ localStoreId: 2, keys }));
    connect(a.t, b.t);
    await until(() => a.t.peers().length === 1 && b.t.peers().length === 1);
    a.t.partition([2, 1, 2]);
    expect(a.t.partitionedStores()).toEqual([2]);
    expect(a.t.peers()).toEqual([]);
    expect(a.events.at(-1)).toEqual({ type: 'down', storeId: 2, reason: 'partitioned' });
    await until(() => b.t.peers().length === 0); // the pipe's close reached b
    expect(a.t.send(2, [seqMessage(1)])).toEqual({ queued: 0, dropped: 1 });
    expect(a.t.counters().drops.peerUnreachable).toBe(1);
    expect((await rejection(a.t.request(2, new Uint8Array([1])))).kind).toBe('Unreachable');
    const refused = new PipeLink();
    a.t.attach(2, refused);
    expect(refused.closed).toBe(true);
    expect(refused.sent).toEqual([]); // not even an authHello
    a.t.heal();
    expect(a.t.partitionedStores()).toEqual([]);
    connect(a.t, b.t);
    await until(() => a.t.peers().length === 1 && b.t.peers().length === 1);
    expect([...(await a.t.request(2, new Uint8Array([9])))]).toEqual([9, 1]);
  });
});

describe('BroadcastChannelTransport partition', () => {
  it('cuts 1 from 2 on both sides while 1↔3 and 2↔3 keep working, then heals', async () => {
    const cluster = `bc-part-${++clusterSeq}`;
    const a = await bcStore(1, cluster);
    const b = await bcStore(2, cluster);
    const c = await bcStore(3, cluster);
    await until(() => [a, b, c].every((n) => n.t.peers().length === 2));

    a.t.partition([2]);
    expect(a.t.peers()).toEqual([3]);
    await until(() => b.t.peers().length === 1);
    expect(b.t.peers()).toEqual([3]);
    expect(a.events).toContainEqual({ type: 'down', storeId: 2, reason: 'partitioned' });
    expect(b.events).toContainEqual({ type: 'down', storeId: 1, reason: 'bye' });
    expect(a.t.send(2, [seqMessage(1)]).dropped).toBe(1);
    expect(a.t.counters().drops.peerUnreachable).toBe(1);
    expect((await rejection(a.t.request(2, new Uint8Array([1])))).kind).toBe('Unreachable');
    expect((await rejection(b.t.request(1, new Uint8Array([1])))).kind).toBe('Unreachable');

    // Several heartbeats later they still do not see each other; 3 sees and serves both.
    const upsBefore = [a, b].map((n) => n.events.filter((e) => e.type === 'up').length);
    a.t.send(3, [seqMessage(10)]);
    c.t.send(1, [seqMessage(11)]);
    b.t.send(3, [seqMessage(12)]);
    await sleep(300);
    expect([a, b].map((n) => n.events.filter((e) => e.type === 'up').length)).toEqual(upsBefore);
    expect(a.t.peers()).toEqual([3]);
    expect(b.t.peers()).toEqual([3]);
    expect(c.t.peers()).toEqual([1, 2]);
    await until(() => seqs(c).length === 2 && seqs(a).length === 1);
    expect(seqs(c).sort()).toEqual([10, 12]);
    expect(seqs(a)).toEqual([11]);
    expect([...(await c.t.request(1, new Uint8Array([3])))]).toEqual([3, 3]);
    expect(b.t.counters().drops.authTimeout).toBe(0);

    a.t.heal([2]);
    expect(a.t.partitionedStores()).toEqual([]);
    await until(() => a.t.peers().length === 2 && b.t.peers().length === 2);
    a.t.send(2, [seqMessage(20)]);
    b.t.send(1, [seqMessage(21)]);
    await until(() => seqs(b).includes(20) && seqs(a).includes(21));
    expect([...(await b.t.request(1, new Uint8Array([4])))]).toEqual([4, 2]);
    expect(a.t.counters().drops.authFailed + b.t.counters().drops.authFailed).toBe(0);
  });

  it('a store partitioned from several at once, then healed one at a time', async () => {
    const cluster = `bc-part-${++clusterSeq}`;
    const a = await bcStore(1, cluster);
    const b = await bcStore(2, cluster);
    const c = await bcStore(3, cluster);
    await until(() => [a, b, c].every((n) => n.t.peers().length === 2));
    b.t.partition([1, 3]);
    expect(b.t.partitionedStores()).toEqual([1, 3]);
    await until(() => a.t.peers().length === 1 && c.t.peers().length === 1 && b.t.peers().length === 0);
    b.t.heal([3]);
    expect(b.t.partitionedStores()).toEqual([1]);
    await until(() => b.t.peers().length === 1 && c.t.peers().length === 2);
    await sleep(200);
    expect(b.t.peers()).toEqual([3]);
    expect(a.t.peers()).toEqual([3]);
    b.t.heal();
    await until(() => [a, b, c].every((n) => n.t.peers().length === 2));
  });
});

describe('BroadcastChannelTransport heal with a link attempt in flight (held bus)', () => {
  /** Delivers everything held, in posting order, until `cond` holds (handshake steps are async). */
  async function flowUntil(bus: HeldBus, cond: () => boolean): Promise<void> {
    for (let round = 0; round < 2000 && !cond(); round++) {
      while (bus.deliver(() => true));
      await sleep(1);
    }
    expect(cond()).toBe(true);
  }

  // The race behind the partition test's 1-in-5 failure under load, in general form: one
  // side's half-link goes without a word after the other side's half-link took its hello (a
  // bye anyone may post, a timeout, an eviction; at heal it was the heal's bye), and its next
  // link from the same incarnation spoke into that half-link: a second hello there, a proof
  // for the other nonce here, authFailed on both sides.
  it('links once, with no authFailed, when a half-link that was answered goes without a word', async () => {
    const bus = heldBus();
    const keys = await testKeys(`bc-held-${++clusterSeq}`, 'pw');
    const opts = { keys, BroadcastChannel: bus.Ctor, heartbeatIntervalMs: 60_000, departureTimeoutMs: 120_000 };
    const a = watch(new BroadcastChannelTransport({ localStoreId: 1, ...opts })); // its hello: nobody hears it
    const b = watch(new BroadcastChannelTransport({ localStoreId: 2, ...opts }));
    const outsider = new bus.Ctor(`peerkv/${keys.clusterId}`);
    cleanups.push(() => outsider.close());
    const bHello = bus.held.find((m) => m.data.from === 2 && m.data.kind === 'hello')!.data;
    expect(bus.deliver((m) => m.data.from === 2 && m.target !== outsider)).toBe(true); // a dials: its hello packet
    expect(bus.deliver((m) => m.data.from === 1 && m.data.kind === 'packet' && m.target !== outsider)).toBe(true); // b answers
    // Before b's answer reaches a, someone without the secret ends a's half-link and says
    // hello again as b: a dials a second link from the same incarnation.
    outsider.postMessage({ ...bHello, kind: 'bye', to: 1 });
    outsider.postMessage(bHello);
    bus.held.splice(0, bus.held.length, ...bus.held.filter((m) => m.target !== outsider));
    const authFailed = () => a.t.counters().drops.authFailed + b.t.counters().drops.authFailed;
    await flowUntil(bus, () => authFailed() > 0 || (a.t.peers().length === 1 && b.t.peers().length === 1));
    await sleep(20);
    while (bus.deliver(() => true));
    expect(authFailed()).toBe(0);
    expect(a.t.peers()).toEqual([2]);
    expect(b.t.peers()).toEqual([1]);
    expect(a.events.filter((e) => e.type === 'up')).toHaveLength(1);
    expect(b.events.filter((e) => e.type === 'up')).toHaveLength(1);
    a.t.send(2, [seqMessage(30)]);
    await flowUntil(bus, () => seqs(b).includes(30));
  });
});

describe('WebRtcTransport partition (fake peers, real signaling server)', () => {
  async function rtcStore(url: string, storeId: number): Promise<Node<WebRtcTransport>> {
    return watch(new WebRtcTransport({
      localStoreId: storeId,
      keys: await testKeys('rtc-part', 'pw'),
      signalingUrl: url,
      iceServers: [],
      WebSocket: WebSocket as unknown as WebSocketCtor,
      peerFactory: fakePeerFactory,
      reconnectDelayMsMin: 20,
    }));
  }

  // Partitioning from the dialling side (1, the smaller id) and from the answering side (2).
  for (const side of [1, 2] as const) {
    it(`store ${side} partitions the other: both see down, no redial gets through, heal reconnects at once`, async () => {
      const s = new SignalingServer();
      const addr = await s.listen(0, '127.0.0.1');
      cleanups.push(() => s.close());
      const url = `ws://127.0.0.1:${addr.port}`;
      const n1 = await rtcStore(url, 1);
      const n2 = await rtcStore(url, 2);
      await until(() => n1.t.peers().length === 1 && n2.t.peers().length === 1, 15_000);
      const [cut, other] = side === 1 ? [n1, n2] : [n2, n1];
      const otherId = side === 1 ? 2 : 1;
      cut.t.partition([otherId]);
      expect(cut.t.peers()).toEqual([]);
      await until(() => other.t.peers().length === 0);
      expect(other.events.at(-1)?.type).toBe('down');
      expect(cut.t.send(otherId, [seqMessage(1)]).dropped).toBe(1);
      expect((await rejection(cut.t.request(otherId, new Uint8Array([1])))).kind).toBe('Unreachable');
      // The other side keeps redialling (20 ms backoff at first); none of it connects.
      await sleep(300);
      expect(cut.t.peers()).toEqual([]);
      expect(other.t.peers()).toEqual([]);
      cut.t.heal();
      await until(() => n1.t.peers().length === 1 && n2.t.peers().length === 1);
      n1.t.send(2, [seqMessage(5)]);
      await until(() => seqs(n2).length === 1);
      expect(seqs(n2)).toEqual([5]);
      expect([...(await n2.t.request(1, new Uint8Array([7])))]).toEqual([7, 2]);
    });
  }
});
