/**
 * `txnGc` (TiKV's GC worker doing `gc` per key over a region): drops the MVCC versions no
 * reader at or above `safePoint` can see, in bounded pages, each page proposed as one `txn`
 * command on the region's leader.
 *
 * A page is two steps, like the region-wide resolve lock (`handlers/txn.ts`): a read (no latch,
 * after a ReadIndex) lists up to `TXN_GC_KEYS_PER_PAGE` keys with write records from the cursor
 * on; then a write command latches those keys and runs the pure `gc` on each over its own
 * snapshot (dropping at most `TXN_GC_VERSIONS_PER_PAGE` records), its deletions proposed as one
 * command. A request does at most `pagesMax` (≤ `TXN_GC_PAGES_PER_REQUEST_MAX`) pages and answers
 * `nextKey` when the region has more: the caller calls again from there.
 *
 * The safe point is taken as given: PD keeps it behind every live transaction's start ts, so no
 * reader below it remains. Reads at or above it see the same values before and after.
 */
import { gc, type ReadView, type Timestamp, type TxnOp } from '@peerkv/txn';
import { StoreRequestError } from '../request-types.ts';
import { checkKey, checkTs, checkUint } from '../txn/check.ts';
import { runTxnCommand, type TxnActionOutcome } from '../txn/scheduler.ts';
import type { TxnGcResult } from '../txn/types.ts';
import type { Handler, HandlerEnv } from './handler.ts';
import { clampToRegion } from './txn.ts';

/** Keys one GC page looks at. */
export const TXN_GC_KEYS_PER_PAGE = 256;
/** Write records one GC page drops at most (one `txn` command: each with its long value's delete). */
export const TXN_GC_VERSIONS_PER_PAGE = 1024;
/** Pages one `txnGc` request does at most (its default). */
export const TXN_GC_PAGES_PER_REQUEST_MAX = 16;

/** Collects the region's old versions from `startKey` (default: the region's start) for up to `pagesMax` pages. */
export const handleTxnGc: Handler<'txnGc'> = async (env, q, o) => {
  const safePoint = checkTs('txnGc.safePoint', q.safePoint);
  if (q.startKey !== undefined) checkKey('txnGc.startKey', q.startKey);
  const pagesMax = q.pagesMax === undefined ? TXN_GC_PAGES_PER_REQUEST_MAX : checkUint('txnGc.pagesMax', q.pagesMax, TXN_GC_PAGES_PER_REQUEST_MAX);
  if (pagesMax === 0) throw new StoreRequestError('BadField', 'txnGc.pagesMax must be at least 1');
  let cursor = q.startKey ?? new Uint8Array();
  let versionsDropped = 0;
  for (let page = 0; page < pagesMax; page++) {
    const listed = await runTxnCommand(env, { ...q, keys: [], writes: false, action: (view) => keysFrom(env, q.regionId, view, cursor) }, o);
    if (!listed.ok) return listed;
    if (!listed.value.ok) return { ok: true, value: listed.value };
    const { keys, after } = listed.value.value;
    if (keys.length === 0) return done(versionsDropped);
    const dropped = await runTxnCommand(env, { ...q, keys, writes: true, action: (view) => collect(view, keys, safePoint) }, o);
    if (!dropped.ok) return dropped;
    if (!dropped.value.ok) return { ok: true, value: dropped.value };
    versionsDropped += dropped.value.value.versionsDropped;
    const next = dropped.value.value.unfinished ?? after;
    if (next === undefined) return done(versionsDropped);
    cursor = next;
  }
  return { ok: true, value: { ok: true, value: { versionsDropped, nextKey: cursor } } };
};

function done(versionsDropped: number): ReturnType<Handler<'txnGc'>> {
  const value: TxnGcResult = { versionsDropped };
  return Promise.resolve({ ok: true, value: { ok: true, value } });
}

/** Up to `TXN_GC_KEYS_PER_PAGE` keys with write records from `cursor` in the region, and the key after them (absent: none). */
async function keysFrom(env: HandlerEnv, regionId: number, view: ReadView, cursor: Uint8Array): Promise<TxnActionOutcome<{ keys: Uint8Array[]; after?: Uint8Array }>> {
  const range = clampToRegion(env, { regionId, start: cursor });
  const keys: Uint8Array[] = [];
  for await (const key of view.writeKeys(range, TXN_GC_KEYS_PER_PAGE + 1)) {
    if (keys.length === TXN_GC_KEYS_PER_PAGE) return { ok: true, ops: [], value: { keys, after: key } };
    keys.push(key);
  }
  return { ok: true, ops: [], value: { keys } };
}

/** The pure `gc` on each key, within the page's version budget; `unfinished` is where the budget stopped it. */
async function collect(view: ReadView, keys: Uint8Array[], safePoint: Timestamp): Promise<TxnActionOutcome<{ versionsDropped: number; unfinished?: Uint8Array }>> {
  const ops: TxnOp[] = [];
  let versionsDropped = 0;
  for (const key of keys) {
    const r = versionsDropped === TXN_GC_VERSIONS_PER_PAGE ? undefined : await gc(view, key, safePoint, TXN_GC_VERSIONS_PER_PAGE - versionsDropped);
    if (r !== undefined) {
      ops.push(...r.ops);
      versionsDropped += r.versionsDropped;
    }
    if (r === undefined || !r.done) return { ok: true, ops, value: { versionsDropped, unfinished: key } };
  }
  return { ok: true, ops, value: { versionsDropped } };
}
