/**
 * The change feed's pull (TiKV CDC, as a long-polled request; `txnCdcPull`): the region's
 * leader answers the committed puts and deletes of a key range with commitTs in (fromTs, R],
 * ordered by commitTs then key, where R is the resolved ts the leader has applied
 * (`RegionPeer.safeTs`), and R as the watermark: every change of the range with commitTs ≤ R
 * has now been delivered. The client asks again from R (`kv.watch`, client `txn/watch.ts`).
 *
 * Why every commit at or below R is already in the snapshot the page is read from, and none
 * can come later (so a watermark is never taken back):
 * - R was proposed by a leader as min(a TSO ts `t`, the least start ts of the region's
 *   locks, the least start ts of the store's in-memory locks), after raising the store's
 *   `maxTs` to `t` (`txn/resolved-ts.ts`).
 * - A 2PC transaction that held a lock in the region then has start ts ≥ R, and commits above
 *   its start ts, so above R. One that held none takes its commit ts from the TSO after its
 *   prewrite was answered, so above `t` ≥ R.
 * - An async-commit or 1PC prewrite takes its commit ts above the leader's `maxTs` (≥ `t`),
 *   unless its lock was already in the in-memory table when `maxTs` was raised, and then R is at
 *   most its start ts, below its commit ts. A new leader syncs `maxTs` from the TSO before its
 *   first such prewrite (`txn/max-ts-sync.ts`), so this holds across leader changes too.
 * - So every commit record with commitTs ≤ R is in the log before the `safeTs(R)` entry, and
 *   `safeTs` is raised only after the write holding every entry before it is durable in the
 *   engine (`apply.ts`). The snapshot is taken after `safeTs` is read: it holds them all.
 * - GC keeps every version above its safe point; a `fromTs` below the safe point this store
 *   knows is refused (`SafePointPassed`), so no version in (fromTs, R] was collected.
 * Serving needs no ReadIndex: the argument holds on any replica that applied R. The leader
 * serves because it is the first to apply each R (the lowest lag); a deposed leader's answer
 * is still correct, only older.
 *
 * Long poll: with nothing to answer (R ≤ fromTs) the handler waits up to `waitMs` (capped by
 * `CDC_WAIT_MS_MAX`), checking every `CDC_WAIT_POLL_MS`, and answers as soon as R moves past
 * fromTs (a region that is idle advances R every `SAFE_TS_IDLE_INTERVAL_MS` at most), so an
 * idle watcher costs one request per advance, not a spin.
 *
 * Errors: region errors as every leader request (NotLeader, EpochNotMatch, RegionNotFound, ...),
 * `DataIsNotReady` before the leader has applied any resolved ts (after an election or a
 * restart: ask again later), `SafePointPassed` for a fromTs below the GC safe point (the feed
 * must be restarted from a newer ts), `TxnUnsupported` on a raw store.
 */
import { compareKeys } from '@peerkv/pd';
import { sleepOn } from '@peerkv/proto';
import { RegionPeer, type Result } from '../peer.ts';
import { StoreRequestError, type RequestOf } from '../request-types.ts';
import { cdcBuffers } from '../txn/cdc-buffer.ts';
import { incrementalScan, pageFromRecords } from '../txn/cdc-scan.ts';
import { checkKey, checkTs, checkUint } from '../txn/check.ts';
import type { TxnAnswer, TxnCdcResult, TxnError } from '../txn/types.ts';
import type { Handler, HandlerEnv } from './handler.ts';
import { onSnapshot } from './reads.ts';
import { safePointPassed } from './txn.ts';

/** Events one pull answers at most. */
export const CDC_PAGE_EVENTS_MAX = 4096;
/** Bytes (keys, values) one pull answers at most, beyond its first event. */
export const CDC_PAGE_BYTES_MAX = 4 * 1024 * 1024;
/** Longest a pull waits for the resolved ts to move, ms. */
export const CDC_WAIT_MS_MAX = 10_000;
/** How often a waiting pull looks at the resolved ts again, ms. */
export const CDC_WAIT_POLL_MS = 10;

type CdcAnswer = Result<TxnAnswer<TxnCdcResult>>;

function refused(e: TxnError): CdcAnswer {
  return { ok: true, value: { ok: false, errors: [e] } };
}

/** The request's own fields; throws `StoreRequestError('BadField')`. */
function checkPull(q: RequestOf<'txnCdcPull'>): void {
  checkKey('txnCdcPull.start', q.start);
  if (q.end !== undefined) checkKey('txnCdcPull.end', q.end);
  if (q.end !== undefined && q.end.length > 0 && compareKeys(q.start, q.end) >= 0) throw new StoreRequestError('BadField', 'txnCdcPull: start is not below end (an empty or reversed range)');
  checkTs('txnCdcPull.fromTs', q.fromTs);
  if (q.cursor !== undefined) {
    checkTs('txnCdcPull.cursor.commitTs', q.cursor.commitTs);
    checkKey('txnCdcPull.cursor.key', q.cursor.key);
    if (q.cursor.commitTs <= q.fromTs) throw new StoreRequestError('BadField', 'txnCdcPull.cursor: its commitTs must be above fromTs');
  }
  if (checkUint('txnCdcPull.eventsMax', q.eventsMax, CDC_PAGE_EVENTS_MAX) === 0) throw new StoreRequestError('BadField', 'txnCdcPull.eventsMax: at least 1');
  if (checkUint('txnCdcPull.bytesMax', q.bytesMax, CDC_PAGE_BYTES_MAX) === 0) throw new StoreRequestError('BadField', 'txnCdcPull.bytesMax: at least 1');
  checkUint('txnCdcPull.waitMs', q.waitMs, CDC_WAIT_MS_MAX);
}

