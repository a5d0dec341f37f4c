/**
 * The GC safe point: replicated, never lower; the PD leader moves it each scheduling round to
 * min(now - gcLifeTimeMs, the oldest registered live start ts), holds it after taking over
 * until registrations had a TTL to refresh, drops expired registrations, and bounds their
 * count. It survives a restart through the snapshot (a section an older snapshot lacks).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { PdCommand } from '../src/index.ts';
import { DEFAULT_GC_CONFIG, PdLeader, PdStateMachine, TSO_LOGICAL_BITS, composeTs, decodePdCommand, encodePdCommand } from '../src/index.ts';
import { bootstrapCommand, bootstrapped } from './helpers.ts';

const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const tsAt = (ms: number): bigint => BigInt(ms) << BigInt(TSO_LOGICAL_BITS);

const GC = { gcLifeTimeMs: 10_000, gcUpdateIntervalMs: 0, serviceTtlMsMax: 5_000, servicesMax: 3 };

/** One PD replica whose leader's commands are committed and applied at once. */
function leaderAt(nowMs: number, sm = PdStateMachine.create()): { sm: PdStateMachine; leader: PdLeader; round: (nowMs: number) => PdCommand[] } {
  if (!sm.isBootstrapped) sm.apply(bootstrapCommand(0));
  const leader = new PdLeader(sm, 101, { scheduleIntervalMs: 1, gc: GC });
  leader.becomeLeader(2, nowMs);
  const round = (t: number): PdCommand[] => {
    const cmds = leader.tick(t).commands;
    for (const c of cmds) leader.onApplied(sm.applyEntry(encodePdCommand(c)));
    return cmds.filter((c) => c.kind === 'setGcSafePoint');
  };
  return { sm, leader, round };
}

describe('GC safe point in the state machine', () => {
  it('never moves back', () => {
    const sm = bootstrapped();
    expect(sm.gcSafePoint).toBe(0n);
    expect(sm.apply({ kind: 'setGcSafePoint', safePoint: 500n })).toEqual({ kind: 'gcSafePointSet', gcSafePoint: 500n, advanced: true });
    expect(sm.apply({ kind: 'setGcSafePoint', safePoint: 400n })).toEqual({ kind: 'gcSafePointSet', gcSafePoint: 500n, advanced: false });
    expect(sm.apply({ kind: 'setGcSafePoint', safePoint: 500n })).toEqual({ kind: 'gcSafePointSet', gcSafePoint: 500n, advanced: false });
    expect(sm.gcSafePoint).toBe(500n);
  });

  it('has a command codec with fixed bytes (appended tag 8)', () => {
    const cmd: PdCommand = { kind: 'setGcSafePoint', safePoint: composeTs(1_763_000_000_000, 7) };
    expect(decodePdCommand(encodePdCommand(cmd))).toEqual(cmd);
    expect(hex(encodePdCommand(cmd))).toBe('08f4d7a733878080c007');
    expect(hex(encodePdCommand({ kind: 'setGcSafePoint', safePoint: 0n }))).toBe('080000');
  });

  it('survives a restart: the snapshot carries it, and an older snapshot reads as 0', () => {
    const sm = bootstrapped(1000);
    const before = sm.snapshot();
    sm.apply({ kind: 'setGcSafePoint', safePoint: tsAt(123_456) + 9n });
    const bytes = sm.snapshot();
    // The state before any safe point keeps its old bytes; the new one appends a section.
    expect(hex(bytes).startsWith(hex(before))).toBe(true);
    expect(hex(bytes.subarray(before.length, before.length + 1))).toBe('01');
    const restored = PdStateMachine.restore(bytes);
    expect(restored.gcSafePoint).toBe(tsAt(123_456) + 9n);
    expect(restored.snapshot()).toEqual(bytes);
    expect(PdStateMachine.restore(before).gcSafePoint).toBe(0n);
  });

  it('refuses a repeated or unknown snapshot section', () => {
    const sm = bootstrapped(1000);
    sm.apply({ kind: 'setGcSafePoint', safePoint: 5n });
    const bytes = sm.snapshot();
    const section = bytes.subarray(bootstrapped(1000).snapshot().length);
    expect(() => PdStateMachine.restore(Uint8Array.of(...bytes, ...section))).toThrow(/Invalid/);
    expect(() => PdStateMachine.restore(Uint8Array.of(...bytes, 9, 0))).toThrow(/UnknownTag/);
    expect(() => PdStateMachine.restore(Uint8Array.of(...bytes, 0))).toThrow(/TrailingBytes/);
  });
});

