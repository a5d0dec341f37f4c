/**
 * Browser side of `npm run bench:transport`: the same round-trip and throughput loops run
 * over four channels, two through `Transport` (BroadcastChannel, WebRTC) and two raw
 * (a bare BroadcastChannel, a bare simple-peer data channel), so the ratios compare like
 * with like. Bundled by `run.ts` with esbuild and driven through Playwright.
 */
import SimplePeer from 'simple-peer/simplepeer.min.js';
import { makeMessage } from '@peerkv/raft';
import { BroadcastChannelTransport, WebRtcTransport } from '@peerkv/transport';
import type { RaftBatch, Transport } from '../src/index.ts';

/** Control kinds carried by every channel. */
const KIND_PING = 1;
const KIND_PONG = 2;
const KIND_DATA = 3;
const KIND_END = 4;
const KIND_DONE = 5;

/** A bidirectional byte channel with a kind tag, as the loops see it. */
interface BenchChannel {
  /** Sends; false when the channel is full and the caller must wait. */
  send(kind: number, payload: Uint8Array): boolean;
  onReceive(fn: (kind: number, payload: Uint8Array) => void): void;
  /** Resolves when sending may resume. */
  drain(): Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const PEER_BUFFER_HIGH_BYTES = 1024 * 1024;

let channel: BenchChannel | null = null;
let transport: Transport | null = null;
let rpcTarget = 0;
let rawPeer: SimplePeer.Instance | null = null;
const rawSignals: unknown[] = [];
let rawConnected = false;

function transportChannel(t: Transport, target: number): BenchChannel {
  let handler: (kind: number, payload: Uint8Array) => void = () => {};
  t.onMessage((b: RaftBatch) => {
    for (const m of b.messages) handler(m.regionId, m.message.entries[0].data);
  });
  return {
    send(kind, payload) {
      const message = makeMessage({ type: 'MsgApp', term: 1, index: 1, entries: [{ term: 1, index: 1, type: 'normal', data: payload }] });
      return t.send(target, [{ regionId: kind, regionEpoch: { confVer: 1, version: 1 }, message }]).queued === 1;
    },
    onReceive(fn) {
      handler = fn;
    },
    drain: () => sleep(1),
  };
}

function tagged(kind: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(payload.length + 1);
  out[0] = kind;
  out.set(payload, 1);
  return out;
}

function rawBcChannel(): BenchChannel {
  const bc = new BroadcastChannel('peerkv-bench-raw');
  let handler: (kind: number, payload: Uint8Array) => void = () => {};
  bc.onmessage = (ev) => {
    const d = ev.data as Uint8Array;
    handler(d[0], d.subarray(1));
  };
  return {
    send(kind, payload) {
      bc.postMessage(tagged(kind, payload));
      return true;
    },
    onReceive(fn) {
      handler = fn;
    },
    drain: () => sleep(1),
  };
}

function rawPeerChannel(peer: SimplePeer.Instance): BenchChannel {
  let handler: (kind: number, payload: Uint8Array) => void = () => {};
  peer.on('data', (d: Uint8Array) => handler(d[0], d.subarray(1)));
  const dc = (peer as unknown as { _channel: RTCDataChannel })._channel;
  return {
    send(kind, payload) {
      if (peer.bufferSize > PEER_BUFFER_HIGH_BYTES) return false;
      peer.send(tagged(kind, payload));
      return true;
    },
    onReceive(fn) {
      handler = fn;
    },
    drain: () => new Promise<void>((r) => {
      const done = () => {
        dc.removeEventListener('bufferedamountlow', done);
        r();
      };
      dc.addEventListener('bufferedamountlow', done);
      setTimeout(done, 5);
    }),
  };
}

/** Echo side: answers pings, counts data, says done at the end marker. */
function serve(ch: BenchChannel): void {
  ch.onReceive((kind, payload) => {
    if (kind === KIND_PING) ch.send(KIND_PONG, payload);
    else if (kind === KIND_END) ch.send(KIND_DONE, payload);
  });
}

async function sendAll(ch: BenchChannel, kind: number, payload: Uint8Array): Promise<void> {
  while (!ch.send(kind, payload)) await ch.drain();
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const bench = {
  async startTransport(kind: 'bc' | 'webrtc', storeId: number, target: number, signalingUrl: string): Promise<void> {
    const common = { localStoreId: storeId, clusterId: 'bench', secret: 'bench-secret' };
    transport = kind === 'bc'
      ? await BroadcastChannelTransport.create(common)
      : await WebRtcTransport.create({ ...common, signalingUrl, iceServers: [] });
    channel = transportChannel(transport, target);
    rpcTarget = target;
    serve(channel);
    transport.onRequest(async (_from, payload) => payload);
  },
  async waitTransportPeer(id: number, timeoutMs: number): Promise<boolean> {
    for (let t = 0; t < timeoutMs; t += 10) {
      if (transport?.peers().includes(id)) return true;
      await sleep(10);
    }
    return false;
  },
  startRawBc(): void {
    channel = rawBcChannel();
    serve(channel);
  },
  startRawPeer(initiator: boolean): void {
    rawPeer = new SimplePeer({ initiator, trickle: true, config: { iceServers: [] } });
    rawPeer.on('signal', (s: unknown) => rawSignals.push(s));
    rawPeer.on('connect', () => {
      rawConnected = true;
      channel = rawPeerChannel(rawPeer as SimplePeer.Instance);
      serve(channel);
    });
  },
  takeRawSignals(): unknown[] {
    return rawSignals.splice(0);
  },
  giveRawSignal(s: unknown): void {
    rawPeer?.signal(s as SimplePeer.SignalData);
  },
  rawConnected: () => rawConnected,

  /** Sequential round trips; returns p50 and p99 in ms. */
  async rtt(rounds: number, payloadBytes: number): Promise<{ p50: number; p99: number }> {
    const ch = channel as BenchChannel;
    let resolve: () => void = () => {};
    ch.onReceive((kind, payload) => {
      if (kind === KIND_PONG) resolve();
      else if (kind === KIND_PING) ch.send(KIND_PONG, payload);
    });
    const payload = new Uint8Array(payloadBytes);
    const samples: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const t0 = performance.now();
      await new Promise<void>((r) => {
        resolve = r;
        void sendAll(ch, KIND_PING, payload);
      });
      samples.push(performance.now() - t0);
    }
    samples.sort((a, b) => a - b);
    return { p50: percentile(samples, 50), p99: percentile(samples, 99) };
  },

  /** Sequential `Transport.request` round trips to the peer's echo handler; p50 and p99 in ms. */
  async rpcRtt(rounds: number, payloadBytes: number): Promise<{ p50: number; p99: number }> {
    const t = transport as Transport;
    const payload = new Uint8Array(payloadBytes);
    const samples: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const t0 = performance.now();
      await t.request(rpcTarget, payload);
      samples.push(performance.now() - t0);
    }
    samples.sort((a, b) => a - b);
    return { p50: percentile(samples, 50), p99: percentile(samples, 99) };
  },

  /** Streams `count` messages of `payloadBytes`; returns payload MB/s until the echo side saw the end. */
  async throughput(count: number, payloadBytes: number): Promise<number> {
    const ch = channel as BenchChannel;
    let done: () => void = () => {};
    const finished = new Promise<void>((r) => (done = r));
    ch.onReceive((kind, payload) => {
      if (kind === KIND_DONE) done();
      else if (kind === KIND_PING) ch.send(KIND_PONG, payload);
    });
    const payload = new Uint8Array(payloadBytes).fill(7);
    const t0 = performance.now();
    // Synchronous while the channel accepts (as a store's Ready loop would), waiting only when full.
    for (let i = 0; i < count; i++) if (!ch.send(KIND_DATA, payload)) await sendAll(ch, KIND_DATA, payload);
    await sendAll(ch, KIND_END, new Uint8Array(1));
    await finished;
    const seconds = (performance.now() - t0) / 1000;
    return (count * payloadBytes) / seconds / 1e6;
  },

  close(): void {
    transport?.close();
    rawPeer?.destroy();
  },
};

(globalThis as unknown as { bench: typeof bench }).bench = bench;