/** [start, end) ∩ region. */
function clamp(q: RequestOf<'txnCdcPull'>, region: { startKey: Uint8Array; endKey: Uint8Array }): { start: Uint8Array; end?: Uint8Array } | undefined {
  const start = compareKeys(q.start, region.startKey) > 0 ? q.start : region.startKey;
  let end = q.end !== undefined && q.end.length > 0 ? q.end : undefined;
  if (region.endKey.length > 0 && (end === undefined || compareKeys(end, region.endKey) > 0)) end = region.endKey;
  if (end !== undefined && compareKeys(start, end) >= 0) return undefined;
  return end === undefined ? { start } : { start, end };
}

/** The leader's resolved ts now, or the answer that ends the request. */
function resolvedTsOf(env: HandlerEnv, q: RequestOf<'txnCdcPull'>): { peer: RegionPeer; resolvedTs: bigint } | CdcAnswer {
  const peer = env.requests.checkRequest(q.regionId, q.epoch, [], true);
  if (!(peer instanceof RegionPeer)) return { ok: false, error: peer };
  const resolvedTs = env.ctx.mutations.cdcWatermarkAhead ? peer.safeTs + (1n << 30n) : peer.safeTs;
  if (resolvedTs === 0n) return refused({ kind: 'DataIsNotReady', regionId: q.regionId, safeTs: 0n });
  const gone = safePointPassed(env, q.fromTs);
  if (gone !== undefined) return refused(gone);
  return { peer, resolvedTs };
}

/** One page of the region's committed changes above `fromTs`, waiting up to `waitMs` for any. */
export const handleTxnCdcPull: Handler<'txnCdcPull'> = async (env, q, o) => {
  checkPull(q);
  env.ctx.assertOpen();
  if (env.ctx.dataModel !== 'mvcc') return refused({ kind: 'TxnUnsupported', missingColumnFamilies: [] });
  const timers = env.ctx.timers;
  const deadline = timers.now() + q.waitMs;
  for (;;) {
    const at = resolvedTsOf(env, q);
    if (!('peer' in at)) return at;
    if (at.resolvedTs > q.fromTs) return pullPage(env, q, at.peer, at.resolvedTs);
    const left = deadline - timers.now();
    if (left <= 0 || o.signal?.aborted) return { ok: true, value: { ok: true, value: { events: [], resolvedTs: q.fromTs, more: false } } };
    try {
      await sleepOn(timers, Math.min(CDC_WAIT_POLL_MS, left), o.signal);
    } catch {
      /* aborted: answered above on the next turn */
    }
    // Closed while waiting (a device going away): the client asks another replica.
    if (env.ctx.closed) return { ok: false, error: { kind: 'NotLeader', regionId: q.regionId } };
  }
};

/**
 * The page of (fromTs, resolvedTs] ∩ region: from the region's live buffer when fromTs is at
 * or above its floor for the range (`txn/cdc-buffer.ts` says why that is the same page), else
 * from a snapshot taken now (after `resolvedTs` was read, and after the buffer began), which
 * also sets the buffer's floor for the range.
 */
async function pullPage(env: HandlerEnv, q: RequestOf<'txnCdcPull'>, peer: RegionPeer, resolvedTs: bigint): Promise<CdcAnswer> {
  const range = clamp(q, peer.region);
  if (range === undefined) return { ok: true, value: { ok: true, value: { events: [], resolvedTs, more: false } } };
  // (A cursor's commitTs is fromTs + 1 ≤ resolvedTs: its page is read now.)
  const limits = { eventsMax: q.eventsMax, bytesMax: q.bytesMax };
  const scanned = { ...range, fromTs: q.fromTs, toTs: resolvedTs, ...(q.cursor === undefined ? {} : { cursor: q.cursor }) };
  const buffers = cdcBuffers(env.ctx);
  const buffer = buffers.forPull(peer, peer.raw.status().term, env.ctx.timers.now());
  const floor = buffer.floorFor(range);
  let page: TxnCdcResult | undefined;
  if (env.ctx.mutations.cdcBufferIgnoresFloor || (floor !== undefined && q.fromTs >= floor)) {
    page = await pageFromRecords(env.ctx.engine, buffer.changes(range, q.fromTs, resolvedTs, q.cursor), scanned, limits);
    if (page !== undefined) buffers.counters.pagesFromBuffer++;
  }
  if (page === undefined) {
    // The floor: the largest ts of the range's records this snapshot holds and the buffer does not.
    let outside = 0n;
    const seen = (key: Uint8Array, ts: bigint): void => {
      if (ts > outside && !buffer.has(key, ts)) outside = ts;
    };
    const r = await onSnapshot(env.ctx.engine, (snap) => incrementalScan(snap, scanned, limits, seen));
    if (!r.ok) return r;
    buffer.addFloor(range, outside);
    buffers.counters.pagesScanned++;
    page = r.value;
  }
  if (env.ctx.mutations.cdcSkipDeletes) page = { ...page, events: page.events.filter((e) => e.type !== 'delete') };
  return { ok: true, value: { ok: true, value: page } };
}