describe('GC safe point on the PD leader', () => {
  it('defaults to a 10 minute life time', () => {
    expect(DEFAULT_GC_CONFIG.gcLifeTimeMs).toBe(10 * 60_000);
  });

  it('advances each round to now - gcLifeTimeMs, monotonically, after the takeover hold', () => {
    const t0 = 1_000_000;
    const { sm, round } = leaderAt(t0);
    // Held for serviceTtlMsMax after taking over: live registrations must refresh first.
    expect(round(t0 + 1000)).toEqual([]);
    expect(sm.gcSafePoint).toBe(0n);
    expect(round(t0 + 5_000)).toEqual([{ kind: 'setGcSafePoint', safePoint: tsAt(t0 + 5_000 - 10_000) }]);
    const seen = [sm.gcSafePoint];
    for (let t = t0 + 6_000; t < t0 + 12_000; t += 1000) {
      round(t);
      seen.push(sm.gcSafePoint);
    }
    expect(seen.every((x, i) => i === 0 || x > seen[i - 1])).toBe(true);
    expect(sm.gcSafePoint).toBe(tsAt(t0 + 11_000 - 10_000));
    // A clock that goes back proposes nothing lower.
    expect(round(t0 + 3_000)).toEqual([]);
    expect(sm.gcSafePoint).toBe(tsAt(t0 + 1_000));
  });

  it('is held back by a live transaction and released when its registration expires', () => {
    const t0 = 1_000_000;
    const { sm, leader, round } = leaderAt(t0);
    const startTs = tsAt(t0 - 3_000) + 3n;
    expect(leader.registerGcService('client-a', startTs, 4_000, t0 + 5_000)).toEqual({ kind: 'ok', gcSafePoint: 0n, ttlMs: 4_000 });
    round(t0 + 5_000);
    expect(sm.gcSafePoint).toBe(tsAt(t0 - 5_000)); // now - life time is older than the txn
    round(t0 + 8_000);
    expect(sm.gcSafePoint).toBe(startTs); // the txn holds it
    // Refreshed: still held (a registration asks at most serviceTtlMsMax).
    leader.registerGcService('client-a', startTs, 60_000, t0 + 8_500);
    round(t0 + 12_000);
    expect(sm.gcSafePoint).toBe(startTs);
    expect(leader.gc.serviceCount(t0 + 12_000)).toBe(1);
    // Not refreshed again: expired at t0 + 13_500 and dropped.
    round(t0 + 14_000);
    expect(sm.gcSafePoint).toBe(tsAt(t0 + 4_000));
    expect(leader.gc.serviceCount(t0 + 14_000)).toBe(0);
  });

  it('the oldest of several registrations wins; removal (ttl 0) releases it', () => {
    const t0 = 1_000_000;
    const { sm, leader, round } = leaderAt(t0);
    leader.registerGcService('a', tsAt(t0 - 2_000), 5_000, t0 + 4_000);
    leader.registerGcService('b', tsAt(t0 - 3_000), 5_000, t0 + 4_000);
    round(t0 + 8_000);
    expect(sm.gcSafePoint).toBe(tsAt(t0 - 3_000));
    leader.registerGcService('b', 0n, 0, t0 + 8_100);
    round(t0 + 8_200);
    expect(sm.gcSafePoint).toBe(tsAt(t0 - 2_000));
  });

  it('refuses a start ts below the safe point, too many services, and when not leading', () => {
    const t0 = 1_000_000;
    const { sm, leader, round } = leaderAt(t0);
    round(t0 + 5_000);
    const sp = sm.gcSafePoint;
    expect(leader.registerGcService('late', sp - 1n, 1000, t0 + 5_000)).toEqual({ kind: 'error', error: { kind: 'SafePointPassed', gcSafePoint: sp } });
    for (const id of ['a', 'b', 'c']) expect(leader.registerGcService(id, sp, 1000, t0 + 5_000).kind).toBe('ok');
    expect(leader.registerGcService('d', sp, 1000, t0 + 5_000)).toEqual({ kind: 'error', error: { kind: 'TooManyServices', servicesMax: 3 } });
    // Refreshing a known one is fine; after they expire there is room again.
    expect(leader.registerGcService('a', sp, 1000, t0 + 5_500).kind).toBe('ok');
    expect(leader.registerGcService('d', sp, 1000, t0 + 6_000).kind).toBe('ok');
    expect(leader.registerGcService('', sp, 1000, t0 + 6_000).kind).toBe('error');
    leader.stepDown(t0 + 7_000);
    expect(leader.registerGcService('a', sp, 1000, t0 + 7_000)).toEqual({ kind: 'error', error: { kind: 'NotLeader' } });
    expect(leader.tick(t0 + 20_000).commands).toEqual([]);
  });

  it('proposes at most once per gcUpdateIntervalMs', () => {
    const t0 = 1_000_000;
    const sm = bootstrapped(0);
    const leader = new PdLeader(sm, 101, { scheduleIntervalMs: 1, gc: { ...GC, gcUpdateIntervalMs: 3_000 } });
    leader.becomeLeader(2, t0);
    const kinds = (t: number): string[] => leader.tick(t).commands.map((c) => c.kind).filter((k) => k === 'setGcSafePoint');
    expect(kinds(t0 + 5_000)).toEqual(['setGcSafePoint']);
    expect(kinds(t0 + 6_000)).toEqual([]);
    expect(kinds(t0 + 8_000)).toEqual(['setGcSafePoint']);
  });

  it('after a PD restart the new leader starts from the persisted safe point and never goes below it', () => {
    const t0 = 1_000_000;
    const first = leaderAt(t0);
    first.round(t0 + 9_000);
    const sp = first.sm.gcSafePoint;
    expect(sp).toBe(tsAt(t0 - 1_000));
    // Restart from the snapshot; the new leader's clock is behind the old one's.
    const { sm, leader, round } = leaderAt(t0 - 50_000, PdStateMachine.restore(first.sm.snapshot()));
    expect(sm.gcSafePoint).toBe(sp);
    expect(leader.registerGcService('old-txn', sp - 1n, 1000, t0 - 50_000).kind).toBe('error');
    round(t0 - 40_000);
    expect(sm.gcSafePoint).toBe(sp);
    round(t0 + 20_000);
    expect(sm.gcSafePoint).toBe(tsAt(t0 + 10_000));
  });
});

