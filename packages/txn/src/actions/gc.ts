/**
 * GC of old versions (TiKV's `actions/gc.rs`): below the safe point no reader remains (PD
 * keeps the safe point behind the oldest live transaction), so only the newest version
 * visible at the safe point matters.
 *
 * Per key, walking the records at or below the safe point newest first:
 * - `rollback` and `lock` records are dropped (they change no value and no live transaction
 *   can prewrite below the safe point);
 * - the first `put` is kept (the value a read at the safe point sees); everything older goes;
 * - if the first data record is a `delete`, it goes too, together with everything older: a read
 *   at the safe point sees nothing either way. It is dropped last, in the same call as every
 *   older version, so a bounded call never exposes an older put;
 * - every dropped `put` with a long value takes its `default` value with it.
 * Records above the safe point and locks are never touched (locks are resolved, not collected).
 */
import { deleteValue, deleteWrite, type TxnOp } from '../cf.ts';
import { assert } from '../errors.ts';
import { GC_VERSIONS_PER_CALL_MAX } from '../limits.ts';
import type { Timestamp } from '../timestamp.ts';
import type { ReadView, UserKeyRange } from '../view.ts';
import type { WriteVersion } from '../write.ts';

/** What one GC call of a key returns: the ops that drop its old versions. */
export interface GcResult {
  ops: TxnOp[];
  /** Write records dropped. */
  versionsDropped: number;
  /** False when `versionsMax` stopped the call: call again for the rest. */
  done: boolean;
}

function dropOps(key: Uint8Array, v: WriteVersion): TxnOp[] {
  const ops = [deleteWrite(key, v.commitTs)];
  if (v.write.kind === 'put' && v.write.shortValue === undefined) ops.push(deleteValue(key, v.write.startTs));
  return ops;
}

/** Collects `key`'s versions below `safePoint`, dropping at most `versionsMax` records. */
export async function gc(view: ReadView, key: Uint8Array, safePoint: Timestamp, versionsMax = GC_VERSIONS_PER_CALL_MAX): Promise<GcResult> {
  assert(versionsMax > 0, 'versionsMax must be positive');
  const ops: TxnOp[] = [];
  let dropped = 0;
  let visible: WriteVersion | undefined;
  for await (const v of view.writes(key, safePoint)) {
    if (visible === undefined && v.write.kind === 'put') {
      visible = v;
      continue;
    }
    if (visible === undefined && v.write.kind === 'delete') {
      visible = v; // dropped after everything older, below
      continue;
    }
    if (dropped === versionsMax) return { ops, versionsDropped: dropped, done: false };
    ops.push(...dropOps(key, v));
    dropped++;
  }
  if (visible?.write.kind === 'delete') {
    if (dropped === versionsMax) return { ops, versionsDropped: dropped, done: false };
    ops.push(...dropOps(key, visible));
    dropped++;
  }
  return { ops, versionsDropped: dropped, done: true };
}

/** One bounded pass of GC over a key range. */
export interface GcRangeResult {
  ops: TxnOp[];
  versionsDropped: number;
  /** Where the next pass starts; absent when the range is done. */
  nextKey?: Uint8Array;
}

/**
 * Collects the keys of `range` that have write records: at most `keysMax` keys and
 * `versionsMax` dropped records per pass. A key `versionsMax` cut short is where the next pass
 * starts (`nextKey`), so its rest is collected then.
 */
export async function gcRange(view: ReadView, range: UserKeyRange, safePoint: Timestamp, keysMax: number, versionsMax = GC_VERSIONS_PER_CALL_MAX): Promise<GcRangeResult> {
  const ops: TxnOp[] = [];
  let versionsDropped = 0;
  let seen = 0;
  for await (const key of view.writeKeys(range, keysMax + 1)) {
    if (seen === keysMax || versionsDropped >= versionsMax) return { ops, versionsDropped, nextKey: key };
    seen++;
    const r = await gc(view, key, safePoint, versionsMax - versionsDropped);
    ops.push(...r.ops);
    versionsDropped += r.versionsDropped;
    if (!r.done) return { ops, versionsDropped, nextKey: key };
  }
  return { ops, versionsDropped };
}
