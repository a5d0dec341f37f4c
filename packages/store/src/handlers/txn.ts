/**
 * The transactional request handlers (Percolator, TiKV's `storage/txn/commands`): each checks
 * its own fields (`txn/check.ts`), then runs on the txn scheduler (`txn/scheduler.ts`: region
 * and leader check, latches, ReadIndex, one engine snapshot, the pure `@peerkv/txn` action,
 * its writes proposed as one `txn` command) and answers with the action's result or the
 * refusing keys' errors. Reads (`txnGet`, `txnScan`) take no latches and write nothing: they
 * raise the concurrency manager's `maxTs` and check its in-memory locks first, and resolve
 * nothing themselves (a hiding lock is `KeyIsLocked`, for the client to resolve).
 */
import { compareKeys } from '@peerkv/pd';
import {
  CF_LOCK,
  asyncCommitMinTs,
  checkTxnStatus,
  commit,
  decodeKey,
  decodeLock,
  prewrite,
  read,
  resolveLock,
  rollback,
  scan,
  txnHeartbeat,
  type ActionResult,
  type CommitMode,
  type Lock,
  type ReadView,
  type Timestamp,
  type TxnOp,
} from '@peerkv/txn';
import type { RegionPeer } from '../peer.ts';
import type { RequestOptions } from '../request-options.ts';
import type { MemoryLockGuard } from '../txn/concurrency-manager.ts';
import { checkBypass, checkCommitAbove, checkKey, checkKeys, checkMode, checkMutations, checkOptTs, checkReadTs, checkTs, checkTtl, checkUint } from '../txn/check.ts';
import { runTxnCommand, txnState, type TxnActionOutcome } from '../txn/scheduler.ts';
import type { SafePointPassedError, TxnCommitResult, TxnError } from '../txn/types.ts';
import type { Handler, HandlerEnv } from './handler.ts';

/** Times a prewrite recomputes because a read raised `maxTs` while it computed (then `ServerIsBusy`). */
export const PREWRITE_MAX_TS_RETRIES = 8;
/** Pairs one `txnScan` returns at most. */
export const TXN_SCAN_LIMIT_MAX = 10_000;

/** Runs a per-key action over `keys`: the writes of all, or (any refusing) the errors of those that refused and no write. */
export async function eachKey(keys: Uint8Array[], run: (key: Uint8Array) => Promise<ActionResult>): Promise<TxnActionOutcome<void>> {
  const ops: TxnOp[] = [];
  const errors: TxnError[] = [];
  for (const key of keys) {
    const r = await run(key);
    if (r.ok) ops.push(...r.ops);
    else errors.push(r.error);
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, ops, value: undefined };
}

/**
 * Prewrites the mutations. With async commit or 1PC, the leader first syncs `maxTs` from PD's
 * TSO once per term (`txn/max-ts-sync.ts`), then the keys enter the in-memory lock table
 * before `maxTs` is read, and the computed locks become visible there in the same synchronous
 * step that checks `maxTs` has not moved since (else the prewrite is computed again): a reader
 * either raised `maxTs` first (the locks are above its ts) or finds them in the table.
 */