describe('GC safe point invariants (random schedules)', () => {
  it('never passes a live registration and never moves back', () => {
    const step = fc.oneof(
      fc.record({ op: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 4_000 }) }),
      fc.record({ op: fc.constant('register' as const), id: fc.constantFrom('a', 'b', 'c', 'd'), agoMs: fc.integer({ min: 0, max: 20_000 }), ttlMs: fc.integer({ min: 0, max: 8_000 }) }),
      fc.record({ op: fc.constant('round' as const) }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        let now = 1_000_000;
        const { sm, leader, round } = leaderAt(now);
        const live = new Map<string, { ts: bigint; untilMs: number }>();
        let last = sm.gcSafePoint;
        for (const s of steps) {
          if (s.op === 'advance') now += s.ms;
          else if (s.op === 'register') {
            const ts = tsAt(now - s.agoMs);
            const r = leader.registerGcService(s.id, ts, s.ttlMs, now);
            if (s.ttlMs === 0) live.delete(s.id);
            else if (r.kind === 'ok') live.set(s.id, { ts, untilMs: now + Math.min(s.ttlMs, GC.serviceTtlMsMax) });
            else expect(r.error.kind === 'SafePointPassed' || r.error.kind === 'TooManyServices').toBe(true);
          } else {
            round(now);
            expect(sm.gcSafePoint >= last).toBe(true);
            expect(sm.gcSafePoint <= tsAt(now - GC.gcLifeTimeMs) || sm.gcSafePoint === last).toBe(true);
            for (const r of live.values()) if (r.untilMs > now) expect(sm.gcSafePoint <= r.ts).toBe(true);
            last = sm.gcSafePoint;
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
