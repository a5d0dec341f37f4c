import { describe, expect, it } from 'vitest';
import { MemoryStorage, RaftStorageError, type Entry } from '../src/index.ts';

const ent = (index: number, term: number, data = ''): Entry => ({ index, term, type: 'normal', data: new TextEncoder().encode(data) });

function storageWith(ents: Entry[]): MemoryStorage {
  const s = new MemoryStorage();
  s.append(ents);
  return s;
}

describe('MemoryStorage', () => {
  it('serves entries, terms and bounds', () => {
    const s = storageWith([ent(1, 1), ent(2, 1), ent(3, 2)]);
    expect(s.firstIndex()).toBe(1);
    expect(s.lastIndex()).toBe(3);
    expect(s.term(3)).toBe(2);
    expect(s.entries(1, 4, Infinity).map((e) => e.index)).toEqual([1, 2, 3]);
  });

  it('limits entries by size but always returns one', () => {
    const s = storageWith([ent(1, 1, 'aaaa'), ent(2, 1, 'bbbb'), ent(3, 1, 'cccc')]);
    expect(s.entries(1, 4, 0).length).toBe(1);
    expect(s.entries(1, 4, 40).length).toBe(2);
  });

  it('truncates a conflicting suffix on append', () => {
    const s = storageWith([ent(1, 1), ent(2, 1), ent(3, 1)]);
    s.append([ent(2, 2), ent(3, 2), ent(4, 2)]);
    expect(s.entries(1, 5, Infinity).map((e) => `${e.term}/${e.index}`)).toEqual(['1/1', '2/2', '2/3', '2/4']);
  });

  it('compacts, keeping the term of the compaction point, and reports Compacted below it', () => {
    const s = storageWith([ent(1, 1), ent(2, 1), ent(3, 2), ent(4, 2)]);
    s.createSnapshot(3, { voters: [1], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false }, new Uint8Array([7]));
    s.compact(3);
    expect(s.firstIndex()).toBe(4);
    expect(s.term(3)).toBe(2);
    expect(() => s.entries(3, 5, Infinity)).toThrow(RaftStorageError);
    try {
      s.term(2);
    } catch (e) {
      expect((e as RaftStorageError).kind).toBe('Compacted');
    }
    expect(s.snapshot().metadata).toMatchObject({ index: 3, term: 2 });
  });

  it('reports Unavailable beyond the last index and refuses stale snapshots', () => {
    const s = storageWith([ent(1, 1)]);
    expect(() => s.entries(1, 3, Infinity)).toThrow(/out of bound/);
    s.applySnapshot({ data: new Uint8Array(), metadata: { index: 5, term: 3, confState: { voters: [1], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } } });
    expect(s.firstIndex()).toBe(6);
    expect(s.lastIndex()).toBe(5);
    expect(() => s.applySnapshot({ data: new Uint8Array(), metadata: { index: 4, term: 3, confState: s.initialState().confState } })).toThrow(RaftStorageError);
  });

  it('ignores appends that are entirely compacted and drops their compacted prefix', () => {
    const s = storageWith([ent(1, 1), ent(2, 1), ent(3, 1)]);
    s.compact(2);
    s.append([ent(1, 1), ent(2, 1)]);
    expect(s.lastIndex()).toBe(3);
    s.append([ent(2, 1), ent(3, 1), ent(4, 1)]);
    expect(s.lastIndex()).toBe(4);
  });
});
