/**
 * The deadlock detector's wait-for graph (TiKV's `lock_manager/deadlock.rs`, its `DetectTable`):
 * an edge `waiter → holder` says the transaction started at `waiter` waits for a lock of the one
 * started at `holder`, on the key whose hash it carries. A detection request adds its edge
 * unless the edge would close a cycle (the holder already waits, directly or through others,
 * for the waiter): then the answer is a deadlock and the edge is not added.
 *
 * One detector serves the whole cluster: the one on the store whose PD replica leads (see
 * `handlers/txn-deadlock.ts`). Its graph is soft state: a new leader starts empty (waits then
 * only time out until the edges are sent again), every edge expires after the waiter's wait
 * (`ttlMs`), and a waiter that stops waiting removes its edge (`cleanUpWaitFor`). Bounded:
 * `DEADLOCK_EDGES_MAX` edges, `DEADLOCK_SEARCH_NODES_MAX` transactions visited per search
 * (a search cut short reports no deadlock: the waits time out instead).
 */
import type { RequestOf } from '../request-types.ts';
import type { TxnAnswer } from './types.ts';

/** Wait-for edges one detector keeps at most (a request beyond it is answered, its edge not kept). */
export const DEADLOCK_EDGES_MAX = 16_384;
/** Transactions one cycle search visits at most. */
export const DEADLOCK_SEARCH_NODES_MAX = 4096;
/** The longest an edge lives, ms (the longest lock wait, `PESSIMISTIC_WAIT_TIMEOUT_MS_MAX`, plus slack). */
export const DEADLOCK_EDGE_TTL_MS_MAX = 61_000;

interface Edge {
  keyHash: bigint;
  expiresAtMs: number;
}

/**
 * The hash a wait-for edge names its key by (64-bit FNV-1a; TiKV uses farmhash): a detector
 * never needs the key itself, and equal keys hash alike on every store.
 */
export function deadlockKeyHash(key: Uint8Array): bigint {
  let h = 0xcbf29ce484222325n;
  for (let i = 0; i < key.length; i++) {
    h ^= BigInt(key[i]);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h;
}

/** A wait-for graph with expiring edges (see the module comment). */
export class WaitForGraph {
  /** waiter start ts → holder start ts → edge. */
  private readonly edges = new Map<bigint, Map<bigint, Edge>>();
  private size = 0;

  /** Edges kept (expired ones included until met). */
  get edgeCount(): number {
    return this.size;
  }

  /**
   * Adds `waiter → holder` unless it closes a cycle; then the hash of the key of the edge that
   * leads back to `waiter` (TiKV's `deadlock_key_hash`), and nothing is added.
   */
  detect(waiterTs: bigint, holderTs: bigint, keyHash: bigint, ttlMs: number, nowMs: number): { deadlockKeyHash: bigint } | undefined {
    if (waiterTs === holderTs) return undefined;
    const cycle = this.pathBack(holderTs, waiterTs, nowMs);
    if (cycle !== undefined) return { deadlockKeyHash: cycle };
    this.add(waiterTs, holderTs, keyHash, nowMs + Math.min(Math.max(0, ttlMs), DEADLOCK_EDGE_TTL_MS_MAX), nowMs);
    return undefined;
  }

  /** Serves one detector request (its fields checked): `Deadlock` for a detection that closes a cycle, else done. */
  answer(q: Omit<RequestOf<'txnDetectDeadlock'>, 'type'>, nowMs: number): TxnAnswer<void> {
    if (q.kind === 'cleanUpWaitFor') this.cleanUpWaitFor(q.waiterTs, q.holderTs, q.keyHash);
    else if (q.kind === 'cleanUp') this.cleanUp(q.waiterTs);
    else {
      const cycle = this.detect(q.waiterTs, q.holderTs, q.keyHash, q.ttlMs, nowMs);
      if (cycle !== undefined) return { ok: false, errors: [{ kind: 'Deadlock', lockTs: q.holderTs, lockKey: q.key, deadlockKeyHash: cycle.deadlockKeyHash }] };
    }
    return { ok: true, value: undefined };
  }

  /** Removes `waiter → holder` (the waiter stopped waiting: woken, timed out or aborted). */
  cleanUpWaitFor(waiterTs: bigint, holderTs: bigint, keyHash: bigint): void {
    const out = this.edges.get(waiterTs);
    const e = out?.get(holderTs);
    if (out === undefined || e === undefined || e.keyHash !== keyHash) return;
    this.remove(waiterTs, holderTs);
  }

  /** Removes every edge out of `waiterTs` (the transaction ended). */
  cleanUp(waiterTs: bigint): void {
    const out = this.edges.get(waiterTs);
    if (out === undefined) return;
    this.size -= out.size;
    this.edges.delete(waiterTs);
  }

  /** Forgets every edge (this store's detector lost, or newly took, the leadership). */
  clear(): void {
    this.edges.clear();
    this.size = 0;
  }

  /**
   * Depth-first from `from` along live edges: the key hash of the edge that reaches `target`,
   * or undefined (none, or the search bound was hit). Expired edges met are dropped.
   */
  private pathBack(from: bigint, target: bigint, nowMs: number): bigint | undefined {
    const seen = new Set<bigint>([from]);
    const stack = [from];
    while (stack.length > 0) {
      const node = stack.pop()!;
      const out = this.edges.get(node);
      if (out === undefined) continue;
      for (const [holder, e] of out) {
        if (e.expiresAtMs <= nowMs) {
          this.remove(node, holder);
          continue;
        }
        if (holder === target) return e.keyHash;
        if (seen.has(holder)) continue;
        if (seen.size >= DEADLOCK_SEARCH_NODES_MAX) return undefined;
        seen.add(holder);
        stack.push(holder);
      }
    }
    return undefined;
  }

  private add(waiterTs: bigint, holderTs: bigint, keyHash: bigint, expiresAtMs: number, nowMs: number): void {
    let out = this.edges.get(waiterTs);
    const existing = out?.get(holderTs);
    if (existing !== undefined) {
      existing.keyHash = keyHash;
      existing.expiresAtMs = Math.max(existing.expiresAtMs, expiresAtMs);
      return;
    }
    if (this.size >= DEADLOCK_EDGES_MAX) this.dropExpired(nowMs);
    if (this.size >= DEADLOCK_EDGES_MAX) return;
    if (out === undefined) {
      out = new Map();
      this.edges.set(waiterTs, out);
    }
    out.set(holderTs, { keyHash, expiresAtMs });
    this.size++;
  }

  private remove(waiterTs: bigint, holderTs: bigint): void {
    const out = this.edges.get(waiterTs);
    if (out === undefined || !out.delete(holderTs)) return;
    this.size--;
    if (out.size === 0) this.edges.delete(waiterTs);
  }

  private dropExpired(nowMs: number): void {
    for (const [waiter, out] of [...this.edges]) {
      for (const [holder, e] of [...out]) if (e.expiresAtMs <= nowMs) this.remove(waiter, holder);
    }
  }
}