export const handleTxnPrewrite: Handler<'txnPrewrite'> = async (env, q, o) => {
  const keys = checkMutations('txnPrewrite.mutations', q.mutations);
  checkKey('txnPrewrite.primary', q.primary);
  const startTs = checkTs('txnPrewrite.startTs', q.startTs);
  checkTtl('txnPrewrite.lockTtlMs', q.lockTtlMs);
  checkUint('txnPrewrite.txnSize', q.txnSize);
  checkOptTs('txnPrewrite.forUpdateTs', q.forUpdateTs);
  checkOptTs('txnPrewrite.minCommitTs', q.minCommitTs);
  checkMode('txnPrewrite.mode', q.mode);
  const forUpdateTs = q.forUpdateTs ?? 0n;
  if (forUpdateTs !== 0n && forUpdateTs < startTs) checkCommitAbove('txnPrewrite.forUpdateTs', startTs, forUpdateTs);
  checkReadTs('txnPrewrite.readTs', q.readTs, startTs);
  const { cm, maxTsSync } = txnState(env.ctx);
  const needsMaxTs = q.mode.kind !== 'twoPc';
  let guard: MemoryLockGuard | undefined;
  const action = async (view: ReadView, peer: RegionPeer): Promise<TxnActionOutcome<{ minCommitTs: Timestamp; onePcCommitTs?: Timestamp }>> => {
    // The term may have changed since `prepare` synced (lost and won back): sync again first.
    if (needsMaxTs && !maxTsSync.isSynced(peer)) return { ok: false, regionError: { kind: 'ServerIsBusy', reason: `region ${q.regionId}: maxTs not synced in this term`, backoffMs: 0 } };
    if (needsMaxTs) guard = cm.lockKeys(keys);
    for (let attempt = 0; attempt < PREWRITE_MAX_TS_RETRIES; attempt++) {
      const maxTsSeen = cm.maxTs();
      const maxTsRead = env.ctx.mutations.asyncCommitIgnoresMaxTs ? 0n : maxTsSeen;
      let mode: CommitMode;
      if (q.mode.kind === 'asyncCommit') mode = { kind: 'asyncCommit', secondaries: q.mode.secondaries, maxTs: maxTsRead };
      else if (q.mode.kind === 'onePc') mode = { kind: 'onePc', commitTs: asyncCommitMinTs(startTs, forUpdateTs, maxTsRead) };
      else mode = { kind: 'twoPc' };
      const props = { primary: q.primary, startTs, lockTtlMs: q.lockTtlMs, txnSize: q.txnSize, forUpdateTs, mode, ...(q.minCommitTs === undefined ? {} : { minCommitTs: q.minCommitTs }), ...(q.readTs === undefined || env.ctx.mutations.prewriteIgnoresReadTs ? {} : { readTs: q.readTs }) };
      const r = await prewrite(view, props, q.mutations);
      if (!r.ok) return { ok: false, errors: r.errors };
      // A read raised maxTs while the prewrite computed: its ts may be at or above our locks' minCommitTs.
      if (guard !== undefined && cm.maxTs() !== maxTsSeen) continue;
      if (guard !== undefined) showLocks(guard, r.ops, q, r.onePcCommitTs);
      const value = r.onePcCommitTs === undefined ? { minCommitTs: r.minCommitTs } : { minCommitTs: r.minCommitTs, onePcCommitTs: r.onePcCommitTs };
      return { ok: true, ops: r.ops, value };
    }
    return { ok: false, regionError: { kind: 'ServerIsBusy', reason: 'reads kept raising maxTs during an async-commit prewrite', backoffMs: 10 } };
  };
  const prepare = needsMaxTs ? (peer: RegionPeer, ro: RequestOptions) => maxTsSync.ensure(peer, ro) : undefined;
  return runTxnCommand(env, { ...q, keys, writes: true, action, onSettled: () => guard?.release(), ...(prepare ? { prepare } : {}) }, o);
};

/**
 * Makes a prewrite's locks visible in the in-memory lock table. A 1PC prewrite leaves no lock
 * in the engine; its commit records stand in as locks whose `minCommitTs` is the commit ts, so a
 * reader at or above it waits for them to apply.
 */
function showLocks(guard: MemoryLockGuard, ops: TxnOp[], q: { primary: Uint8Array; startTs: bigint; lockTtlMs: number; txnSize: number; mutations: { op: string; key: Uint8Array }[] }, onePcCommitTs: Timestamp | undefined): void {
  if (onePcCommitTs === undefined) {
    for (const op of ops) if (op.cf === CF_LOCK && op.type === 'put') guard.setLock(decodeKey(op.key), decodeLock(op.value));
    return;
  }
  for (const m of q.mutations) {
    if (m.op === 'lock' || m.op === 'checkNotExists') continue;
    const lock: Lock = { kind: m.op === 'delete' ? 'delete' : 'put', primary: q.primary, startTs: q.startTs, ttlMs: q.lockTtlMs, forUpdateTs: 0n, txnSize: q.txnSize, minCommitTs: onePcCommitTs, useAsyncCommit: true, secondaries: [] };
    guard.setLock(m.key, lock);
  }
}

