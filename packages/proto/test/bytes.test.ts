/**
 * The byte writer and reader: lib0-compatible varUints, lengths checked before allocating,
 * one encoding per value, and `DecodeError` as the only failure.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ByteReader, ByteWriter, decode, encode, writeClipped } from '../src/index.ts';
import { decodeKind, hex, unhex } from './helpers.ts';

const varUintBytes = (v: number): Uint8Array => encode(v, (w, x) => w.varUint(x));
const readVarUint = (b: Uint8Array): number => decode(b, (r) => r.varUint(), 'varUint');

describe('ByteWriter / ByteReader', () => {
  it('writes varUints as lib0 does (7 bits a byte, low bits first)', () => {
    expect(hex(varUintBytes(0))).toBe('00');
    expect(hex(varUintBytes(127))).toBe('7f');
    expect(hex(varUintBytes(128))).toBe('8001');
    expect(hex(varUintBytes(300))).toBe('ac02');
    expect(hex(varUintBytes(Number.MAX_SAFE_INTEGER))).toBe('ffffffffffffff0f');
  });

  it('round-trips every safe integer, bools, bytes and strings', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), fc.boolean(), fc.uint8Array({ maxLength: 300 }), fc.string({ maxLength: 50 }), (n, b, bytes, s) => {
        const w = new ByteWriter(1);
        w.varUint(n);
        w.bool(b);
        w.bytes(bytes);
        w.string(s);
        w.raw(bytes);
        const r = new ByteReader(w.finish());
        expect(r.varUint()).toBe(n);
        expect(r.bool()).toBe(b);
        expect(r.bytes(300, 'bytes')).toEqual(bytes);
        expect(r.string(200, 'string')).toBe(s);
        expect(r.rest()).toEqual(bytes);
        r.end();
      }),
    );
  });

  it('refuses to write a negative, fractional or unsafe varUint', () => {
    const w = new ByteWriter();
    expect(() => w.varUint(-1)).toThrow(RangeError);
    expect(() => w.varUint(1.5)).toThrow(RangeError);
    expect(() => w.varUint(2 ** 53)).toThrow(RangeError);
  });

  it('refuses overlong, oversized and truncated varUints', () => {
    expect(decodeKind(() => readVarUint(unhex('8000')))).toBe('InvalidValue');
    expect(decodeKind(() => readVarUint(unhex('ff8000')))).toBe('InvalidValue');
    expect(decodeKind(() => readVarUint(unhex('ffffffffffffff10')))).toBe('VarUintOverflow');
    expect(decodeKind(() => readVarUint(unhex('ffffffffffffffff01')))).toBe('VarUintOverflow');
    expect(decodeKind(() => readVarUint(unhex('80')))).toBe('Truncated');
    expect(decodeKind(() => readVarUint(new Uint8Array()))).toBe('Truncated');
  });

  it('checks every length against its limit and the bytes left, before allocating', () => {
    const claim = (n: number): Uint8Array => varUintBytes(n);
    expect(decodeKind(() => new ByteReader(claim(11)).bytes(10, 'key'))).toBe('LimitExceeded');
    expect(decodeKind(() => new ByteReader(claim(10)).bytes(10, 'key'))).toBe('Truncated');
    expect(decodeKind(() => new ByteReader(claim(2 ** 40)).string(1024, 'reason'))).toBe('LimitExceeded');
    expect(decodeKind(() => new ByteReader(claim(5)).count(4, 1, 'items'))).toBe('LimitExceeded');
    expect(decodeKind(() => new ByteReader(Uint8Array.of(4, 0, 0)).count(4, 1, 'items'))).toBe('Truncated');
    expect(decodeKind(() => new ByteReader(Uint8Array.of(4)).varUintMax(3, 'n'))).toBe('LimitExceeded');
    expect(decodeKind(() => new ByteReader(new Uint8Array()).raw(1))).toBe('Truncated');
  });

  it('refuses a bool byte above 1, invalid UTF-8 and trailing bytes', () => {
    expect(decodeKind(() => new ByteReader(Uint8Array.of(2)).bool())).toBe('InvalidValue');
    expect(decodeKind(() => new ByteReader(Uint8Array.of(2, 0xc3, 0x28)).string(10, 's'))).toBe('InvalidUtf8');
    expect(decodeKind(() => new ByteReader(Uint8Array.of(0)).end())).toBe('TrailingBytes');
    expect(decodeKind(() => decode(Uint8Array.of(1, 2), (r) => r.varUint(), 'value'))).toBe('TrailingBytes');
  });

  it('copies `bytes` out of the input, and `finish` returns exactly what was written', () => {
    const input = Uint8Array.of(2, 7, 8);
    const out = new ByteReader(input).bytes(2, 'b');
    input[1] = 0;
    expect(Array.from(out)).toEqual([7, 8]);
    const w = new ByteWriter();
    w.u8(0x1ff);
    expect(w.length).toBe(1);
    expect(Array.from(w.finish())).toEqual([0xff]);
  });

  it('clips text to its byte limit, on a character boundary, so the reader takes it', () => {
    const w = new ByteWriter();
    writeClipped(w, 'ä'.repeat(100), 51);
    writeClipped(w, 'short', 51);
    const r = new ByteReader(w.finish());
    const clipped = r.string(51, 'clipped');
    expect(new TextEncoder().encode(clipped).length).toBeLessThanOrEqual(51);
    expect(clipped.startsWith('ää')).toBe(true);
    expect(r.string(51, 'short')).toBe('short');
  });

  it('throws nothing but DecodeError on random input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 32 }), (b) => {
        try {
          const r = new ByteReader(b);
          r.varUint();
          r.bool();
          r.string(8, 's');
          r.bytes(8, 'b');
          r.count(4, 2, 'c');
          r.end();
        } catch (e) {
          decodeKind(() => {
            throw e;
          });
        }
      }),
    );
  });
});
