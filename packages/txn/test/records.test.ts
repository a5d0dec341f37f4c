/** Lock and write records: paired codecs, a version byte, short values, bad input as DecodeError. */
import { DecodeError } from '@peerkv/proto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SECONDARIES_MAX, SHORT_VALUE_BYTES_MAX, decodeLock, decodeWrite, encodeLock, encodeWrite, type Lock, type Write } from '../src/index.ts';
import { arbTs, b, decodeKind, hex } from './helpers.ts';

const lockSample: Lock = {
  kind: 'put',
  primary: b('p'),
  startTs: 10n,
  ttlMs: 3000,
  shortValue: b('v'),
  forUpdateTs: 0n,
  txnSize: 2,
  minCommitTs: 11n,
  useAsyncCommit: true,
  secondaries: [b('s1'), b('s2')],
};
const writeSample: Write = { kind: 'put', startTs: 10n, shortValue: b('v'), hasOverlappedRollback: false };

const arbKey = fc.uint8Array({ maxLength: 8 });
const arbShort = fc.option(fc.uint8Array({ maxLength: SHORT_VALUE_BYTES_MAX }), { nil: undefined });
const arbLock: fc.Arbitrary<Lock> = fc
  .record({
    kind: fc.constantFrom('put', 'delete', 'lock', 'pessimisticLock'),
    primary: arbKey,
    startTs: arbTs,
    ttlMs: fc.integer({ min: 0, max: 3_600_000 }),
    shortValue: arbShort,
    forUpdateTs: arbTs,
    txnSize: fc.maxSafeNat(),
    minCommitTs: arbTs,
    useAsyncCommit: fc.boolean(),
    secondaries: fc.array(arbKey, { maxLength: 4 }),
  })
  .map((l) => {
    if (l.shortValue === undefined) delete (l as Partial<Lock>).shortValue;
    return l as Lock;
  });
const arbWrite: fc.Arbitrary<Write> = fc
  .record({ kind: fc.constantFrom('put', 'delete', 'lock', 'rollback'), startTs: arbTs, shortValue: arbShort, hasOverlappedRollback: fc.boolean() })
  .map((w) => {
    if (w.shortValue === undefined) delete (w as Partial<Write>).shortValue;
    return w as Write;
  });

describe('lock record', () => {
  it('has a stable layout (golden): version, kind, primary, startTs, ttl, short value, forUpdateTs, size, minCommitTs, async, secondaries', () => {
    expect(hex(encodeLock(lockSample))).toBe('01' + '00' + '0170' + '000a' + 'b817' + '01' + '0176' + '0000' + '02' + '000b' + '01' + '02' + '027331' + '027332');
  });

  it('round-trips any lock', () => {
    fc.assert(fc.property(arbLock, (lock) => {
      expect(decodeLock(encodeLock(lock))).toEqual(lock);
    }));
  });

  it('refuses a newer version, version 0, unknown kinds, long short values, too many secondaries, truncation and trailing bytes', () => {
    const bytes = encodeLock(lockSample);
    expect(decodeKind(() => decodeLock(Uint8Array.of(2, ...bytes.subarray(1))))).toBe('UnsupportedVersion');
    expect(decodeKind(() => decodeLock(Uint8Array.of(0, ...bytes.subarray(1))))).toBe('InvalidValue');
    expect(decodeKind(() => decodeLock(Uint8Array.of(1, 4, ...bytes.subarray(2))))).toBe('UnknownTag');
    expect(decodeKind(() => decodeLock(Uint8Array.of(...bytes, 0)))).toBe('TrailingBytes');
    for (let n = 0; n < bytes.length; n++) expect(decodeKind(() => decodeLock(bytes.subarray(0, n)))).toBe('Truncated');
    const long = { ...lockSample, shortValue: undefined };
    delete long.shortValue;
    const raw = encodeLock(long);
    // Forge a 256-byte short value where the flag says none.
    const at = 1 + 1 + 2 + 2 + 2;
    const forged = Uint8Array.of(...raw.subarray(0, at), 1, 0x80, 0x02, ...new Uint8Array(256), ...raw.subarray(at + 1));
    expect(decodeKind(() => decodeLock(forged))).toBe('LimitExceeded');
    expect(() => encodeLock({ ...lockSample, shortValue: new Uint8Array(SHORT_VALUE_BYTES_MAX + 1) })).toThrow(RangeError);
    const many = encodeLock({ ...lockSample, secondaries: [] });
    const manyForged = Uint8Array.of(...many.subarray(0, many.length - 1), 0x81, 0x20); // 4097 secondaries
    expect(SECONDARIES_MAX).toBe(4096);
    expect(decodeKind(() => decodeLock(manyForged))).toBe('LimitExceeded');
  });

  it('never throws anything but DecodeError on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
        try {
          decodeLock(bytes);
        } catch (e) {
          expect(e).toBeInstanceOf(DecodeError);
        }
      }),
    );
  });
});

describe('write record', () => {
  it('has a stable layout (golden): version, kind, startTs, short value, overlapped rollback', () => {
    expect(hex(encodeWrite(writeSample))).toBe('01' + '00' + '000a' + '01' + '0176' + '00');
    expect(hex(encodeWrite({ kind: 'rollback', startTs: 10n, hasOverlappedRollback: false }))).toBe('01' + '03' + '000a' + '00' + '00');
  });

  it('round-trips any write', () => {
    fc.assert(fc.property(arbWrite, (w) => {
      expect(decodeWrite(encodeWrite(w))).toEqual(w);
    }));
  });

  it('refuses bad input', () => {
    const bytes = encodeWrite(writeSample);
    expect(decodeKind(() => decodeWrite(Uint8Array.of(9, ...bytes.subarray(1))))).toBe('UnsupportedVersion');
    expect(decodeKind(() => decodeWrite(Uint8Array.of(1, 4, ...bytes.subarray(2))))).toBe('UnknownTag');
    expect(decodeKind(() => decodeWrite(Uint8Array.of(...bytes.subarray(0, bytes.length - 1), 2)))).toBe('InvalidValue');
    expect(decodeKind(() => decodeWrite(Uint8Array.of(...bytes, 0)))).toBe('TrailingBytes');
    for (let n = 0; n < bytes.length; n++) expect(decodeKind(() => decodeWrite(bytes.subarray(0, n)))).toBe('Truncated');
  });

  it('never throws anything but DecodeError on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 24 }), (bytes) => {
        try {
          decodeWrite(bytes);
        } catch (e) {
          expect(e).toBeInstanceOf(DecodeError);
        }
      }),
    );
  });
});
