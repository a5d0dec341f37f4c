import { describe, expect, it } from 'vitest';
import {
  DEFAULT_CONFIG,
  MemoryStorage,
  ProposalDroppedError,
  RawNode,
  SeededRng,
  StepError,
  decodeConfChange,
  encodeConfChange,
  makeMessage,
  ConfChangeDecodeError,
  RaftAssertionError,
} from '../src/index.ts';

function single(): { node: RawNode; storage: MemoryStorage } {
  const storage = MemoryStorage.withVoters([1]);
  const node = new RawNode({ ...DEFAULT_CONFIG, id: 1, storage, rng: new SeededRng(1) });
  return { node, storage };
}

function drain(node: RawNode, storage: MemoryStorage): string[] {
  const applied: string[] = [];
  while (node.hasReady()) {
    const rd = node.ready();
    storage.append(rd.entries);
    if (rd.hardState) storage.setHardState(rd.hardState);
    for (const e of rd.committedEntries) if (e.data.length) applied.push(new TextDecoder().decode(e.data));
    node.advance(rd);
  }
  return applied;
}

describe('RawNode', () => {
  it('a single voter elects itself and commits proposals', () => {
    const { node, storage } = single();
    node.campaign();
    drain(node, storage);
    expect(node.status().role).toBe('leader');
    node.propose(new TextEncoder().encode('a'));
    expect(drain(node, storage)).toEqual(['a']);
  });

  it('leaderTermFirstIndex: the index of the empty entry of the leader\'s term, below it only earlier terms; undefined off the lead', () => {
    const { node, storage } = single();
    expect(node.leaderTermFirstIndex()).toBeUndefined();
    node.campaign();
    drain(node, storage);
    const first = node.leaderTermFirstIndex()!;
    expect(storage.term(first)).toBe(node.status().term);
    expect(storage.term(first - 1)).toBeLessThan(node.status().term);
    node.propose(new TextEncoder().encode('a'));
    drain(node, storage);
    // Later proposals of the same term leave it where the term began.
    expect(node.leaderTermFirstIndex()).toBe(first);
    expect(node.status().lastIndex).toBe(first + 1);
  });

  it('peekCommittedEntries: what the next Ready commits, read-only; nothing while a Ready is outstanding', () => {
    const { node, storage } = single();
    node.campaign();
    drain(node, storage);
    node.propose(new TextEncoder().encode('p'));
    let seen: string[] = [];
    let checked = false;
    while (node.hasReady()) {
      const peeked = node.peekCommittedEntries().map((e) => e.index);
      const rd = node.ready();
      expect(rd.committedEntries.map((e) => e.index)).toEqual(peeked);
      if (peeked.length > 0) checked = true;
      expect(node.peekCommittedEntries()).toEqual([]);
      storage.append(rd.entries);
      if (rd.hardState) storage.setHardState(rd.hardState);
      seen = seen.concat(rd.committedEntries.filter((e) => e.data.length > 0).map((e) => new TextDecoder().decode(e.data)));
      node.advance(rd);
    }
    expect(checked).toBe(true);
    expect(seen).toEqual(['p']);
  });

  it('allows one outstanding Ready: hasReady is false and ready() refuses until advance', () => {
    const { node } = single();
    node.campaign();
    const rd = node.ready();
    expect(node.hasReady()).toBe(false);
    expect(() => node.ready()).toThrow(RaftAssertionError);
    node.propose(new Uint8Array([1]));
    expect(node.hasReady()).toBe(false);
    node.advance(rd);
    expect(node.hasReady()).toBe(true);
  });

  it('refuses local message types from the network with a typed error', () => {
    const { node } = single();
    expect(() => node.step(makeMessage({ type: 'MsgHup', from: 2 }))).toThrow(StepError);
  });

  it('drops proposals without a leader with a typed reason', () => {
    const storage = MemoryStorage.withVoters([1, 2, 3]);
    const node = new RawNode({ ...DEFAULT_CONFIG, id: 1, storage, rng: new SeededRng(1) });
    try {
      node.propose(new Uint8Array([1]));
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ProposalDroppedError);
      expect((e as ProposalDroppedError).reason).toBe('NoLeader');
    }
  });

  it('refuses a conf change while another is pending, and an invalid one', () => {
    const { node, storage } = single();
    node.campaign();
    drain(node, storage);
    node.proposeConfChange({ transition: 'auto', changes: [{ type: 'addNode', nodeId: 2 }] });
    expect(() => node.proposeConfChange({ transition: 'auto', changes: [{ type: 'addNode', nodeId: 3 }] })).toThrow(/ConfChangePending|unapplied/);
    const rd = node.ready();
    storage.append(rd.entries);
    node.advance(rd);
    // Leaving a joint config that was never entered is invalid.
    const { node: n2, storage: s2 } = single();
    n2.campaign();
    drain(n2, s2);
    try {
      n2.proposeConfChange({ transition: 'auto', changes: [] });
      expect.unreachable();
    } catch (e) {
      expect((e as ProposalDroppedError).reason).toBe('InvalidConfChange');
    }
  });

  it('restarts from storage with applied entries not handed out again', () => {
    const { node, storage } = single();
    node.campaign();
    drain(node, storage);
    node.propose(new TextEncoder().encode('x'));
    node.propose(new TextEncoder().encode('y'));
    expect(drain(node, storage)).toEqual(['x', 'y']);
    const again = new RawNode({ ...DEFAULT_CONFIG, id: 1, storage, rng: new SeededRng(1), applied: 2 });
    again.campaign();
    expect(drain(again, storage)).toEqual(['y']);
  });

  it('validates its config', () => {
    const storage = MemoryStorage.withVoters([1]);
    expect(() => new RawNode({ ...DEFAULT_CONFIG, id: 0, storage, rng: new SeededRng(1) })).toThrow(/none/);
    expect(() => new RawNode({ ...DEFAULT_CONFIG, id: 1, storage, rng: new SeededRng(1), heartbeatTicks: 10, electionTicks: 10 })).toThrow();
    expect(() => new RawNode({ ...DEFAULT_CONFIG, id: 1, storage, rng: new SeededRng(1), readOnly: 'lease', checkQuorum: false })).toThrow(/lease/);
  });
});

describe('conf change codec', () => {
  it('round-trips and rejects garbage with a typed error', () => {
    const cc = { transition: 'explicit' as const, changes: [{ type: 'addLearnerNode' as const, nodeId: 4 }], context: new Uint8Array([1, 2]) };
    expect(decodeConfChange(encodeConfChange(cc))).toEqual(cc);
    expect(decodeConfChange(new Uint8Array())).toEqual({ transition: 'auto', changes: [] });
    expect(() => decodeConfChange(new TextEncoder().encode('{"t":"x","c":[]}'))).toThrow(ConfChangeDecodeError);
    expect(() => decodeConfChange(new Uint8Array([0xff, 0x00]))).toThrow(ConfChangeDecodeError);
  });
});
