/**
 * `kv.transaction(fn)`: snapshot isolation over the regions (Percolator).
 *
 * - `fn` runs against a `Transaction` that reads at its start ts (its own writes first) and
 *   buffers its writes; when `fn` returns, the writes commit (`Committer`).
 * - On a `WriteConflict` (another transaction committed one of our keys after we began) or a
 *   `TxnAborted` (our locks were rolled back under us), nothing was committed: `fn` runs again
 *   with a NEW start ts and a new, empty buffer, at most `retriesMax` times. The old writes are
 *   never replayed: they were computed from reads that are now stale (replaying them is the lost
 *   update Jepsen found in TiDB 2.1.7). Only the function is re-run.
 * - A commit whose outcome is unknown throws `Undetermined` and is never re-run.
 * - A read-only transaction commits nothing.
 */
import type { Mutation } from '@peerkv/txn';
import { compareKeys } from '@peerkv/pd';
import { backoffDelayMs, sleepFor, type BackoffOptions, type Clock } from '../backoff.ts';
import { PeerKVError } from '../errors.ts';
import type { KvPair } from '../services.ts';
import { LOCK_TTL_MS_DEFAULT } from './committer.ts';

/** Distinct keys one transaction may write. */
export const TXN_KEYS_MAX = 10_000;
/** Key and value bytes one transaction may write. */
export const TXN_BYTES_MAX = 16 * 1024 * 1024;
/** Re-runs of the function after a conflict unless the options say otherwise. */
export const TXN_RETRIES_DEFAULT = 10;
/** The most re-runs a caller may ask for. */
export const TXN_RETRIES_MAX = 100;

export interface TransactionOptions {
  signal?: AbortSignal;
  /** Re-runs of `fn` after `WriteConflict` or `TxnAborted` (default `TXN_RETRIES_DEFAULT`, at most `TXN_RETRIES_MAX`). */
  retriesMax?: number;
  /** Lock TTL, ms (default `LOCK_TTL_MS_DEFAULT`). */
  lockTtlMs?: number;
  /** Commit by 1PC when every write fits one region request (default true). */
  onePc?: boolean;
  /**
   * Otherwise commit by async commit (default false): the commit is acknowledged once every
   * prewrite is in, one round trip sooner than 2PC; its keys are committed in the background.
   */
  asyncCommit?: boolean;
}

/** What a committed transaction reports besides `fn`'s value. */
export interface TransactionInfo {
  startTs: bigint;
  /** Absent for a read-only transaction. */
  commitTs?: bigint;
  /** Runs of `fn` (1 when it committed the first time). */
  attempts: number;
  onePc: boolean;
}

export interface TxnScanOptions {
  start?: Uint8Array;
  /** Exclusive; unbounded when absent or empty. */
  end?: Uint8Array;
  /** Keys starting with these bytes (instead of start/end). */
  prefix?: Uint8Array;
  limit?: number;
}

/** Checks of keys and values, shared with the client (it passes its own). */
export interface TxnValueChecks {
  key(key: Uint8Array): void;
  value(value: Uint8Array): void;
}

function slot(key: Uint8Array): string {
  let s = '';
  for (let i = 0; i < key.length; i++) s += String.fromCharCode(key[i]);
  return s;
}

/** The smallest key above every key starting with `prefix` (empty: unbounded). */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  const out = Uint8Array.from(prefix);
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i] < 0xff) {
      out[i]++;
      return out.subarray(0, i + 1);
    }
  }
  return new Uint8Array();
}

/** Reads at one timestamp: the snapshot reader in a client, requests to the host in a tab. */
export interface TxnReader {
  readonly ts: bigint;
  get(key: Uint8Array, signal?: AbortSignal): Promise<Uint8Array | undefined>;
  /** Live pairs of [start, end) (empty end: unbounded) in key order, at most `limit`. */
  scan(start: Uint8Array, end: Uint8Array, limit: number, signal?: AbortSignal): AsyncIterableIterator<KvPair>;
}

