/**
 * Replayed signaling (issue 13, finding 4): an outsider who knows only the topic records
 * real sealed payloads off the signaling server and publishes them again. Each replay is
 * refused and counted, and the live link stays up.
 */
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { SignalingServer } from '@peerkv/signaling';
import type { WebSocketCtor } from '../src/signaling-client.ts';
import { WebRtcTransport } from '../src/webrtc-transport.ts';
import { SIGNALING_FRESHNESS_MS_DEFAULT } from '../src/signaling-freshness.ts';
import type { RaftBatch } from '../src/codec/envelope.ts';
import { fakePeerFactory } from './fake-peer.ts';
import { seqMessage, testKeys, until } from './helpers.ts';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A wall clock the test can move: every store of a test shares it. */
const clock = { offsetMs: 0, now: () => Date.now() + clock.offsetMs };

/** A client without the secret: records every publication on the topic, and publishes. */
class Recorder {
  readonly ws: WebSocket;
  readonly recorded: Array<{ data: unknown }> = [];
  readonly opened: Promise<void>;
  constructor(url: string, topic: string) {
    this.ws = new WebSocket(url);
    this.opened = new Promise((resolve) => this.ws.once('open', () => resolve()));
    this.ws.on('open', () => this.ws.send(JSON.stringify({ type: 'subscribe', topics: [topic] })));
    this.ws.on('message', (d) => {
      const m = JSON.parse(String(d)) as { type: string; data: unknown };
      if (m.type === 'publish') this.recorded.push({ data: m.data });
    });
    cleanups.push(() => this.ws.terminate());
  }
  replay(topic: string, data: unknown, times = 1): void {
    for (let i = 0; i < times; i++) this.ws.send(JSON.stringify({ type: 'publish', topic, data }));
  }
}

async function server(limits: ConstructorParameters<typeof SignalingServer>[0] = {}): Promise<string> {
  const s = new SignalingServer(limits);
  const addr = await s.listen(0, '127.0.0.1');
  cleanups.push(() => s.close());
  return `ws://127.0.0.1:${addr.port}`;
}

async function store(url: string, storeId: number): Promise<{ t: WebRtcTransport; got: RaftBatch[]; downs: number[] }> {
  const t = new WebRtcTransport({
    localStoreId: storeId,
    keys: await testKeys('cl', 'pw'),
    signalingUrl: url,
    iceServers: [],
    WebSocket: WebSocket as unknown as WebSocketCtor,
    peerFactory: fakePeerFactory,
    reconnectDelayMsMin: 20,
    wallClockMs: clock.now,
  });
  cleanups.push(() => t.close());
  const got: RaftBatch[] = [];
  const downs: number[] = [];
  t.onMessage((b) => got.push(b));
  t.onPeer((e) => e.type === 'down' && downs.push(e.storeId));
  return { t, got, downs };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('replayed signaling', () => {
  afterEach(() => {
    clock.offsetMs = 0;
  });

  it("an announce recorded from a store's earlier session cannot retire its live link", async () => {
    const url = await server();
    const rec = new Recorder(url, 'cl');
    await rec.opened;
    const a = await store(url, 1);
    const old = await store(url, 2);
    await until(() => a.t.peers().length === 1);
    const recorded = rec.recorded.map((r) => r.data);
    old.t.close();
    await until(() => a.t.peers().length === 0);
    clock.offsetMs += 1000; // the store restarts a second later
    const b = await store(url, 2);
    await until(() => a.t.peers().length === 1 && b.t.peers().length === 1);
    const downsBefore = a.downs.length;
    for (const d of recorded) rec.replay('cl', d, 3);
    await until(() => a.t.counters().drops.signalingReplayed + b.t.counters().drops.signalingReplayed >= recorded.length);
    await sleep(100);
    expect(a.t.counters().drops.signalingReplayed).toBeGreaterThan(0);
    expect(a.downs.length).toBe(downsBefore);
    expect(a.t.peers()).toEqual([2]);
    a.t.send(2, [seqMessage(9)]);
    await until(() => b.got.length === 1);
  });

  it('a recorded offer, answer or announce of the live session is refused, counted, and the link stays up', async () => {
    const url = await server();
    const rec = new Recorder(url, 'cl');
    await rec.opened;
    const a = await store(url, 1);
    const b = await store(url, 2);
    await until(() => a.t.peers().length === 1 && b.t.peers().length === 1);
    await sleep(50);
    const recorded = rec.recorded.map((r) => r.data);
    expect(recorded.length).toBeGreaterThanOrEqual(4); // announces, offer, answer, candidate
    for (const d of recorded) rec.replay('cl', d, 5);
    const refused = () => a.t.counters().drops.signalingReplayed + b.t.counters().drops.signalingReplayed;
    // Each store refuses the replays of the other's payloads (its own are ignored as its own).
    await until(() => refused() >= 5 * recorded.length);
    await sleep(100);
    expect(a.downs).toEqual([]);
    expect(b.downs).toEqual([]);
    expect(a.t.counters().drops.authFailed + b.t.counters().drops.authFailed).toBe(0);
    b.t.send(1, [seqMessage(3)]);
    await until(() => a.got.length === 1);
  });

  it('a recording replayed after the freshness window is refused as stale', async () => {
    const url = await server();
    const rec = new Recorder(url, 'cl');
    await rec.opened;
    const a = await store(url, 1);
    const b = await store(url, 2);
    await until(() => a.t.peers().length === 1 && b.t.peers().length === 1);
    const recorded = rec.recorded.map((r) => r.data);
    b.t.close();
    await until(() => a.t.peers().length === 0);
    clock.offsetMs += SIGNALING_FRESHNESS_MS_DEFAULT + 1000;
    for (const d of recorded) rec.replay('cl', d);
    await until(() => a.t.counters().drops.signalingStale > 0);
    await sleep(100);
    expect(a.t.peers()).toEqual([]);
    expect(a.t.counters().drops.signalingStale).toBeGreaterThan(0);
  });

  it('a flood of junk from one connection is bounded per sender and counted', async () => {
    // The server would drop this flood (publishBytesLimited) and close a store that reads it
    // slower than it arrives (slowConsumer): here every junk message must reach the stores' queues.
    const url = await server({ limits: { clientBufferedBytesMax: 64 * 1024 * 1024, publishBytesPerSecondPerAddressMax: 1e9, publishBytesBurstPerAddressMax: 1e9 } });
    const a = await store(url, 1);
    const b = await store(url, 2);
    await until(() => a.t.peers().length === 1 && b.t.peers().length === 1);
    const rec = new Recorder(url, 'cl');
    await rec.opened;
    await sleep(20);
    const junk = { peerkv: 1, iv: 'AAAAAAAAAAAAAAAA', ct: 'A'.repeat(40_000) };
    rec.replay('cl', junk, 150); // within the server's burst
    await until(() => a.t.counters().drops.signalingQueueFull + a.t.counters().drops.signalingDecryptFailed >= 150);
    expect(a.t.counters().drops.signalingQueueFull).toBeGreaterThan(0);
    expect(a.t.counters().drops.signalingDecryptFailed).toBeLessThan(150);
    expect(a.t.peers()).toEqual([2]);
  });
});
