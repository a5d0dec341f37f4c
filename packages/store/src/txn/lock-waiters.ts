/**
 * The store's lock waiters (TiKV's `lock_manager/waiter_manager.rs`): a pessimistic lock request
 * that met another transaction's lock waits here, up to its `waitTimeoutMs`, until that lock is
 * released on this store, then runs again.
 *
 * - **Release** is seen in the apply path: an apply observer (registered once per store) wakes
 *   the waiters of every key whose `lock` record a durably applied `txn` command deleted (a
 *   commit, a rollback, a resolve, a pessimistic rollback). Observers run after the round's
 *   write, so a woken request's snapshot sees the release.
 * - **No lost wake-up**: a request reads the key's release mark before its command and waits
 *   only if no release happened since (`releasedSince`); a release between its snapshot and
 *   its wait makes it run again at once. Marks live in `RELEASE_MARK_SLOTS` counters by key
 *   hash: two keys sharing a slot cost a spurious retry, never a missed wake.
 * - **Bounded**: `LOCK_WAITERS_MAX` waiters per store and `LOCK_WAITERS_PER_KEY_MAX` per key;
 *   beyond them a request does not wait (it answers `KeyIsLocked` at once).
 * - A wait ends `woken`, `timeout`, `aborted` (the caller's signal) or by `end` (a deadlock).
 *   The request loop around it is `lock-wait.ts`.
 */
import type { KeyError } from '@peerkv/proto';
import { CF_LOCK, decodeKey } from '@peerkv/txn';
import type { AppliedCommand } from '../apply.ts';
import type { StoreContext } from '../context.ts';
import { deadlockKeyHash } from './deadlock-detector.ts';

/** Requests waiting for locks on one store at most. */
export const LOCK_WAITERS_MAX = 1024;
/** Requests waiting for one key's lock at most. */
export const LOCK_WAITERS_PER_KEY_MAX = 64;
/** Release counters (a power of two), indexed by key hash. */
export const RELEASE_MARK_SLOTS = 4096;

/** Why a wait ended. */
export type WaitOutcome = { kind: 'woken' } | { kind: 'timeout' } | { kind: 'aborted' } | { kind: 'deadlock'; error: Extract<KeyError, { kind: 'Deadlock' }> };

/** One wait in progress: its outcome, and `end` to finish it early (a deadlock answer). */
export interface Wait {
  readonly outcome: Promise<WaitOutcome>;
  end(outcome: WaitOutcome): void;
}

function slot(key: Uint8Array): string {
  let s = '';
  for (let i = 0; i < key.length; i++) s += String.fromCharCode(key[i]);
  return s;
}

/** One store's waiters (see the module comment). */
export class LockWaiters {
  private readonly byKey = new Map<string, Set<(o: WaitOutcome) => void>>();
  private count = 0;
  private readonly marks = new Uint32Array(RELEASE_MARK_SLOTS);

  constructor(private readonly timers: StoreContext['timers']) {}

  /** Requests waiting now. */
  get waiting(): number {
    return this.count;
  }

  /** The release marks of `keys`, to pass to `releasedSince` after the command ran. */
  mark(keys: readonly Uint8Array[]): number[] {
    return keys.map((k) => this.marks[markSlot(k)]);
  }

  /** Whether any of `keys` (marked by `mark`) had a lock released since. */
  releasedSince(keys: readonly Uint8Array[], mark: readonly number[]): boolean {
    return keys.some((k, i) => this.marks[markSlot(k)] !== mark[i]);
  }

  /** Waits for `key`'s lock to be released, at most `timeoutMs`; undefined (no wait) when a bound is reached or the caller aborted. */
  wait(key: Uint8Array, timeoutMs: number, signal?: AbortSignal): Wait | undefined {
    const k = slot(key);
    let set = this.byKey.get(k);
    if (this.count >= LOCK_WAITERS_MAX || (set?.size ?? 0) >= LOCK_WAITERS_PER_KEY_MAX || signal?.aborted) return undefined;
    if (set === undefined) {
      set = new Set();
      this.byKey.set(k, set);
    }
    const waiters = set;
    let finish!: (o: WaitOutcome) => void;
    const outcome = new Promise<WaitOutcome>((resolve) => {
      let done = false;
      finish = (o) => {
        if (done) return;
        done = true;
        this.timers.clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (waiters.delete(finish)) this.count--;
        if (waiters.size === 0 && this.byKey.get(k) === waiters) this.byKey.delete(k);
        resolve(o);
      };
      const onAbort = (): void => finish({ kind: 'aborted' });
      const timer = this.timers.setTimeout(() => finish({ kind: 'timeout' }), timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    waiters.add(finish);
    this.count++;
    return { outcome, end: (o) => finish(o) };
  }

  /** A lock on `key` was released: every waiter of it runs again. */
  wake(key: Uint8Array): void {
    this.marks[markSlot(key)]++;
    const set = this.byKey.get(slot(key));
    if (set === undefined) return;
    for (const finish of [...set]) finish({ kind: 'woken' });
  }

  /** The apply observer's side: wakes the keys whose lock records the command deleted. */
  onApplied(cmd: AppliedCommand): void {
    if (cmd.type !== 'txn') return;
    for (const op of cmd.ops) {
      if (op.type === 'delete' && op.cf === CF_LOCK) this.wake(decodeKey(op.key));
    }
  }
}

function markSlot(key: Uint8Array): number {
  return Number(deadlockKeyHash(key) & BigInt(RELEASE_MARK_SLOTS - 1));
}

// Beside the store's context, like the scheduler's state: a store that never waits pays nothing.
const WAITERS = new WeakMap<StoreContext, LockWaiters>();

/** The lock waiters of the store owning `ctx`; the first call registers their apply observer. */
export function lockWaiters(ctx: StoreContext): LockWaiters {
  let w = WAITERS.get(ctx);
  if (w === undefined) {
    const waiters = new LockWaiters(ctx.timers);
    ctx.applyObservers.push({ onApplied: (cmd) => waiters.onApplied(cmd) });
    WAITERS.set(ctx, waiters);
    w = waiters;
  }
  return w;
}
