/**
 * A store status over RPC: its snapshot progress (what `peerkv status` shows while a store
 * catches up or joins) round-trips, a status without it (as older stores send) decodes
 * unchanged, the applying list is bounded, and a truncated tail is a typed decode error.
 */
import { describe, expect, it } from 'vitest';
import { SNAPSHOT_PROGRESS_REGIONS_MAX, StoreRpcDecodeError, decodeStoreResponse, encodeStoreResponse, type StoreStatus } from '../src/index.ts';

const base: StoreStatus = { storeId: 3, counters: {} as StoreStatus['counters'], regions: [] };

function withCounters(s: StoreStatus): StoreStatus {
  // Every counter the codec writes, zero.
  return { ...s, counters: new Proxy({}, { get: () => 0 }) as StoreStatus['counters'] };
}

describe('status over RPC', () => {
  it('carries the snapshot progress, and a status without it decodes as before', () => {
    const progress = { sending: 1, receiving: 2, bytesSent: 3 << 20, bytesReceived: 512 * 1024, applying: [{ regionId: 7, chunksApplied: 3, chunks: 9 }, { regionId: 8, chunksApplied: 0, chunks: 4, failed: 'staged stream corrupt' }] };
    const got = decodeStoreResponse(encodeStoreResponse({ type: 'status', status: { ...withCounters(base), snapshotProgress: progress } }));
    expect(got.type === 'status' && got.status.snapshotProgress).toEqual(progress);
    const plain = decodeStoreResponse(encodeStoreResponse({ type: 'status', status: withCounters(base) }));
    expect(plain.type === 'status' && 'snapshotProgress' in plain.status).toBe(false);
  });

  it('sends at most SNAPSHOT_PROGRESS_REGIONS_MAX applying regions, and a cut tail is a typed error', () => {
    const applying = Array.from({ length: SNAPSHOT_PROGRESS_REGIONS_MAX + 10 }, (_, i) => ({ regionId: i + 1, chunksApplied: 1, chunks: 2 }));
    const bytes = encodeStoreResponse({ type: 'status', status: { ...withCounters(base), snapshotProgress: { sending: 0, receiving: 0, bytesSent: 0, bytesReceived: 0, applying } } });
    const got = decodeStoreResponse(bytes);
    expect(got.type === 'status' && got.status.snapshotProgress?.applying.length).toBe(SNAPSHOT_PROGRESS_REGIONS_MAX);
    expect(() => decodeStoreResponse(bytes.subarray(0, bytes.length - 3))).toThrow(StoreRpcDecodeError);
  });
});
