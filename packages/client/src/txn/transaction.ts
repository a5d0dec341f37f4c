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
 * - `{ pessimistic: true }` (`pessimistic.ts`): `getForUpdate`/`lockKeys` lock keys as `fn` runs
 *   and writes are locked before the commit at the latest; a `Deadlock` re-runs `fn` like a
 *   conflict. In an optimistic transaction `getForUpdate`/`lockKeys` add the keys to the commit's
 *   conflict check (a `lock` mutation), so a concurrent commit to them is a `WriteConflict`.
 * - The start ts is held back from GC while the run lasts (`gc-registration.ts`); a read or commit
 *   that finds PD's GC safe point past it (`SafePointPassed`: the versions it needs may be gone)
 *   re-runs `fn` at a new start ts, like a conflict.
 */
import type { Mutation } from '@peerkv/txn';
import { compareKeys } from '@peerkv/pd';
import { backoffDelayMs, sleepFor, type BackoffOptions, type Clock } from '../backoff.ts';
import { PeerKVError } from '../errors.ts';
import type { KvPair } from '../services.ts';
import { LOCK_TTL_MS_DEFAULT } from './committer.ts';
import type { LockResolver } from './lock-resolver.ts';
import { PESSIMISTIC_WAIT_TIMEOUT_MS_DEFAULT, PESSIMISTIC_WAIT_TIMEOUT_MS_MAX, PessimisticLocks } from './pessimistic.ts';
import type { TxnRouting } from './routing.ts';

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
  /** Re-runs of `fn` after `WriteConflict`, `TxnAborted`, `Deadlock` or `SafePointPassed` (default `TXN_RETRIES_DEFAULT`, at most `TXN_RETRIES_MAX`). */
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
  /**
   * Lock keys as `fn` reads them for update (`getForUpdate`, `lockKeys`) and writes them, waiting
   * for other transactions' locks (default false: optimistic). Commits by 2PC.
   */
  pessimistic?: boolean;
  /** How long one lock acquisition of a pessimistic transaction waits, ms (default `PESSIMISTIC_WAIT_TIMEOUT_MS_DEFAULT`, at most `PESSIMISTIC_WAIT_TIMEOUT_MS_MAX`). */
  waitTimeoutMs?: number;
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
  /**
   * Where a pessimistic transaction takes its locks: the client's transaction layer, or a browser
   * tab's requests through its host (`tab-txn-routing.ts`). Absent: this reader cannot lock (the
   * offline queue's, `offline-txns.ts`, which refuses pessimistic transactions before they run).
   */
  readonly locking?: { routing: TxnRouting; resolver: LockResolver };
  /** The run that read here ended: stop holding its ts back from GC (`gc-registration.ts`). */
  release?(): void;
}

/** How a transaction's commit is asked for (the committer's options, as the caller chose them). */
export interface TxnCommitRequest {
  lockTtlMs: number;
  /** Clock ms when the start ts was taken. */
  beganAtMs: number;
  onePc: boolean;
  asyncCommit: boolean;
  /** A pessimistic transaction's largest `forUpdateTs` (its prewrite converts the pessimistic locks). */
  forUpdateTs?: bigint;
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
  /** Keys read for update (`getForUpdate`, `lockKeys`): committed as `lock` mutations unless written. */
  private readonly forUpdate = new Map<string, Uint8Array>();
  private bytes = 0;
  private done = false;

  constructor(
    reader: TxnReader,
    checks: TxnValueChecks,
    /** A pessimistic transaction's locks (absent: optimistic). */
    private readonly locks?: PessimisticLocks,
  ) {
    super(reader, checks);
  }

  /**
   * `SELECT … FOR UPDATE`: the key's value, and no other transaction may commit it before this
   * one. Pessimistic: locks it now and returns its newest committed value (own write first).
   * Optimistic: reads at the start ts; a commit to it by another transaction before this one
   * commits is a `WriteConflict` (`fn` re-runs).
   */
  async getForUpdate(key: Uint8Array, o: { signal?: AbortSignal } = {}): Promise<Uint8Array | undefined> {
    this.checks.key(key);
    this.markForUpdate([key]);
    const own = this.writes.get(slot(key));
    const locked = this.locks ? (await this.locks.lock([key], own === undefined))[0] : undefined;
    if (own !== undefined) return own.op === 'put' ? own.value : undefined;
    return this.locks ? locked : this.reader.get(key, o.signal);
  }

  /** Locks `keys` (pessimistic) or adds them to the commit's conflict check (optimistic), as `getForUpdate` without the read. */
  async lockKeys(keys: Uint8Array[]): Promise<void> {
    for (const k of keys) this.checks.key(k);
    const distinct = [...new Map(keys.map((k) => [slot(k), k])).values()];
    this.markForUpdate(distinct);
    if (this.locks) await this.locks.lock(distinct, false);
  }

  private markForUpdate(keys: readonly Uint8Array[]): void {
    if (this.done) throw new PeerKVError('InvalidArgument', 'the transaction has ended: lock inside its function');
    for (const k of keys) {
      if (!this.forUpdate.has(slot(k)) && this.writes.size + this.forUpdate.size >= TXN_KEYS_MAX) throw new PeerKVError('InvalidArgument', `a transaction writes or locks at most ${TXN_KEYS_MAX} keys`);
      this.forUpdate.set(slot(k), k);
    }
  }

