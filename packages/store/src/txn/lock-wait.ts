/**
 * A pessimistic lock request's wait (TiKV's `WaitFor` in the lock manager): the command runs;
 * if it met another transaction's lock and the request may wait, it waits on this store's
 * `LockWaiters` for that lock's release, at most until `waitTimeoutMs` from its arrival, and
 * runs again when woken. Meanwhile the wait-for edge (this transaction → the holder) goes to
 * the deadlock detector (`PdClient.detectDeadlock`, hosted with PD's leader); a `Deadlock`
 * answer ends the wait with that error. A timeout answers the last `KeyIsLocked`. The
 * detector is advisory: unreachable, slow or absent, the wait still ends at its timeout.
 */
import type { KeyError } from '@peerkv/proto';
import type { HandlerEnv } from '../handlers/handler.ts';
import type { Result } from '../peer.ts';
import type { HandleOptions, RequestOf } from '../request-types.ts';
import { deadlockKeyHash } from './deadlock-detector.ts';
import { lockWaiters } from './lock-waiters.ts';
import type { TxnAnswer } from './types.ts';

/** How long a cleanup message to the detector may take, ms (fire and forget). */
export const DEADLOCK_CLEANUP_TIMEOUT_MS = 1000;

type LockInfo = Extract<KeyError, { kind: 'KeyIsLocked' }>;

/** What the wait needs of the request. */
export interface LockWaitSpec {
  keys: Uint8Array[];
  startTs: bigint;
  waitTimeoutMs: number;
}

/** Runs `run` (the lock command), waiting for locks it meets as the module comment says. */
export async function withLockWait<T>(env: HandlerEnv, spec: LockWaitSpec, run: () => Promise<Result<TxnAnswer<T>>>, o: HandleOptions): Promise<Result<TxnAnswer<T>>> {
  const waiters = lockWaiters(env.ctx);
  const clock = env.ctx.timers;
  const deadline = clock.now() + spec.waitTimeoutMs;
  for (;;) {
    const mark = waiters.mark(spec.keys);
    const r = await run();
    const lock = lockMet(r);
    const remainingMs = deadline - clock.now();
    if (lock === undefined || remainingMs <= 0) return r;
    if (waiters.releasedSince(spec.keys, mark)) continue;
    const wait = waiters.wait(lock.key, remainingMs, o.signal);
    if (wait === undefined) return r;
    const edge = { waiterTs: spec.startTs, holderTs: lock.startTs, key: lock.key, keyHash: deadlockKeyHash(lock.key) };
    void detect(env, edge, remainingMs).then((deadlock) => {
      if (deadlock !== undefined) wait.end({ kind: 'deadlock', error: deadlock });
    });
    const outcome = await wait.outcome;
    if (outcome.kind === 'deadlock') return { ok: true, value: { ok: false, errors: [outcome.error] } };
    void ask(env, { ...edge, kind: 'cleanUpWaitFor', ttlMs: 0 }, DEADLOCK_CLEANUP_TIMEOUT_MS);
    if (outcome.kind !== 'woken') return r;
  }
}

/** The first other transaction's lock the command met, if it refused only for locks. */
function lockMet<T>(r: Result<TxnAnswer<T>>): LockInfo | undefined {
  if (!r.ok || r.value.ok) return undefined;
  const errors = r.value.errors;
  return errors.every((e) => e.kind === 'KeyIsLocked') ? (errors[0] as LockInfo) : undefined;
}

type Edge = { waiterTs: bigint; holderTs: bigint; key: Uint8Array; keyHash: bigint };

/** Sends the edge for detection: the `Deadlock` error if it closes a cycle (undefined: none, or no answer). */
async function detect(env: HandlerEnv, edge: Edge, waitMs: number): Promise<Extract<KeyError, { kind: 'Deadlock' }> | undefined> {
  const r = await ask(env, { ...edge, kind: 'detect', ttlMs: waitMs }, waitMs);
  if (r === undefined || !r.ok || r.value.ok) return undefined;
  const e = r.value.errors.find((x) => x.kind === 'Deadlock');
  return e as Extract<KeyError, { kind: 'Deadlock' }> | undefined;
}

/** One request to the detector; undefined when there is none or it failed (the wait's timeout decides then). */
async function ask(env: HandlerEnv, q: Omit<RequestOf<'txnDetectDeadlock'>, 'type' | 'timeoutMs'>, timeoutMs: number) {
  const pd = env.ctx.pdClient;
  if (pd?.detectDeadlock === undefined) return undefined;
  try {
    return await pd.detectDeadlock({ type: 'txnDetectDeadlock', ...q, timeoutMs: Math.max(1, Math.floor(timeoutMs)) }, { timeoutMs: Math.max(1, Math.floor(timeoutMs)) });
  } catch {
    // A closed store, a broken link: detection is advisory.
    return undefined;
  }
}
