/**
 * The txn scheduler (TiKV's `storage/txn/scheduler.rs`, single-threaded): runs one
 * transactional command on the region's leader in TiKV's order:
 *
 * 1. the region, epoch and leader check, and the keys in the region;
 * 2. the command's per-key latches (a write command: no two commands on one key interleave
 *    between their snapshot and their apply);
 * 3. a ReadIndex, so the snapshot sees every write committed before the command began (a new
 *    leader's too), then the region check again (a split may have moved the keys meanwhile);
 * 4. the pure `@peerkv/txn` action (`MvccReader`) over ONE engine snapshot, released after; a
 *    write command with keys reads those latched keys from the engine itself instead (the same
 *    view without a snapshot's cost: see `latchedReads`);
 * 5. the action's writes proposed as ONE `txn` Raft command, answered once applied.
 *
 * The latches (and a prewrite's in-memory locks) are held until the proposal is settled:
 * applied, or known lost (another entry took its index, or the peer failed its proposals).
 * A caller's timeout answers `Timeout` but does not release them: a proposal still in the log
 * may apply later, and a command computed from a snapshot without it must not be written in
 * between (TiKV holds latches until the write callback, too).
 *
 * A command that gives up waiting for its latches (its timeout, or the caller's abort) never
 * ran: it answers `ServerIsBusy` (retryable, and known not applied), never `Timeout`, which a
 * client must take as "may have applied" (a 1PC prewrite would become `Undetermined`).
 */
import type { RegionEpoch, RegionError } from '@peerkv/pd';
import { ProposalDroppedError } from '@peerkv/raft';
import type { KvEngine } from '@peerkv/storage';
import { MvccReader, TXN_CFS, TxnAssertionError, type ReadView, type TxnOp } from '@peerkv/txn';
import { encodeCommand } from '../command.ts';
import type { StoreContext } from '../context.ts';
import { onSnapshot } from '../handlers/reads.ts';
import type { HandlerEnv } from '../handlers/handler.ts';
import { requestOptions, sealForProposal } from '../handlers/handler.ts';
import { RegionPeer, type Result } from '../peer.ts';
import type { RequestOptions } from '../request-options.ts';
import { StoreRequestError, type HandleOptions } from '../request-types.ts';
import { ConcurrencyManager } from './concurrency-manager.ts';
import { Latches, type LatchGuard } from './latches.ts';
import { MaxTsSync } from './max-ts-sync.ts';
import { WriteTsIndexedEngine } from './write-ts-index.ts';
import type { TxnAnswer, TxnError } from './types.ts';

/** Backoff suggested when a command did not get its key latches (queue full, or waited out its timeout), ms. */
export const TXN_LATCH_BUSY_BACKOFF_MS = 20;

/** Why a write command did not get its latches: it did not run, so each is `ServerIsBusy`, never `Timeout`. */
type LatchRefusal = 'busy' | 'timedOut' | 'aborted';

const LATCH_REFUSALS: Record<LatchRefusal, string> = {
  busy: 'too many commands waiting on a key latch (not run)',
  timedOut: 'timed out waiting for its key latches (not run)',
  aborted: 'aborted by the caller while waiting for its key latches (not run)',
};

/** One store's scheduler state: its latches, concurrency manager and `maxTs` syncs. */
export interface TxnSchedulerState {
  readonly latches: Latches;
  readonly cm: ConcurrencyManager;
  readonly maxTsSync: MaxTsSync;
}

// Kept beside the store's context rather than in it: the scheduler is the txn layer's, and a
// store that never sees a txn request pays nothing.
const STATES = new WeakMap<StoreContext, TxnSchedulerState>();

/** The scheduler state of the store owning `ctx` (created on first use). */
export function txnState(ctx: StoreContext): TxnSchedulerState {
  let s = STATES.get(ctx);
  if (s === undefined) {
    const cm = new ConcurrencyManager();
    s = { latches: new Latches(), cm, maxTsSync: new MaxTsSync(ctx, cm) };
    STATES.set(ctx, s);
  }
  return s;
}

