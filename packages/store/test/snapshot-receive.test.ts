/**
 * The snapshot receiver on its own (a fake store around it): a newer snapshot supersedes an
 * older one still arriving, an older one is refused while a newer one arrives, the receiving
 * limit holds, a chunk of the wrong length or a stream that fails its checksum is refused,
 * only a complete, checked, staged stream is stepped into Raft, and chunks go to the staging
 * area as they arrive: the receiver holds at most `stagingBufferBytesMax` of them.
 */
import { describe, expect, it } from 'vitest';
import type { Region } from '@peerkv/pd';
import type { Message, Snapshot } from '@peerkv/raft';
import { crc32c } from '@peerkv/storage';
import { ByteWriter, type RegionMessage } from '@peerkv/transport';
import type { RegionPeer } from '../src/index.ts';
import { chunkCount, decodeSnapshotData, decodeSnapshotStream, encodeSnapshotHeader, snapshotIdKey, snapshotRangeOf, writeStreamPair, type SnapshotHeader, type SnapshotId } from '../src/snapshot.ts';
import { decodeSnapshotFrame, type SnapshotFrame } from '../src/snapshot-frames.ts';
import { SnapshotReceiver } from '../src/snapshot-receive.ts';
import type { SnapshotStaging } from '../src/snapshot-stage.ts';
import { emptySnapshotTransferStatus, snapshotTransferLimits } from '../src/snapshot-worker.ts';

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

/** A staging area in memory; while `hold` is set, writes wait until `release()`. */
class FakeStaging {
  readonly chunks = new Map<string, Uint8Array[]>();
  hold = false;
  private held: (() => void)[] = [];

  writes = 0;

  putChunks(_regionId: number, id: SnapshotId, chunks: { seq: number; data: Uint8Array }[]): Promise<void> {
    this.writes++;
    const put = (): void => {
      const list = this.chunks.get(snapshotIdKey(id)) ?? [];
      for (const c of chunks) list[c.seq] = c.data;
      this.chunks.set(snapshotIdKey(id), list);
    };
    if (!this.hold) {
      put();
      return Promise.resolve();
    }
    return new Promise((resolve) => this.held.push(() => (put(), resolve())));
  }

  drop(_regionId: number, id: SnapshotId): Promise<void> {
    this.chunks.delete(snapshotIdKey(id));
    return Promise.resolve();
  }

  release(): void {
    this.hold = false;
    for (const f of this.held.splice(0)) f();
  }

  /** The staged stream of `h`, decoded (throws if a chunk is missing). */
  contents(h: SnapshotHeader): ReturnType<typeof decodeSnapshotStream> {
    const list = this.chunks.get(snapshotIdKey(h.id)) ?? [];
    const stream = new Uint8Array(list.reduce((n, c) => n + c.length, 0));
    let off = 0;
    for (const c of list) {
      stream.set(c, off);
      off += c.length;
    }
    return decodeSnapshotStream(h, stream, snapshotRangeOf('raw', h.region.id, h.region));
  }
}

/** Lets every pending staging write and its follow-up run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

class Fake {
  readonly status = emptySnapshotTransferStatus();
  readonly sent: SnapshotFrame[] = [];
  readonly stepped: Message[] = [];
  readonly peers = new Map<number, RegionPeer>();
  readonly staging = new FakeStaging();
  readonly receiver: SnapshotReceiver;

  constructor(limits = {}) {
    this.receiver = new SnapshotReceiver({
      limits: snapshotTransferLimits(limits),
      status: this.status,
      dataCfs: CFS,
      dataModel: 'raw',
      timers: { setTimeout: () => undefined, clearTimeout: () => undefined },
      staging: this.staging as unknown as SnapshotStaging,
      stopped: () => false,
      fatal: (e) => {
        throw e;
      },
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

  /** Delivers one chunk and lets its staging write complete. */
  async chunk(rm: RegionMessage, h: SnapshotHeader, seq: number, data: Uint8Array): Promise<void> {
    this.receiver.onFrame(1, rm, { kind: 'chunk', id: h.id, seq, data });
    await settle();
  }

  last(): SnapshotFrame {
    return this.sent[this.sent.length - 1];
  }
}