/**
 * Commits keys of a transaction; any refusing key refuses the whole request (no write). The
 * answer is the commit ts recorded for the first key: the one asked, or, when the key already
 * holds this transaction's commit record (a retry, or a 1PC attempt that applied unanswered
 * before the client fell back to 2PC), that record's. The client reports it, not its own.
 */
export const handleTxnCommit: Handler<'txnCommit'> = async (env, q, o) => {
  const keys = checkKeys('txnCommit.keys', q.keys);
  const startTs = checkTs('txnCommit.startTs', q.startTs);
  checkCommitAbove('txnCommit.commitTs', startTs, checkTs('txnCommit.commitTs', q.commitTs));
  const action = async (view: ReadView): Promise<TxnActionOutcome<TxnCommitResult>> => {
    let first: Timestamp | undefined;
    const r = await eachKey(keys, async (key) => {
      const c = await commit(view, key, startTs, q.commitTs);
      if (c.ok) first ??= c.commitTs;
      return c;
    });
    return r.ok ? { ...r, value: { commitTs: first ?? q.commitTs } } : r;
  };
  return runTxnCommand(env, { ...q, keys, writes: true, action }, o);
};

/** Rolls back keys of a transaction (a rollback record on each). */
export const handleTxnRollback: Handler<'txnRollback'> = async (env, q, o) => {
  const keys = checkKeys('txnRollback.keys', q.keys);
  const startTs = checkTs('txnRollback.startTs', q.startTs);
  const action = (view: ReadView): Promise<TxnActionOutcome<void>> => eachKey(keys, (key) => rollback(view, key, startTs));
  return runTxnCommand(env, { ...q, keys, writes: true, action }, o);
};

/** Checks a transaction on its primary; the caller's start ts raises `maxTs` (it is a reader). */
export const handleTxnCheckStatus: Handler<'txnCheckStatus'> = async (env, q, o) => {
  const primaryKey = checkKey('txnCheckStatus.primaryKey', q.primaryKey);
  checkTs('txnCheckStatus.lockTs', q.lockTs);
  const callerStartTs = checkTs('txnCheckStatus.callerStartTs', q.callerStartTs);
  checkTs('txnCheckStatus.currentTs', q.currentTs);
  if (typeof q.rollbackIfNotExist !== 'boolean') checkKeys('txnCheckStatus.rollbackIfNotExist (a boolean)', undefined);
  const { cm } = txnState(env.ctx);
  const req = { primaryKey, lockTs: q.lockTs, callerStartTs, currentTs: q.currentTs, rollbackIfNotExist: q.rollbackIfNotExist, forceSyncCommit: q.forceSyncCommit === true };
  return runTxnCommand(
    env,
    {
      ...q,
      keys: [primaryKey],
      writes: true,
      beforeSnapshot: () => void cm.updateMaxTs(callerStartTs),
      action: async (view) => {
        const r = await checkTxnStatus(view, req);
        return r.ok ? { ok: true, ops: r.ops, value: r.status } : { ok: false, errors: [r.error] };
      },
    },
    o,
  );
};

/**
 * Commits (`commitTs`) or rolls back the locks of a transaction on `keys`, as its primary
 * decided. With no keys, every lock of the transaction in the region (TiKV's region-wide
 * ResolveLock): a read phase finds up to `RESOLVE_LOCK_KEYS_PER_ROUND` of them without latches,
 * a write phase resolves those under latches (each key judged again on its own snapshot),
 * until none is left or `RESOLVE_LOCK_ROUNDS_MAX` rounds passed (then `ServerIsBusy`: call again).
 */
