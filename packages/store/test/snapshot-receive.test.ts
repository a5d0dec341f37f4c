/**
 * The snapshot receiver on its own (a fake store around it): a newer snapshot supersedes an
 * older one still arriving, an older one is refused while a newer one arrives, the receiving
 * limit holds, a chunk of the wrong length or a stream that fails its checksum is refused, and
 * only a complete, checked stream is stepped into Raft.
 */
import { describe, expect, it } from 'vitest';
import type { Region } from '@peerkv/pd';
import type { Message, Snapshot } from '@peerkv/raft';
import { crc32c } from '@peerkv/storage';
import { ByteWriter, type RegionMessage } from '@peerkv/transport';
import type { RegionPeer, SnapshotTransferStatus } from '../src/index.ts';
import { chunkCount, decodeSnapshotData, encodeSnapshotHeader, writeStreamPair, type SnapshotHeader } from '../src/snapshot.ts';
import { decodeSnapshotFrame, type SnapshotFrame } from '../src/snapshot-frames.ts';
import { SnapshotReceiver } from '../src/snapshot-receive.ts';
import { snapshotTransferLimits } from '../src/snapshot-worker.ts';

const enc = new TextEncoder();
const CFS = ['default', 'lock', 'write', 'extra'];

function region(id: number, start: string, end: string): Region {
  return { id, startKey: enc.encode(start), endKey: enc.encode(end), epoch: { confVer: 1, version: 1 }, peers: [{ id: id * 10 + 1, storeId: 1, role: 'voter' }, { id: id * 10 + 9, storeId: 9, role: 'voter' }] };
}

/** A stream of `n` pairs per column family in `r`, its header (snapshot `seq` from store 1) and its chunks. */
function transfer(r: Region, seq: number, n: number, chunkBytes: number): { header: SnapshotHeader; chunks: Uint8Array[] } {
  const w = new ByteWriter();
  for (let c = 0; c < CFS.length; c++) for (let i = 0; i < n; i++) writeStreamPair(w, c, enc.encode(`${String.fromCharCode(r.startKey[0])}${i}`), enc.encode(`${CFS[c]}${i}`));
  const stream = w.finish();
  const header: SnapshotHeader = { id: { storeId: 1, boot: 1, seq }, region: r, cfs: CFS, pairs: n * CFS.length, dedupEntries: 0, bytes: stream.length, chunkBytes, crc: crc32c(stream) };
  const chunks: Uint8Array[] = [];
  for (let off = 0; off < stream.length; off += chunkBytes) chunks.push(stream.slice(off, off + chunkBytes));
  expect(chunks).toHaveLength(chunkCount(header));
  return { header, chunks };
}

function emptyStatus(): SnapshotTransferStatus {
  return { sendsStarted: 0, sendsSucceeded: 0, sendsFailed: 0, chunksSent: 0, chunksResent: 0, bytesSent: 0, receivesStarted: 0, receivesCompleted: 0, receivesFailed: 0, chunksReceived: 0, chunksIgnored: 0, bytesReceived: 0, refused: {}, undecodable: 0, sending: 0, receiving: 0 };
}

class Fake {
  readonly status = emptyStatus();
  readonly sent: SnapshotFrame[] = [];
  readonly stepped: Message[] = [];
  readonly peers = new Map<number, RegionPeer>();
  readonly receiver: SnapshotReceiver;

  constructor(limits = {}) {
    this.receiver = new SnapshotReceiver({
      limits: snapshotTransferLimits(limits),
      status: this.status,
      dataCfs: CFS,
      dataModel: 'raw',
      timers: { setTimeout: () => undefined, clearTimeout: () => undefined },
      send: (_to, rm) => this.sent.push(decodeSnapshotFrame(rm.message.context!)),
      peer: (id) => this.peers.get(id),
      overlaps: () => false,
      step: (peer, rm) => {
        (peer as unknown as { pending: Snapshot | undefined }).pending = rm.message.snapshot;
        this.stepped.push(rm.message);
      },
    });
  }

  /** A replica of `r` whose Raft accepts every snapshot stepped into it. */
  host(r: Region): RegionPeer {
    const peer = { regionId: r.id, peerId: r.id * 10 + 9, destroyed: false, pending: undefined as Snapshot | undefined, raw: { pendingSnapshot: () => peer.pending } };
    this.peers.set(r.id, peer as unknown as RegionPeer);
    return peer as unknown as RegionPeer;
  }

