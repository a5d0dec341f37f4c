import { describe, expect, it } from 'vitest';
import { jointCommittedIndex, jointVoteResult, majorityCommittedIndex, majorityVoteResult } from '../src/index.ts';

const acked = (m: Record<number, number>) => (id: number) => m[id];

describe('majority quorum', () => {
  it('commits the index acked by a majority (n/2+1-th largest)', () => {
    expect(majorityCommittedIndex(new Set([1, 2, 3]), acked({ 1: 5, 2: 3, 3: 1 }))).toBe(3);
    expect(majorityCommittedIndex(new Set([1, 2, 3, 4]), acked({ 1: 5, 2: 4, 3: 3, 4: 1 }))).toBe(3);
    expect(majorityCommittedIndex(new Set([1, 2, 3, 4, 5]), acked({ 1: 9, 2: 9, 3: 2, 4: 1 }))).toBe(2);
  });
  it('treats a voter without progress as having acked nothing', () => {
    expect(majorityCommittedIndex(new Set([1, 2, 3]), acked({ 1: 5 }))).toBe(0);
  });
  it('by convention, an empty config has committed everything and its elections are won', () => {
    expect(majorityCommittedIndex(new Set(), acked({}))).toBe(Infinity);
    expect(majorityVoteResult(new Set(), new Map())).toBe('won');
  });
  it('vote results: won, pending, lost', () => {
    const v = new Set([1, 2, 3]);
    expect(majorityVoteResult(v, new Map([[1, true], [2, true]]))).toBe('won');
    expect(majorityVoteResult(v, new Map([[1, true], [2, false]]))).toBe('pending');
    expect(majorityVoteResult(v, new Map([[1, false], [2, false]]))).toBe('lost');
    // Votes from non-voters do not count.
    expect(majorityVoteResult(v, new Map([[1, true], [9, true]]))).toBe('pending');
  });
});

describe('joint quorum', () => {
  const cfg = { incoming: new Set([1, 2, 3]), outgoing: new Set([3, 4, 5]) };
  it('commits the minimum of both halves', () => {
    expect(jointCommittedIndex(cfg, acked({ 1: 9, 2: 9, 3: 5, 4: 2, 5: 1 }))).toBe(2);
  });
  it('needs a majority of both halves to win, and loses if either half loses', () => {
    expect(jointVoteResult(cfg, new Map([[1, true], [2, true]]))).toBe('pending');
    expect(jointVoteResult(cfg, new Map([[1, true], [2, true], [4, true], [5, true]]))).toBe('won');
    expect(jointVoteResult(cfg, new Map([[4, false], [5, false], [1, true], [2, true]]))).toBe('lost');
  });
  it('outside a joint config behaves like the incoming majority', () => {
    const simple = { incoming: new Set([1, 2, 3]), outgoing: new Set<number>() };
    expect(jointCommittedIndex(simple, acked({ 1: 4, 2: 4, 3: 1 }))).toBe(4);
    expect(jointVoteResult(simple, new Map([[1, true], [3, true]]))).toBe('won');
  });
});
