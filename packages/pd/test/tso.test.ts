import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { PdCommand, Timestamp, TsoConfig } from '../src/index.ts';
import { PdStateMachine, TSO_LOGICAL_MAX, TsoAllocator, composeTs, encodePdCommand, tsLogical, tsPhysicalMs } from '../src/index.ts';
import { bootstrapped } from './helpers.ts';

function ok(r: ReturnType<TsoAllocator['getTimestamps']>): { first: Timestamp; last: Timestamp } {
  if (r.kind !== 'ok') throw new Error(JSON.stringify(r.error));
  return r;
}

/** One PD replica: a state machine and its allocator, fed every applied result. */
class Replica {
  readonly sm: PdStateMachine = bootstrapped();
  readonly tso: TsoAllocator;
  applied = 0;
  constructor(id: number, config: Partial<TsoConfig> = {}) {
    this.tso = new TsoAllocator(id, config);
  }
  apply(cmd: PdCommand): void {
    this.tso.onApplied(this.sm.applyEntry(encodePdCommand(cmd)));
  }
  /** Proposes and applies this leader's next window. */
  persistWindow(nowMs: number): number {
    const cmd = this.tso.windowProposal(nowMs);
    if (cmd === null) throw new Error('no window proposal');
    this.apply(cmd);
    return cmd.maxPhysicalMs;
  }
}

describe('timestamps', () => {
  it('compose physical << 18 | logical and split back', () => {
    const ts = composeTs(1_763_000_000_123, 77);
    expect(ts).toBe((1_763_000_000_123n << 18n) | 77n);
    expect(tsPhysicalMs(ts)).toBe(1_763_000_000_123);
    expect(tsLogical(ts)).toBe(77);
    expect(() => composeTs(1, TSO_LOGICAL_MAX)).toThrow();
  });
});

