/**
 * Byte writer and bounds-checked byte reader: the codec's primitives.
 *
 * The wire format follows lib0's `encoding`/`decoding` (7-bit varUints, length-prefixed
 * byte arrays and UTF-8 strings) so frames stay readable with lib0 tools, but the reader is
 * our own: lib0's decoder throws plain `Error`s and allocates whatever length a frame
 * claims. Here every length is checked against the bytes that remain (and against a named
 * limit) before anything is allocated, and every failure is a `DecodeError`.
 */
import { DecodeError } from './errors.ts';

/** Longest varUint we accept: 8 bytes carry 56 bits, more than `Number.MAX_SAFE_INTEGER`. */
const VAR_UINT_BYTES_MAX = 8;
const INITIAL_CAPACITY_BYTES = 256;

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/** A growable output buffer. `finish()` returns a view of exactly the written bytes. */
export class ByteWriter {
  private buf: Uint8Array;
  private pos = 0;

  constructor(capacityBytes = INITIAL_CAPACITY_BYTES) {
    this.buf = new Uint8Array(Math.max(16, capacityBytes));
  }

  /** Bytes written so far. */
  get length(): number {
    return this.pos;
  }

  private ensure(extraBytes: number): void {
    const need = this.pos + extraBytes;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  /** One byte, 0..255. */
  u8(value: number): void {
    this.ensure(1);
    this.buf[this.pos++] = value & 0xff;
  }

  /** An unsigned integer up to `Number.MAX_SAFE_INTEGER`, 7 bits per byte, low bits first. */
  varUint(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`varUint out of range: ${value}`);
    }
    this.ensure(VAR_UINT_BYTES_MAX);
    let v = value;
    while (v > 0x7f) {
      this.buf[this.pos++] = 0x80 | (v % 0x80);
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
  }

  /** A length-prefixed byte array. */
  bytes(value: Uint8Array): void {
    this.varUint(value.length);
    this.raw(value);
  }

  /** Bytes without a length prefix. */
  raw(value: Uint8Array): void {
    this.ensure(value.length);
    this.buf.set(value, this.pos);
    this.pos += value.length;
  }

  /** A length-prefixed UTF-8 string. */
  string(value: string): void {
    this.bytes(utf8Encoder.encode(value));
  }

  /** The written bytes (a view; the writer must not be used afterwards). */
  finish(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}

/** Reads what `ByteWriter` wrote; never reads past the end, never throws but `DecodeError`. */
export class ByteReader {
  private pos = 0;

  constructor(private readonly buf: Uint8Array) {}

  /** Bytes not yet read. */
  get remaining(): number {
    return this.buf.length - this.pos;
  }

  /** One byte. */
  u8(): number {
    if (this.pos >= this.buf.length) throw new DecodeError('Truncated', 'byte past end');
    return this.buf[this.pos++];
  }

  /** A varUint; rejects encodings longer than 8 bytes or above `Number.MAX_SAFE_INTEGER`. */
  varUint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < VAR_UINT_BYTES_MAX; i++) {
      const b = this.u8();
      value += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (value > Number.MAX_SAFE_INTEGER) throw new DecodeError('VarUintOverflow', 'value above 2^53-1');
        return value;
      }
      scale *= 0x80;
    }
    throw new DecodeError('VarUintOverflow', `more than ${VAR_UINT_BYTES_MAX} bytes`);
  }

  /** A varUint that must not exceed `max` (a named limit, reported in the error). */
  varUintMax(max: number, what: string): number {
    const v = this.varUint();
    if (v > max) throw new DecodeError('LimitExceeded', `${what} ${v} > ${max}`);
    return v;
  }

  /** A count of items each at least `minItemBytes` long: bounded by what remains and by `max`. */
  count(max: number, minItemBytes: number, what: string): number {
    const n = this.varUintMax(max, what);
    if (n * minItemBytes > this.remaining) throw new DecodeError('Truncated', `${what} ${n} exceeds remaining bytes`);
    return n;
  }

  /** A 0/1 flag. */
  bool(): boolean {
    const b = this.u8();
    if (b > 1) throw new DecodeError('InvalidValue', `bool byte ${b}`);
    return b === 1;
  }

  /** A length-prefixed byte array, copied out (so the frame buffer can be released). */
  bytes(maxBytes: number, what: string): Uint8Array {
    const n = this.varUintMax(maxBytes, what);
    return this.raw(n).slice();
  }

  /** `n` bytes as a view into the frame. */
  raw(n: number): Uint8Array {
    if (n > this.remaining) throw new DecodeError('Truncated', `${n} bytes wanted, ${this.remaining} left`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** The rest of the frame as a view. */
  rest(): Uint8Array {
    return this.raw(this.remaining);
  }

  /** A length-prefixed UTF-8 string of at most `maxBytes` bytes. */
  string(maxBytes: number, what: string): string {
    const n = this.varUintMax(maxBytes, what);
    try {
      return utf8Decoder.decode(this.raw(n));
    } catch (e) {
      if (e instanceof DecodeError) throw e;
      throw new DecodeError('InvalidUtf8', what);
    }
  }

  /** Asserts the frame has been read completely. */
  end(what: string): void {
    if (this.remaining !== 0) throw new DecodeError('TrailingBytes', `${this.remaining} bytes after ${what}`);
  }
}
