/**
 * The one encoding of the cluster metadata: round trips, the bytes that PD's logs and
 * snapshots and the store's Raft logs already hold (golden), and every limit.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ADDRESS_BYTES_MAX,
  DAMAGED_REGIONS_MAX,
  DecodeError,
  KEY_BYTES_MAX,
  LABEL_BYTES_MAX,
  LABELS_MAX,
  PEERS_MAX,
  decodeRegion,
  encodeRegion,
  readLabels,
  readPeer,
  readPeerIds,
  readPeers,
  readRegion,
  readRegionHeartbeat,
  readStoreMeta,
  readStoreStats,
  writeLabels,
  writePeer,
  writePeerIds,
  writePeers,
  writeRegion,
  writeRegionHeartbeat,
  writeStoreMeta,
  writeStoreStats,
  type Peer,
  type Region,
} from '../src/index.ts';
import { arbHeartbeat, arbLabels, arbPeer, arbRegion, arbStoreMeta, arbStoreStats, asciiOfBytes, bytesOf, decodeKind, expectRoundTrip, hex, readAll, unhex } from './helpers.ts';

const enc = new TextEncoder();
const peer = (id: number, storeId: number, role: Peer['role'] = 'voter'): Peer => ({ id, storeId, role });
const region = (peers: Peer[], startKey = 'a', endKey = ''): Region => ({ id: 9, startKey: enc.encode(startKey), endKey: enc.encode(endKey), epoch: { confVer: 3, version: 8 }, peers });

describe('meta codec', () => {
  it('round-trips peers, regions, labels, store metas, stats and heartbeats', () => {
    fc.assert(fc.property(arbPeer, (p) => expectRoundTrip(writePeer, readPeer, p)));
    fc.assert(fc.property(arbRegion, (r) => expectRoundTrip(writeRegion, readRegion, r)));
    fc.assert(
      fc.property(arbRegion, (r) => {
        expect(decodeRegion(encodeRegion(r))).toEqual(r);
      }),
    );
    fc.assert(fc.property(arbLabels, (l) => expectRoundTrip(writeLabels, readLabels, l)));
    fc.assert(fc.property(arbStoreMeta, (m) => expectRoundTrip(writeStoreMeta, readStoreMeta, m)));
    fc.assert(fc.property(arbStoreStats, (s) => expectRoundTrip(writeStoreStats, readStoreStats, s)));
    fc.assert(fc.property(arbHeartbeat, (hb) => expectRoundTrip(writeRegionHeartbeat, readRegionHeartbeat, hb)));
  });

  it('keeps the bytes existing logs and snapshots hold (golden)', () => {
    // A region as the store's region state and PD's commands have always written it.
    const r = region([peer(10, 1), peer(11, 2, 'learner')], 'a', '');
    expect(hex(encodeRegion(r))).toBe('09016100030802' + '0a0100' + '0b0201');
    // The heartbeat inside PD's golden `regionHeartbeat` command (command-codec.test.ts).
    const hb = { region: r, leader: peer(10, 1), downPeers: [], pendingPeers: [11], approximateSizeBytes: 300, approximateKeys: 2, writtenBytesPerSec: 0, term: 5 };
    expect(hex(bytesOf(writeRegionHeartbeat, hb))).toBe('090161000308020a01000b02010a010000010bac02020005');
    // A store meta inside PD's golden snapshot (state-machine.test.ts).
    expect(hex(bytesOf(writeStoreMeta, { id: 1, address: 'store-1', labels: { device: 'd1' }, state: 'up' }))).toBe('010773746f72652d310106646576696365026431' + '00');
    expect(hex(bytesOf(writeStoreStats, { storeId: 1, capacityBytes: 2, usedBytes: 3, availableBytes: 4, regionCount: 5, leaderCount: 6, draining: true }))).toBe('01020304050601');
  });

  it('writes damaged regions after the draining flag, only when there are some', () => {
    const base = { storeId: 1, capacityBytes: 2, usedBytes: 3, availableBytes: 4, regionCount: 5, leaderCount: 6, draining: false };
    expect(hex(bytesOf(writeStoreStats, { ...base, damagedRegionIds: [] }))).toBe('01020304050600');
    expect(hex(bytesOf(writeStoreStats, { ...base, draining: true, damagedRegionIds: [7, 300] }))).toBe('010203040506' + '03' + '0207ac02');
    expect(readAll(readStoreStats, unhex('010203040506' + '02' + '0109'))).toEqual({ ...base, damagedRegionIds: [9] });
    expect(() => readAll(readStoreStats, unhex('010203040506' + '04'))).toThrow(DecodeError);
    expect(() => readAll(readStoreStats, unhex('010203040506' + '02' + '00'))).toThrow(DecodeError);
    expect(() => readAll(readStoreStats, unhex('010203040506' + '02' + (DAMAGED_REGIONS_MAX + 1).toString(16) + '01'.repeat(DAMAGED_REGIONS_MAX + 1)))).toThrow(DecodeError);
    expect(() => bytesOf(writeStoreStats, { ...base, damagedRegionIds: Array.from({ length: DAMAGED_REGIONS_MAX + 1 }, (_, i) => i) })).toThrow(RangeError);
  });

  it('writes labels sorted by key, and reads them in any order', () => {
    expect(hex(bytesOf(writeLabels, { zone: 'z', device: 'a' }))).toBe(hex(bytesOf(writeLabels, { device: 'a', zone: 'z' })));
    // An unsorted pair, as the store RPC wrote labels before this codec.
    expect(readAll(readLabels, unhex('02' + '047a6f6e65017a' + '06646576696365' + '0161'))).toEqual({ zone: 'z', device: 'a' });
  });

  it('refuses peers, peer ids and labels past their limits', () => {
    const peers = Array.from({ length: PEERS_MAX + 1 }, (_, i) => peer(i, i));
    expect(readAll(readPeers, bytesOf(writePeers, peers.slice(1)))).toHaveLength(PEERS_MAX);
    expect(decodeKind(() => readAll(readPeers, bytesOf(writePeers, peers)))).toBe('LimitExceeded');
    const ids = peers.map((p) => p.id);
    expect(decodeKind(() => readAll(readPeerIds, bytesOf(writePeerIds, ids)))).toBe('LimitExceeded');
    const labels = Object.fromEntries(Array.from({ length: LABELS_MAX + 1 }, (_, i) => [`k${i}`, 'v']));
    expect(decodeKind(() => readAll(readLabels, bytesOf(writeLabels, labels)))).toBe('LimitExceeded');
    expect(readAll(readLabels, bytesOf(writeLabels, { [asciiOfBytes(LABEL_BYTES_MAX)]: asciiOfBytes(LABEL_BYTES_MAX) }))).toBeDefined();
    expect(decodeKind(() => readAll(readLabels, bytesOf(writeLabels, { k: asciiOfBytes(LABEL_BYTES_MAX + 1) })))).toBe('LimitExceeded');
    expect(decodeKind(() => readAll(readLabels, bytesOf(writeLabels, { [asciiOfBytes(LABEL_BYTES_MAX + 1)]: 'v' })))).toBe('LimitExceeded');
  });

  it('refuses keys and addresses past their limits', () => {
    const longKey = new Uint8Array(KEY_BYTES_MAX + 1);
    expect(readAll(readRegion, bytesOf(writeRegion, { ...region([]), startKey: longKey.subarray(1) })).startKey).toHaveLength(KEY_BYTES_MAX);
    expect(decodeKind(() => readAll(readRegion, bytesOf(writeRegion, { ...region([]), startKey: longKey })))).toBe('LimitExceeded');
    expect(decodeKind(() => readAll(readRegion, bytesOf(writeRegion, { ...region([]), endKey: longKey })))).toBe('LimitExceeded');
    const meta = { id: 1, address: asciiOfBytes(ADDRESS_BYTES_MAX), labels: {}, state: 'up' as const };
    expect(readAll(readStoreMeta, bytesOf(writeStoreMeta, meta))).toEqual(meta);
    expect(decodeKind(() => readAll(readStoreMeta, bytesOf(writeStoreMeta, { ...meta, address: asciiOfBytes(ADDRESS_BYTES_MAX + 1) })))).toBe('LimitExceeded');
  });

  it('keeps the witness flag in the role byte; a peer without it reads back as a full replica', () => {
    const witness: Peer = { id: 7, storeId: 3, role: 'learner', witness: true };
    expect(bytesOf(writePeer, witness)).toEqual(Uint8Array.of(7, 3, 64 + 1));
    expect(readAll(readPeer, bytesOf(writePeer, witness))).toEqual(witness);
    const full = readAll(readPeer, Uint8Array.of(7, 3, 1));
    expect(full).toEqual({ id: 7, storeId: 3, role: 'learner' });
    expect('witness' in full).toBe(false);
  });

  it('refuses unknown roles and store states, bad bools, and every truncation', () => {
    expect(decodeKind(() => readAll(readPeer, Uint8Array.of(1, 2, 4)))).toBe('UnknownTag');
    expect(decodeKind(() => readAll(readPeer, Uint8Array.of(1, 2, 64 + 4)))).toBe('UnknownTag');
    expect(decodeKind(() => readAll(readPeer, Uint8Array.of(1, 2, 128, 1)))).toBe('UnknownTag');
    expect(decodeKind(() => readAll(readStoreMeta, Uint8Array.of(1, 0, 0, 3)))).toBe('UnknownTag');
    expect(decodeKind(() => readAll(readStoreStats, Uint8Array.of(1, 2, 3, 4, 5, 6, 4)))).toBe('InvalidValue');
    expect(() => bytesOf(writePeer, { id: 1, storeId: 1, role: 'witness' as Peer['role'] })).toThrow(RangeError);
    fc.assert(
      fc.property(arbHeartbeat, (hb) => {
        const bytes = bytesOf(writeRegionHeartbeat, hb);
        for (let n = 0; n < bytes.length; n++) expect(decodeKind(() => readAll(readRegionHeartbeat, bytes.subarray(0, n)))).toBe('Truncated');
      }),
      { numRuns: 30 },
    );
  });
});
