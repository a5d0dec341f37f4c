/**
 * The peer bridge over Node's real MessageChannel, with fake simple-peer peers on the page
 * side: proxy behaviour, a bridged `WebRtcTransport` talking to an ordinary one, limits and
 * malformed input.
 */
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { SignalingServer } from '@peerkv/signaling';
import type { PeerBridgeServer } from '../src/peer-bridge.ts';
import { bridgedPeerFactory, PEER_BRIDGE_VERSION, servePeers } from '../src/peer-bridge.ts';
import type { WebSocketCtor } from '../src/signaling-client.ts';
import { ManualTimers } from '../src/timers.ts';
import type { PeerFactory, PeerLike, PeerOptions } from '../src/webrtc-transport.ts';
import { WebRtcTransport } from '../src/webrtc-transport.ts';
import { FakePeer, fakePeerFactory } from './fake-peer.ts';
import { seqMessage, seqOf, testKeys, until, watch } from './helpers.ts';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const OPTIONS: PeerOptions = { initiator: true, trickle: true, config: { iceServers: [] }, channelConfig: { ordered: true } };

/** A MessageChannel whose page end is served with `o`; returns the Worker end's factory. */
function bridge(o: Parameters<typeof servePeers>[1] = {}): { factory: PeerFactory; server: PeerBridgeServer; worker: MessagePort; page: MessagePort } {
  const ch = new MessageChannel();
  const server = servePeers(ch.port2, o);
  const factory = bridgedPeerFactory(ch.port1);
  cleanups.push(() => {
    server.close();
    ch.port1.close();
    ch.port2.close();
  });
  return { factory, server, worker: ch.port1, page: ch.port2 };
}

/** Records a peer's events. */
function record(p: PeerLike): { events: string[]; data: Uint8Array[] } {
  const r = { events: [] as string[], data: [] as Uint8Array[] };
  p.on('connect', () => r.events.push('connect'));
  p.on('close', () => r.events.push('close'));
  p.on('error', (e) => r.events.push(`error:${e.message}`));
  p.on('data', (d) => r.data.push(d));
  return r;
}

/** Two proxies on one bridge, wired to each other's signals. */
async function connectedPair(factory: PeerFactory) {
  const a = factory(OPTIONS);
  const b = factory({ ...OPTIONS, initiator: false });
  a.on('signal', (s) => b.signal(s));
  b.on('signal', (s) => a.signal(s));
  const ra = record(a);
  const rb = record(b);
  await until(() => ra.events.includes('connect') && rb.events.includes('connect'));
  return { a, b, ra, rb };
}