export const handleTxnResolveLock: Handler<'txnResolveLock'> = async (env, q, o) => {
  const startTs = checkTs('txnResolveLock.startTs', q.startTs);
  const keys = Array.isArray(q.keys) && q.keys.length === 0 ? [] : checkKeys('txnResolveLock.keys', q.keys);
  checkOptTs('txnResolveLock.commitTs', q.commitTs);
  if (q.commitTs !== undefined) checkCommitAbove('txnResolveLock.commitTs', startTs, q.commitTs);
  const resolution = q.commitTs === undefined ? ({ kind: 'rollback' } as const) : ({ kind: 'commit', commitTs: q.commitTs } as const);
  const resolve = (batch: Uint8Array[]): ReturnType<Handler<'txnResolveLock'>> =>
    runTxnCommand(env, { ...q, keys: batch, writes: true, action: (view) => eachKey(batch, (key) => resolveLock(view, key, startTs, resolution)) }, o);
  if (keys.length > 0) return resolve(keys);
  for (let round = 0; round < RESOLVE_LOCK_ROUNDS_MAX; round++) {
    const found = await runTxnCommand(env, { ...q, keys: [], writes: false, action: (view) => locksOf(env, q.regionId, view, startTs) }, o);
    if (!found.ok) return found;
    if (!found.value.ok) return { ok: true, value: found.value };
    if (found.value.value.length === 0) return { ok: true, value: { ok: true, value: undefined } };
    const r = await resolve(found.value.value);
    if (!r.ok || !r.value.ok) return r;
  }
  return { ok: false, error: { kind: 'ServerIsBusy', reason: `more locks of transaction ${startTs} in region ${q.regionId}: resolve again`, backoffMs: 0 } };
};

/** Keys resolved per round of a region-wide resolve. */
export const RESOLVE_LOCK_KEYS_PER_ROUND = 256;
/** Rounds of a region-wide resolve in one request. */
export const RESOLVE_LOCK_ROUNDS_MAX = 16;
/** Locks looked at per round of a region-wide resolve (other transactions' locks count too). */
export const RESOLVE_LOCK_SCANNED_MAX = 4096;

/** The keys of the region holding locks of the transaction `startTs` (bounded; see above). */
async function locksOf(env: Parameters<Handler<'txnResolveLock'>>[0], regionId: number, view: ReadView, startTs: Timestamp): Promise<TxnActionOutcome<Uint8Array[]>> {
  const range = clampToRegion(env, { regionId, start: new Uint8Array() });
  const keys: Uint8Array[] = [];
  for await (const { key, lock } of view.locks(range, RESOLVE_LOCK_SCANNED_MAX)) {
    if (lock.startTs !== startTs) continue;
    keys.push(key);
    if (keys.length === RESOLVE_LOCK_KEYS_PER_ROUND) break;
  }
  return { ok: true, ops: [], value: keys };
}

/** Raises the TTL of a transaction's primary lock. */
export const handleTxnHeartbeat: Handler<'txnHeartbeat'> = async (env, q, o) => {
  const primaryKey = checkKey('txnHeartbeat.primaryKey', q.primaryKey);
  const startTs = checkTs('txnHeartbeat.startTs', q.startTs);
  checkUint('txnHeartbeat.adviseTtlMs', q.adviseTtlMs);
  return runTxnCommand(
    env,
    {
      ...q,
      keys: [primaryKey],
      writes: true,
      action: async (view) => {
        const r = await txnHeartbeat(view, primaryKey, startTs, q.adviseTtlMs);
        return r.ok ? { ok: true, ops: r.ops, value: { ttlMs: r.ttlMs } } : { ok: false, errors: [r.error] };
      },
    },
    o,
  );
};

