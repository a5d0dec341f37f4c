/**
 * The read handlers, `get` and `scan`: once the read's consistency is satisfied (ReadIndex
 * through the leader, or from a follower, or none for a stale read) and the region still
 * holds the keys, the read runs on ONE engine snapshot taken at that point and released
 * after, so a read spanning pages (or, later, column families) sees one state while the
 * batch round goes on writing. An engine out of snapshots answers `ServerIsBusy` (retryable).
 */
import type { RegionEpoch, RegionError } from '@peerkv/pd';
import { compareKeys } from '@peerkv/pd';
import { StorageError, type KvEngine, type KvSnapshot } from '@peerkv/storage';
import { DATA_CF } from '../keys.ts';
import { RegionPeer, type Result } from '../peer.ts';
import type { ReadConsistency } from '../request-options.ts';
import type { HandleOptions } from '../request-types.ts';
import type { Handler, HandlerEnv } from './handler.ts';
import { requestOptions } from './handler.ts';

/** Backoff suggested to a read refused for want of an engine snapshot, ms. */
export const SNAPSHOT_BUSY_BACKOFF_MS = 20;

/**
 * The replica ready to serve a read of `keys` at `consistency`: checked, past its read
 * barrier for non-stale reads, and checked again after it (a split applied while the read
 * waited may have moved the keys: answering from the smaller range would skip them).
 */
async function readyToRead(
  env: HandlerEnv,
  q: { regionId: number; epoch: RegionEpoch; consistency: ReadConsistency; timeoutMs?: number },
  keys: Uint8Array[],
  o: HandleOptions,
): Promise<RegionPeer | RegionError> {
  env.ctx.assertOpen();
  const checked = env.requests.checkRequest(q.regionId, q.epoch, keys, q.consistency === 'linearizable');
  if (!(checked instanceof RegionPeer) || q.consistency === 'stale') return checked;
  const r = await env.requests.readBarrier(checked, requestOptions(q, o));
  if (!r.ok) return r.error;
  return env.requests.checkRequest(q.regionId, q.epoch, keys, false);
}

/** The snapshot failures a client retries: no slot free, or (IndexedDB) the view grew too large. */
function snapshotBusy(e: unknown): { ok: false; error: RegionError } | undefined {
  if (!(e instanceof StorageError) || (e.kind !== 'TooManySnapshots' && e.kind !== 'SnapshotTooLarge')) return undefined;
  return { ok: false, error: { kind: 'ServerIsBusy', reason: e.message, backoffMs: SNAPSHOT_BUSY_BACKOFF_MS } };
}

/** Runs `read` on a snapshot of `engine` taken now, and always releases it. */
export async function onSnapshot<T>(engine: KvEngine, read: (s: KvSnapshot) => Promise<T>): Promise<Result<T>> {
  let snap: KvSnapshot;
  try {
    snap = await engine.snapshot();
  } catch (e) {
    const busy = snapshotBusy(e);
    if (busy) return busy;
    throw e;
  }
  try {
    return { ok: true, value: await read(snap) };
  } catch (e) {
    const busy = snapshotBusy(e);
    if (busy) return busy;
    throw e;
  } finally {
    await snap.release();
  }
}

/** Reads one key. */
export const handleGet: Handler<'get'> = async (env, q, o) => {
  const peer = await readyToRead(env, q, [q.key], o);
  if (!(peer instanceof RegionPeer)) return { ok: false, error: peer };
  return onSnapshot(env.ctx.engine, (s) => s.get(DATA_CF, q.key));
};

/** Scans [start, end) ∩ region, up to `limit` pairs (an unbounded or nonsensical limit reads the whole range). */
export const handleScan: Handler<'scan'> = async (env, q, o) => {
  const peer = await readyToRead(env, q, [], o);
  if (!(peer instanceof RegionPeer)) return { ok: false, error: peer };
  const { region } = peer;
  const { range } = q;
  const start = compareKeys(range.start, region.startKey) > 0 ? range.start : region.startKey;
  let end = range.end;
  if (region.endKey.length && (!end || end.length === 0 || compareKeys(end, region.endKey) > 0)) end = region.endKey;
  const limit = Number.isSafeInteger(range.limit) && range.limit >= 0 ? range.limit : Number.MAX_SAFE_INTEGER;
  const opts = end && end.length ? { start, end, limit, reverse: range.reverse } : { start, limit, reverse: range.reverse };
  return onSnapshot(env.ctx.engine, async (s) => {
    const out: { key: Uint8Array; value: Uint8Array }[] = [];
    for await (const kv of s.scan(DATA_CF, opts)) out.push(kv);
    return out;
  });
};