  /** The start ts: every read sees the database as of it (except `getForUpdate` in a pessimistic transaction). */
  get startTs(): bigint {
    return this.reader.ts;
  }

  /**
   * A pessimistic transaction's largest `forUpdateTs` so far (undefined: optimistic, or no lock
   * taken yet). While its locks are held, every value `getForUpdate` returned is the one as of
   * this ts: the reads for update of a run are one snapshot at it.
   */
  get forUpdateTs(): bigint | undefined {
    const ts = this.locks?.forUpdateTsMax ?? 0n;
    return ts === 0n ? undefined : ts;
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
    if (old === undefined && this.writes.size + this.forUpdate.size >= TXN_KEYS_MAX) throw new PeerKVError('InvalidArgument', `a transaction writes at most ${TXN_KEYS_MAX} keys`);
    const bytes = this.bytes - (old ? size(old) : 0) + size(m);
    if (bytes > TXN_BYTES_MAX) throw new PeerKVError('InvalidArgument', `a transaction writes at most ${TXN_BYTES_MAX} bytes`);
    this.bytes = bytes;
    this.writes.set(k, m);
  }

  /** Ends the run: no more writes; the mutations (keys read for update and not written: `lock`) sorted by key (the first is the primary). */
  seal(): Mutation[] {
    this.done = true;
    const locks: Mutation[] = [...this.forUpdate].filter(([s]) => !this.writes.has(s)).map(([, key]) => ({ op: 'lock', key }));
    return [...this.writes.values(), ...locks].sort((a, b) => compareKeys(a.key, b.key));
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
  const waitTimeoutMs = o.waitTimeoutMs ?? PESSIMISTIC_WAIT_TIMEOUT_MS_DEFAULT;
  if (!Number.isSafeInteger(waitTimeoutMs) || waitTimeoutMs < 0 || waitTimeoutMs > PESSIMISTIC_WAIT_TIMEOUT_MS_MAX) throw new PeerKVError('InvalidArgument', `waitTimeoutMs must be an integer in [0, ${PESSIMISTIC_WAIT_TIMEOUT_MS_MAX}]`);
  for (let attempt = 1; ; attempt++) {
    if (o.signal?.aborted) throw new PeerKVError('Aborted', 'aborted');
    const reader = await backend.begin(o.signal);
    const startTs = reader.ts;
    const beganAtMs = backend.clock.now();
    const locks = o.pessimistic === true ? pessimisticLocks(reader, { startTs, lockTtlMs, beganAtMs, waitTimeoutMs, ...(o.signal ? { signal: o.signal } : {}) }) : undefined;
    const tx = new Transaction(reader, checks, locks);
    try {
      const value = await fn(tx);
      // A pessimistic commit locks its writes first and converts the locks, by 1PC, async
      // commit or 2PC like any other (the commit ts is above its for-update ts and any ts a
      // reader pushed its locks to: the txn core's prewrite).
      const { mutations, forUpdateTs } = locks ? await locks.prepareCommit(tx.seal()) : { mutations: tx.seal(), forUpdateTs: undefined };
      if (mutations.length === 0) return { value, info: { startTs, attempts: attempt, onePc: false } };
      const how = { onePc: o.onePc ?? true, asyncCommit: o.asyncCommit ?? false, ...(locks ? { forUpdateTs } : {}) };
      const committed = await backend.commit(startTs, mutations, { lockTtlMs, beganAtMs, ...how, ...(o.signal ? { signal: o.signal } : {}) });
      return { value, info: { startTs, commitTs: committed.commitTs, attempts: attempt, onePc: committed.onePc } };
    } catch (e) {
      const rolledBack = locks?.rollback();
      // A conflict met while `fn` ran (a pessimistic lock's `Deadlock`) re-runs it too.
      if (!isRetryable(e) || attempt > retriesMax) throw e;
      // A deadlock's victim re-runs after its locks are released (pessimistic.ts).
      if (rolledBack !== undefined && (e as { kind?: unknown }).kind === 'Deadlock') await rolledBack;
      await sleepFor(backend.clock, backoffDelayMs(backend.backoff, attempt, backend.random), o.signal);
    } finally {
      locks?.stop();
      reader.release?.();
    }
  }
}

/**
 * A pessimistic run's locks, through the reader's transaction layer. A reader without one is
 * refused here: `runTransaction` is exported, so a caller's own `TxnBackend` may give one.
 */
function pessimisticLocks(reader: TxnReader, o: ConstructorParameters<typeof PessimisticLocks>[2]): PessimisticLocks {
  if (reader.locking === undefined) throw new PeerKVError('InvalidArgument', 'a pessimistic transaction needs a reader that can lock (TxnReader.locking); this one cannot');
  return new PessimisticLocks(reader.locking.routing, reader.locking.resolver, o);
}

/** Whether a transaction's failure left nothing committed and its function may run again. */
function isRetryable(e: unknown): boolean {
  const kind = e instanceof Error && 'kind' in e ? (e as { kind: unknown }).kind : undefined;
  return kind === 'WriteConflict' || kind === 'TxnAborted' || kind === 'Deadlock' || kind === 'SafePointPassed';
}
