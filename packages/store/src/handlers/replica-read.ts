/**
 * Replica reads at a ts (TiKV's follower read with a ReadIndex context): snapshot-isolation
 * reads served from a follower's or learner's own state, so a device reads its local replica
 * (or the nearest one) after one small round trip to the leader instead of shipping the data.
 *
 * 1. `txnReadIndex` on the leader, for the read's range and ts: it confirms leadership (a
 *    ReadIndex), then, in one synchronous step, raises `maxTs` to `ts` and looks for an
 *    in-memory lock in the range at or below `ts` (`KeyIsLocked`, resolved by the client as for
 *    a leader read), and answers its `applied` index.
 * 2. `txnReplicaGet` / `txnReplicaScan` on any replica: it waits (bounded by the request's
 *    timeout: a replica still behind then answers the region error `ReadIndexNotReady`, so the
 *    client reads elsewhere and does not take a lagging store for a dead one) until its engine
 *    holds that index, checks the region again, and reads at `ts` on
 *    one engine snapshot, meeting locks as the leader's read does (`KeyIsLocked` for a lock at
 *    or below `ts` unless read around).
 *
 * Why the replica's read is the leader's read at `ts`: a transaction that commits at or below
 * `ts` either
 * - finished its prewrite (or its commit) before step 1's check: its lock or commit record was
 *   applied by then, at or below the answered index, so the replica sees it; or its async or
 *   1PC prewrite still held its in-memory lock at the check, which step 1 refuses; or
 * - prewrote after the check: a 2PC transaction then takes its commit ts from the TSO after
 *   `ts` was issued (so above it), and an async-commit or 1PC one computes its commit ts from
 *   `maxTs`, already raised to `ts` (the prewrite enters its keys in the lock table before it
 *   reads `maxTs`: `handleTxnPrewrite`), so above it.
 * Leadership is confirmed before the index is taken, so no deposed leader answers an index
 * that misses a newer leader's commits.
 */
import { compareKeys } from '@peerkv/pd';
import { MvccReader, read, scan, type Timestamp } from '@peerkv/txn';
import { RegionPeer, type Result } from '../peer.ts';
import { checkBypass, checkKey, checkTs, checkUint } from '../txn/check.ts';
import { txnState } from '../txn/scheduler.ts';
import type { TxnAnswer, TxnError } from '../txn/types.ts';
import type { HandleOptions } from '../request-types.ts';
import type { Handler, HandlerEnv } from './handler.ts';
import { requestOptions } from './handler.ts';
import { onSnapshot } from './reads.ts';
import { TXN_SCAN_LIMIT_MAX, safePointPassed } from './txn.ts';

function refused<T>(e: TxnError): Result<TxnAnswer<T>> {
  return { ok: true, value: { ok: false, errors: [e] } };
}

/** [start, end) ∩ the region's range (`end` absent: to the region's end). */
function clamp(region: { startKey: Uint8Array; endKey: Uint8Array }, start: Uint8Array, end: Uint8Array | undefined): { start: Uint8Array; end?: Uint8Array } {
  const s = compareKeys(start, region.startKey) > 0 ? start : region.startKey;
  let e = end !== undefined && end.length > 0 ? end : undefined;
  if (region.endKey.length > 0 && (e === undefined || compareKeys(e, region.endKey) > 0)) e = region.endKey;
  return e === undefined ? { start: s } : { start: s, end: e };
}

/** Step 1, on the leader: see the module header. */
export const handleTxnReadIndex: Handler<'txnReadIndex'> = async (env, q, o) => {
  checkKey('txnReadIndex.start', q.start);
  if (q.end !== undefined) checkKey('txnReadIndex.end', q.end);
  const ts = checkTs('txnReadIndex.ts', q.ts);
  env.ctx.assertOpen();
  if (env.ctx.dataModel !== 'mvcc') return refused({ kind: 'TxnUnsupported', missingColumnFamilies: [] });
  const checked = env.requests.checkRequest(q.regionId, q.epoch, [], true);
  if (!(checked instanceof RegionPeer)) return { ok: false, error: checked };
  const barrier = await env.requests.readBarrier(checked, requestOptions(q, o));
  if (!barrier.ok) return barrier;
  const peer = env.requests.checkRequest(q.regionId, q.epoch, [], true);
  if (!(peer instanceof RegionPeer)) return { ok: false, error: peer };
  const range = clamp(peer.region, q.start, q.end);
  const { cm } = txnState(env.ctx);
  // One synchronous step with the index taken below (see the module header).
  if (!env.ctx.mutations.replicaReadSkipsMaxTs) cm.updateMaxTs(ts);
  const locked = cm.readCheckRange(range.start, range.end, ts, []);
  if (locked !== undefined) return refused(locked);
  return { ok: true, value: { ok: true, value: { appliedIndex: peer.applied } } };
};