/** Reads a key as of `ts` (raises `maxTs` first; an in-memory or engine lock hiding it is `KeyIsLocked`). */
export const handleTxnGet: Handler<'txnGet'> = async (env, q, o) => {
  const key = checkKey('txnGet.key', q.key);
  const ts = checkTs('txnGet.ts', q.ts);
  checkBypass('txnGet.bypassLocks', q.bypassLocks);
  const bypassLocks = q.bypassLocks ?? [];
  const { cm } = txnState(env.ctx);
  return runTxnCommand(
    env,
    {
      ...q,
      keys: [key],
      writes: false,
      beforeSnapshot: () => {
        cm.updateMaxTs(ts);
        return cm.readCheckKey(key, ts, bypassLocks);
      },
      action: async (view) => {
        // Checked after the snapshot: the worker learns a safe point before it collects at it.
        const passed = safePointPassed(env, ts);
        if (passed) return { ok: false, errors: [passed] };
        const r = await read(view, key, ts, { bypassLocks });
        if (!r.ok) return { ok: false, errors: [r.error] };
        const value = { ...(r.value === undefined ? {} : { value: r.value }), ...(r.commitTs === undefined ? {} : { commitTs: r.commitTs }) };
        return { ok: true, ops: [], value };
      },
    },
    o,
  );
};

/** Scans [start, end) ∩ region as of `ts`, up to `limit` pairs; a hiding lock stops it with `KeyIsLocked`. */
export const handleTxnScan: Handler<'txnScan'> = async (env, q, o) => {
  checkKey('txnScan.start', q.start);
  if (q.end !== undefined) checkKey('txnScan.end', q.end);
  const limit = checkUint('txnScan.limit', q.limit, TXN_SCAN_LIMIT_MAX);
  const ts = checkTs('txnScan.ts', q.ts);
  checkBypass('txnScan.bypassLocks', q.bypassLocks);
  const bypassLocks = q.bypassLocks ?? [];
  const { cm } = txnState(env.ctx);
  let range: { start: Uint8Array; end?: Uint8Array } = { start: q.start };
  return runTxnCommand(
    env,
    {
      ...q,
      keys: [],
      writes: false,
      beforeSnapshot: () => {
        range = clampToRegion(env, q);
        cm.updateMaxTs(ts);
        return cm.readCheckRange(range.start, range.end, ts, bypassLocks);
      },
      action: async (view) => {
        const passed = safePointPassed(env, ts);
        if (passed) return { ok: false, errors: [passed] };
        if (limit === 0) return { ok: true, ops: [], value: { pairs: [] } };
        const r = await scan(view, range, ts, { limit, bypassLocks });
        if (!r.ok) return { ok: false, errors: [r.error] };
        return { ok: true, ops: [], value: r.nextKey === undefined ? { pairs: r.pairs } : { pairs: r.pairs, nextKey: r.nextKey } };
      },
    },
    o,
  );
};

/** A read at `ts` below the store's known GC safe point: its refusal (the versions it needs may be gone). */
export function safePointPassed(env: HandlerEnv, ts: bigint): SafePointPassedError | undefined {
  const safePoint = env.gcSafePoint?.() ?? 0n;
  return ts < safePoint ? { kind: 'SafePointPassed', ts, safePoint } : undefined;
}

/** [start, end) ∩ the region's range, as checked just before the snapshot. */
export function clampToRegion(env: Parameters<Handler<'txnScan'>>[0], q: { regionId: number; start: Uint8Array; end?: Uint8Array }): { start: Uint8Array; end?: Uint8Array } {
  const region = env.ctx.peers.get(q.regionId)!.region;
  const start = compareKeys(q.start, region.startKey) > 0 ? q.start : region.startKey;
  let end = q.end !== undefined && q.end.length > 0 ? q.end : undefined;
  if (region.endKey.length > 0 && (end === undefined || compareKeys(end, region.endKey) > 0)) end = region.endKey;
  return end === undefined ? { start } : { start, end };
}
