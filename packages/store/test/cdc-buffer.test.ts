/**
 * The change feed's live buffer (`txn/cdc-buffer.ts`) on its own: floors cover only the ranges
 * scanned, eviction raises the floor to the largest ts it dropped, a record written again keeps
 * one entry, the byte bound, and a buffer is begun again on another peer or term, or when idle.
 */
import { describe, expect, it } from 'vitest';
import { CF_WRITE, encodeMvccKey, encodeWrite } from '@peerkv/txn';
import { CDC_BUFFER_BYTES_MAX, CDC_BUFFER_EVENTS_MAX, CDC_BUFFER_IDLE_MS, CdcBuffers, RegionCdcBuffer } from '../src/txn/cdc-buffer.ts';
import type { RegionPeer } from '../src/peer.ts';

const k = (s: string): Uint8Array => new TextEncoder().encode(s);
const peerA = { regionId: 7 } as RegionPeer;
const peerB = { regionId: 7 } as RegionPeer;

function put(b: RegionCdcBuffer, key: string, ts: bigint, value = 'v'): void {
  b.add({ key: k(key), commitTs: ts, kind: 'put', startTs: ts - 1n, shortValue: k(value) });
}

describe('RegionCdcBuffer', () => {
  it('serves a range only inside a scanned one, from its floor up', () => {
    const b = new RegionCdcBuffer(peerA, 3, 0);
    expect(b.floorFor({ start: k('a') })).toBeUndefined();
    b.addFloor({ start: k('b'), end: k('d') }, 100n);
    expect(b.floorFor({ start: k('b'), end: k('c') })).toBe(100n);
    expect(b.floorFor({ start: k('a'), end: k('c') })).toBeUndefined();
    expect(b.floorFor({ start: k('b') })).toBeUndefined();
    b.addFloor({ start: k('a') }, 120n);
    expect(b.floorFor({ start: k('b'), end: k('c') })).toBe(100n);
    expect(b.floorFor({ start: k('x') })).toBe(120n);
  });

  it('eviction drops the oldest record and raises the floor to the largest ts dropped', () => {
    const b = new RegionCdcBuffer(peerA, 3, 0);
    b.addFloor({ start: k('') }, 10n);
    // Applied out of ts order: the first record applied has the largest ts.
    put(b, 'a', 900n);
    for (let i = 0; i < CDC_BUFFER_EVENTS_MAX; i++) put(b, `k${i}`, 20n + BigInt(i));
    expect(b.size).toBe(CDC_BUFFER_EVENTS_MAX);
    expect(b.has(k('a'), 900n)).toBe(false);
    expect(b.floorFor({ start: k('') })).toBe(900n);
    expect([...b.changes({ start: k('') }, 0n, 10_000n, undefined)].length).toBe(CDC_BUFFER_EVENTS_MAX);
  });

  it('bounds its bytes, keeps one entry for a record written again, and yields puts and deletes only, past the cursor', () => {
    const b = new RegionCdcBuffer(peerA, 3, 0);
    put(b, 'a', 5n, 'one');
    put(b, 'a', 5n, 'two');
    b.add({ key: k('a'), commitTs: 3n, kind: 'rollback', startTs: 3n });
    b.add({ key: k('b'), commitTs: 5n, kind: 'delete', startTs: 4n });
    const all = [...b.changes({ start: k('') }, 0n, 10n, undefined)];
    expect(all.map((r) => [new TextDecoder().decode(r.key), r.kind, r.shortValue && new TextDecoder().decode(r.shortValue)])).toEqual([['a', 'put', 'two'], ['b', 'delete', undefined]]);
    expect(b.has(k('a'), 3n)).toBe(true);
    expect([...b.changes({ start: k('') }, 0n, 10n, { commitTs: 5n, key: k('a') })].map((r) => r.kind)).toEqual(['delete']);
    const big = 'x'.repeat(64 * 1024);
    for (let i = 0; i < 100; i++) put(b, `big${i}`, 100n + BigInt(i), big);
    expect(b.size * 64 * 1024).toBeLessThanOrEqual(CDC_BUFFER_BYTES_MAX + 64 * 1024);
    expect(b.floorFor({ start: k('') })).toBeUndefined(); // no floor was ever set
  });
});

describe('CdcBuffers', () => {
  it('records the write cf records a buffered region applies, and begins again on another peer or term, or after idling', () => {
    const bs = new CdcBuffers();
    bs.onApplied({ regionId: 7, index: 1, term: 3, type: 'txn', ops: [{ type: 'put', cf: CF_WRITE, key: encodeMvccKey(k('a'), 9n), value: encodeWrite({ kind: 'put', hasOverlappedRollback: false, startTs: 8n, shortValue: k('v') }) }] });
    const b = bs.forPull(peerA, 3, 0);
    expect(b.size).toBe(0); // nothing applied before the buffer began is in it
    bs.onApplied({ regionId: 7, index: 2, term: 3, type: 'txn', ops: [
      { type: 'put', cf: CF_WRITE, key: encodeMvccKey(k('a'), 11n), value: encodeWrite({ kind: 'put', hasOverlappedRollback: false, startTs: 10n, shortValue: k('w') }) },
      { type: 'put', cf: 'lock', key: k('a'), value: k('ignored') },
      { type: 'put', cf: 'default', key: encodeMvccKey(k('a'), 10n), value: k('ignored') },
    ] });
    bs.onApplied({ regionId: 8, index: 2, term: 3, type: 'txn', ops: [{ type: 'put', cf: CF_WRITE, key: encodeMvccKey(k('z'), 11n), value: encodeWrite({ kind: 'put', hasOverlappedRollback: false, startTs: 10n }) }] });
    expect(b.size).toBe(1);
    expect(b.has(k('a'), 11n)).toBe(true);
    expect(bs.forPull(peerA, 3, 10)).toBe(b);
    expect(bs.forPull(peerA, 4, 20)).not.toBe(b);
    const c = bs.forPull(peerB, 4, 30);
    expect(bs.forPull(peerB, 4, 40)).toBe(c);
    expect(bs.forPull(peerB, 4, 40 + CDC_BUFFER_IDLE_MS + 1)).not.toBe(c);
    expect(bs.counters.buffersBegun).toBe(4);
    expect(bs.counters.buffersDropped).toBe(3);
  });
});
