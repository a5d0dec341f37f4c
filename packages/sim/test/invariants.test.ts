import { describe, expect, it } from 'vitest';
import type { Entry } from '@peerkv/raft';
import { InvariantChecker } from '../src/invariants.ts';

const e = (index: number, term: number, byte = index): Entry => ({ index, term, type: 'normal', data: new Uint8Array([byte]) });

describe('InvariantChecker', () => {
  it('flags two leaders in one term, not one leader seen twice', () => {
    const c = new InvariantChecker();
    const none = (): undefined => undefined;
    c.onLeader(1, 3, 0, none, 0);
    c.onLeader(1, 3, 0, none, 5);
    c.onLeader(2, 4, 0, none, 6);
    expect(c.failed).toBe(false);
    c.onLeader(3, 4, 0, none, 7);
    expect(c.violations.map((v) => v.kind)).toEqual(['electionSafety']);
  });

  it('flags log matching violations on content and on the previous term', () => {
    const c = new InvariantChecker();
    c.onPersist(1, [e(1, 1), e(2, 1)], 0, 0);
    c.onPersist(2, [e(2, 1)], 1, 0);
    expect(c.failed).toBe(false);
    c.onPersist(3, [e(2, 1, 99)], 1, 0);
    expect(c.violations.map((v) => v.kind)).toEqual(['logMatching']);
    const d = new InvariantChecker();
    d.onPersist(1, [e(1, 1), e(2, 2)], 0, 0);
    d.onPersist(2, [e(1, 2), e(2, 2)], 0, 0);
    expect(d.violations.map((v) => v.kind)).toEqual(['logMatching']);
  });

  it('flags a new leader that lacks an applied entry', () => {
    const c = new InvariantChecker();
    c.onApply(1, e(1, 1), 0);
    c.onApply(1, e(2, 1), 0);
    c.onLeader(2, 2, 2, (i) => (i <= 2 ? 1 : undefined), 0);
    c.onLeader(3, 3, 5, () => undefined, 0);
    expect(c.failed).toBe(false);
    c.onLeader(1, 4, 1, () => 1, 0);
    c.onLeader(2, 5, 3, (i) => (i === 2 ? 2 : undefined), 0);
    expect(c.violations.map((v) => v.kind)).toEqual(['leaderCompleteness', 'leaderCompleteness']);
  });

  it('flags persisted hard state that goes backwards or votes twice in a term', () => {
    const c = new InvariantChecker();
    c.onHardState(1, { term: 1, vote: 0, commit: 0 }, { term: 1, vote: 2, commit: 0 }, 0);
    c.onHardState(1, { term: 1, vote: 2, commit: 0 }, { term: 2, vote: 3, commit: 4 }, 0);
    expect(c.failed).toBe(false);
    c.onHardState(1, { term: 2, vote: 3, commit: 4 }, { term: 2, vote: 1, commit: 4 }, 0);
    c.onHardState(1, { term: 2, vote: 3, commit: 4 }, { term: 2, vote: 3, commit: 3 }, 0);
    c.onHardState(1, { term: 2, vote: 3, commit: 4 }, { term: 1, vote: 3, commit: 4 }, 0);
    expect(c.violations.map((v) => v.kind)).toEqual(['hardStateRegression', 'hardStateRegression', 'hardStateRegression']);
  });

  it('flags two different commands applied at one index', () => {
    const c = new InvariantChecker();
    c.onApply(1, e(5, 2), 0);
    c.onApply(2, e(5, 2), 0);
    expect(c.failed).toBe(false);
    c.onApply(3, e(5, 3), 0);
    expect(c.violations.map((v) => v.kind)).toEqual(['stateMachineSafety']);
    expect(c.maxAppliedIndex()).toBe(5);
  });
});
