import { describe, expect, it } from 'vitest';
import { MemoryStorage, type Entry } from '@peerkv/raft';
import { SimStorage, SimStorageError, cloneMemoryStorage } from '../src/sim-storage.ts';

const ent = (index: number, term: number): Entry => ({ index, term, type: 'normal', data: new Uint8Array([index]) });

describe('SimStorage', () => {
  it('makes a write visible only when it completes, atomically', () => {
    const s = new SimStorage(MemoryStorage.withVoters([1, 2, 3]), 'strict');
    const t = s.begin({ kind: 'raft', entries: [ent(1, 1), ent(2, 1)], hardState: { term: 1, vote: 2, commit: 0 } });
    expect(s.visible.lastIndex()).toBe(0);
    expect(s.visible.initialState().hardState.vote).toBe(0);
    s.complete(t);
    expect(s.visible.lastIndex()).toBe(2);
    expect(s.visible.initialState().hardState).toEqual({ term: 1, vote: 2, commit: 0 });
    expect(() => s.complete(t)).toThrow(SimStorageError);
  });

  it('a crash loses the write in flight and keeps completed ones (strict)', () => {
    const s = new SimStorage(MemoryStorage.withVoters([1, 2, 3]), 'strict');
    s.writeNow({ kind: 'raft', entries: [ent(1, 1)], hardState: { term: 1, vote: 1, commit: 1 } });
    s.begin({ kind: 'raft', entries: [], hardState: { term: 2, vote: 3, commit: 1 } });
    s.crash();
    expect(s.hasInflight()).toBe(false);
    expect(s.visible.initialState().hardState).toEqual({ term: 1, vote: 1, commit: 1 });
    s.powerLoss();
    expect(s.visible.lastIndex()).toBe(1);
    expect(s.stats.lostInCrash).toBe(1);
  });

  it('relaxed durability: a power loss CAN lose completed (acknowledged) writes', () => {
    const s = new SimStorage(MemoryStorage.withVoters([1, 2, 3]), 'relaxed');
    s.writeNow({ kind: 'raft', entries: [ent(1, 1)], hardState: { term: 1, vote: 1, commit: 1 } });
    s.flush();
    // Completed: a Raft node would now send its vote / append ack based on this write.
    s.writeNow({ kind: 'raft', entries: [ent(2, 2)], hardState: { term: 2, vote: 3, commit: 1 } });
    expect(s.visible.lastIndex()).toBe(2);
    expect(s.unflushedCount()).toBe(1);
    s.crash(); // a process crash keeps it
    expect(s.visible.lastIndex()).toBe(2);
    s.powerLoss(); // a power loss does not
    expect(s.visible.lastIndex()).toBe(1);
    expect(s.visible.initialState().hardState).toEqual({ term: 1, vote: 1, commit: 1 });
    expect(s.stats.lostInPowerLoss).toBe(1);
  });

  it('relaxed durability keeps what was flushed, including snapshots and compaction', () => {
    const s = new SimStorage(MemoryStorage.withVoters([1, 2, 3]), 'relaxed');
    s.writeNow({ kind: 'raft', entries: [ent(1, 1), ent(2, 1), ent(3, 1)], hardState: { term: 1, vote: 1, commit: 3 } });
    const cs = s.visible.initialState().confState;
    s.writeNow({ kind: 'snapshot', index: 3, confState: cs, data: new Uint8Array([9]), compactIndex: 2 });
    s.flush();
    s.powerLoss();
    expect(s.visible.snapshot().metadata.index).toBe(3);
    expect(s.visible.snapshot().data).toEqual(new Uint8Array([9]));
    expect(s.visible.lastIndex()).toBe(3);
    expect(s.visible.initialState().confState.voters).toEqual([1, 2, 3]);
  });

  it('clones a MemoryStorage with its snapshot, entries and hard state', () => {
    const m = MemoryStorage.withVoters([1, 2]);
    m.append([ent(1, 1), ent(2, 1), ent(3, 2)]);
    m.setHardState({ term: 2, vote: 1, commit: 2 });
    m.createSnapshot(2, m.initialState().confState, new Uint8Array([1]));
    m.compact(1);
    const c = cloneMemoryStorage(m);
    expect(c.snapshot().metadata).toEqual(m.snapshot().metadata);
    expect(c.lastIndex()).toBe(3);
    expect(c.term(3)).toBe(2);
    expect(c.initialState()).toEqual(m.initialState());
  });
});