/**
 * The txn column families this store lacks. Only an `mvcc` store serves txn requests (its data
 * model requires all three): a `raw` one answers `TxnUnsupported` naming what it lacks, possibly
 * nothing (its families hold raw keys).
 */
export function missingTxnCfs(ctx: StoreContext): string[] {
  return TXN_CFS.filter((cf) => !ctx.dataCfs.includes(cf));
}

/** What an action run by the scheduler returns: the writes and the answer, or the refusing keys' errors. */
export type TxnActionOutcome<T> = { ok: true; ops: TxnOp[]; value: T } | { ok: false; errors: TxnError[] } | { ok: false; regionError: RegionError };

/** A request the scheduler runs. */
export interface TxnCommandSpec<T> {
  regionId: number;
  epoch: RegionEpoch;
  timeoutMs?: number;
  /** Every user key the command reads or writes (checked in the region; latched for a write command). */
  keys: Uint8Array[];
  /** Whether the command may write (takes latches and proposes); a read takes none. */
  writes: boolean;
  /** Runs on the leader before the latches (an async-commit prewrite syncs `maxTs` here); a region error answers. */
  prepare?: (peer: RegionPeer, o: RequestOptions) => Promise<Result<void>>;
  /** Runs before the snapshot, after the ReadIndex (a read raises `maxTs` here); a TxnError refuses. */
  beforeSnapshot?: () => TxnError | undefined;
  /** The pure action over the snapshot. */
  action: (view: ReadView, peer: RegionPeer) => Promise<TxnActionOutcome<T>>;
  /** Held from before the snapshot until the proposal settles (a prewrite's in-memory locks). */
  onSettled?: () => void;
}

type TxnResult<T> = Result<TxnAnswer<T>>;

function refused<T>(errors: TxnError[]): TxnResult<T> {
  return { ok: true, value: { ok: false, errors } };
}

/** Runs one transactional command (see the module comment for the steps). */
export async function runTxnCommand<T>(env: HandlerEnv, spec: TxnCommandSpec<T>, o: HandleOptions): Promise<TxnResult<T>> {
  const receivedMs = env.ctx.traceNow();
  env.ctx.assertOpen();
  const missing = missingTxnCfs(env.ctx);
  if (env.ctx.dataModel !== 'mvcc') return refused([{ kind: 'TxnUnsupported', missingColumnFamilies: missing }]);
  const checked = env.requests.checkRequest(spec.regionId, spec.epoch, spec.keys, true);
  if (!(checked instanceof RegionPeer)) return { ok: false, error: checked };
  let release = spec.onSettled ?? ((): void => {});
  if (spec.prepare !== undefined) {
    const prepared = await spec.prepare(checked, requestOptions(spec, o));
    if (!prepared.ok) {
      release();
      return prepared;
    }
  }
  const state = txnState(env.ctx);
  if (spec.writes) {
    const guard = await acquireLatches(env, state.latches, spec, o);
    if (typeof guard === 'string') {
      release();
      return { ok: false, error: { kind: 'ServerIsBusy', reason: LATCH_REFUSALS[guard], backoffMs: TXN_LATCH_BUSY_BACKOFF_MS } };
    }
    const settled = release;
    release = () => {
      guard.release();
      settled();
    };
  }
  let handedOver = false;
  try {
    const ro = requestOptions(spec, o);
    // A write command may read its snapshot locally (`readsLocally`); any other ReadIndexes first.
    const localTerm = spec.writes ? (env.ctx.mutations.localReadSkipsCatchUp && checked.raw.leadsWithCommitInTerm() ? checked.raw.status().term : readsLocally(checked)) : undefined;
    if (localTerm === undefined) {
      const barrier = await env.requests.readBarrier(checked, ro);
      if (!barrier.ok) return barrier;
    }
    const peer = env.requests.checkRequest(spec.regionId, spec.epoch, spec.keys, true);
    if (!(peer instanceof RegionPeer)) return { ok: false, error: peer };
    const refusal = spec.beforeSnapshot?.();
    if (refusal !== undefined) return refused([refusal]);
    const readStartMs = env.ctx.traceNow();
    const outcome = latchedReads(spec)
      ? await runAction(spec, latchedReader(env.ctx.engine), peer).then((value) => ({ ok: true as const, value }))
      : await onSnapshot(env.ctx.engine, (snap) => runAction(spec, new MvccReader(snap), peer));
    const readEndMs = env.ctx.traceNow();
    const proposes = outcome.ok && outcome.value.ok && outcome.value.ops.length > 0 && spec.writes;
    if (localTerm !== undefined && !proposes) {
      // An answer with nothing to propose rests on the local snapshot alone: confirm that this
      // peer still led the snapshot's term after it (no other leader can have written since).
      const barrier = await env.requests.readBarrier(peer, ro);
      if (!barrier.ok) return barrier;
      if (peer.raw.status().term !== localTerm) return { ok: false, error: peer.notLeader() };
    }
    if (!outcome.ok) return outcome;
    if (!outcome.value.ok) return 'errors' in outcome.value ? refused(outcome.value.errors) : { ok: false, error: outcome.value.regionError };
    const { ops, value } = outcome.value;
    if (ops.length === 0 || !spec.writes) return { ok: true, value: { ok: true, value } };
    handedOver = true;
    const applied = await proposeTxn(env, peer, ops, ro, release, { receivedMs, localReadMs: readEndMs - readStartMs });
    return applied.ok ? { ok: true, value: { ok: true, value } } : applied;
  } finally {
    if (!handedOver) release();
  }
}