/** How a transaction's commit is asked for (the committer's options, as the caller chose them). */
export interface TxnCommitRequest {
  lockTtlMs: number;
  /** Clock ms when the start ts was taken. */
  beganAtMs: number;
  onePc: boolean;
  asyncCommit: boolean;
  signal?: AbortSignal;
}

/** What `runTransaction` needs: time, a reader at a fresh start ts, and a committer. */
export interface TxnBackend {
  readonly clock: Clock;
  readonly random: () => number;
  readonly backoff: BackoffOptions;
  /** A reader at a fresh TSO start ts. */
  begin(signal?: AbortSignal): Promise<TxnReader>;
  /** Commits `mutations` (sorted, distinct; the first is the primary) of the transaction `startTs`. */
  commit(startTs: bigint, mutations: Mutation[], o: TxnCommitRequest): Promise<{ commitTs: bigint; onePc: boolean }>;
}

/** A read-only view at a timestamp (`kv.snapshot(ts)`). */
export class Snapshot {
  constructor(
    protected readonly reader: TxnReader,
    protected readonly checks: TxnValueChecks,
  ) {}

  /** The timestamp every read sees. */
  get ts(): bigint {
    return this.reader.ts;
  }

  async get(key: Uint8Array, o: { signal?: AbortSignal } = {}): Promise<Uint8Array | undefined> {
    this.checks.key(key);
    return this.reader.get(key, o.signal);
  }

  async batchGet(keys: Uint8Array[], o: { signal?: AbortSignal } = {}): Promise<(Uint8Array | undefined)[]> {
    return Promise.all(keys.map((k) => this.get(k, o)));
  }

  /** Pairs in [start, end) (or under `prefix`) in key order. */
  scan(o: TxnScanOptions & { signal?: AbortSignal } = {}): AsyncIterableIterator<KvPair> {
    const { start, end } = scanBounds(o);
    return this.reader.scan(start, end, limitOf(o.limit), o.signal);
  }
}

function limitOf(limit: number | undefined): number {
  if (limit === undefined) return Infinity;
  if (!(limit >= 0)) throw new PeerKVError('InvalidArgument', 'limit must be a number ≥ 0');
  return limit;
}

function scanBounds(o: TxnScanOptions): { start: Uint8Array; end: Uint8Array } {
  if (o.prefix !== undefined) {
    if (o.start !== undefined || o.end !== undefined) throw new PeerKVError('InvalidArgument', 'a scan takes a prefix or start/end, not both');
    return { start: o.prefix, end: prefixEnd(o.prefix) };
  }
  return { start: o.start ?? new Uint8Array(), end: o.end ?? new Uint8Array() };
}

/** One run of a transaction's function: reads at `startTs`, buffered writes. */
export class Transaction extends Snapshot {
  private readonly writes = new Map<string, Mutation>();
  private bytes = 0;
  private done = false;

  constructor(reader: TxnReader, checks: TxnValueChecks) {
    super(reader, checks);
  }

  /** The start ts: every read sees the database as of it. */
  get startTs(): bigint {
    return this.reader.ts;
  }

  override async get(key: Uint8Array, o: { signal?: AbortSignal } = {}): Promise<Uint8Array | undefined> {
    this.checks.key(key);
    const own = this.writes.get(slot(key));
    if (own !== undefined) return own.op === 'put' ? own.value : undefined;
    return this.reader.get(key, o.signal);
  }

  /** Pairs in range as this transaction sees them: the snapshot merged with its own writes. */
  override async *scan(o: TxnScanOptions & { signal?: AbortSignal } = {}): AsyncIterableIterator<KvPair> {
    const { start, end } = scanBounds(o);
    let remaining = limitOf(o.limit);
    const inRange = (k: Uint8Array): boolean => compareKeys(k, start) >= 0 && (end.length === 0 || compareKeys(k, end) < 0);
    const own = [...this.writes.values()].filter((m) => inRange(m.key)).sort((a, b) => compareKeys(a.key, b.key));
    let i = 0;
    const snapshot = this.reader.scan(start, end, Infinity, o.signal);
    let next = await snapshot.next();
    while (remaining > 0 && (!next.done || i < own.length)) {
      const c = next.done ? 1 : i >= own.length ? -1 : compareKeys(next.value.key, own[i].key);
      if (c < 0) {
        yield next.value as KvPair;
        remaining--;
        next = await snapshot.next();
        continue;
      }
      const m = own[i++];
      if (c === 0) next = await snapshot.next();
      if (m.op === 'put') {
        yield { key: m.key, value: m.value };
        remaining--;
      }
    }
    await snapshot.return?.(undefined);
  }

