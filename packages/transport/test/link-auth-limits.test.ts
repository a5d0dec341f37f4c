/**
 * Issue 13, finding 3, on a point-to-point link (what a WebRTC data channel gives the
 * engine): before the handshake completes only small whole hello/proof packets are looked
 * at; a big frame is dropped undecoded, chunk headers allocate nothing, and a packet on an
 * open link counts only with the link's MAC.
 */
import { makeMessage } from '@peerkv/raft';
import { describe, expect, it } from 'vitest';
import { signProof } from '../src/auth.ts';
import { encodePackets } from '../src/chunking.ts';
import { readFrame } from '../src/codec/frame.ts';
import { AUTH_PACKET_BYTES_MAX } from '../src/link-transport.ts';
import { connect, PipeLink, seqMessage, seqOf, TestTransport, testKeys, until } from './helpers.ts';

/** Heap plus array buffers (where `Uint8Array`s live), bytes. */
function memoryBytes(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** A raftBatch frame of `n` empty entries: a few bytes each on the wire, an object each decoded. */
function emptyEntriesFrame(n: number): Uint8Array {
  const perMessage = 60_000;
  const messages = [];
  for (let left = n; left > 0; left -= perMessage) {
    const entries = Array.from({ length: Math.min(perMessage, left) }, (_, i) => ({ term: 1, index: i + 1, type: 'normal' as const, data: new Uint8Array(0) }));
    messages.push({ regionId: 1, regionEpoch: { confVer: 1, version: 1 }, message: makeMessage({ type: 'MsgApp', term: 1, entries }) });
  }
  const [whole] = encodePackets({ type: 'raftBatch', batch: { clusterId: 'c1', fromStoreId: 9, toStoreId: 1, messages } }, 1 << 30);
  return whole;
}

describe('LinkTransport before authentication', () => {
  it('drops a 2 MiB junk frame undecoded, in well under a second and a few MiB', async () => {
    const a = new TestTransport({ localStoreId: 1, keys: await testKeys('c1', 's3cret') });
    const h = a.attach(9, new PipeLink());
    const junk = emptyEntriesFrame(420_000);
    expect(junk.length).toBeGreaterThan(2 * 1024 * 1024);
    const before = memoryBytes();
    const started = performance.now();
    h.receive(junk);
    const elapsedMs = performance.now() - started;
    expect(a.counters().drops.authPacketTooLarge).toBe(1);
    expect(a.counters().framesReceived).toBe(0);
    expect(elapsedMs).toBeLessThan(50);
    expect(memoryBytes() - before).toBeLessThan(4 * 1024 * 1024);
    a.close();
  });

  it('looks only at small whole hello and proof packets: chunks and other frames are dropped unread', async () => {
    const a = new TestTransport({ localStoreId: 1, keys: await testKeys('c1', 's3cret') });
    const h = a.attach(9, new PipeLink());
    const before = memoryBytes();
    // Four chunk headers claiming 16 MiB frames.
    for (let i = 0; i < 4; i++) h.receive(new Uint8Array([1, 0x80, 0x80, 0x80, 0x08, 0, 2, 0]));
    // A small rpc request and a hello padded past the limit.
    for (const p of encodePackets({ type: 'rpcRequest', requestId: 1, payload: new Uint8Array(8) }, 1 << 20)) h.receive(p);
    const padded = new Uint8Array(AUTH_PACKET_BYTES_MAX + 1);
    padded.set([0, 3, 1]);
    h.receive(padded);
    expect(a.counters().drops.unauthenticated).toBe(5);
    expect(a.counters().drops.authPacketTooLarge).toBe(1);
    expect(a.counters().drops.reassembly + a.counters().drops.decodeError).toBe(0);
    expect(memoryBytes() - before).toBeLessThan(8 * 1024 * 1024);
    a.close();
  });

  it('the handshake and traffic still work after junk, and big frames still reassemble once open', async () => {
    const keys = await testKeys('c1', 's3cret');
    const a = new TestTransport({ localStoreId: 1, keys });
    const b = new TestTransport({ localStoreId: 2, keys });
    const [la] = connect(a, b);
    la.peer?.handle?.receive(emptyEntriesFrame(420_000)); // junk arriving at b before its handshake is done
    a.send(2, [seqMessage(1, 3_000_000), seqMessage(2)]);
    await until(() => b.messages().length === 2);
    expect(b.messages().map(seqOf)).toEqual([1, 2]);
    expect(b.counters().drops.authPacketTooLarge).toBe(1);
    a.close();
    b.close();
  });
});

describe('LinkTransport after authentication', () => {
  it('drops packets that are not sealed, or sealed with a wrong MAC, and keeps the link', async () => {
    const keys = await testKeys('c1', 's3cret');
    const a = new TestTransport({ localStoreId: 1, keys });
    const b = new TestTransport({ localStoreId: 2, keys });
    const [la] = connect(a, b);
    await until(() => a.peers().length === 1 && b.peers().length === 1);
    for (const p of encodePackets({ type: 'raftBatch', batch: { clusterId: 'c1', fromStoreId: 1, toStoreId: 2, messages: [seqMessage(66)] } }, 1 << 20)) la.send(p);
    // Sealed-looking (kind 2, sequence 0, a garbage frame) with a zero tag.
    const forged = new Uint8Array(60);
    forged[0] = 2;
    forged.set([0, 7, 1], 9);
    la.send(forged);
    await until(() => b.counters().drops.unauthenticated === 1 && b.counters().drops.macFailed === 1);
    a.send(2, [seqMessage(1)]);
    await until(() => b.messages().length === 1);
    expect(b.messages().map(seqOf)).toEqual([1]);
    expect(b.peers()).toEqual([1]);
    a.close();
    b.close();
  });
});

describe('LinkTransport with packetMac off (point-to-point links, e.g. WebRTC)', () => {
  it('sends open-link packets unsealed, still gates the handshake, and refuses sealed-looking packets', async () => {
    const keys = await testKeys('c1', 's3cret');
    const a = new TestTransport({ localStoreId: 1, keys, packetMac: false });
    const b = new TestTransport({ localStoreId: 2, keys, packetMac: false });
    const [la, lb] = connect(a, b);
    la.handle?.receive(emptyEntriesFrame(420_000)); // junk at a before its handshake is done
    await until(() => a.peers().length === 1 && b.peers().length === 1);
    a.send(2, [seqMessage(1, 40_000), seqMessage(2)]);
    await until(() => b.messages().length === 2);
    expect(b.messages().map(seqOf)).toEqual([1, 2]);
    expect(la.sent.every((p) => p[0] !== 2)).toBe(true);
    expect(a.counters().drops.authPacketTooLarge).toBe(1);
    a.close();
    b.close();
  });
});

describe('LinkTransport while a handshake step runs', () => {
  it('holds the packets of a remote that opened first and delivers them once open (packetMac off)', async () => {
    const keys = await testKeys('c1', 's3cret');
    const a = new TestTransport({ localStoreId: 1, keys, packetMac: false });
    const remote = new PipeLink();
    const h = a.attach(9, remote);
    const hello = readFrame((remote.sent[0] as Uint8Array).subarray(1));
    if (hello.type !== 'authHello') throw new Error('no hello');
    const nonce = new Uint8Array(32).fill(5);
    const proof = await signProof(keys, { verifierNonce: hello.nonce, proverNonce: nonce, proverStoreId: 9, verifierStoreId: 1 });
    // Back to back, as a remote that verified our proof first sends them: hello, proof, data.
    const frames = [
      { type: 'authHello' as const, clusterId: 'c1', storeId: 9, nonce },
      { type: 'authProof' as const, proof },
      { type: 'raftBatch' as const, batch: { clusterId: 'c1', fromStoreId: 9, toStoreId: 1, messages: [seqMessage(1, 40_000)] } },
    ];
    for (const f of frames) for (const p of encodePackets(f, 16 * 1024)) h.receive(p);
    await until(() => a.messages().length === 1);
    expect(a.messages().map(seqOf)).toEqual([1]);
    expect(a.peers()).toEqual([9]);
    expect(a.counters().drops.unauthenticated).toBe(0);
    a.close();
  });
});
