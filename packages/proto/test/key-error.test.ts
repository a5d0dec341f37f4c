/** Key errors (kvproto's `KeyError`): every kind round-trips, timestamps as u64 `bigint`s. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KEY_BYTES_MAX, readKeyError, readTimestamp, writeKeyError, writeTimestamp, type KeyError } from '../src/index.ts';
import { arbU64, bytesOf, decodeKind, hex, readAll, unhex } from './helpers.ts';

const b = (s: string): Uint8Array => new TextEncoder().encode(s);
const ts = (physicalMs: number, logical = 0): bigint => (BigInt(physicalMs) << 18n) | BigInt(logical);

const samples: KeyError[] = [
  { kind: 'KeyIsLocked', key: b('k'), primary: b('p'), startTs: ts(1_763_000_000_000, 7), ttlMs: 3000, lockKind: 'pessimisticLock', minCommitTs: ts(1_763_000_000_001) },
  { kind: 'WriteConflict', key: b('k'), startTs: ts(10), conflictStartTs: ts(11), conflictCommitTs: ts(12, 1), primary: b('p') },
  { kind: 'TxnNotFound', startTs: ts(10), primary: b('p') },
  { kind: 'Deadlock', lockTs: ts(9), lockKey: b('l'), deadlockKeyHash: (1n << 64n) - 1n },
  { kind: 'AlreadyExist', key: b('k') },
  { kind: 'CommitTsExpired', startTs: ts(10), attemptedCommitTs: ts(11), minCommitTs: ts(12) },
];

const arbKey = fc.uint8Array({ maxLength: 8 });
const arbKeyError: fc.Arbitrary<KeyError> = fc.oneof(
  fc.record({ kind: fc.constant('KeyIsLocked' as const), key: arbKey, primary: arbKey, startTs: arbU64, ttlMs: fc.maxSafeNat(), lockKind: fc.constantFrom('put', 'delete', 'lock', 'pessimisticLock'), minCommitTs: arbU64 }),
  fc.record({ kind: fc.constant('WriteConflict' as const), key: arbKey, startTs: arbU64, conflictStartTs: arbU64, conflictCommitTs: arbU64, primary: arbKey }),
  fc.record({ kind: fc.constant('TxnNotFound' as const), startTs: arbU64, primary: arbKey }),
  fc.record({ kind: fc.constant('Deadlock' as const), lockTs: arbU64, lockKey: arbKey, deadlockKeyHash: arbU64 }),
  fc.record({ kind: fc.constant('AlreadyExist' as const), key: arbKey }),
  fc.record({ kind: fc.constant('CommitTsExpired' as const), startTs: arbU64, attemptedCommitTs: arbU64, minCommitTs: arbU64 }),
);

describe('KeyError codec', () => {
  it.each(samples.map((e) => [e.kind, e] as const))('round-trips %s', (_kind, e) => {
    expect(readAll(readKeyError, bytesOf(writeKeyError, e))).toEqual(e);
  });

  it('round-trips any key error', () => {
    fc.assert(
      fc.property(arbKeyError, (e) => {
        expect(readAll(readKeyError, bytesOf(writeKeyError, e))).toEqual(e);
      }),
    );
  });

  it('writes a timestamp as its high and low 32 bits, as the store RPC does (golden)', () => {
    expect(hex(bytesOf(writeTimestamp, 0n))).toBe('0000');
    expect(hex(bytesOf(writeTimestamp, (5n << 32n) | 300n))).toBe('05ac02');
    expect(hex(bytesOf(writeKeyError, { kind: 'AlreadyExist', key: b('k') }))).toBe('05016b');
  });

  it('refuses timestamps out of the u64 range, on write and on read', () => {
    expect(() => bytesOf(writeTimestamp, -1n)).toThrow(RangeError);
    expect(() => bytesOf(writeTimestamp, 1n << 64n)).toThrow(RangeError);
    expect(decodeKind(() => readAll(readTimestamp, unhex('8080808010' + '00')))).toBe('InvalidValue');
    expect(decodeKind(() => readAll(readTimestamp, unhex('00' + '8080808010')))).toBe('InvalidValue');
  });

  it('refuses unknown kinds and lock kinds, long keys, and every truncation', () => {
    expect(decodeKind(() => readAll(readKeyError, unhex('00')))).toBe('UnknownTag');
    expect(decodeKind(() => readAll(readKeyError, unhex('07')))).toBe('UnknownTag');
    const locked = bytesOf(writeKeyError, { kind: 'KeyIsLocked', key: b('k'), primary: b('p'), startTs: 1n, ttlMs: 2, lockKind: 'put', minCommitTs: 3n });
    expect(hex(locked)).toBe('01' + '016b' + '0170' + '0001' + '02' + '00' + '0003');
    expect(decodeKind(() => readAll(readKeyError, Uint8Array.of(...locked.subarray(0, 8), 4, ...locked.subarray(9))))).toBe('UnknownTag');
    expect(decodeKind(() => readAll(readKeyError, bytesOf(writeKeyError, { kind: 'AlreadyExist', key: new Uint8Array(KEY_BYTES_MAX + 1) })))).toBe('LimitExceeded');
    for (const e of samples) {
      const bytes = bytesOf(writeKeyError, e);
      for (let n = 0; n < bytes.length; n++) expect(decodeKind(() => readAll(readKeyError, bytes.subarray(0, n)))).toBe('Truncated');
    }
  });
});
