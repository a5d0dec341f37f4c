/**
 * Issue 13, findings 2 and 3: a same-origin script on the cluster's BroadcastChannel that
 * does not hold the secret. It sees every message (so every `from`, `session` and `to`) and
 * can post anything. Each attack must be refused and counted, the live link must keep
 * working, and memory must stay bounded.
 */
import { makeMessage } from '@peerkv/raft';
import { afterEach, describe, expect, it } from 'vitest';
import type { BroadcastChannelLike } from '../src/broadcast-channel-transport.ts';
import { BroadcastChannelTransport } from '../src/broadcast-channel-transport.ts';
import { encodePackets } from '../src/chunking.ts';
import type { RaftBatch, RegionMessage } from '../src/codec/envelope.ts';
import type { Frame } from '../src/codec/frame.ts';
import { AUTH_SESSIONS_MAX } from '../src/link-transport.ts';
import { LINK_MAC_TAG_BYTES, PACKET_SEALED } from '../src/link-mac.ts';
import type { DropReason } from '../src/types.ts';
import type { FakeBus } from './fake-bus.ts';
import { fakeBus } from './fake-bus.ts';
import { seqMessage, seqOf, testKeys, until } from './helpers.ts';

const CLUSTER = 'bc-attack';
const PROTOCOL = 'peerkv/bc/1';

interface Posted {
  p: string;
  cluster: string;
  from: number;
  session: string;
  kind: 'hello' | 'bye' | 'packet';
  to?: number;
  toSession?: string;
  packet?: Uint8Array;
  tag?: Uint8Array;
}

/** The attacker: a plain channel on the bus that records what it hears. */
class Attacker {
  readonly heard: Posted[] = [];
  private readonly ch: BroadcastChannelLike;

  constructor(bus: FakeBus) {
    this.ch = new bus.Ctor(`peerkv/${CLUSTER}`);
    this.ch.onmessage = (ev) => this.heard.push(ev.data as Posted);
  }

  /** The incarnation of `storeId` it has seen hello. */
  sessionOf(storeId: number): string {
    const m = this.heard.find((x) => x.from === storeId && x.kind === 'hello');
    if (!m) throw new Error(`no hello from ${storeId} heard`);
    return m.session;
  }

  post(m: Omit<Posted, 'p' | 'cluster'>): void {
    this.ch.postMessage({ p: PROTOCOL, cluster: CLUSTER, ...m });
  }

  /** Posts `frame` as if store `from` (incarnation `session`) sent it to `to`. */
  forge(from: number, session: string, to: number, toSession: string, frame: Frame): void {
    for (const packet of encodePackets(frame, 1 << 30)) this.post({ from, session, kind: 'packet', to, toSession, packet });
  }

  close(): void {
    this.ch.close();
  }
}

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

async function store(bus: FakeBus, id: number, secret = 'pw') {
  const t = new BroadcastChannelTransport({ localStoreId: id, keys: await testKeys(CLUSTER, secret), BroadcastChannel: bus.Ctor, heartbeatIntervalMs: 100 });
  cleanups.push(() => t.close());
  const got: RaftBatch[] = [];
  const served: Uint8Array[] = [];
  t.onMessage((b) => got.push(b));
  t.onRequest(async (_from, p) => {
    served.push(p);
    return p;
  });
  return { t, got, served };
}

/** Two stores linked over a fake bus, and an attacker listening from the start. */
async function scene() {
  const bus = fakeBus();
  const evil = new Attacker(bus);
  cleanups.push(() => evil.close());
  const a = await store(bus, 1);
  const b = await store(bus, 2);
  await until(() => a.t.peers().includes(2) && b.t.peers().includes(1));
  return { bus, evil, a, b, s1: evil.sessionOf(1), s2: evil.sessionOf(2) };
}

/** The live link still carries messages both ways, in order. */
async function linkWorks(a: { t: BroadcastChannelTransport }, b: { t: BroadcastChannelTransport; got: RaftBatch[] }, from = 100): Promise<void> {
  const before = b.got.flatMap((x) => x.messages).length;
  a.t.send(2, [seqMessage(from), seqMessage(from + 1)]);
  await until(() => b.got.flatMap((x) => x.messages).length === before + 2);
  expect(b.got.flatMap((x) => x.messages).slice(before).map(seqOf)).toEqual([from, from + 1]);
  expect(a.t.peers()).toEqual([2]);
  expect(b.t.peers()).toEqual([1]);
}