describe('TsoAllocator', () => {
  it('serves nothing until leader and until its own window above the old bound is persisted', () => {
    const r = new Replica(101);
    expect(r.tso.getTimestamps(1, 1000)).toEqual({ kind: 'error', error: { kind: 'NotLeader' } });
    r.apply({ kind: 'tsoSaveWindow', maxPhysicalMs: 5000, requesterId: 102, requesterTerm: 1 });
    r.tso.becomeLeader(2, r.sm.maxPersistedPhysicalMs);
    expect(r.tso.getTimestamps(1, 1000)).toEqual({ kind: 'error', error: { kind: 'WindowNotPersisted', windowPhysicalMs: 0 } });
    const cmd = r.tso.windowProposal(1000);
    expect(cmd).toEqual({ kind: 'tsoSaveWindow', maxPhysicalMs: 8000, requesterId: 101, requesterTerm: 2 });
    expect(r.tso.windowProposal(1001)).toBeNull();
    r.apply(cmd!);
    expect(ok(r.tso.getTimestamps(1, 1000)).first).toBe(composeTs(5000, 0));
  });

  it('ignores windows of other requesters and of its earlier terms', () => {
    const r = new Replica(101);
    r.tso.becomeLeader(3, 0);
    r.apply({ kind: 'tsoSaveWindow', maxPhysicalMs: 5000, requesterId: 102, requesterTerm: 3 });
    r.apply({ kind: 'tsoSaveWindow', maxPhysicalMs: 5000, requesterId: 101, requesterTerm: 2 });
    expect(r.tso.getTimestamps(1, 1000).kind).toBe('error');
  });

  it('stays strictly increasing when the wall clock goes backwards and never reaches the window', () => {
    const r = new Replica(101, { saveWindowMs: 10_000 });
    r.tso.becomeLeader(1, 0);
    r.persistWindow(0);
    const a = ok(r.tso.getTimestamps(3, 20_000)).last;
    expect(tsPhysicalMs(a)).toBe(9999);
    const b = ok(r.tso.getTimestamps(1, 1_000)).first;
    expect(b > a).toBe(true);
    expect(tsPhysicalMs(b)).toBe(9999);
  });

  it('drops fractions of a millisecond (performance.now-style clocks)', () => {
    const r = new Replica(101);
    r.tso.becomeLeader(1, 0);
    const cmd = r.tso.windowProposal(1000.7)!;
    expect(cmd.maxPhysicalMs).toBe(4000);
    r.apply(cmd);
    expect(tsPhysicalMs(ok(r.tso.getTimestamps(1, 1500.9)).first)).toBe(1500);
  });

  it('moves to the next millisecond when the logical counter overflows', () => {
    const r = new Replica(101, { batchMax: TSO_LOGICAL_MAX });
    r.tso.becomeLeader(1, 0);
    r.persistWindow(50);
    const a = ok(r.tso.getTimestamps(TSO_LOGICAL_MAX - 1, 50));
    expect(tsPhysicalMs(a.last)).toBe(50);
    const b = ok(r.tso.getTimestamps(2, 50));
    expect([tsPhysicalMs(b.first), tsLogical(b.first)]).toEqual([51, 0]);
    expect(r.tso.getTimestamps(TSO_LOGICAL_MAX + 1, 50).kind).toBe('error');
  });

  it('re-proposes a window only after the retry interval, and again when it runs low', () => {
    const r = new Replica(101, { proposalRetryMs: 100, saveWindowMs: 3000, updateThresholdMs: 1000 });
    r.tso.becomeLeader(1, 0);
    const cmd = r.tso.windowProposal(1000);
    expect(cmd).not.toBeNull();
    expect(r.tso.windowProposal(1050)).toBeNull();
    expect(r.tso.windowProposal(1100)).not.toBeNull();
    r.apply(cmd!);
    expect(r.tso.windowProposal(2500)).toBeNull();
    expect(r.tso.windowProposal(3100)?.maxPhysicalMs).toBe(6100);
  });

  it('is unique everywhere and monotonic at the leader across leader changes, clock skew and regressions (property)', () => {
    let servedAtLeader = 0;
    let elections = 0;
    const op = fc.oneof(
      fc.record({ t: fc.constant('clock' as const), dt: fc.integer({ min: -3000, max: 3000 }) }),
      fc.record({ t: fc.constant('get' as const), n: fc.integer({ min: 1, max: 5000 }) }),
      fc.record({ t: fc.constant('get' as const), n: fc.constant(1) }),
      fc.record({ t: fc.constant('propose' as const) }),
      fc.record({ t: fc.constant('commit' as const) }),
      fc.record({ t: fc.constant('apply' as const), r: fc.nat(2) }),
      fc.record({ t: fc.constant('elect' as const), r: fc.nat(2), deposedKeepsServing: fc.boolean() }),
      fc.record({ t: fc.constant('staleGet' as const), r: fc.nat(2) }),
    );
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -20_000, max: 20_000 }), { minLength: 3, maxLength: 3 }), fc.array(op, { minLength: 40, maxLength: 150 }), (skews, ops) => {
        let clock = 1_700_000_000_000;
        let term = 1;
        const committed: PdCommand[] = [];
        let pending: PdCommand[] = [];
        const replicas = [0, 1, 2].map((r) => new Replica(101 + r, { batchMax: 8192 }));
        const catchUp = (r: Replica): void => {
          while (r.applied < committed.length) r.apply(committed[r.applied++]);
        };
        let leader = 0;
        replicas[0].tso.becomeLeader(term, 0);
        const served: [bigint, bigint][] = [];
        let lastAtLeader = -1n;
        const take = (r: number, n: number): Timestamp | undefined => {
          const res = replicas[r].tso.getTimestamps(n, clock + skews[r]);
          if (res.kind !== 'ok') return undefined;
          expect(tsPhysicalMs(res.last)).toBeLessThan(replicas[r].sm.maxPersistedPhysicalMs);
          served.push([res.first, res.last]);
          return res.first;
        };
        for (const o of ops) {
          if (o.t === 'clock') clock += o.dt;
          else if (o.t === 'propose') {
            const cmd = replicas[leader].tso.windowProposal(clock + skews[leader]);
            if (cmd) pending.push(cmd);
          } else if (o.t === 'commit') {
            committed.push(...pending);
            pending = [];
            catchUp(replicas[leader]);
          } else if (o.t === 'apply') catchUp(replicas[o.r]);
          else if (o.t === 'get') {
            const first = take(leader, o.n);
            if (first !== undefined) {
              servedAtLeader++;
              expect(first > lastAtLeader).toBe(true);
              lastAtLeader = first + BigInt(o.n - 1);
            }
          } else if (o.t === 'staleGet') {
            if (o.r !== leader) take(o.r, 1);
          } else if (o.t === 'elect' && o.r !== leader) {
            if (!o.deposedKeepsServing) replicas[leader].tso.stepDown();
            pending = [];
            leader = o.r;
            term += 1;
            if (servedAtLeader > 0) elections++;
            catchUp(replicas[leader]);
            replicas[leader].tso.becomeLeader(term, replicas[leader].sm.maxPersistedPhysicalMs);
          }
        }
        served.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
        for (let i = 1; i < served.length; i++) expect(served[i][0] > served[i - 1][1]).toBe(true);
      }),
      { numRuns: 200 },
    );
    expect(servedAtLeader).toBeGreaterThan(200);
    expect(elections).toBeGreaterThan(50);
  });
});
