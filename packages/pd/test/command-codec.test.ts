import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { PdCommand } from '../src/index.ts';
import { COMMAND_KINDS, DEFAULT_SCHEDULE_CONFIG, PdDecodeError, decodePdCommand, encodePdCommand } from '../src/index.ts';
import { bootstrapCommand, heartbeat, peer, region, stats } from './helpers.ts';

const samples: PdCommand[] = [
  bootstrapCommand(),
  { kind: 'allocIds', count: 1000, requesterId: 101, requesterTerm: 4, requestSeq: 9 },
  { kind: 'tsoSaveWindow', maxPhysicalMs: 1_763_000_000_000, requesterId: 101, requesterTerm: 2 },
  { kind: 'putStore', storeId: 0, address: 'tab-ä', labels: { device: 'phone', browser: 'firefox' }, nowMs: 5 },
  { kind: 'storeHeartbeat', stats: stats(3, { draining: true, usedBytes: 2 ** 40 }), nowMs: 77 },
  { kind: 'setStoreState', storeId: 3, state: 'tombstone', force: true },
  {
    kind: 'regionHeartbeat',
    heartbeat: heartbeat(region(9, 'a', 'b', [peer(10, 1), peer(11, 2, 'learner')], { confVer: 3, version: 8 }), peer(10, 1), {
      downPeers: [11],
      pendingPeers: [11],
      term: 12,
    }),
    nowMs: 2 ** 45,
  },
  { kind: 'setScheduleConfig', config: { ...DEFAULT_SCHEDULE_CONFIG, balanceRegionBy: 'bytes', pdReplicas: 5 } },
  { kind: 'setGcSafePoint', safePoint: (1_763_000_000_000n << 18n) | 5n },
];

function decodeError(data: Uint8Array): PdDecodeError {
  try {
    decodePdCommand(data);
  } catch (e) {
    if (e instanceof PdDecodeError) return e;
    throw e;
  }
  throw new Error('decoded');
}

describe('PdCommand codec', () => {
  it('covers every command kind', () => {
    expect(new Set(samples.map((s) => s.kind))).toEqual(new Set(COMMAND_KINDS));
  });

  it.each(samples.map((s) => [s.kind, s] as const))('round-trips %s', (_kind, cmd) => {
    expect(decodePdCommand(encodePdCommand(cmd))).toEqual(cmd);
  });

  it('round-trips arbitrary region heartbeats', () => {
    const arbPeer = fc.record({ id: fc.nat(), storeId: fc.nat(), role: fc.constantFrom('voter', 'learner', 'incomingVoter', 'demotingVoter') as fc.Arbitrary<'voter'> });
    const arbHb = fc.record({
      region: fc.record({
        id: fc.nat(),
        startKey: fc.uint8Array({ maxLength: 20 }),
        endKey: fc.uint8Array({ maxLength: 20 }),
        epoch: fc.record({ confVer: fc.nat(), version: fc.nat() }),
        peers: fc.array(arbPeer, { maxLength: 5 }),
      }),
      leader: arbPeer,
      downPeers: fc.array(fc.nat(), { maxLength: 5 }),
      pendingPeers: fc.array(fc.nat(), { maxLength: 5 }),
      approximateSizeBytes: fc.maxSafeNat(),
      approximateKeys: fc.maxSafeNat(),
      writtenBytesPerSec: fc.nat(),
      term: fc.nat(),
    });
    fc.assert(
      fc.property(arbHb, fc.maxSafeNat(), (hb, nowMs) => {
        const cmd: PdCommand = { kind: 'regionHeartbeat', heartbeat: hb, nowMs };
        expect(decodePdCommand(encodePdCommand(cmd))).toEqual(cmd);
      }),
    );
  });

  it('keeps the wire format (golden bytes: a change here breaks existing logs)', () => {
    const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    expect(hex(encodePdCommand({ kind: 'allocIds', count: 1000, requesterId: 101, requesterTerm: 4, requestSeq: 9 }))).toBe('01e807650409');
    expect(hex(encodePdCommand({ kind: 'tsoSaveWindow', maxPhysicalMs: 1_763_000_000_000, requesterId: 101, requesterTerm: 4 }))).toBe('0280bcf4d7a7336504');
    const hb = heartbeat(region(9, 'a', '', [peer(10, 1), peer(11, 2, 'learner')], { confVer: 3, version: 8 }), peer(10, 1), {
      pendingPeers: [11],
      approximateSizeBytes: 300,
      approximateKeys: 2,
      term: 5,
    });
    expect(hex(encodePdCommand({ kind: 'regionHeartbeat', heartbeat: hb, nowMs: 1000 }))).toBe('06090161000308020a01000b02010a010000010bac02020005e807');
  });

  it('refuses an unknown command type', () => {
    expect(decodeError(Uint8Array.of(99)).kind).toBe('UnknownTag');
  });

  it('refuses every truncation of every sample', () => {
    for (const cmd of samples) {
      const bytes = encodePdCommand(cmd);
      for (let n = 0; n < bytes.length; n++) {
        expect(decodeError(bytes.subarray(0, n)).kind).toBe('Truncated');
      }
    }
  });

  it('refuses trailing bytes', () => {
    const bytes = encodePdCommand(samples[1]);
    expect(decodeError(Uint8Array.of(...bytes, 0)).kind).toBe('TrailingBytes');
  });

  it('refuses an id batch past ID_BATCH_MAX and lengths past their limits', () => {
    const big = encodePdCommand({ kind: 'allocIds', count: 100_001, requesterId: 1, requesterTerm: 1, requestSeq: 1 });
    expect(decodeError(big).kind).toBe('LimitExceeded');
    const longAddress = encodePdCommand({ kind: 'putStore', storeId: 0, address: 'x'.repeat(5000), labels: {}, nowMs: 0 });
    expect(decodeError(longAddress).kind).toBe('LimitExceeded');
  });

  it('refuses a bad enum tag, a bad bool, an overlong varint and invalid UTF-8', () => {
    const setState = encodePdCommand({ kind: 'setStoreState', storeId: 3, state: 'up', force: false });
    expect(decodeError(Uint8Array.of(setState[0], 3, 7, 0)).kind).toBe('UnknownTag');
    expect(decodeError(Uint8Array.of(setState[0], 3, 0, 2)).kind).toBe('Invalid');
    expect(decodeError(Uint8Array.of(setState[0], 0x83, 0x00, 0, 0)).kind).toBe('Invalid');
    const put = Uint8Array.of(COMMAND_KINDS.indexOf('putStore'), 0, 2, 0xc3, 0x28, 0, 0);
    expect(decodeError(put).kind).toBe('Invalid');
  });

  it('refuses an invalid schedule config', () => {
    const bytes = encodePdCommand({ kind: 'setScheduleConfig', config: { ...DEFAULT_SCHEDULE_CONFIG } });
    const bad = Uint8Array.from(bytes);
    bad[2] = 4; // pdReplicas = 4
    expect(decodeError(bad).kind).toBe('Invalid');
  });

  it('never throws anything but PdDecodeError on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (data) => {
        try {
          decodePdCommand(data);
        } catch (e) {
          expect(e).toBeInstanceOf(PdDecodeError);
        }
      }),
    );
  });
});
