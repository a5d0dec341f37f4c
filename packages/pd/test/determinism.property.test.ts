import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { PdCommand, PeerRole } from '../src/index.ts';
import { DEFAULT_SCHEDULE_CONFIG, PdStateMachine, compareKeys, encodePdCommand } from '../src/index.ts';
import { bootstrapCommand } from './helpers.ts';

const id = fc.integer({ min: 1, max: 12 });
const key = fc.uint8Array({ minLength: 0, maxLength: 2, max: 7 });
const role = fc.constantFrom<PeerRole>('voter', 'learner');
const peers = fc.uniqueArray(fc.record({ id: fc.integer({ min: 1, max: 40 }), storeId: id, role }), { minLength: 1, maxLength: 4, selector: (p) => p.storeId });

const command = fc.oneof(
  fc.record({ kind: fc.constant('allocIds' as const), count: fc.integer({ min: 0, max: 50 }), requesterId: id, requesterTerm: id, requestSeq: id }),
  fc.record({ kind: fc.constant('tsoSaveWindow' as const), maxPhysicalMs: fc.nat(1_000_000), requesterId: id, requesterTerm: id }),
  fc.record({ kind: fc.constant('putStore' as const), storeId: fc.oneof(fc.constant(0), id), address: fc.constantFrom('a', 'b', 'c'), labels: fc.constantFrom({}, { device: 'd1' }, { device: 'd2' }), nowMs: fc.nat(1000) }),
  fc.record({
    kind: fc.constant('storeHeartbeat' as const),
    stats: fc.record({ storeId: id, capacityBytes: fc.nat(), usedBytes: fc.nat(), availableBytes: fc.nat(), regionCount: fc.nat(9), leaderCount: fc.nat(9), draining: fc.boolean() }),
    nowMs: fc.nat(1000),
  }),
  fc.record({ kind: fc.constant('setStoreState' as const), storeId: id, state: fc.constantFrom('up' as const, 'offline' as const, 'tombstone' as const), force: fc.boolean() }),
  fc.record({ kind: fc.constant('setScheduleConfig' as const), config: fc.record({ ...Object.fromEntries(Object.entries(DEFAULT_SCHEDULE_CONFIG).map(([k, v]) => [k, fc.constant(v)])), maxReplicas: fc.integer({ min: 0, max: 5 }) }) as fc.Arbitrary<typeof DEFAULT_SCHEDULE_CONFIG> }),
  fc
    .record({ id, start: key, end: key, confVer: fc.nat(4), version: fc.nat(4), peers, leaderPick: fc.nat(), term: fc.nat(3), nowMs: fc.nat(1000) })
    .map(({ id: rid, start, end, confVer, version, peers: ps, leaderPick, term, nowMs }) => ({
      kind: 'regionHeartbeat' as const,
      heartbeat: {
        region: { id: rid === 1 ? 100 : rid, startKey: start, endKey: end, epoch: { confVer, version }, peers: ps },
        leader: ps[leaderPick % ps.length],
        downPeers: [],
        pendingPeers: [],
        approximateSizeBytes: 0,
        approximateKeys: 0,
        writtenBytesPerSec: 0,
        term,
      },
      nowMs,
    })),
) as fc.Arbitrary<PdCommand>;

describe('determinism (property)', () => {
  it('replaying the log, or restoring a snapshot and applying the rest, gives byte-equal state and equal results', () => {
    const seen = new Map<string, number>();
    fc.assert(
      fc.property(fc.array(command, { minLength: 1, maxLength: 60 }), fc.nat(), fc.array(fc.uint8Array({ maxLength: 8 }), { maxLength: 3 }), (cmds, cut, garbage) => {
        const log = [encodePdCommand(bootstrapCommand(0)), ...cmds.map(encodePdCommand), ...garbage];
        const a = PdStateMachine.create();
        const results = log.map((e) => a.applyEntry(e));
        for (const r of results) seen.set(r.kind, (seen.get(r.kind) ?? 0) + 1);
        const at = cut % log.length;
        const prefix = PdStateMachine.create();
        log.slice(0, at).forEach((e) => prefix.applyEntry(e));
        const b = PdStateMachine.restore(prefix.snapshot());
        const tail = log.slice(at).map((e) => b.applyEntry(e));
        expect(tail).toEqual(results.slice(at));
        expect(b.snapshot()).toEqual(a.snapshot());
        const all = a.allRegions();
        for (let i = 1; i < all.length; i++) {
          expect(all[i - 1].region.endKey.length).toBeGreaterThan(0);
          expect(compareKeys(all[i - 1].region.endKey, all[i].region.startKey)).toBeLessThanOrEqual(0);
        }
      }),
      { numRuns: 300 },
    );
    for (const kind of ['idsAllocated', 'tsoWindowSaved', 'storePut', 'storeUpdated', 'regionUpdated', 'configSet', 'refused']) {
      expect(seen.get(kind) ?? 0).toBeGreaterThan(20);
    }
  });
});