/**
 * Whether a command reads the engine directly instead of through a snapshot: a write command
 * with keys reads only those keys (every write action does: prewrite, commit, rollback,
 * resolve, status checks, pessimistic locks, a GC page's drop), and holds their latches from
 * before its first read until its proposal settles, so no other command writes them meanwhile,
 * and everything applied before is in the engine (the ReadIndex, or `readsLocally`'s check of
 * `appliedVisible`). Its reads of those keys therefore see one state, as a snapshot's would,
 * without a snapshot's cost (LevelDB: a native snapshot per command; IndexedDB: pre-images for
 * every write while it is open). Writes of other keys may land between its reads; it reads
 * none. Commands without keys (scans of a range: GC listing, resolve-all) take a snapshot.
 */
function latchedReads(spec: TxnCommandSpec<unknown>): boolean {
  return spec.writes && spec.keys.length > 0;
}

/**
 * The view of a latched command: the live engine, with the bound of its index of the newest
 * commit per key where the store keeps one (`write-ts-index.ts`; it covers the live engine).
 */
function latchedReader(engine: KvEngine): MvccReader {
  return engine instanceof WriteTsIndexedEngine ? new MvccReader(engine, (k) => engine.bound(k)) : new MvccReader(engine);
}

/**
 * Whether a write command on `peer` may take its snapshot without a ReadIndex, and the term it
 * relies on. It may when the peer leads, its commit index is an entry of its own term, and the
 * engine holds every entry of earlier terms (every other leader's write): those end below the
 * first entry of its term. The entries of this term are this leader's own proposals, and each
 * that writes a key holds the key's latch until its apply is in the engine (the callbacks run
 * after the round's write), so once this command holds its latches, every earlier write of its
 * keys is in the engine, applied or not before the command began. (A staged but unwritten
 * apply of other keys does not matter: it reads none.) If the peer was deposed meanwhile, its
 * proposal can only commit ordered before the new leader's entries (a majority that moved to a
 * higher term accepts nothing of this one), so the state it was computed from is exactly what
 * precedes it in the log; otherwise it never applies. (TiKV gets the same from its leader
 * lease and `applied_term == term`.) An answer that proposes nothing is confirmed by a
 * ReadIndex after the fact (see `runTxnCommand`).
 *
 * Requiring the whole commit index applied instead (as before) sent most commands of a busy
 * region through a ReadIndex, one round later: a round in flight always leaves commit ahead.
 */
function readsLocally(peer: RegionPeer): number | undefined {
  if (!peer.raw.leadsWithCommitInTerm()) return undefined;
  const first = peer.raw.leaderTermFirstIndex();
  if (first === undefined || first === 0) return undefined;
  // What the engine holds, not what the round in flight has staged (sim --txn seed 133: a
  // snapshot taken while the write holding another leader's 1PC commit was in flight missed it).
  return peer.appliedVisible >= first - 1 ? peer.raw.status().term : undefined;
}

