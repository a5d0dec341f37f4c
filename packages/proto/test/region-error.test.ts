/** Region errors: every kind round-trips with the wire numbers the store RPC has always used. */
import { describe, expect, it } from 'vitest';
import { REASON_BYTES_MAX, REGIONS_MAX, readRegionError, writeRegionError, type Region, type RegionError } from '../src/index.ts';
import { bytesOf, decodeKind, hex, readAll, unhex } from './helpers.ts';

const b = (s: string): Uint8Array => new TextEncoder().encode(s);
const region: Region = { id: 2, startKey: b('a'), endKey: b('m'), epoch: { confVer: 1, version: 3 }, peers: [{ id: 5, storeId: 1, role: 'voter' }] };
const leaderHint = { id: 5, storeId: 1, role: 'voter' as const };

const samples: RegionError[] = [
  { kind: 'NotLeader', regionId: 2 },
  { kind: 'NotLeader', regionId: 2, leaderHint },
  { kind: 'EpochNotMatch', currentRegions: [region, { ...region, id: 3 }] },
  { kind: 'RegionNotFound', regionId: 7 },
  { kind: 'KeyNotInRegion', key: b('z'), regionId: 2, startKey: b('a'), endKey: b('m') },
  { kind: 'ServerIsBusy', reason: 'apply queue full', backoffMs: 50 },
  { kind: 'StoreNotMatch', requestStoreId: 1, actualStoreId: 2 },
  { kind: 'Timeout', what: 'propose' },
  { kind: 'MaybeCommitted', regionId: 2 },
  { kind: 'MaybeCommitted', regionId: 2, leaderHint },
  { kind: 'StaleWrite', reason: 'below the ack floor' },
  { kind: 'ReadIndexNotReady', regionId: 2, reason: 'no quorum confirmed the read index within 2000 ms' },
];

describe('RegionError codec', () => {
  it.each(samples.map((e) => [e.kind, e] as const))('round-trips %s', (_kind, e) => {
    expect(readAll(readRegionError, bytesOf(writeRegionError, e))).toEqual(e);
  });

  it('keeps its wire numbers (golden)', () => {
    expect(hex(bytesOf(writeRegionError, { kind: 'NotLeader', regionId: 2, leaderHint }))).toBe('0102' + '01' + '050100');
    expect(hex(bytesOf(writeRegionError, { kind: 'StaleWrite', reason: 'x' }))).toBe('090178');
    expect(hex(bytesOf(writeRegionError, { kind: 'ReadIndexNotReady', regionId: 2, reason: 'x' }))).toBe('0a020178');
  });

  it('clips long text to REASON_BYTES_MAX so the reader takes it', () => {
    const e = readAll(readRegionError, bytesOf(writeRegionError, { kind: 'ServerIsBusy', reason: 'é'.repeat(REASON_BYTES_MAX), backoffMs: 1 }));
    expect(e.kind === 'ServerIsBusy' && new TextEncoder().encode(e.reason).length <= REASON_BYTES_MAX).toBe(true);
  });

  it('refuses unknown kinds, region lists past their limit, and every truncation', () => {
    expect(decodeKind(() => readAll(readRegionError, unhex('00')))).toBe('UnknownTag');
    expect(decodeKind(() => readAll(readRegionError, unhex('0b')))).toBe('UnknownTag');
    const tooMany = bytesOf((w, n: number) => {
      w.varUint(2);
      w.varUint(n);
    }, REGIONS_MAX + 1);
    expect(decodeKind(() => readAll(readRegionError, tooMany))).toBe('LimitExceeded');
    for (const e of samples) {
      const bytes = bytesOf(writeRegionError, e);
      for (let n = 0; n < bytes.length; n++) expect(decodeKind(() => readAll(readRegionError, bytes.subarray(0, n)))).toBe('Truncated');
    }
  });
});
