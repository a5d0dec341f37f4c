/** Small pure pieces: CRC32C vectors, key layout order, term runs, the entry window. */
import { describe, expect, it } from 'vitest';
import { compareBytes } from '../src/bytes.ts';
import { crc32c } from '../src/crc32c.ts';
import { EntryWindow } from '../src/raft/entry-cache.ts';
import { entriesEnd, entryKey, indexOfEntryKey, regionIdOfKey, regionStart, stateKey } from '../src/raft/keys.ts';
import { TermRuns } from '../src/raft/term-runs.ts';

describe('crc32c', () => {
  it('matches the standard check values', () => {
    expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
  });
  it('continues across chunks', () => {
    const all = new TextEncoder().encode('hello, world');
    expect(crc32c(all.subarray(5), crc32c(all.subarray(0, 5)))).toBe(crc32c(all));
  });
});

describe('raft key layout', () => {
  it('orders by region, then entries by index, then state records', () => {
    const keys = [
      entryKey(1, 2),
      entryKey(1, 256),
      entryKey(1, 2 ** 40),
      stateKey(1, 'hardState'),
      stateKey(1, 'snapshotData'),
      entryKey(2, 0),
      entryKey(2 ** 35, 1),
    ];
    for (let i = 1; i < keys.length; i++) expect(compareBytes(keys[i - 1], keys[i])).toBeLessThan(0);
    expect(compareBytes(entriesEnd(1), entryKey(1, Number.MAX_SAFE_INTEGER))).toBeGreaterThan(0);
    expect(compareBytes(regionStart(2), stateKey(1, 'snapshotData'))).toBeGreaterThan(0);
    expect(indexOfEntryKey(entryKey(9, 2 ** 45 + 3))).toBe(2 ** 45 + 3);
    expect(regionIdOfKey(stateKey(2 ** 50, 'applyState'))).toBe(2 ** 50);
    expect(() => entryKey(-1, 0)).toThrow(/regionId/);
    expect(() => entryKey(1, 1.5)).toThrow(/index/);
  });
});

describe('TermRuns', () => {
  it('answers terms through pushes, truncation, compaction and reset', () => {
    const t = new TermRuns(0, 0);
    [1, 1, 2, 2, 2, 5].forEach((term, i) => t.push(i + 1, term));
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((i) => t.term(i))).toEqual([0, 1, 1, 2, 2, 2, 5, undefined]);
    t.truncateFrom(4);
    t.push(4, 3);
    expect([3, 4, 5].map((i) => t.term(i))).toEqual([2, 3, undefined]);
    t.compactTo(3);
    expect([t.offset, t.lastIndex, t.term(2), t.term(3), t.term(4)]).toEqual([3, 4, undefined, 2, 3]);
    t.compactTo(4);
    expect([t.offset, t.lastIndex, t.term(4)]).toEqual([4, 4, 3]);
    t.push(5, 3);
    expect(t.term(5)).toBe(3);
    t.reset(10, 7);
    expect([t.offset, t.lastIndex, t.term(10), t.term(5)]).toEqual([10, 10, 7, undefined]);
  });
});

describe('EntryWindow', () => {
  const e = (index: number, bytes = 4) => ({ index, term: 1, type: 'normal' as const, data: new Uint8Array(bytes) });
  it('appends with truncation, evicts oldest first, drops compacted', () => {
    const w = new EntryWindow(1);
    w.appendAt([e(1), e(2), e(3), e(4)]);
    w.appendAt([e(3, 8)]);
    expect([w.first, w.end, w.get(3)?.data.length, w.get(4)]).toEqual([1, 4, 8, undefined]);
    w.evictTo(44); // 20 + 20 + 24 bytes held: only entry 1 goes
    expect([w.first, w.end]).toEqual([2, 4]);
    w.appendAt([e(1)]); // below the window: replaced
    expect([w.first, w.end]).toEqual([1, 2]);
    w.dropThrough(5);
    expect([w.first, w.end, w.sizeBytes]).toEqual([6, 6, 0]);
  });
});
