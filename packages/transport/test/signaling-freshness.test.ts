import { describe, expect, it } from 'vitest';
import { ReplayGuard, hasFreshnessFields } from '../src/signaling-freshness.ts';

const W = 60_000;
const f = (sessionStartMs: number, seq: number, sentAtMs: number) => ({ sessionStartMs, seq, sentAtMs });

describe('ReplayGuard', () => {
  it('accepts a rising counter within the window; refuses a repeat, a lower counter and a stale or future seal', () => {
    const g = new ReplayGuard(W);
    const now = 1_000_000;
    expect(g.check(2, 's1', f(900_000, 1, now), now)).toBe('fresh');
    expect(g.check(2, 's1', f(900_000, 3, now), now)).toBe('fresh'); // gaps are lost payloads
    expect(g.check(2, 's1', f(900_000, 3, now), now)).toBe('replayed');
    expect(g.check(2, 's1', f(900_000, 2, now), now)).toBe('replayed');
    expect(g.check(2, 's1', f(900_000, 9, now - W - 1), now)).toBe('stale');
    expect(g.check(2, 's1', f(900_000, 9, now + W + 1), now)).toBe('stale');
    expect(g.check(2, 's1', f(900_000, 9, now - W), now)).toBe('fresh'); // the window's edge, inclusive
  });

  it('a later session supersedes; an earlier one is refused while the current one is heard, accepted after a silent window', () => {
    const g = new ReplayGuard(W);
    let now = 1_000_000;
    expect(g.check(2, 'old', f(100, 50, now), now)).toBe('fresh');
    expect(g.check(2, 'new', f(200, 1, now), now)).toBe('fresh'); // the store restarted
    expect(g.check(2, 'old', f(100, 51, now), now)).toBe('replayed'); // its earlier life
    now += W + 1; // 'new' silent for a whole window: a store whose clock went back may rejoin
    expect(g.check(2, 'older', f(50, 1, now), now)).toBe('fresh');
  });

  it('keeps senders apart', () => {
    const g = new ReplayGuard(W);
    expect(g.check(1, 's', f(1, 1, 0), 0)).toBe('fresh');
    expect(g.check(2, 's', f(1, 1, 0), 0)).toBe('fresh');
  });

  it('hasFreshnessFields needs all three as safe integers (an older PeerKV sends none)', () => {
    expect(hasFreshnessFields({ sessionStartMs: 1, seq: 1, sentAtMs: 1 })).toBe(true);
    expect(hasFreshnessFields({ sessionStartMs: 1, seq: 1 })).toBe(false);
    expect(hasFreshnessFields({ sessionStartMs: 1, seq: 1.5, sentAtMs: 1 } as never)).toBe(false);
  });
});
