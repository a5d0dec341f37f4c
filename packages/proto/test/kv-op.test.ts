/**
 * Key-value ops: tags 1..3 (ops in `default`) keep the bytes old Raft logs hold; tags 4..6
 * carry a column family name; one op has one encoding.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CF_NAME_LENGTH_MAX, KEY_BYTES_MAX, OPS_MAX, VALUE_BYTES_MAX, readKvOps, writeKvOps, type KvOp } from '../src/index.ts';
import { arbKvOp, bytesOf, decodeKind, hex, readAll, unhex } from './helpers.ts';

const b = (s: string): Uint8Array => new TextEncoder().encode(s);
const put: KvOp = { type: 'put', cf: 'default', key: b('k'), value: b('v') };
const del: KvOp = { type: 'delete', cf: 'default', key: b('k') };
const range: KvOp = { type: 'deleteRange', cf: 'default', start: b('a'), end: b('b') };

describe('KvOp codec', () => {
  it('writes ops in default with the old tags 1/2/3 and no cf (golden: old logs decode unchanged)', () => {
    expect(hex(bytesOf(writeKvOps, [put, del, range]))).toBe('03' + '01016b0176' + '02016b' + '0301610162');
    expect(hex(bytesOf(writeKvOps, [{ ...put, cf: 'default' }]))).toBe('01' + '01016b0176');
    expect(readAll(readKvOps, unhex('03' + '01016b0176' + '02016b' + '0301610162'))).toEqual([put, del, range]);
  });

  it('writes ops in another column family with tags 4/5/6 and the cf name first', () => {
    const ops: KvOp[] = [
      { ...put, cf: 'lock' },
      { ...del, cf: 'lock' },
      { ...range, cf: 'lock' },
    ];
    expect(hex(bytesOf(writeKvOps, ops))).toBe('03' + '04046c6f636b016b0176' + '05046c6f636b016b' + '06046c6f636b0161' + '0162');
    expect(readAll(readKvOps, bytesOf(writeKvOps, ops))).toEqual(ops);
  });

  it('round-trips any ops, each with its column family', () => {
    fc.assert(
      fc.property(fc.array(arbKvOp, { maxLength: 8 }), (ops) => {
        expect(readAll(readKvOps, bytesOf(writeKvOps, ops))).toEqual(ops);
      }),
    );
  });

  it('refuses to write a column family name that is empty or too long', () => {
    expect(() => bytesOf(writeKvOps, [{ ...put, cf: '' }])).toThrow(RangeError);
    expect(() => bytesOf(writeKvOps, [{ ...put, cf: 'c'.repeat(CF_NAME_LENGTH_MAX + 1) }])).toThrow(RangeError);
    const longest: KvOp = { ...put, cf: '\u{10348}'.repeat(CF_NAME_LENGTH_MAX / 2) };
    expect(readAll(readKvOps, bytesOf(writeKvOps, [longest]))).toEqual([longest]);
  });

  it('refuses a bad column family on read: empty, too long, or default spelled out', () => {
    const withCf = (cfHex: string): Uint8Array => unhex('01' + '04' + cfHex + '016b0176');
    expect(decodeKind(() => readAll(readKvOps, withCf('00')))).toBe('InvalidValue');
    const long = hex(b('c'.repeat(CF_NAME_LENGTH_MAX + 1)));
    expect(decodeKind(() => readAll(readKvOps, withCf((CF_NAME_LENGTH_MAX + 1).toString(16) + long)))).toBe('InvalidValue');
    expect(decodeKind(() => readAll(readKvOps, withCf('07' + hex(b('default')))))).toBe('InvalidValue');
    expect(decodeKind(() => readAll(readKvOps, withCf('ff01')))).toBe('LimitExceeded');
  });

  it('refuses unknown op tags', () => {
    expect(decodeKind(() => readAll(readKvOps, unhex('0100016b')))).toBe('UnknownTag');
    expect(decodeKind(() => readAll(readKvOps, unhex('0107016b')))).toBe('UnknownTag');
  });

  it('refuses op counts, keys and values past their limits', () => {
    const many = Array.from({ length: OPS_MAX + 1 }, () => del);
    expect(readAll(readKvOps, bytesOf(writeKvOps, many.slice(1)))).toHaveLength(OPS_MAX);
    expect(decodeKind(() => readAll(readKvOps, bytesOf(writeKvOps, many)))).toBe('LimitExceeded');
    const key = new Uint8Array(KEY_BYTES_MAX + 1);
    expect(readAll(readKvOps, bytesOf(writeKvOps, [{ type: 'delete', cf: 'default', key: key.subarray(1) }]))).toHaveLength(1);
    expect(decodeKind(() => readAll(readKvOps, bytesOf(writeKvOps, [{ type: 'delete', cf: 'default', key }])))).toBe('LimitExceeded');
    expect(decodeKind(() => readAll(readKvOps, bytesOf(writeKvOps, [{ type: 'deleteRange', cf: 'default', start: b('a'), end: key }])))).toBe('LimitExceeded');
    const value = new Uint8Array(VALUE_BYTES_MAX + 1);
    expect(readAll(readKvOps, bytesOf(writeKvOps, [{ ...put, value: value.subarray(1) }]))).toHaveLength(1);
    expect(decodeKind(() => readAll(readKvOps, bytesOf(writeKvOps, [{ ...put, value }])))).toBe('LimitExceeded');
  });
});