/** Waits for the command's latches, at most until its timeout or the caller's abort. */
async function acquireLatches(env: HandlerEnv, latches: Latches, spec: { keys: Uint8Array[]; timeoutMs?: number }, o: HandleOptions): Promise<LatchGuard | LatchRefusal> {
  if (o.signal?.aborted) return 'aborted';
  // Free latches are taken at once: the timeout and the abort only bound a wait.
  const free = latches.tryAcquire(spec.keys);
  if (free !== undefined) return free;
  const gone = new AbortController();
  let timedOut = false;
  const onAbort = (): void => gone.abort();
  const timer = env.ctx.timers.setTimeout(() => {
    timedOut = true;
    gone.abort();
  }, spec.timeoutMs ?? env.ctx.opts.requestTimeoutMs);
  if (o.signal?.aborted) gone.abort();
  else o.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const got = (await latches.acquire(spec.keys, gone.signal)) ?? 'busy';
    return got === 'aborted' && timedOut ? 'timedOut' : got;
  } finally {
    env.ctx.timers.clearTimeout(timer);
    o.signal?.removeEventListener('abort', onAbort);
  }
}

/** Runs the action; a caller's nonsense the pure core asserts on (a commit ts below the start ts, ...) is bad input. */
async function runAction<T>(spec: TxnCommandSpec<T>, view: ReadView, peer: RegionPeer): Promise<TxnActionOutcome<T>> {
  try {
    return await spec.action(view, peer);
  } catch (e) {
    if (e instanceof TxnAssertionError) throw new StoreRequestError('BadField', e.message);
    throw e;
  }
}

/**
 * Proposes `ops` as one `txn` command on `peer` (the leader) and answers once it applied, or
 * with a region error; `onSettled` runs once the proposal's fate is known (see the module
 * comment), which may be after the answer (a timeout or an abort).
 */
async function proposeTxn(env: HandlerEnv, peer: RegionPeer, ops: TxnOp[], o: RequestOptions, onSettled: () => void, traced: { receivedMs: number; localReadMs: number }): Promise<Result<void>> {
  let data = encodeCommand({ type: 'txn', ops });
  if (env.ctx.entryCipher) {
    // Sealed under this term; a peer deposed meanwhile proposes nothing (its reads were of this term).
    const sealed = await sealForProposal(env, env.ctx.entryCipher, peer, data, o);
    if (!(sealed instanceof Uint8Array)) {
      onSettled();
      return { ok: false, error: sealed };
    }
    data = sealed;
  }
  env.ctx.wake(peer.regionId);
  try {
    peer.raw.propose(data);
  } catch (e) {
    onSettled();
    if (!(e instanceof ProposalDroppedError)) throw e;
    if (e.reason === 'UncommittedSizeExceeded') return Promise.resolve({ ok: false, error: { kind: 'ServerIsBusy', reason: e.message, backoffMs: 20 } });
    return Promise.resolve({ ok: false, error: peer.notLeader() });
  }
  const st = peer.raw.status();
  const trace = { ...traced, proposedMs: env.ctx.traceNow() };
  return new Promise<Result<void>>((resolve) => {
    let answered = false;
    const answer = (r: Result<void>): void => {
      if (answered) return;
      answered = true;
      env.ctx.timers.clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
      resolve(r);
      env.ctx.schedule();
    };
    const onAbort = (): void => answer({ ok: false, error: { kind: 'Timeout', what: 'aborted by the caller' } });
    const timer = env.ctx.timers.setTimeout(() => answer({ ok: false, error: timeoutError() }), o.timeoutMs ?? env.ctx.opts.requestTimeoutMs);
    peer.proposals.push({
      index: st.lastIndex,
      term: st.term,
      trace,
      resolve: (r) => {
        onSettled();
        answer(r as Result<void>);
      },
    });
    if (o.signal?.aborted) onAbort();
    else o.signal?.addEventListener('abort', onAbort, { once: true });
    env.ctx.schedule();
  });
}

function timeoutError(): RegionError {
  return { kind: 'Timeout', what: 'txn request timed out (its writes may still apply)' };
}