describe('peer bridge: proxies', () => {
  it('signals, connects, carries bytes both ways, and transfers only whole buffers', async () => {
    const { factory, server } = bridge({ peerFactory: fakePeerFactory });
    const { a, b, ra, rb } = await connectedPair(factory);
    const whole = new Uint8Array([1, 2, 3]);
    a.send(whole);
    expect(whole.byteLength).toBe(0); // transferred
    const big = new Uint8Array(100).map((_, i) => i);
    const view = big.subarray(10, 14);
    b.send(view);
    expect(big.byteLength).toBe(100); // a view is copied, its buffer stays usable
    await until(() => rb.data.length === 1 && ra.data.length === 1);
    expect([...rb.data[0]]).toEqual([1, 2, 3]);
    expect([...ra.data[0]]).toEqual([10, 11, 12, 13]);
    const c = server.counters();
    expect(c).toMatchObject({ peersCreated: 2, peersActive: 2, packetsToPeers: 2, bytesToPeers: 7, packetsFromPeers: 2, bytesFromPeers: 7, messagesMalformed: 0 });
  });

  it('destroy on one side closes both, in the page too', async () => {
    const { factory, server } = bridge({ peerFactory: fakePeerFactory });
    const { a, ra, rb } = await connectedPair(factory);
    a.destroy();
    await until(() => ra.events.includes('close') && rb.events.includes('close'));
    await until(() => server.counters().peersActive === 0);
    expect(() => a.send(new Uint8Array([1]))).toThrow();
    expect(ra.events.filter((e) => e === 'close')).toHaveLength(1);
  });

  it('server close destroys every page peer and closes every proxy', async () => {
    const { factory, server } = bridge({ peerFactory: fakePeerFactory });
    const { ra, rb } = await connectedPair(factory);
    server.close();
    await until(() => ra.events.includes('close') && rb.events.includes('close'));
    expect(server.counters().peersActive).toBe(0);
  });

  it('estimates bufferSize from the page reports plus bytes sent since', async () => {
    const timers = new ManualTimers();
    const pagePeers: FakePeer[] = [];
    const factory0: PeerFactory = (o) => {
      const p = new FakePeer(o);
      pagePeers.push(p);
      return p as unknown as PeerLike;
    };
    const { factory } = bridge({ peerFactory: factory0, timers, bufferPollMs: 5 });
    const { a } = await connectedPair(factory);
    const pa = pagePeers[0];
    pa.bufferSize = 1000; // the page channel holds bytes
    a.send(new Uint8Array(100));
    expect(a.bufferSize).toBe(100); // not reported yet: just what we sent
    await until(() => a.bufferSize === 1000); // the report after the send
    a.send(new Uint8Array(50));
    expect(a.bufferSize).toBe(1050);
    await until(() => a.bufferSize === 1000);
    pa.bufferSize = 0; // drained; only the poll tells
    timers.advance(5);
    await until(() => a.bufferSize === 0);
  });

  it('enforces peersMax with an error then close, and serves again after a peer goes', async () => {
    const { factory, server } = bridge({ peerFactory: fakePeerFactory, peersMax: 2 });
    const p1 = factory(OPTIONS);
    factory(OPTIONS);
    const p3 = factory(OPTIONS);
    const r3 = record(p3);
    await until(() => r3.events.length === 2);
    expect(r3.events).toEqual(['error:peersMax: already 2 peers', 'close']);
    expect(server.counters()).toMatchObject({ peersCreated: 2, peersActive: 2, peersRefused: 1 });
    p1.destroy();
    await until(() => server.counters().peersActive === 1);
    const p4 = factory(OPTIONS);
    const r4 = record(p4);
    await until(() => server.counters().peersCreated === 3);
    expect(r4.events).toEqual([]);
  });

  it('counts and ignores malformed and foreign messages, and keeps serving', async () => {
    const { factory, server, worker } = bridge({ peerFactory: fakePeerFactory });
    const v = PEER_BRIDGE_VERSION;
    const bad: unknown[] = [
      { peerBridge: v + 1, op: 'create', id: 1, options: OPTIONS }, // other version
      { peerBridge: v, op: 'create', id: -1, options: OPTIONS }, // bad id
      { peerBridge: v, op: 'create', id: 'x', options: OPTIONS },
      { peerBridge: v, op: 'create', id: 1, options: { initiator: 'yes' } },
      { peerBridge: v, op: 'send', id: 1, bytes: [1, 2] },
      { peerBridge: v, op: 'explode', id: 1 },
      { peerBridge: v },
    ];
    for (const m of bad) worker.postMessage(m);
    for (const m of ['hello', 42, null, { op: 'create', id: 1, options: OPTIONS }]) worker.postMessage(m);
    worker.postMessage({ peerBridge: v, op: 'signal', id: 999, data: {} }); // valid, no such peer
    await until(() => server.counters().messagesUnknownPeer === 1);
    expect(server.counters()).toMatchObject({ messagesMalformed: bad.length, messagesForeign: 4, peersCreated: 0 });
    const { ra, rb } = await connectedPair(factory);
    expect(ra.events).toEqual(['connect']);
    expect(rb.events).toEqual(['connect']);
    // A duplicate create for a live id is malformed too and leaves the live peer alone.
    worker.postMessage({ peerBridge: v, op: 'create', id: 1, options: OPTIONS });
    await until(() => server.counters().messagesMalformed === bad.length + 1);
    expect(server.counters().peersActive).toBe(2);
  });

  it('answers error then close when the page cannot build a peer', async () => {
    const { factory, server } = bridge({
      peerFactory: () => {
        throw new Error('no RTCPeerConnection');
      },
    });
    const r = record(factory(OPTIONS));
    await until(() => r.events.length === 2);
    expect(r.events[0]).toMatch(/^error:peer construction failed/);
    expect(r.events[1]).toBe('close');
    expect(server.counters().peerErrors).toBe(1);
  });
});

