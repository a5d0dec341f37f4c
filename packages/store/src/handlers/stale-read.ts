/**
 * Stale reads (TiKV's Stale Read): served by any replica of the region — leader, follower or
 * learner — from its own state, with no leader, no ReadIndex and no quorum, at a ts at or
 * below the replica's resolved ts (`RegionPeer.safeTs`, advanced through the Raft log by the
 * leader: `txn/resolved-ts.ts`). No transaction can commit at or below that ts after the
 * entry the replica applied, so every lock is read past. A ts above it is `DataIsNotReady`
 * (the client asks the leader instead); an absent ts reads at the replica's resolved ts and
 * the answer says which ts that was.
 */
import { compareKeys } from '@peerkv/pd';
import { MvccReader, read, scan, type Timestamp } from '@peerkv/txn';
import { RegionPeer, type Result } from '../peer.ts';
import { checkKey, checkOptTs, checkUint } from '../txn/check.ts';
import type { TxnAnswer, TxnError, TxnStaleReadResult } from '../txn/types.ts';
import type { Handler, HandlerEnv } from './handler.ts';
import { onSnapshot } from './reads.ts';
import { TXN_SCAN_LIMIT_MAX, safePointPassed } from './txn.ts';

type StaleAnswer = Result<TxnAnswer<TxnStaleReadResult>>;

function refused(e: TxnError): StaleAnswer {
  return { ok: true, value: { ok: false, errors: [e] } };
}

/** The replica and the ts to read at, or the answer that ends the request. */
function prepare(env: HandlerEnv, q: { regionId: number; epoch: { confVer: number; version: number }; ts?: bigint }, keys: Uint8Array[]): { peer: RegionPeer; ts: Timestamp } | StaleAnswer {
  if (env.ctx.dataModel !== 'mvcc') return refused({ kind: 'TxnUnsupported', missingColumnFamilies: [] });
  const peer = env.requests.checkRequest(q.regionId, q.epoch, keys, false);
  if (!(peer instanceof RegionPeer)) return { ok: false, error: peer };
  const safeTs = peer.safeTs;
  const ts = q.ts ?? safeTs;
  if (safeTs === 0n || ts > safeTs) return refused({ kind: 'DataIsNotReady', regionId: q.regionId, safeTs });
  const gone = safePointPassed(env, ts);
  if (gone !== undefined) return refused(gone);
  return { peer, ts };
}

/** `key` as of `ts` (or the replica's resolved ts) on this replica. */
export const handleTxnStaleGet: Handler<'txnStaleGet'> = async (env, q) => {
  const key = checkKey('txnStaleGet.key', q.key);
  checkOptTs('txnStaleGet.ts', q.ts);
  env.ctx.assertOpen();
  const p = prepare(env, q, [key]);
  if (!('peer' in p)) return p;
  const r = await onSnapshot(env.ctx.engine, (snap) => read(new MvccReader(snap), key, p.ts, { ignoreLocks: true }));
  if (!r.ok) return r;
  if (!r.value.ok) return refused(r.value.error);
  const pairs = r.value.value === undefined ? [] : [{ key, value: r.value.value }];
  return { ok: true, value: { ok: true, value: { readTs: p.ts, pairs } } };
};

/** [start, end) ∩ region as of `ts` (or the replica's resolved ts) on this replica, up to `limit` pairs. */
export const handleTxnStaleScan: Handler<'txnStaleScan'> = async (env, q) => {
  checkKey('txnStaleScan.start', q.start);
  if (q.end !== undefined) checkKey('txnStaleScan.end', q.end);
  const limit = checkUint('txnStaleScan.limit', q.limit, TXN_SCAN_LIMIT_MAX);
  checkOptTs('txnStaleScan.ts', q.ts);
  env.ctx.assertOpen();
  const p = prepare(env, q, []);
  if (!('peer' in p)) return p;
  const region = p.peer.region;
  const start = compareKeys(q.start, region.startKey) > 0 ? q.start : region.startKey;
  let end = q.end !== undefined && q.end.length > 0 ? q.end : undefined;
  if (region.endKey.length > 0 && (end === undefined || compareKeys(end, region.endKey) > 0)) end = region.endKey;
  if (limit === 0 || (end !== undefined && compareKeys(start, end) >= 0)) return { ok: true, value: { ok: true, value: { readTs: p.ts, pairs: [] } } };
  const range = end === undefined ? { start } : { start, end };
  const r = await onSnapshot(env.ctx.engine, (snap) => scan(new MvccReader(snap), range, p.ts, { limit, ignoreLocks: true }));
  if (!r.ok) return r;
  if (!r.value.ok) return refused(r.value.error);
  const value: TxnStaleReadResult = r.value.nextKey === undefined ? { readTs: p.ts, pairs: r.value.pairs } : { readTs: p.ts, pairs: r.value.pairs, nextKey: r.value.nextKey };
  return { ok: true, value: { ok: true, value } };
};
