/** MVCC keys: the memcomparable encoding orders like the user keys, versions newest first. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TS_MAX, compareBytes, decodeKey, decodeMvccKey, encodeKey, encodeMvccKey, encodedKeyEnd } from '../src/index.ts';
import { arbTs, b, decodeKind, hex, unhex } from './helpers.ts';

const arbKey = fc.uint8Array({ maxLength: 40 });
const sign = (n: number): number => Math.sign(n);

describe('memcomparable key encoding', () => {
  it('encodes groups of 8 bytes with a padding marker (golden, as TiKV)', () => {
    expect(hex(encodeKey(b('')))).toBe('0000000000000000f7');
    expect(hex(encodeKey(b('abc')))).toBe('6162630000000000fa');
    expect(hex(encodeKey(b('abcdefgh')))).toBe('6162636465666768ff' + '0000000000000000f7');
    expect(hex(encodeKey(b('abcdefghi')))).toBe('6162636465666768ff' + '6900000000000000f8');
  });

  it('appends the timestamp as a descending big-endian u64 (golden)', () => {
    expect(hex(encodeMvccKey(b('a'), 0n))).toBe('6100000000000000f8' + 'ffffffffffffffff');
    expect(hex(encodeMvccKey(b('a'), 1n))).toBe('6100000000000000f8' + 'fffffffffffffffe');
    expect(hex(encodeMvccKey(b('a'), TS_MAX))).toBe('6100000000000000f8' + '0000000000000000');
  });

  it('round-trips any key and key@ts', () => {
    fc.assert(
      fc.property(arbKey, arbTs, (key, ts) => {
        expect(decodeKey(encodeKey(key))).toEqual(key);
        expect(decodeMvccKey(encodeMvccKey(key, ts))).toEqual({ key, ts });
      }),
    );
  });

  it('orders encoded keys as the user keys', () => {
    fc.assert(
      fc.property(arbKey, arbKey, (x, y) => {
        expect(sign(compareBytes(encodeKey(x), encodeKey(y)))).toBe(sign(compareBytes(x, y)));
      }),
    );
  });

  it('orders key@ts by key, then by ts descending, even when one key is a prefix of the other', () => {
    const arbPrefixPair = fc.tuple(arbKey, fc.uint8Array({ minLength: 1, maxLength: 9 })).map(([p, s]) => [p, Uint8Array.of(...p, ...s)] as const);
    fc.assert(
      fc.property(fc.oneof(fc.tuple(arbKey, arbKey), arbPrefixPair), arbTs, arbTs, ([x, y], tx, ty) => {
        const byKey = sign(compareBytes(x, y));
        const expected = byKey !== 0 ? byKey : tx === ty ? 0 : tx > ty ? -1 : 1;
        expect(sign(compareBytes(encodeMvccKey(x, tx), encodeMvccKey(y, ty)))).toBe(expected);
      }),
    );
  });

  it('bounds every version of a key by encodedKeyEnd, and no other key', () => {
    fc.assert(
      fc.property(arbKey, arbKey, arbTs, (key, other, ts) => {
        const enc = encodeKey(key);
        const end = encodedKeyEnd(enc);
        const v = encodeMvccKey(key, ts);
        expect(compareBytes(enc, v) < 0 && compareBytes(v, end) < 0).toBe(true);
        if (compareBytes(key, other) !== 0) {
          const o = encodeMvccKey(other, ts);
          expect(compareBytes(enc, o) < 0 && compareBytes(o, end) < 0).toBe(false);
        }
      }),
    );
  });

  it('refuses bad input with DecodeError', () => {
    expect(decodeKind(() => decodeKey(unhex('61626300000000')))).toBe('Truncated');
    expect(decodeKind(() => decodeKey(unhex('6162630000000000f6')))).toBe('InvalidValue'); // 9 bytes of padding
    expect(decodeKind(() => decodeKey(unhex('6162630000000100fa')))).toBe('InvalidValue'); // non-zero padding
    expect(decodeKind(() => decodeKey(unhex('6162630000000000fa00')))).toBe('TrailingBytes');
    expect(decodeKind(() => decodeKey(unhex('6162636465666768ff')))).toBe('Truncated'); // a full group needs a last one
    expect(decodeKind(() => decodeMvccKey(unhex('6100000000000000f9ffff')))).toBe('Truncated');
    expect(decodeKind(() => decodeMvccKey(unhex('6100000000000000f8' + 'ff'.repeat(9))))).toBe('TrailingBytes');
    expect(() => encodeMvccKey(b('a'), -1n)).toThrow(RangeError);
    expect(() => encodeMvccKey(b('a'), TS_MAX + 1n)).toThrow(RangeError);
  });

  it('never throws anything but DecodeError on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
        for (const f of [() => decodeKey(bytes), () => decodeMvccKey(bytes)]) {
          try {
            f();
          } catch (e) {
            decodeKind(() => {
              throw e;
            });
          }
        }
      }),
    );
  });
});
