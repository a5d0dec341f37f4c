/**
 * The read handlers, `get` and `scan`: once the read's consistency is satisfied (ReadIndex
 * through the leader, or from a follower, or none for a stale read) and the region still
 * holds the keys, a read that takes more than one engine read (a scan over more than one
 * page; later, reads across column families) runs on ONE engine snapshot taken at that point
 * and released after, so it sees one state while the batch round goes on writing. A read
 * that is one engine read (a get, a scan within one page) is already one consistent view
 * (the `KvEngine` contract) and reads the engine directly: a snapshot would add nothing but
 * its cost (LevelDB: a native snapshot per read, about 30% of get throughput in
 * `bench:cluster`; IndexedDB: every data write pays pre-image reads while one is open).
 * An engine out of snapshots answers `ServerIsBusy` (retryable).
 */
import type { RegionEpoch, RegionError } from '@peerkv/pd';
import { compareKeys } from '@peerkv/pd';
import { SCAN_PAGE_SIZE_DEFAULT, StorageError, type KvEngine, type KvSnapshot } from '@peerkv/storage';
import { DATA_CF } from '../keys.ts';
import { RegionPeer, type Result } from '../peer.ts';
import type { ReadConsistency } from '../request-options.ts';
import type { HandleOptions } from '../request-types.ts';
import type { Handler, HandlerEnv } from './handler.ts';
import { requestOptions, requireRawModel } from './handler.ts';

/** Backoff suggested to a read refused for want of an engine snapshot, ms. */
export const SNAPSHOT_BUSY_BACKOFF_MS = 20;

/** Pairs a scan reads in one engine page, hence in one consistent engine read (no snapshot needed). */
export const READ_ONE_PAGE_PAIRS_MAX = SCAN_PAGE_SIZE_DEFAULT;

/** What a read reads from: the engine (one read) or a snapshot of it (several). */
type ReadView = Pick<KvEngine, 'get' | 'scan'>;

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

/** Runs `read` on the engine when it is one engine read, else on a snapshot taken now. */
function reading<T>(engine: KvEngine, engineReads: 'one' | 'several', read: (v: ReadView) => Promise<T>): Promise<Result<T>> {
  if (engineReads === 'one') return read(engine).then((value) => ({ ok: true, value }));
  return onSnapshot(engine, read);
}

/** Reads one key (one engine read). */
export const handleGet: Handler<'get'> = async (env, q, o) => {
  requireRawModel(env, 'get');
  const peer = await readyToRead(env, q, [q.key], o);
  if (!(peer instanceof RegionPeer)) return { ok: false, error: peer };
  return reading(env.ctx.engine, 'one', (v) => v.get(DATA_CF, q.key));
};

/** Scans [start, end) ∩ region, up to `limit` pairs (an unbounded or nonsensical limit reads the whole range). */
export const handleScan: Handler<'scan'> = async (env, q, o) => {
  requireRawModel(env, 'scan');
  const peer = await readyToRead(env, q, [], o);
  if (!(peer instanceof RegionPeer)) return { ok: false, error: peer };
  const { region } = peer;
  const { range } = q;
  const start = compareKeys(range.start, region.startKey) > 0 ? range.start : region.startKey;
  let end = range.end;
  if (region.endKey.length && (!end || end.length === 0 || compareKeys(end, region.endKey) > 0)) end = region.endKey;
  const limit = Number.isSafeInteger(range.limit) && range.limit >= 0 ? range.limit : Number.MAX_SAFE_INTEGER;
  const pageSize = READ_ONE_PAGE_PAIRS_MAX;
  const opts = end && end.length ? { start, end, limit, reverse: range.reverse, pageSize } : { start, limit, reverse: range.reverse, pageSize };
  return reading(env.ctx.engine, limit <= pageSize ? 'one' : 'several', async (v) => {
    const out: { key: Uint8Array; value: Uint8Array }[] = [];
    for await (const kv of v.scan(DATA_CF, opts)) out.push(kv);
    return out;
  });
};
