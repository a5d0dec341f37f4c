import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { makeMessage } from '@peerkv/raft';
import { DEFAULT_CHUNK_LIMITS, encodePackets, Reassembler, splitFrame } from '../src/chunking.ts';
import type { Frame } from '../src/codec/frame.ts';
import { readFrame } from '../src/codec/frame.ts';

function bigFrame(dataBytes: number): Frame {
  const data = new Uint8Array(dataBytes).map((_, i) => i % 251);
  const message = makeMessage({ type: 'MsgApp', entries: [{ term: 1, index: 1, type: 'normal', data }] });
  return { type: 'raftBatch', batch: { clusterId: 'c', fromStoreId: 1, toStoreId: 2, messages: [{ regionId: 1, regionEpoch: { confVer: 1, version: 1 }, message }] } };
}

function reassemble(packets: Uint8Array[], r = new Reassembler(DEFAULT_CHUNK_LIMITS)): Uint8Array[] {
  const frames: Uint8Array[] = [];
  for (const p of packets) {
    const out = r.push(p);
    if (out.kind === 'violation') throw new Error(out.reason);
    if (out.kind === 'frame') frames.push(out.bytes);
  }
  return frames;
}

describe('chunking', () => {
  it('sends frames up to 16 KiB whole and splits larger ones into ≤16 KiB packets', () => {
    expect(encodePackets(bigFrame(1000), DEFAULT_CHUNK_LIMITS.chunkBytesMax)).toHaveLength(1);
    const packets = encodePackets(bigFrame(100_000), DEFAULT_CHUNK_LIMITS.chunkBytesMax);
    expect(packets.length).toBeGreaterThan(6);
    for (const p of packets) expect(p.length).toBeLessThanOrEqual(16 * 1024);
    const [frame] = reassemble(packets);
    expect(readFrame(frame)).toEqual(bigFrame(100_000));
  });

  it('reassembles any frame split at any chunk size, back to back', () => {
    fc.assert(
      fc.property(fc.nat(3000), fc.integer({ min: 40, max: 3000 }), fc.nat(3), (n, size, extra) => {
        const frames = Array.from({ length: extra + 1 }, (_, i) => bigFrame(n + i));
        const packets = frames.flatMap((f) => encodePackets(f, size));
        expect(reassemble(packets).map((b) => readFrame(b))).toEqual(frames);
      }),
      { numRuns: 100 },
    );
  });

  it('refuses a frame over frameBytesMax before allocating it', () => {
    const packets = splitFrame(new Uint8Array(5000), 1024);
    const r = new Reassembler({ chunkBytesMax: 1024, frameBytesMax: 4096, pendingChunksMax: 100 });
    expect(r.push(packets[0])).toEqual({ kind: 'violation', reason: 'FrameTooLarge' });
  });

  it('refuses a frame split into more than pendingChunksMax chunks', () => {
    const packets = splitFrame(new Uint8Array(5000), 100);
    const r = new Reassembler({ chunkBytesMax: 100, frameBytesMax: 1 << 20, pendingChunksMax: 10 });
    expect(r.push(packets[0])).toEqual({ kind: 'violation', reason: 'TooManyChunks' });
  });

  it('refuses out-of-order, interleaved and missing chunks', () => {
    const a = splitFrame(new Uint8Array(300).fill(1), 100);
    const b = splitFrame(new Uint8Array(300).fill(2), 100);
    const r1 = new Reassembler(DEFAULT_CHUNK_LIMITS);
    expect(r1.push(a[1])).toEqual({ kind: 'violation', reason: 'OutOfOrder' });
    const r2 = new Reassembler(DEFAULT_CHUNK_LIMITS);
    r2.push(a[0]);
    expect(r2.push(b[0])).toEqual({ kind: 'violation', reason: 'OutOfOrder' });
    const r3 = new Reassembler(DEFAULT_CHUNK_LIMITS);
    r3.push(a[0]);
    expect(r3.push(a[2])).toEqual({ kind: 'violation', reason: 'OutOfOrder' });
  });

  it('refuses chunks that overflow the announced size and packets over chunkBytesMax', () => {
    const parts = splitFrame(new Uint8Array(300), 100);
    const forged = new Uint8Array([...parts[1], ...new Uint8Array(300)]);
    const r = new Reassembler(DEFAULT_CHUNK_LIMITS);
    r.push(parts[0]);
    expect(r.push(forged)).toEqual({ kind: 'violation', reason: 'SizeMismatch' });
    expect(new Reassembler({ ...DEFAULT_CHUNK_LIMITS, chunkBytesMax: 50 }).push(parts[0])).toEqual({ kind: 'violation', reason: 'Malformed' });
  });
});