function vote(term: number): RegionMessage {
  return { regionId: 1, regionEpoch: { confVer: 1, version: 1 }, message: makeMessage({ type: 'MsgVote', term, from: 1, to: 2 }) };
}

function drops(t: BroadcastChannelTransport, ...reasons: DropReason[]): number {
  const d = t.counters().drops;
  return reasons.reduce((n, r) => n + d[r], 0);
}

/** Heap plus array buffers (where `Uint8Array`s live), bytes. */
function memoryBytes(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

describe('a same-origin attacker on the BroadcastChannel without the secret', () => {
  it('cannot deliver a forged Raft message (plain, with a made-up MAC, or replayed)', async () => {
    const { evil, a, b, s1, s2 } = await scene();
    const batch: RaftBatch = { clusterId: CLUSTER, fromStoreId: 1, toStoreId: 2, messages: [vote(999)] };
    // In the clear, as the link carried it before any MAC.
    evil.forge(1, s1, 2, s2, { type: 'raftBatch', batch });
    // Sealed-looking, with a guessed sequence number and a random tag.
    for (const seq of [0, 1, 2, 1000]) {
      const [inner] = encodePackets({ type: 'raftBatch', batch }, 1 << 30);
      const packet = new Uint8Array(1 + 8 + inner.length + LINK_MAC_TAG_BYTES);
      packet[0] = PACKET_SEALED;
      new DataView(packet.buffer).setBigUint64(1, BigInt(seq), true);
      packet.set(inner, 9);
      crypto.getRandomValues(packet.subarray(9 + inner.length));
      evil.post({ from: 1, session: s1, kind: 'packet', to: 2, toSession: s2, packet });
    }
    // Replayed: a genuine sealed packet store 1 sent, posted again.
    await linkWorks(a, b, 10);
    const genuine = evil.heard.filter((m) => m.kind === 'packet' && m.from === 1 && m.packet?.[0] === PACKET_SEALED);
    expect(genuine.length).toBeGreaterThan(0);
    for (const m of genuine) evil.post({ from: 1, session: s1, kind: 'packet', to: 2, toSession: s2, packet: m.packet });
    await until(() => drops(b.t, 'unauthenticated') >= 1 && drops(b.t, 'macFailed') >= 4 && drops(b.t, 'replayed') >= genuine.length);
    expect(b.got.flatMap((x) => x.messages).some((m) => m.message.term === 999)).toBe(false);
    expect(b.got.flatMap((x) => x.messages).map(seqOf)).toEqual([10, 11]);
    await linkWorks(a, b, 20);
  });

  it('cannot make a store serve a forged RPC request', async () => {
    const { evil, a, b, s1, s2 } = await scene();
    evil.forge(1, s1, 2, s2, { type: 'rpcRequest', requestId: 1, payload: new Uint8Array([6, 6, 6]) });
    await until(() => drops(b.t, 'unauthenticated') >= 1);
    await new Promise((r) => setTimeout(r, 10));
    expect(b.served).toEqual([]);
    expect(b.t.counters().rpc.requestsServed).toBe(0);
    // The real link still answers.
    expect([...(await a.t.request(2, new Uint8Array([1, 2])))]).toEqual([1, 2]);
    expect(b.served).toHaveLength(1);
  });

  it('cannot take a link down with a forged bye or a forged new incarnation', async () => {
    const { evil, a, b, s1, s2 } = await scene();
    evil.post({ from: 1, session: s1, kind: 'bye' });
    evil.post({ from: 1, session: s1, kind: 'bye', to: 2 });
    evil.post({ from: 1, session: s1, kind: 'bye', to: 2, toSession: s2, tag: new Uint8Array(32).fill(7) });
    evil.post({ from: 1, session: 'reloaded', kind: 'hello' });
    await until(() => drops(b.t, 'macFailed') >= 3 && drops(b.t, 'unauthenticated') >= 1);
    await new Promise((r) => setTimeout(r, 20));
    await linkWorks(a, b);
    // A genuine bye still ends the link at once.
    a.t.close();
    await until(() => b.t.peers().length === 0);
  });

  it('bounds the sessions still authenticating: 2,000 half-open hellos', async () => {
    const { evil, a, b } = await scene();
    const before = memoryBytes();
    for (let i = 0; i < 2000; i++) evil.post({ from: 1000 + i, session: `x${i}`, kind: 'hello' });
    await until(() => drops(b.t, 'authSessionsFull') >= 2000 - AUTH_SESSIONS_MAX);
    const internals = b.t as unknown as { sessions: Map<number, { state: string }> };
    const authenticating = [...internals.sessions.values()].filter((s) => s.state === 'auth').length;
    expect(authenticating).toBeLessThanOrEqual(AUTH_SESSIONS_MAX);
    expect(drops(b.t, 'authSessionsFull')).toBe(2000 - AUTH_SESSIONS_MAX);
    expect(memoryBytes() - before).toBeLessThan(32 * 1024 * 1024);
    await linkWorks(a, b);
  });

  it('allocates nothing for big chunk headers, before or after authentication', async () => {
    const { evil, a, b, s1, s2 } = await scene();
    // 0x01 chunk: frameBytes 16 MiB, index 0, count 2, one byte of payload.
    const header = new Uint8Array([1, 0x80, 0x80, 0x80, 0x08, 0, 2, 0]);
    const before = memoryBytes();
    for (let i = 0; i < 4; i++) {
      evil.post({ from: 1, session: s1, kind: 'packet', to: 2, toSession: s2, packet: header }); // on the open link
      evil.post({ from: 50 + i, session: `h${i}`, kind: 'hello' }); // a new link...
    }
    await new Promise((r) => setTimeout(r, 10));
    const hello = evil.heard.filter((m) => m.kind === 'hello' && m.from === 2).at(-1) as Posted;
    for (let i = 0; i < 4; i++) evil.post({ from: 50 + i, session: `h${i}`, kind: 'packet', to: 2, toSession: hello.session, packet: header }); // ...still authenticating
    await until(() => drops(b.t, 'unauthenticated') >= 8);
    expect(memoryBytes() - before).toBeLessThan(16 * 1024 * 1024);
    expect(drops(b.t, 'reassembly')).toBe(0);
    await linkWorks(a, b);
  });

  it('drops a 2 MiB junk frame before authentication undecoded and cheaply', async () => {
    const { evil, a, b } = await scene();
    // Empty entries: ~5 bytes each on the wire, a full object each once decoded.
    const entries = Array.from({ length: 60_000 }, (_, i) => ({ term: 1, index: i + 1, type: 'normal' as const, data: new Uint8Array(0) }));
    const messages = Array.from({ length: 7 }, () => ({ regionId: 1, regionEpoch: { confVer: 1, version: 1 }, message: makeMessage({ type: 'MsgApp', term: 1, entries }) }));
    const [junk] = encodePackets({ type: 'raftBatch', batch: { clusterId: CLUSTER, fromStoreId: 77, toStoreId: 2, messages } }, 1 << 30);
    expect(junk.length).toBeGreaterThan(2 * 1024 * 1024);
    evil.post({ from: 77, session: 'j', kind: 'hello' });
    await new Promise((r) => setTimeout(r, 10));
    const toSession = evil.sessionOf(2);
    const before = memoryBytes();
    const started = performance.now();
    evil.post({ from: 77, session: 'j', kind: 'packet', to: 2, toSession, packet: junk });
    await until(() => drops(b.t, 'authPacketTooLarge') === 1);
    const elapsedMs = performance.now() - started;
    // The clone of the posted packet itself (~2 MiB) is all it may cost.
    expect(memoryBytes() - before).toBeLessThan(12 * 1024 * 1024);
    expect(elapsedMs).toBeLessThan(500);
    expect(b.t.counters().framesReceived).toBeLessThan(10);
    await linkWorks(a, b);
  });
});
