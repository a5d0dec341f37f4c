/**
 * A tiny binary writer/reader pair (lib0-style varints, no dependency): unsigned integers up
 * to 2^53 - 1 as little-endian base-128 varints, byte strings and UTF-8 strings prefixed with
 * their length. The reader checks every length against the bytes left and a named limit,
 * and throws `PdDecodeError` on anything malformed.
 */
import { PdDecodeError } from '../errors.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Most bytes a varint of a safe integer takes (7 bits each, 53 bits). */
const VAR_UINT_BYTES_MAX = 8;

/** Appends values to a growing byte buffer. */
export class ByteWriter {
  private buf = new Uint8Array(64);
  private len = 0;

  private ensure(extra: number): void {
    if (this.len + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + extra) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  /** Writes one byte (0..255). */
  u8(v: number): void {
    this.ensure(1);
    this.buf[this.len++] = v & 0xff;
  }

  /** Writes a non-negative safe integer as a varint. */
  varUint(v: number): void {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`varUint out of range: ${v}`);
    while (v >= 0x80) {
      this.u8((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.u8(v);
  }

  /** Writes a boolean as one byte. */
  bool(v: boolean): void {
    this.u8(v ? 1 : 0);
  }

  /** Writes a length-prefixed byte string. */
  bytes(v: Uint8Array): void {
    this.varUint(v.length);
    this.ensure(v.length);
    this.buf.set(v, this.len);
    this.len += v.length;
  }

  /** Writes a length-prefixed UTF-8 string. */
  string(v: string): void {
    this.bytes(encoder.encode(v));
  }

  /** The bytes written so far (a copy). */
  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

/** Reads values written by `ByteWriter`, in the same order. */
export class ByteReader {
  private pos = 0;
  constructor(private readonly data: Uint8Array) {}

  /** Bytes not yet read. */
  get remaining(): number {
    return this.data.length - this.pos;
  }

  u8(): number {
    if (this.pos >= this.data.length) throw new PdDecodeError('Truncated', 'unexpected end of input');
    return this.data[this.pos++];
  }

  varUint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < VAR_UINT_BYTES_MAX; i++) {
      const b = this.u8();
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        if (!Number.isSafeInteger(value)) throw new PdDecodeError('Invalid', 'varUint is not a safe integer');
        if (i > 0 && b === 0) throw new PdDecodeError('Invalid', 'overlong varUint');
        return value;
      }
      scale *= 0x80;
    }
    throw new PdDecodeError('Invalid', 'varUint longer than 8 bytes');
  }

  /** A varint that must not exceed `max` (`what` names it in the error). */
  boundedUint(max: number, what: string): number {
    const v = this.varUint();
    if (v > max) throw new PdDecodeError('LimitExceeded', `${what} ${v} > ${max}`);
    return v;
  }

  bool(): boolean {
    const b = this.u8();
    if (b > 1) throw new PdDecodeError('Invalid', `bool byte ${b}`);
    return b === 1;
  }

  /** A length-prefixed byte string of at most `maxBytes` (a copy). */
  bytes(maxBytes: number, what: string): Uint8Array {
    const n = this.boundedUint(maxBytes, `${what} length`);
    if (n > this.remaining) throw new PdDecodeError('Truncated', `${what} needs ${n} bytes, ${this.remaining} left`);
    const out = this.data.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** A length-prefixed UTF-8 string of at most `maxBytes` encoded bytes. */
  string(maxBytes: number, what: string): string {
    const raw = this.bytes(maxBytes, what);
    try {
      return decoder.decode(raw);
    } catch {
      throw new PdDecodeError('Invalid', `${what} is not UTF-8`);
    }
  }

  /** Throws unless every byte was consumed. */
  end(): void {
    if (this.remaining !== 0) throw new PdDecodeError('TrailingBytes', `${this.remaining} bytes after the value`);
  }
}