describe('peer bridge: a Worker-style WebRtcTransport', () => {
  async function rtc(url: string, storeId: number, peerFactory: PeerFactory) {
    const t = new WebRtcTransport({
      localStoreId: storeId,
      keys: await testKeys('bridge', 'pw'),
      signalingUrl: url,
      iceServers: [],
      WebSocket: WebSocket as unknown as WebSocketCtor,
      peerFactory,
      reconnectDelayMsMin: 20,
    });
    return watch(t, cleanups);
  }

  // The bridged store dials (id 1) in one case and answers (id 2) in the other.
  for (const bridgedId of [1, 2]) {
    it(`bridged store ${bridgedId} exchanges batches and requests with an ordinary one; a drop on either side redials`, async () => {
      const s = new SignalingServer();
      const addr = await s.listen(0, '127.0.0.1');
      cleanups.push(() => s.close());
      const url = `ws://127.0.0.1:${addr.port}`;
      const { factory, server } = bridge({ peerFactory: fakePeerFactory });
      const otherId = 3 - bridgedId;
      const w = await rtc(url, bridgedId, factory);
      const o = await rtc(url, otherId, fakePeerFactory);
      await until(() => w.t.peers().length === 1 && o.t.peers().length === 1, 15_000);

      for (let i = 0; i < 300; i++) w.t.send(otherId, [seqMessage(i)]);
      for (let i = 0; i < 300; i++) o.t.send(bridgedId, [seqMessage(1000 + i)]);
      await until(() => o.got.flatMap((b) => b.messages).length === 300 && w.got.flatMap((b) => b.messages).length === 300);
      expect(o.got.flatMap((b) => b.messages).map(seqOf)).toEqual(Array.from({ length: 300 }, (_, i) => i));
      expect(w.got.flatMap((b) => b.messages).map(seqOf)).toEqual(Array.from({ length: 300 }, (_, i) => 1000 + i));
      const big = new Uint8Array(40_000).fill(9); // several 16 KiB packets
      const [r1, r2] = await Promise.all([w.t.request(otherId, big), o.t.request(bridgedId, new Uint8Array([5]))]);
      expect(r1.length).toBe(40_001);
      expect([...r2]).toEqual([5, otherId]);
      expect(server.counters().peersActive).toBe(1);

      // The ordinary side drops the link: the bridged side sees it down, then they redial.
      (o.t as unknown as { dropLink(id: number, r: string): void }).dropLink(bridgedId, 'test');
      await until(() => w.events.some((e) => e.type === 'down'));
      await until(() => w.t.peers().length === 1 && o.t.peers().length === 1, 15_000);
      // The bridged side drops it: its proxy's destroy reaches the page peer and the other side.
      (w.t as unknown as { dropLink(id: number, r: string): void }).dropLink(otherId, 'test');
      await until(() => o.events.filter((e) => e.type === 'down').length === 2);
      await until(() => w.t.peers().length === 1 && o.t.peers().length === 1, 15_000);
      w.t.send(otherId, [seqMessage(7)]);
      await until(() => o.got.flatMap((b) => b.messages).length === 301);
      await until(() => server.counters().peersActive === 1); // the dropped page peers are gone
      expect(server.counters().messagesMalformed).toBe(0);
    });
  }
});
