/**
 * Checks of a transactional request's own fields (timestamps, mutations, key lists), run by its
 * handler before anything else: the generic field check (`rpc/request-codec.ts`) checks the
 * region fields; these add what the pure core would otherwise assert on (a commit ts not above
 * the start ts, a key twice in a prewrite). A failure is `StoreRequestError('BadField')`.
 */
import { COMMAND_KEY_BYTES_MAX, COMMAND_VALUE_BYTES_MAX } from '../command.ts';
import { StoreRequestError } from '../request-types.ts';
import { LOCK_TTL_MS_MAX, MUTATIONS_MAX, SECONDARIES_MAX, TS_MAX, compareBytes } from '@peerkv/txn';

/** Timestamps a read may bypass in one request. */
export const BYPASS_LOCKS_MAX = 1024;

const MUTATION_OPS = ['put', 'delete', 'lock', 'insert', 'checkNotExists'] as const;

function bad(what: string, detail: string): never {
  throw new StoreRequestError('BadField', `${what}: ${detail}`);
}

/** A TSO timestamp: a bigint in [0, TS_MAX]. */
export function checkTs(what: string, v: unknown): bigint {
  if (typeof v !== 'bigint' || v < 0n || v > TS_MAX) bad(what, 'want a bigint timestamp');
  return v;
}

/** Absent, or a timestamp. */
export function checkOptTs(what: string, v: unknown): void {
  if (v !== undefined) checkTs(what, v);
}

/** A key. */
export function checkKey(what: string, v: unknown): Uint8Array {
  if (!(v instanceof Uint8Array) || v.length > COMMAND_KEY_BYTES_MAX) bad(what, `want a Uint8Array of at most ${COMMAND_KEY_BYTES_MAX} bytes`);
  return v;
}

/** A safe integer in [0, max]. */
export function checkUint(what: string, v: unknown, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) bad(what, `want an integer in [0, ${max}]`);
  return v;
}

/** A list of at most `max` distinct keys, at least one. */
export function checkKeys(what: string, v: unknown, max = MUTATIONS_MAX): Uint8Array[] {
  if (!Array.isArray(v) || v.length === 0 || v.length > max) bad(what, `want 1 to ${max} keys`);
  const keys = v.map((k, i) => checkKey(`${what}[${i}]`, k));
  const sorted = [...keys].sort(compareBytes);
  for (let i = 1; i < sorted.length; i++) if (compareBytes(sorted[i - 1], sorted[i]) === 0) bad(what, 'a key twice');
  return keys;
}

/** Absent, or a list of timestamps. */
export function checkBypass(what: string, v: unknown): void {
  if (v === undefined) return;
  if (!Array.isArray(v) || v.length > BYPASS_LOCKS_MAX) bad(what, `want at most ${BYPASS_LOCKS_MAX} timestamps`);
  v.forEach((t, i) => checkTs(`${what}[${i}]`, t));
}

/** `commitTs` above `startTs`. */
export function checkCommitAbove(what: string, startTs: bigint, commitTs: bigint): void {
  if (commitTs <= startTs) bad(what, `commit ts ${commitTs} not above start ts ${startTs}`);
}

/** A queued transaction's read ts: absent, or in (0, startTs] (the pure core asserts it). */
export function checkReadTs(what: string, readTs: unknown, startTs: bigint): void {
  if (readTs === undefined) return;
  if (checkTs(what, readTs) === 0n || (readTs as bigint) > startTs) bad(what, `read ts ${String(readTs)} not in (0, start ts ${startTs}]`);
}

/** A prewrite's mutations: 1 to `MUTATIONS_MAX`, distinct keys, well-formed ops. */
export function checkMutations(what: string, v: unknown): Uint8Array[] {
  if (!Array.isArray(v) || v.length === 0 || v.length > MUTATIONS_MAX) bad(what, `want 1 to ${MUTATIONS_MAX} mutations`);
  const keys = v.map((m, i) => {
    const n = `${what}[${i}]`;
    if (typeof m !== 'object' || m === null) bad(n, 'want a mutation');
    const op = (m as { op?: unknown }).op;
    if (!MUTATION_OPS.includes(op as (typeof MUTATION_OPS)[number])) bad(`${n}.op`, `want one of ${MUTATION_OPS.join(', ')}`);
    if (op === 'put' || op === 'insert') {
      const value = (m as { value?: unknown }).value;
      if (!(value instanceof Uint8Array) || value.length > COMMAND_VALUE_BYTES_MAX) bad(`${n}.value`, 'want a Uint8Array value');
    }
    const pessimistic = (m as { pessimistic?: unknown }).pessimistic;
    if (pessimistic !== undefined && typeof pessimistic !== 'boolean') bad(`${n}.pessimistic`, 'want absent or a boolean');
    return checkKey(`${n}.key`, (m as { key?: unknown }).key);
  });
  const sorted = [...keys].sort(compareBytes);
  for (let i = 1; i < sorted.length; i++) if (compareBytes(sorted[i - 1], sorted[i]) === 0) bad(what, 'a key twice');
  return keys;
}

/** A prewrite's commit mode. */
export function checkMode(what: string, v: unknown): void {
  const kind = (v as { kind?: unknown } | null | undefined)?.kind;
  if (kind === 'twoPc' || kind === 'onePc') return;
  if (kind !== 'asyncCommit') bad(what, 'want a mode of kind twoPc, asyncCommit or onePc');
  const secondaries = (v as { secondaries?: unknown }).secondaries;
  if (!Array.isArray(secondaries) || secondaries.length > SECONDARIES_MAX) bad(`${what}.secondaries`, `want at most ${SECONDARIES_MAX} keys`);
  secondaries.forEach((k, i) => checkKey(`${what}.secondaries[${i}]`, k));
}

/** A lock TTL, ms. */
export function checkTtl(what: string, v: unknown): number {
  return checkUint(what, v, LOCK_TTL_MS_MAX);
}