  offer(peer: RegionPeer, h: SnapshotHeader, index: number): RegionMessage {
    const rm: RegionMessage = {
      regionId: h.region.id,
      regionEpoch: h.region.epoch,
      message: { type: 'MsgSnap', to: peer.peerId, from: h.region.id * 10 + 1, term: 6, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, snapshot: { data: encodeSnapshotHeader(h), metadata: { index, term: 6, confState: { voters: [1], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } } } },
    };
    this.receiver.onHeader(peer, rm, h);
    return rm;
  }

  chunk(rm: RegionMessage, h: SnapshotHeader, seq: number, data: Uint8Array): void {
    this.receiver.onFrame(1, rm, { kind: 'chunk', id: h.id, seq, data });
  }

  last(): SnapshotFrame {
    return this.sent[this.sent.length - 1];
  }
}

describe('snapshot receiver', () => {
  it('steps only a complete stream, and hands its contents to the install once', () => {
    const f = new Fake();
    const r = region(3, 'a', 'b');
    const peer = f.host(r);
    const t = transfer(r, 1, 5, 16);
    const rm = f.offer(peer, t.header, 30);
    expect(f.last()).toEqual({ kind: 'ack', id: t.header.id, next: 0 });
    t.chunks.forEach((c, i) => {
      expect(f.stepped).toHaveLength(0);
      f.chunk(rm, t.header, i, c);
    });
    expect(f.stepped).toHaveLength(1);
    expect(f.last()).toEqual({ kind: 'ack', id: t.header.id, next: t.chunks.length });
    const contents = f.receiver.take(t.header.id)!;
    expect(contents.pairs.map((p) => p.cf)).toEqual(CFS.flatMap((cf) => Array(5).fill(cf)));
    expect(f.receiver.take(t.header.id)).toBeUndefined();
  });

  it('a newer snapshot supersedes an older one still arriving; an older one is refused while a newer one arrives', () => {
    const f = new Fake();
    const r = region(3, 'a', 'b');
    const peer = f.host(r);
    const old = transfer(r, 1, 5, 16);
    const rmOld = f.offer(peer, old.header, 30);
    f.chunk(rmOld, old.header, 0, old.chunks[0]);
    const fresh = transfer(r, 2, 6, 16);
    const rmNew = f.offer(peer, fresh.header, 40);
    expect(f.sent.some((x) => x.kind === 'reject' && x.id.seq === 1 && x.reason === 'Superseded')).toBe(true);
    // The old transfer's next chunk is refused, never mixed into the new one.
    f.chunk(rmOld, old.header, 1, old.chunks[1]);
    expect(f.last()).toEqual({ kind: 'reject', id: old.header.id, reason: 'Superseded' });
    // An even older snapshot cannot push the newer one out.
    f.offer(peer, transfer(r, 3, 2, 16).header, 20);
    expect(f.last()).toMatchObject({ kind: 'reject', reason: 'Stale' });
    fresh.chunks.forEach((c, i) => f.chunk(rmNew, fresh.header, i, c));
    expect(f.stepped).toHaveLength(1);
    const stepped = decodeSnapshotData(f.stepped[0].snapshot!.data);
    expect(stepped.format === 3 && stepped.header.id.seq).toBe(2);
    expect(f.receiver.take(fresh.header.id)!.pairs).toHaveLength(24);
  });

  it('refuses past the receiving limit, a chunk of the wrong length, and a stream failing its checksum', () => {
    const f = new Fake({ receivingMax: 1 });
    const a = region(3, 'a', 'b');
    const b = region(4, 'b', 'c');
    const pa = f.host(a);
    const pb = f.host(b);
    const ta = transfer(a, 1, 5, 16);
    const rmA = f.offer(pa, ta.header, 30);
    f.offer(pb, transfer(b, 2, 5, 16).header, 30);
    expect(f.last()).toMatchObject({ kind: 'reject', reason: 'TooManyReceiving' });
    f.chunk(rmA, ta.header, 0, ta.chunks[0].subarray(0, 3));
    expect(f.last()).toMatchObject({ kind: 'reject', reason: 'Corrupt' });
    // Same lengths, one flipped byte: the checksum catches it and nothing is stepped.
    const tb = transfer(b, 4, 5, 16);
    const rmB = f.offer(pb, tb.header, 31);
    const bad = tb.chunks.map((c) => c.slice());
    bad[1][5] ^= 1;
    bad.forEach((c, i) => f.chunk(rmB, tb.header, i, c));
    expect(f.last()).toMatchObject({ kind: 'reject', reason: 'Corrupt' });
    expect(f.stepped).toHaveLength(0);
    expect(f.status.receivesFailed).toBe(2);
    expect(f.status.receiving).toBe(0);
  });
});
