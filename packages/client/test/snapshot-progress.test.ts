/**
 * The catch-up a store view shows (`StoreView.catchUp`, the demo's store cards): read from the
 * store's snapshot counters, present only while a snapshot is arriving or being applied.
 */
import { describe, expect, it } from 'vitest';
import { MemoryEngine } from '@peerkv/storage';
import type { SnapshotTransferStatus } from '@peerkv/store';
import { snapshotProgress } from '../src/browser/protocol.ts';
import { PdCluster } from '../src/pd-cluster.ts';
import { PeerKV } from '../src/client.ts';

/** How long the joining store gets to catch up, ms. */
const CATCH_UP_MS_MAX = 30_000;

function transfers(over: Partial<SnapshotTransferStatus>): SnapshotTransferStatus {
  return {
    sendsStarted: 0, sendsSucceeded: 0, sendsFailed: 0, chunksSent: 0, chunksResent: 0, bytesSent: 0,
    receivesStarted: 0, receivesCompleted: 0, receivesFailed: 0, chunksReceived: 0, chunksIgnored: 0, bytesReceived: 0,
    refused: {}, undecodable: 0, sending: 0, receiving: 0, chunksStaged: 0,
    appliesStarted: 0, appliesResumed: 0, appliesCompleted: 0, appliesFailed: 0, applyWrites: 0, applying: [],
    ...over,
  };
}

describe('snapshotProgress', () => {
  it('is absent when nothing arrives or applies (a store that only sends, or none at all)', () => {
    expect(snapshotProgress(undefined)).toBeUndefined();
    expect(snapshotProgress(transfers({ sending: 2, bytesSent: 1 << 20, bytesReceived: 4096, receivesCompleted: 1 }))).toBeUndefined();
  });

  it('shows the transfers arriving, the bytes received and each region applying with its chunks', () => {
    const p = snapshotProgress(transfers({ receiving: 1, bytesReceived: 300_000, applying: [{ regionId: 12, index: 40, chunksApplied: 3, chunks: 10 }, { regionId: 14, index: 9, chunksApplied: 0, chunks: 2, failed: 'staged stream lost' }] }));
    expect(p).toEqual({ receiving: 1, bytesReceived: 300_000, applying: [{ regionId: 12, chunksApplied: 3, chunks: 10 }, { regionId: 14, chunksApplied: 0, chunks: 2, failed: 'staged stream lost' }] });
    expect(snapshotProgress(transfers({ applying: [{ regionId: 5, index: 1, chunksApplied: 1, chunks: 1 }] }))?.receiving).toBe(0);
  });
});

describe('a joining store catching up', () => {
  it('shows its snapshot arriving, bytes growing, then nothing once it has caught up', async () => {
    // Every message takes 3 ms, so the transfer (16 KiB chunks) spans many polls.
    const cluster = new PdCluster({
      openEngine: (_name, cfs) => MemoryEngine.open({ columnFamilies: cfs }),
      store: { snapshotTransfer: { chunkBytesMax: 16 * 1024 } },
      router: { delay: { timers: { setTimeout: (f, ms) => setTimeout(f, ms) }, now: () => Date.now(), delayMs: () => 3 } },
    });
    try {
      await cluster.bootstrap('a');
      const kv = new PeerKV({ pd: cluster, stores: cluster });
      const value = new Uint8Array(1024);
      for (let i = 0; i < 1000; i += 100) {
        await kv.batchPut(Array.from({ length: 100 }, (_, j) => ({ key: new TextEncoder().encode(`k${String(i + j).padStart(6, '0')}`), value })));
      }
      const b = await cluster.join('b');
      const seen: number[] = [];
      const deadline = Date.now() + CATCH_UP_MS_MAX;
      let last = snapshotProgress(b.status().snapshotTransfer);
      while (Date.now() < deadline && (seen.length === 0 || last !== undefined)) {
        if (last && last.receiving > 0 && seen.at(-1) !== last.bytesReceived) seen.push(last.bytesReceived);
        await new Promise((r) => setTimeout(r, 5));
        last = snapshotProgress(b.status().snapshotTransfer);
      }
      expect(seen.length).toBeGreaterThanOrEqual(2);
      expect(seen).toEqual([...seen].sort((x, y) => x - y));
      expect(last).toBeUndefined();
      expect(b.status().snapshotTransfer!.bytesReceived).toBeGreaterThanOrEqual(seen.at(-1)!);
    } finally {
      await cluster.close();
    }
  });
});
