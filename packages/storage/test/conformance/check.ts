/**
 * A tiny assertion helper for suites that run both under vitest and inside a browser Worker
 * (where vitest's `expect` is not available). Each failure throws `CheckFailure`.
 */
import { compareBytes, toHex } from '../../src/bytes.ts';

/** A failed check. */
export class CheckFailure extends Error {
  override readonly name = 'CheckFailure';
}

/** Fails unless `cond`. */
export function ok(cond: unknown, message: string): asserts cond {
  if (!cond) throw new CheckFailure(message);
}

/** Fails unless `actual === expected`. */
export function equal<T>(actual: T, expected: T, message: string): void {
  if (actual !== expected) throw new CheckFailure(`${message}: expected ${String(expected)}, got ${String(actual)}`);
}

/** Fails unless both byte strings are equal (undefined only equals undefined). */
export function bytesEqual(actual: Uint8Array | undefined, expected: Uint8Array | undefined, message: string): void {
  const same = actual === undefined || expected === undefined ? actual === expected : compareBytes(actual, expected) === 0;
  if (!same) throw new CheckFailure(`${message}: expected ${show(expected)}, got ${show(actual)}`);
}

/** Fails unless both values serialize to the same JSON. */
export function jsonEqual(actual: unknown, expected: unknown, message: string): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new CheckFailure(`${message}: expected ${e}, got ${a}`);
}

/** Awaits `p` and fails unless it rejects with an error whose `name` and `kind` match. */
export async function rejects(p: Promise<unknown> | (() => Promise<unknown>), name: string, kind: string | undefined, message: string): Promise<unknown> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    const err = e as { name?: string; kind?: string; message?: string };
    if (err.name !== name || (kind !== undefined && err.kind !== kind)) {
      throw new CheckFailure(`${message}: expected ${name}{${kind}}, got ${err.name}{${err.kind}}: ${err.message}`);
    }
    return e;
  }
  throw new CheckFailure(`${message}: expected ${name}{${kind}}, but it resolved`);
}

/** Fails unless `fn` throws synchronously with a matching `name` and `kind`. */
export function throws(fn: () => unknown, name: string, kind: string | undefined, message: string): unknown {
  try {
    fn();
  } catch (e) {
    const err = e as { name?: string; kind?: string; message?: string };
    if (err.name !== name || (kind !== undefined && err.kind !== kind)) {
      throw new CheckFailure(`${message}: expected ${name}{${kind}}, got ${err.name}{${err.kind}}: ${err.message}`);
    }
    return e;
  }
  throw new CheckFailure(`${message}: expected ${name}{${kind}}, but it returned`);
}

function show(b: Uint8Array | undefined): string {
  return b === undefined ? 'undefined' : `0x${toHex(b)}`;
}