/** Step 2's common part: the replica, caught up to `appliedIndex`, with its region checked again. */
async function caughtUp(
  env: HandlerEnv,
  q: { regionId: number; epoch: { confVer: number; version: number }; appliedIndex: number; ts: Timestamp; timeoutMs?: number },
  keys: Uint8Array[],
  o: HandleOptions,
): Promise<RegionPeer | Result<TxnAnswer<never>>> {
  env.ctx.assertOpen();
  if (env.ctx.dataModel !== 'mvcc') return refused({ kind: 'TxnUnsupported', missingColumnFamilies: [] });
  const checked = env.requests.checkRequest(q.regionId, q.epoch, keys, false);
  if (!(checked instanceof RegionPeer)) return { ok: false, error: checked };
  const waited = await env.requests.waitApplied(checked, env.ctx.mutations.replicaReadSkipsCatchUp ? 0 : q.appliedIndex, requestOptions(q, o));
  if (!waited.ok) return waited;
  const peer = env.requests.checkRequest(q.regionId, q.epoch, keys, false);
  if (!(peer instanceof RegionPeer)) return { ok: false, error: peer };
  const passed = safePointPassed(env, q.ts);
  if (passed !== undefined) return refused(passed);
  return peer;
}

/** Step 2 for one key. */
export const handleTxnReplicaGet: Handler<'txnReplicaGet'> = async (env, q, o) => {
  const key = checkKey('txnReplicaGet.key', q.key);
  const ts = checkTs('txnReplicaGet.ts', q.ts);
  checkUint('txnReplicaGet.appliedIndex', q.appliedIndex);
  checkBypass('txnReplicaGet.bypassLocks', q.bypassLocks);
  const peer = await caughtUp(env, q, [key], o);
  if (!(peer instanceof RegionPeer)) return peer;
  const r = await onSnapshot(env.ctx.engine, (snap) => read(new MvccReader(snap), key, ts, { bypassLocks: q.bypassLocks ?? [] }));
  if (!r.ok) return r;
  if (!r.value.ok) return refused(r.value.error);
  const v = r.value;
  return { ok: true, value: { ok: true, value: { ...(v.value === undefined ? {} : { value: v.value }), ...(v.commitTs === undefined ? {} : { commitTs: v.commitTs }) } } };
};

/** Step 2 for [start, end) ∩ region, up to `limit` pairs. */
export const handleTxnReplicaScan: Handler<'txnReplicaScan'> = async (env, q, o) => {
  checkKey('txnReplicaScan.start', q.start);
  if (q.end !== undefined) checkKey('txnReplicaScan.end', q.end);
  const limit = checkUint('txnReplicaScan.limit', q.limit, TXN_SCAN_LIMIT_MAX);
  const ts = checkTs('txnReplicaScan.ts', q.ts);
  checkUint('txnReplicaScan.appliedIndex', q.appliedIndex);
  checkBypass('txnReplicaScan.bypassLocks', q.bypassLocks);
  const peer = await caughtUp(env, q, [], o);
  if (!(peer instanceof RegionPeer)) return peer;
  const range = clamp(peer.region, q.start, q.end);
  if (limit === 0 || (range.end !== undefined && compareKeys(range.start, range.end) >= 0)) return { ok: true, value: { ok: true, value: { pairs: [] } } };
  const r = await onSnapshot(env.ctx.engine, (snap) => scan(new MvccReader(snap), range, ts, { limit, bypassLocks: q.bypassLocks ?? [] }));
  if (!r.ok) return r;
  if (!r.value.ok) return refused(r.value.error);
  return { ok: true, value: { ok: true, value: r.value.nextKey === undefined ? { pairs: r.value.pairs } : { pairs: r.value.pairs, nextKey: r.value.nextKey } } };
};