describe('snapshot receiver', () => {
  it('stages each chunk, steps only a complete stream, and hands it to the install once', async () => {
    const f = new Fake();
    const r = region(3, 'a', 'b');
    const peer = f.host(r);
    const t = transfer(r, 1, 5, 16);
    const rm = f.offer(peer, t.header, 30);
    expect(f.last()).toEqual({ kind: 'ack', id: t.header.id, next: 0 });
    for (const [i, c] of t.chunks.entries()) {
      expect(f.stepped).toHaveLength(0);
      await f.chunk(rm, t.header, i, c);
    }
    expect(f.stepped).toHaveLength(1);
    expect(f.last()).toEqual({ kind: 'ack', id: t.header.id, next: t.chunks.length });
    expect(f.status.chunksStaged).toBe(t.chunks.length);
    expect(f.receiver.take(t.header.id)).toBe(true);
    expect(f.receiver.take(t.header.id)).toBe(false);
    // Taken: the staged stream belongs to the install, whole.
    await settle();
    expect(f.staging.contents(t.header).pairs.map((p) => p.cf)).toEqual(CFS.flatMap((cf) => Array(5).fill(cf)));
  });

  it('holds at most stagingBufferBytesMax not yet staged while a staging write waits; the rest is resent', async () => {
    const bufferBytes = 32;
    const f = new Fake({ stagingBufferBytesMax: bufferBytes });
    const r = region(3, 'a', 'b');
    const peer = f.host(r);
    const t = transfer(r, 1, 9, 8);
    const held = bufferBytes / 8;
    expect(t.chunks.length).toBeGreaterThan(held * 4);
    const rm = f.offer(peer, t.header, 30);
    f.staging.hold = true;
    for (let i = 0; i < held * 3; i++) await f.chunk(rm, t.header, i, t.chunks[i]);
    // The first chunk's write waits; the next ones fill the buffer; the rest is ignored.
    expect(f.status.chunksReceived).toBe(held);
    expect(f.status.chunksIgnored).toBe(held * 2);
    expect(f.status.chunksStaged).toBe(0);
    expect(f.last()).toEqual({ kind: 'ack', id: t.header.id, next: held });
    f.staging.release();
    await settle();
    // The buffered chunks went to disk together, in one more write.
    expect(f.status.chunksStaged).toBe(held);
    expect(f.staging.writes).toBe(2);
    for (let i = held; i < t.chunks.length; i++) await f.chunk(rm, t.header, i, t.chunks[i]);
    expect(f.stepped).toHaveLength(1);
    expect(f.last()).toEqual({ kind: 'ack', id: t.header.id, next: t.chunks.length });
    expect(f.staging.contents(t.header).pairs).toHaveLength(9 * CFS.length);
  });

  it('drops the staged chunks of a failed transfer', async () => {
    const f = new Fake();
    const r = region(3, 'a', 'b');
    const peer = f.host(r);
    const t = transfer(r, 1, 5, 16);
    const rm = f.offer(peer, t.header, 30);
    await f.chunk(rm, t.header, 0, t.chunks[0]);
    expect(f.staging.chunks.has(snapshotIdKey(t.header.id))).toBe(true);
    await f.chunk(rm, t.header, 1, t.chunks[1].subarray(0, 2));
    expect(f.last()).toMatchObject({ kind: 'reject', reason: 'Corrupt' });
    await settle();
    expect(f.staging.chunks.has(snapshotIdKey(t.header.id))).toBe(false);
  });

  it('a newer snapshot supersedes an older one still arriving; an older one is refused while a newer one arrives', async () => {
    const f = new Fake();
    const r = region(3, 'a', 'b');
    const peer = f.host(r);
    const old = transfer(r, 1, 5, 16);
    const rmOld = f.offer(peer, old.header, 30);
    await f.chunk(rmOld, old.header, 0, old.chunks[0]);
    const fresh = transfer(r, 2, 6, 16);
    const rmNew = f.offer(peer, fresh.header, 40);
    expect(f.sent.some((x) => x.kind === 'reject' && x.id.seq === 1 && x.reason === 'Superseded')).toBe(true);
    // The old transfer's next chunk is refused, never mixed into the new one.
    await f.chunk(rmOld, old.header, 1, old.chunks[1]);
    expect(f.last()).toEqual({ kind: 'reject', id: old.header.id, reason: 'Superseded' });
    // An even older snapshot cannot push the newer one out.
    f.offer(peer, transfer(r, 3, 2, 16).header, 20);
    expect(f.last()).toMatchObject({ kind: 'reject', reason: 'Stale' });
    for (const [i, c] of fresh.chunks.entries()) await f.chunk(rmNew, fresh.header, i, c);
    expect(f.stepped).toHaveLength(1);
    const stepped = decodeSnapshotData(f.stepped[0].snapshot!.data);
    expect(stepped.format === 3 && stepped.header.id.seq).toBe(2);
    expect(f.receiver.take(fresh.header.id)).toBe(true);
    expect(f.staging.contents(fresh.header).pairs).toHaveLength(24);
    expect(f.staging.chunks.has(snapshotIdKey(old.header.id))).toBe(false);
  });

  it('refuses past the receiving limit, a chunk of the wrong length, and a stream failing its checksum', async () => {
    const f = new Fake({ receivingMax: 1 });
    const a = region(3, 'a', 'b');
    const b = region(4, 'b', 'c');
    const pa = f.host(a);
    const pb = f.host(b);
    const ta = transfer(a, 1, 5, 16);
    const rmA = f.offer(pa, ta.header, 30);
    f.offer(pb, transfer(b, 2, 5, 16).header, 30);
    expect(f.last()).toMatchObject({ kind: 'reject', reason: 'TooManyReceiving' });
    await f.chunk(rmA, ta.header, 0, ta.chunks[0].subarray(0, 3));
    expect(f.last()).toMatchObject({ kind: 'reject', reason: 'Corrupt' });
    // Same lengths, one flipped byte: the checksum catches it and nothing is stepped.
    const tb = transfer(b, 4, 5, 16);
    const rmB = f.offer(pb, tb.header, 31);
    const bad = tb.chunks.map((c) => c.slice());
    bad[1][5] ^= 1;
    for (const [i, c] of bad.entries()) await f.chunk(rmB, tb.header, i, c);
    expect(f.last()).toMatchObject({ kind: 'reject', reason: 'Corrupt' });
    expect(f.stepped).toHaveLength(0);
    expect(f.status.receivesFailed).toBe(2);
    expect(f.status.receiving).toBe(0);
  });
});
