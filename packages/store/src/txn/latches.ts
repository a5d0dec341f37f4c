/**
 * Per-key latches of the transaction scheduler (TiKV's `storage/txn/latch.rs`): two commands
 * on the same key never interleave between reading their engine snapshot and applying their
 * writes. A command asks for its whole key set at once; it is queued on every key's FIFO in one
 * synchronous step and runs once it is first in every one of them. Because every queue is
 * ordered by that one enqueue order, no two commands wait on each other in a cycle (no
 * deadlock), and a command waits only for those that asked before it (no starvation).
 *
 * Bounded: a key whose queue already holds `waitersMax` waiters behind its holder refuses a
 * new command outright (the caller answers `ServerIsBusy`), instead of queueing without limit;
 * and a waiter whose `signal` aborts (its request timed out) leaves every queue before it runs
 * (the caller answers `ServerIsBusy` as well, never `Timeout`: the command did not run).
 */

/** Commands that may wait behind the holder of one key's latch. */
export const TXN_LATCH_WAITERS_MAX = 256;

/** A held set of latches: `release` it exactly once, when the command's writes applied (or never will). */
export interface LatchGuard {
  release(): void;
}

interface Waiter {
  /** The distinct keys, as map slots, in ascending order. */
  slots: string[];
  /** Set when it runs; a waiter runs at most once. */
  running: boolean;
  wake: () => void;
}

/** A key's slot in the latch table (its bytes as a string: exact, and cheap to compare). */
function slotOf(key: Uint8Array): string {
  let s = '';
  for (let i = 0; i < key.length; i++) s += String.fromCharCode(key[i]);
  return s;
}

/** The latch table of one store. */
export class Latches {
  private readonly queues = new Map<string, Waiter[]>();

  constructor(readonly waitersMax: number = TXN_LATCH_WAITERS_MAX) {}

  /**
   * Queues for every latch of `keys` (duplicates count once; an empty set runs at once) and
   * resolves once all are held, or with `'aborted'` if `signal` aborts first (then it holds
   * nothing and waits nowhere). `undefined`: a key has `waitersMax` waiters already.
   */
  acquire(keys: readonly Uint8Array[]): Promise<LatchGuard> | undefined;
  acquire(keys: readonly Uint8Array[], signal: AbortSignal): Promise<LatchGuard | 'aborted'> | undefined;
  acquire(keys: readonly Uint8Array[], signal?: AbortSignal): Promise<LatchGuard | 'aborted'> | undefined {
    const slots = [...new Set(keys.map(slotOf))].sort();
    for (const s of slots) if ((this.queues.get(s)?.length ?? 0) > this.waitersMax) return undefined;
    if (signal?.aborted) return Promise.resolve('aborted');
    return new Promise<LatchGuard | 'aborted'>((resolve) => {
      let released = false;
      const guard: LatchGuard = {
        release: () => {
          if (released) return;
          released = true;
          this.release(w);
        },
      };
      const onAbort = (): void => {
        if (w.running) return;
        this.withdraw(w);
        resolve('aborted');
      };
      const w: Waiter = {
        slots,
        running: false,
        wake: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(guard);
        },
      };
      for (const s of slots) {
        const q = this.queues.get(s);
        if (q) q.push(w);
        else this.queues.set(s, [w]);
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.runIfFirst(w);
    });
  }

  /**
   * Every latch of `keys` at once when no command holds or waits for any of them (the common
   * case: no timer, signal or promise needed), else undefined (then `acquire` queues).
   */
  tryAcquire(keys: readonly Uint8Array[]): LatchGuard | undefined {
    const slots = [...new Set(keys.map(slotOf))].sort();
    for (const s of slots) if (this.queues.has(s)) return undefined;
    const w: Waiter = { slots, running: true, wake: () => {} };
    for (const s of slots) this.queues.set(s, [w]);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.release(w);
      },
    };
  }

  /** Takes a waiter that never ran out of every queue, and runs whoever it was holding up. */
  private withdraw(w: Waiter): void {
    const next: Waiter[] = [];
    for (const s of w.slots) {
      const q = this.queues.get(s)!;
      const i = q.indexOf(w);
      q.splice(i, 1);
      if (q.length === 0) this.queues.delete(s);
      else if (i === 0) next.push(q[0]);
    }
    for (const n of next) this.runIfFirst(n);
  }

  /** Waiters queued on `key`, its holder included (for tests and status). */
  queued(key: Uint8Array): number {
    return this.queues.get(slotOf(key))?.length ?? 0;
  }

  /** Keys with a holder or waiters. */
  get size(): number {
    return this.queues.size;
  }

  private runIfFirst(w: Waiter): void {
    if (w.running) return;
    for (const s of w.slots) if (this.queues.get(s)![0] !== w) return;
    w.running = true;
    w.wake();
  }

  private release(w: Waiter): void {
    const next: Waiter[] = [];
    for (const s of w.slots) {
      const q = this.queues.get(s)!;
      // The holder is first in each of its queues until it releases.
      if (q[0] !== w) throw new Error('latch released by a command that does not hold it');
      q.shift();
      if (q.length === 0) this.queues.delete(s);
      else next.push(q[0]);
    }
    for (const n of next) this.runIfFirst(n);
  }
}