  put(key: Uint8Array, value: Uint8Array): void {
    this.checks.key(key);
    this.checks.value(value);
    this.buffer({ op: 'put', key, value });
  }

  delete(key: Uint8Array): void {
    this.checks.key(key);
    this.buffer({ op: 'delete', key });
  }

  private buffer(m: Mutation): void {
    if (this.done) throw new PeerKVError('InvalidArgument', 'the transaction has ended: write inside its function');
    const k = slot(m.key);
    const old = this.writes.get(k);
    const size = (x: Mutation): number => x.key.length + ('value' in x ? x.value.length : 0);
    if (old === undefined && this.writes.size >= TXN_KEYS_MAX) throw new PeerKVError('InvalidArgument', `a transaction writes at most ${TXN_KEYS_MAX} keys`);
    const bytes = this.bytes - (old ? size(old) : 0) + size(m);
    if (bytes > TXN_BYTES_MAX) throw new PeerKVError('InvalidArgument', `a transaction writes at most ${TXN_BYTES_MAX} bytes`);
    this.bytes = bytes;
    this.writes.set(k, m);
  }

  /** Ends the run: no more writes; the mutations sorted by key (the first is the primary). */
  seal(): Mutation[] {
    this.done = true;
    return [...this.writes.values()].sort((a, b) => compareKeys(a.key, b.key));
  }
}

/** Runs `fn` as a transaction, re-running it (never replaying its writes) on a conflict. */
export async function runTransaction<T>(
  backend: TxnBackend,
  checks: TxnValueChecks,
  fn: (tx: Transaction) => Promise<T>,
  o: TransactionOptions = {},
): Promise<{ value: T; info: TransactionInfo }> {
  const retriesMax = o.retriesMax ?? TXN_RETRIES_DEFAULT;
  if (!Number.isSafeInteger(retriesMax) || retriesMax < 0 || retriesMax > TXN_RETRIES_MAX) throw new PeerKVError('InvalidArgument', `retriesMax must be an integer in [0, ${TXN_RETRIES_MAX}]`);
  const lockTtlMs = o.lockTtlMs ?? LOCK_TTL_MS_DEFAULT;
  if (!Number.isSafeInteger(lockTtlMs) || lockTtlMs < 1) throw new PeerKVError('InvalidArgument', 'lockTtlMs must be a positive integer');
  for (let attempt = 1; ; attempt++) {
    if (o.signal?.aborted) throw new PeerKVError('Aborted', 'aborted');
    const reader = await backend.begin(o.signal);
    const startTs = reader.ts;
    const beganAtMs = backend.clock.now();
    const tx = new Transaction(reader, checks);
    const value = await fn(tx);
    const mutations = tx.seal();
    if (mutations.length === 0) return { value, info: { startTs, attempts: attempt, onePc: false } };
    try {
      const committed = await backend.commit(startTs, mutations, { lockTtlMs, beganAtMs, onePc: o.onePc ?? true, asyncCommit: o.asyncCommit ?? false, ...(o.signal ? { signal: o.signal } : {}) });
      return { value, info: { startTs, commitTs: committed.commitTs, attempts: attempt, onePc: committed.onePc } };
    } catch (e) {
      const retryable = isRetryable(e);
      if (!retryable || attempt > retriesMax) throw e;
      await sleepFor(backend.clock, backoffDelayMs(backend.backoff, attempt, backend.random), o.signal);
    }
  }
}

/** Whether a transaction's failure left nothing committed and its function may run again. */
function isRetryable(e: unknown): boolean {
  return e instanceof Error && 'kind' in e && ((e as { kind: unknown }).kind === 'WriteConflict' || (e as { kind: unknown }).kind === 'TxnAborted');
}
