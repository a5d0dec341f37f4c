/**
 * The byte writer and the bounds-checked byte reader every PeerKV codec is built on.
 *
 * The format follows lib0's `encoding`/`decoding` (7-bit varUints, low bits first;
 * length-prefixed byte arrays and UTF-8 strings) so bytes stay readable with lib0 tools, but
 * the reader is our own: lib0's decoder throws plain `Error`s and allocates whatever length
 * the input claims. Here every length is checked against the bytes that remain and against a
 * named limit before anything is allocated, and every failure is a `DecodeError`.
 *
 * One value has one encoding: the reader refuses overlong varUints, so equal values give
 * equal bytes (PD replicas compare snapshots byte for byte).
 */
import { DecodeError } from './errors.ts';

/** Longest varUint accepted: 8 bytes carry 56 bits, more than `Number.MAX_SAFE_INTEGER`. */
const VAR_UINT_BYTES_MAX = 8;
const INITIAL_CAPACITY_BYTES = 256;

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });
const utf8LossyDecoder = new TextDecoder('utf-8', { fatal: false });

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

  /** A flag as one byte, 0 or 1. */
  bool(value: boolean): void {
    this.u8(value ? 1 : 0);
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

/**
 * Writes `s` cut to at most `maxBytes` UTF-8 bytes: for text meant for humans (reasons,
 * messages), which a reader bounds by the same `maxBytes`.
 */
export function writeClipped(w: ByteWriter, s: string, maxBytes: number): void {
  const b = utf8Encoder.encode(s);
  if (b.length <= maxBytes) return w.bytes(b);
  // Lossy decoding of a cut may add a 3-byte replacement char: leave room for it.
  w.string(utf8LossyDecoder.decode(b.subarray(0, maxBytes - 3)));
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

  /**
   * A varUint; refuses encodings longer than 8 bytes, values above `Number.MAX_SAFE_INTEGER`
   * and overlong forms (a last byte of 0 after the first), so one value has one encoding.
   */
  varUint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < VAR_UINT_BYTES_MAX; i++) {
      const b = this.u8();
      value += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (value > Number.MAX_SAFE_INTEGER) throw new DecodeError('VarUintOverflow', 'value above 2^53-1');
        if (i > 0 && b === 0) throw new DecodeError('InvalidValue', 'overlong varUint');
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

  /** A length-prefixed byte array, copied out (so the input buffer can be released). */
  bytes(maxBytes: number, what: string): Uint8Array {
    const n = this.varUintMax(maxBytes, `${what} length`);
    return this.raw(n).slice();
  }

  /** `n` bytes as a view into the input. */
  raw(n: number): Uint8Array {
    if (n > this.remaining) throw new DecodeError('Truncated', `${n} bytes wanted, ${this.remaining} left`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** The rest of the input as a view. */
  rest(): Uint8Array {
    return this.raw(this.remaining);
  }

  /** A length-prefixed UTF-8 string of at most `maxBytes` bytes. */
  string(maxBytes: number, what: string): string {
    const n = this.varUintMax(maxBytes, `${what} length`);
    try {
      return utf8Decoder.decode(this.raw(n));
    } catch (e) {
      if (e instanceof DecodeError) throw e;
      throw new DecodeError('InvalidUtf8', what);
    }
  }

  /** Throws `TrailingBytes` unless the input has been read completely. */
  end(what = 'the value'): void {
    if (this.remaining !== 0) throw new DecodeError('TrailingBytes', `${this.remaining} bytes after ${what}`);
  }
}

/** Encodes one value with its writer. */
export function encode<T>(value: T, write: (w: ByteWriter, value: T) => void): Uint8Array {
  const w = new ByteWriter();
  write(w, value);
  return w.finish();
}

/** Decodes one value that fills `bytes` exactly; `what` names it in a `TrailingBytes` error. */
export function decode<T>(bytes: Uint8Array, read: (r: ByteReader) => T, what: string): T {
  const r = new ByteReader(bytes);
  const value = read(r);
  r.end(what);
  return value;
}
