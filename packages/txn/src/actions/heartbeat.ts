/**
 * Txn heartbeat (TiKV's `commands/txn_heart_beat.rs`): a long transaction keeps its primary
 * lock alive by raising its TTL, so lock resolvers do not roll it back. The TTL only grows.
 */
import { putLock } from '../cf.ts';
import { refuse, type ActionResult } from '../errors.ts';
import { LOCK_TTL_MS_MAX } from '../limits.ts';
import type { Timestamp } from '../timestamp.ts';
import type { ReadView } from '../view.ts';

/**
 * Raises the TTL of the transaction `startTs`'s lock on `primaryKey` to `adviseTtlMs` (capped
 * at `LOCK_TTL_MS_MAX`) if it is lower; reports the TTL now in force. No lock of the
 * transaction: `TxnNotFound` (it was committed or rolled back: the client stops beating).
 */
export async function txnHeartbeat(view: ReadView, primaryKey: Uint8Array, startTs: Timestamp, adviseTtlMs: number): Promise<ActionResult<{ ttlMs: number }>> {
  const lock = await view.lock(primaryKey);
  if (lock === undefined || lock.startTs !== startTs) return refuse({ kind: 'TxnNotFound', startTs, primary: primaryKey });
  const ttlMs = Math.min(adviseTtlMs, LOCK_TTL_MS_MAX);
  if (ttlMs <= lock.ttlMs) return { ok: true, ops: [], ttlMs: lock.ttlMs };
  return { ok: true, ops: [putLock(primaryKey, { ...lock, ttlMs })], ttlMs };
}
