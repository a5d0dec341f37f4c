/**
 * Byte helpers shared by every engine: the one key order (unsigned bytewise, shorter prefix
 * first, as IndexedDB binary keys and LevelDB compare), big-endian integers and copies.
 */

/** Compares two byte strings bytewise (unsigned), a proper prefix sorting first. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i] - b[i];
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** True when both byte strings are equal. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && compareBytes(a, b) === 0;
}

/** Concatenates byte strings into a new array. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let size = 0;
  for (const p of parts) size += p.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Largest integer a u64 field holds here: JavaScript numbers are exact up to 2^53 - 1. */
export const U64_SAFE_MAX = Number.MAX_SAFE_INTEGER;

/** Writes `n` (0 ≤ n ≤ 2^53-1) as 8 big-endian bytes at `offset`. */
export function writeU64(view: DataView, offset: number, n: number): void {
  view.setUint32(offset, Math.floor(n / 0x1_0000_0000));
  view.setUint32(offset + 4, n >>> 0);
}

/** Reads 8 big-endian bytes at `offset` as a number. */
export function readU64(view: DataView, offset: number): number {
  return view.getUint32(offset) * 0x1_0000_0000 + view.getUint32(offset + 4);
}

/** A copy whose buffer holds exactly its bytes (structured clone copies the whole buffer). */
export function exactBytes(b: Uint8Array): Uint8Array {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b : b.slice();
}

/** Wraps an `ArrayBuffer` or view from a platform API as a `Uint8Array` without copying. */
export function asBytes(v: ArrayBuffer | ArrayBufferView): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  return new Uint8Array(v);
}

/** Hex for messages and tests. */
export function toHex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}
