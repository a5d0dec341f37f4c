import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { PdCommand } from '../src/index.ts';
import { IdAllocator, PdStateMachine, encodePdCommand } from '../src/index.ts';
import { bootstrapCommand, bootstrapped } from './helpers.ts';

/** One PD replica: a state machine fed from the shared committed log, and its allocator. */
class Replica {
  sm: PdStateMachine = PdStateMachine.create();
  ids: IdAllocator;
  applied = 0;
  constructor(readonly peerId: number) {
    this.ids = new IdAllocator(peerId, { batchSize: 7, lowWater: 3 });
  }
  apply(data: Uint8Array, onResult: (r: ReturnType<PdStateMachine['applyEntry']>) => void = () => {}): void {
    const result = this.sm.applyEntry(data);
    this.ids.onApplied(result);
    onResult(result);
  }
}

describe('IdAllocator', () => {
  it('serves from memory after a batch is applied and asks again when low', () => {
    const sm = bootstrapped();
    const ids = new IdAllocator(101, { batchSize: 5, lowWater: 2 });
    expect(ids.alloc()).toBeUndefined();
    expect(ids.proposal(0)).toBeNull();
    ids.becomeLeader(3);
    const cmd = ids.proposal(0)!;
    expect(cmd).toEqual({ kind: 'allocIds', count: 5, requesterId: 101, requesterTerm: 3, requestSeq: 1 });
    expect(ids.proposal(1)).toBeNull();
    ids.onApplied(sm.apply(cmd));
    expect([ids.alloc(), ids.alloc(), ids.alloc()]).toEqual([102, 103, 104]);
    expect(ids.proposal(2)).toBeNull();
    ids.alloc();
    expect(ids.proposal(3)).not.toBeNull();
  });

  it('ignores grants to other requesters, other terms, and old grants replayed after a restart', () => {
    const sm = bootstrapped();
    const ids = new IdAllocator(101);
    ids.becomeLeader(5);
    ids.onApplied(sm.apply({ kind: 'allocIds', count: 5, requesterId: 102, requesterTerm: 5, requestSeq: 1 }));
    ids.onApplied(sm.apply({ kind: 'allocIds', count: 5, requesterId: 101, requesterTerm: 4, requestSeq: 1 }));
    expect(ids.available).toBe(0);
  });

  it('hands out higher ids after every leader change: a leader again does not go back to its old batch', () => {
    const sm = bootstrapped();
    const a = new IdAllocator(101, { batchSize: 5, lowWater: 2 });
    const b = new IdAllocator(102, { batchSize: 5, lowWater: 2 });
    a.becomeLeader(3);
    a.onApplied(sm.apply(a.proposal(0)!));
    const first = a.alloc()!;
    a.stepDown();
    expect(a.alloc()).toBeUndefined();
    b.becomeLeader(4);
    b.onApplied(sm.apply(b.proposal(0)!));
    const second = b.alloc()!;
    expect(second).toBeGreaterThan(first);
    b.stepDown();
    a.becomeLeader(5);
    // Its term-3 batch still had ids below b's: they are dropped, and a new batch is asked for.
    expect(a.alloc()).toBeUndefined();
    a.onApplied(sm.apply(a.proposal(0)!));
    expect(a.alloc()!).toBeGreaterThan(second);
  });

  it('never hands out an id twice across leader changes, lost proposals, restarts and snapshots (property)', () => {
    let allocated = 0;
    const op = fc.oneof(
      fc.record({ t: fc.constant('elect' as const), r: fc.nat(2), deposedSteps: fc.boolean() }),
      fc.record({ t: fc.constant('propose' as const) }),
      fc.record({ t: fc.constant('commit' as const) }),
      fc.record({ t: fc.constant('apply' as const), r: fc.nat(2) }),
      fc.record({ t: fc.constant('alloc' as const), r: fc.nat(2), n: fc.integer({ min: 1, max: 6 }) }),
      fc.record({ t: fc.constant('joinStore' as const) }),
      fc.record({ t: fc.constant('restart' as const), r: fc.nat(2), fromSnapshot: fc.boolean() }),
    );
    fc.assert(
      fc.property(fc.array(op, { minLength: 30, maxLength: 120 }), (ops) => {
        const committed: Uint8Array[] = [encodePdCommand(bootstrapCommand())];
        let pending: PdCommand[] = [];
        const replicas = [0, 1, 2].map((r) => new Replica(101 + r));
        const seen = new Set<number>();
        let leader = 0;
        let term = 1;
        const record = (id: number): void => {
          expect(id).toBeGreaterThan(101);
          expect(seen.has(id)).toBe(false);
          seen.add(id);
        };
        /** Log indexes below this have had their store ids recorded (each entry once). */
        let recordedBelow = 1;
        const catchUp = (r: Replica): void => {
          while (r.applied < committed.length) {
            const index = r.applied++;
            r.apply(committed[index], (res) => {
              if (index >= recordedBelow && res.kind === 'storePut' && res.isNew) record(res.storeId);
            });
            recordedBelow = Math.max(recordedBelow, index + 1);
          }
        };
        for (const r of replicas) catchUp(r);
        replicas[0].ids.becomeLeader(term);
        for (const o of ops) {
          if (o.t === 'propose') {
            const cmd = replicas[leader].ids.proposal(0);
            if (cmd) pending.push(cmd);
          } else if (o.t === 'joinStore') {
            pending.push({ kind: 'putStore', storeId: 0, address: `s${seen.size}`, labels: {}, nowMs: 0 });
          } else if (o.t === 'commit') {
            committed.push(...pending.map(encodePdCommand));
            pending = [];
            catchUp(replicas[leader]);
          } else if (o.t === 'apply') {
            if (o.r !== leader) catchUp(replicas[o.r]);
          } else if (o.t === 'alloc') {
            for (let i = 0; i < o.n; i++) {
              const id = replicas[o.r].ids.alloc();
              if (id !== undefined) {
                record(id);
                allocated++;
              }
            }
          } else if (o.t === 'restart') {
            const old = replicas[o.r];
            const fresh = new Replica(old.peerId);
            if (o.fromSnapshot) {
              fresh.sm = PdStateMachine.restore(old.sm.snapshot());
              fresh.applied = old.applied;
            } else {
              fresh.sm = PdStateMachine.create();
            }
            replicas[o.r] = fresh;
            catchUp(fresh);
            if (o.r === leader) {
              term += 1;
              pending = [];
              fresh.ids.becomeLeader(term);
            }
          } else if (o.t === 'elect' && o.r !== leader) {
            if (o.deposedSteps) replicas[leader].ids.stepDown();
            pending = [];
            leader = o.r;
            term += 1;
            catchUp(replicas[leader]);
            replicas[leader].ids.becomeLeader(term);
          }
        }
        for (const r of replicas) catchUp(r);
        const snapshots = replicas.map((r) => r.sm.snapshot());
        expect(snapshots[1]).toEqual(snapshots[0]);
        expect(snapshots[2]).toEqual(snapshots[0]);
      }),
      { numRuns: 200 },
    );
    // The runs allocated ids at all (not a vacuous property): 524-698 in six runs, 459 in one
    // of three for a helper, with fast-check's random seed; far above the 250 asked here.
    expect(allocated).toBeGreaterThan(250);
  });
});
