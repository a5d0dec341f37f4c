/**
 * Writes while the quorum is away (`transaction(fn, { offline: 'queue' })`, `mutate(name,
 * args)`): Replicache's pending mutations over Percolator.
 *
 * **Online or offline.** With nothing queued, the transaction first runs as a normal one. It
 * goes offline when that run fails before its commit was sent with `Unavailable` or
 * `RetryBudgetExhausted` (no leader, no PD, no route), or when its start ts and reads have not
 * answered within `offlineDecideMs` (the run is then aborted; the time counts from each run's
 * start and stops when its commit is sent). A commit that was sent is never turned into a
 * queued one: an unknown outcome is `Undetermined`, as for any transaction. With something
 * queued, a new transaction joins the queue at once (behind it, in order).
 *
 * **Queued.** Offline, `fn` runs against this device's replica at its resolved ts (a stale
 * read: no leader, no quorum); the keys and ranges it read, the ts it read at, its writes and
 * the mutator's name and arguments are stored durably (`OfflineQueueStore`) before the handle
 * is returned. Queued transactions do not see each other's writes.
 *
 * **Commit, in queue order, with snapshot isolation relative to the read ts.** When the quorum
 * answers, each queued transaction commits by 2PC at a fresh start ts S, its read keys sent as
 * `lock` mutations beside its writes, with `readTs` R: the prewrite of every key refuses one
 * whose value another transaction committed after R (txn's `TxnProps.readTs`). Its lock then
 * keeps the key unchanged until the commit, so the check is atomic with the commit, as
 * Percolator's write-write check is. Ranges cannot be locked: once every lock is in, the commit
 * ts C is taken from the TSO and each range is read again at C (reading around our own locks)
 * and compared with what it held at R (`rangeDigest`). A read at C sees every transaction that
 * commits at or below C, and none can commit there after it (2PC commit ts come from the TSO
 * after the prewrite; async commit and 1PC commit above the stores' max read ts), so a range
 * unchanged at C stays unchanged up to the commit at C. A `CommitTsExpired` takes a new C and
 * reads the ranges again.
 *
 * **A conflict** (a read key, written key or range changed since R; or GC passed R) is never
 * merged: with a mutator, the mutator runs again as a normal transaction (fresh start ts, reads
 * now); without one, the transaction is rejected with `QueuedTxnConflict` naming the keys, and
 * stays listed (`pending()`, state `rejected`) until `dismissPending(id)`.
 *
 * **Nothing twice.** Before any commit is sent, its start ts and primary are stored
 * (`attempt`). An attempt whose answer never came (`Undetermined`, a crash, a closed tab) is
 * decided on its primary before anything else happens to that transaction: a rollback of the
 * primary either finds our commit (committed: done) or leaves a rollback record that refuses
 * any late prewrite or commit of that attempt (then a new attempt is safe).
 */
import type { Mutation } from '@peerkv/txn';
import { compareKeys } from '@peerkv/pd';
import { backoffDelayMs, type BackoffOptions, type Clock } from '../backoff.ts';
import { PeerKVError } from '../errors.ts';
import { LOCK_TTL_MS_DEFAULT } from './committer.ts';
import { OFFLINE_QUEUE_BYTES_MAX_DEFAULT, OFFLINE_QUEUE_TXNS_MAX_DEFAULT, mutatorArgsJson, queuedTxnBytes, type OfflineQueueStore, type QueuedAttempt, type QueuedRangeRead, type QueuedTxnError, type QueuedTxnRecord } from './offline-queue.ts';
import { RecordingReader, type LazyTsReader } from './offline-reader.ts';
import { TXN_KEYS_MAX, Transaction, runTransaction, type TransactionOptions, type TxnBackend, type TxnReader, type TxnValueChecks } from './transaction.ts';

/** How long the online run may take to get its start ts and reads before the transaction is queued, ms. */
export const OFFLINE_DECIDE_MS_DEFAULT = 3000;
/** First wait before the queue is tried again after the quorum did not answer, ms (doubles, with jitter). */
export const OFFLINE_RETRY_MS_MIN = 250;
/** Longest wait between two tries of the queue, ms. */
export const OFFLINE_RETRY_MS_MAX = 10_000;
/** How long a committed record stays in the store (emptied) for other clients sharing it to learn the outcome, ms. */
export const OFFLINE_COMMITTED_KEPT_MS = 10 * 60_000;

/** A transaction function run again when the quorum is back (`registerMutator`). */
export type Mutator<A = unknown, T = unknown> = (tx: Transaction, args: A) => Promise<T>;

/** Where a queued transaction is. */
export type QueuedTxnState = 'queued' | 'committing' | 'committed' | 'rejected';

/** What `transaction(fn, { offline: 'queue' })` and `mutate` return. */
export interface QueuedTxnHandle<T = unknown> {
  readonly id: string;
  /** `fn`'s value, from the run that committed online or the run recorded offline. */
  readonly value: T;
  readonly state: QueuedTxnState;
  /**
   * Settles once the transaction committed (`reran`: by its mutator, after a conflict; a
   * transaction that wrote nothing reports the ts it read at), or rejects with
   * `QueuedTxnConflict` (never with a transient error: those keep it queued).
   */
  readonly committed: Promise<{ commitTs: bigint; reran: boolean }>;
}

/** One transaction in the queue, as `pending()` lists it. */
export interface PendingTxn {
  id: string;
  mutator?: string;
  createdAtMs: number;
  state: Exclude<QueuedTxnState, 'committed'>;
  /** Commit attempts so far. */
  attempts: number;
  lastError?: QueuedTxnError;
}

/** The options of a queued transaction. */
export interface OfflineTxnOptions extends Pick<TransactionOptions, 'signal' | 'retriesMax' | 'lockTtlMs'> {
  offline: 'queue';
}

/** The queue's settings (the client's options). */
export interface OfflineQueueOptions {
  store: OfflineQueueStore;
  decideMs: number;
  txnsMax: number;
  bytesMax: number;
  /**
   * Runs a drain so that no other client sharing the store drains at once (a browser's tabs: a
   * Web Lock). Absent: this client is the store's only one.
   */
  exclusive?: (drain: () => Promise<void>) => Promise<void>;
}

/**
 * A queued transaction's commit as the backend runs it: 2PC at `startTs` with conflicts checked
 * since `readTs` (read keys are `lock` mutations), GC held at `readTs` (`SafePointPassed` if it
 * passed it), each range re-read at the commit ts and compared (`WriteConflict` naming its
 * start if it changed).
 */
export interface QueuedCommit {
  startTs: bigint;
  /** Distinct keys, sorted; the first is the primary. */
  mutations: Mutation[];
  readTs: bigint;
  ranges: QueuedRangeRead[];
  lockTtlMs: number;
  beganAtMs: number;
}

/** What the queue needs of a client. */
export interface OfflineBackend {
  readonly clock: Clock;
  readonly random: () => number;
  readonly backoff: BackoffOptions;
  /** Normal transactions (TSO start ts, leader reads, commit). */
  readonly online: TxnBackend;
  /** A reader at this device's replica's resolved ts (no leader, no quorum). */
  localReader(): LazyTsReader;
  getTimestamp(signal?: AbortSignal): Promise<bigint>;
  /** A queued transaction's commit (`QueuedCommit`: `commitQueuedTxn` of `offline-backend.ts`). */
  commitQueued(c: QueuedCommit): Promise<{ commitTs: bigint }>;
  /** Decides an attempt on its primary: committed (at its ts), or rolled back now. Throws when it cannot be reached. */
  decideAttempt(a: Pick<QueuedAttempt, 'startTs' | 'primary'>): Promise<{ committed?: bigint }>;
}

interface Deferred {
  promise: Promise<{ commitTs: bigint; reran: boolean }>;
  resolve(v: { commitTs: bigint; reran: boolean }): void;
  reject(e: unknown): void;
  state: QueuedTxnState;
}

function deferred(): Deferred {
  let resolve!: Deferred['resolve'];
  let reject!: Deferred['reject'];
  const promise = new Promise<{ commitTs: bigint; reran: boolean }>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A rejection nobody awaits is still listed by `pending()`: not an unhandled rejection.
  promise.catch(() => undefined);
  return { promise, resolve, reject, state: 'queued' };
}

/** `p`, or `Aborted` once `signal` fires (`p` goes on, unheard). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new PeerKVError('Aborted', 'the online run ran out of offlineDecideMs'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new PeerKVError('Aborted', 'the online run ran out of offlineDecideMs'));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** A scan whose every page wait ends when `signal` fires. */
async function* scanUntilAborted<T>(it: AsyncIterableIterator<T>, signal: AbortSignal): AsyncIterableIterator<T> {
  try {
    for (;;) {
      const r = await untilAborted(it.next(), signal);
      if (r.done) return;
      yield r.value;
    }
  } finally {
    void it.return?.(undefined);
  }
}

function slot(key: Uint8Array): string {
  let s = '';
  for (let i = 0; i < key.length; i++) s += String.fromCharCode(key[i]);
  return s;
}

/** An error's kind: a `PeerKVError`'s, or a browser call's (`BrowserKvError`, same kinds). */
function kindOf(e: unknown): string | undefined {
  const kind = e instanceof Error ? (e as { kind?: unknown }).kind : undefined;
  return typeof kind === 'string' ? kind : undefined;
}

function keysOf(e: unknown): Uint8Array[] | undefined {
  const keys = e instanceof Error ? (e as { keys?: unknown }).keys : undefined;
  return Array.isArray(keys) ? (keys as Uint8Array[]) : undefined;
}

function toQueuedError(e: unknown): QueuedTxnError {
  const out: QueuedTxnError = { kind: kindOf(e) ?? 'Error', message: e instanceof Error ? e.message : String(e) };
  const keys = keysOf(e);
  if (keys) out.keys = keys;
  return out;
}

/** The offline queue of one client; see the module header. */
export class OfflineTxns {
  private readonly mutators = new Map<string, Mutator<never>>();
  private readonly records = new Map<string, QueuedTxnRecord>();
  private readonly handles = new Map<string, Deferred>();
  private loading: Promise<void> | undefined;
  private nextSeq = 1;
  private draining: Promise<void> | undefined;
  private retryTimer: unknown;
  private failures = 0;
  private closed = false;

  constructor(
    private readonly b: OfflineBackend,
    private readonly checks: TxnValueChecks,
    private readonly o: OfflineQueueOptions,
  ) {}

  /** Registers the function a queued transaction of that name runs again after a conflict (also after a reload). */
  registerMutator<A, T>(name: string, fn: Mutator<A, T>): void {
    mutatorArgsJson(name, null);
    if (typeof fn !== 'function') throw new PeerKVError('InvalidArgument', `mutator ${name} is not a function`);
    this.mutators.set(name, fn as Mutator<never>);
    this.kick();
  }

  /** Runs `fn` online, or queues it (see the module header). */
  async transaction<T>(fn: (tx: Transaction) => Promise<T>, o: OfflineTxnOptions, mutator?: { name: string; args: unknown }): Promise<QueuedTxnHandle<T>> {
    if (o.offline !== 'queue') throw new PeerKVError('InvalidArgument', `offline must be 'queue'`);
    // Queued, it could not lock (no quorum), and run online it would read through a reader that cannot.
    if ((o as TransactionOptions).pessimistic === true) throw new PeerKVError('InvalidArgument', 'a transaction that may be queued offline cannot be pessimistic');
    const argsJson = mutator ? mutatorArgsJson(mutator.name, mutator.args) : undefined;
    await this.load();
    if (!this.hasQueued()) {
      const decide = new AbortController();
      const { backend, stop } = this.decidingBackend(decide, o.signal);
      try {
        const { value, info } = await runTransaction(backend, this.checks, fn, o);
        return this.settledHandle(value, info.commitTs ?? info.startTs);
      } catch (e) {
        if (!this.quorumAway(e, decide.signal, o.signal)) throw e;
      } finally {
        stop();
      }
    }
    return this.enqueue(fn, o, mutator && argsJson !== undefined ? { name: mutator.name, argsJson } : undefined);
  }

  /** Runs the registered mutator `name` with `args` (JSON) as a transaction that may be queued. */
  async mutate<A, T>(name: string, args: A, o: OfflineTxnOptions): Promise<QueuedTxnHandle<T>> {
    const fn = this.mutators.get(name) as Mutator<A, T> | undefined;
    if (fn === undefined) throw new PeerKVError('InvalidArgument', `no mutator ${name} is registered`);
    return this.transaction((tx) => fn(tx, args), o, { name, args });
  }

  /** The queued transactions, in queue order. */
  async pending(): Promise<PendingTxn[]> {
    await this.load();
    // Another client may have queued or settled some (not while this one drains: it writes them).
    if (this.draining === undefined) await this.refresh();
    this.kick();
    return this.ordered().map((r) => {
      const p: PendingTxn = { id: r.id, createdAtMs: r.createdAtMs, state: this.stateOf(r), attempts: r.attempts };
      if (r.mutator) p.mutator = r.mutator.name;
      if (r.lastError) p.lastError = r.lastError;
      return p;
    });
  }

  /** The outcome of the queued transaction `id` (also one queued before a reload). */
  async whenSettled(id: string): Promise<{ commitTs: bigint; reran: boolean }> {
    await this.load();
    const h = this.handles.get(id);
    if (h === undefined) throw new PeerKVError('InvalidArgument', `no queued transaction ${id} (committed ones are forgotten after OFFLINE_COMMITTED_KEPT_MS)`);
    return h.promise;
  }

  /** Removes a rejected transaction from the list. */
  async dismissPending(id: string): Promise<void> {
    await this.load();
    const r = this.records.get(id);
    if (r === undefined || r.status !== 'rejected') throw new PeerKVError('InvalidArgument', `${id} is not a rejected queued transaction`);
    await this.o.store.delete(id);
    this.records.delete(id);
    this.handles.delete(id);
  }

  /** Commits what is queued now, in order, as far as the quorum answers (the queue also retries by itself). */
  drain(): Promise<void> {
    if (this.closed) return Promise.resolve();
    const exclusive = this.o.exclusive ?? ((fn) => fn());
    this.draining ??= exclusive(() => this.drainLoop()).finally(() => {
      this.draining = undefined;
    });
    return this.draining;
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer !== undefined) this.b.clock.clearTimeout(this.retryTimer as never);
  }

  // ------------------------------------------------------------------ running

  /**
   * The online backend with the decision's deadline: each run's start ts and reads are aborted
   * `decideMs` after it began unless its commit was sent; the commit gets the caller's signal only.
   */
  private decidingBackend(decide: AbortController, signal: AbortSignal | undefined): { backend: TxnBackend; stop: () => void } {
    const online = this.b.online;
    let timer: unknown;
    const stop = (): void => {
      if (timer !== undefined) this.b.clock.clearTimeout(timer as never);
      timer = undefined;
    };
    const both = (s: AbortSignal | undefined): AbortSignal => AbortSignal.any([decide.signal, ...(s ? [s] : []), ...(signal ? [signal] : [])]);
    const backend: TxnBackend = {
      clock: online.clock,
      random: online.random,
      backoff: online.backoff,
      begin: async () => {
        stop();
        timer = this.b.clock.setTimeout(() => decide.abort(), this.o.decideMs);
        // Raced against the deadline too: a reader that takes no signal (a browser tab's) still ends in time.
        const reader = await untilAborted(online.begin(both(undefined)), decide.signal);
        const wrapped: TxnReader = {
          ts: reader.ts,
          get: (key, s) => untilAborted(reader.get(key, both(s)), decide.signal),
          scan: (start, end, limit, s) => scanUntilAborted(reader.scan(start, end, limit, both(s)), decide.signal),
          ...(reader.release ? { release: () => reader.release!() } : {}),
        };
        return wrapped;
      },
      commit: (startTs, mutations, co) => {
        stop();
        const { signal: _s, ...rest } = co;
        return online.commit(startTs, mutations, { ...rest, ...(signal ? { signal } : {}) });
      },
    };
    return { backend, stop };
  }

  /**
   * Whether a failed online run means the quorum is away (nothing of it was committed): a
   * client's `Unavailable`/`RetryBudgetExhausted`, a browser call's `NoQuorum`/`Timeout` too.
   */
  private quorumAway(e: unknown, decided: AbortSignal, signal: AbortSignal | undefined): boolean {
    const kind = kindOf(e);
    if (kind === 'Unavailable' || kind === 'RetryBudgetExhausted' || kind === 'NoQuorum' || kind === 'Timeout') return true;
    return kind === 'Aborted' && decided.aborted && signal?.aborted !== true;
  }

  /** Runs `fn` against the local replica and stores what it read and wrote. */
  private async enqueue<T>(fn: (tx: Transaction) => Promise<T>, o: OfflineTxnOptions, mutator: QueuedTxnRecord['mutator']): Promise<QueuedTxnHandle<T>> {
    const reader = new RecordingReader(this.b.localReader());
    const tx = new Transaction(reader, this.checks);
    const value = await fn(tx);
    const mutations = tx.seal();
    const written = new Set(mutations.filter((m) => m.op !== 'lock').map((m) => slot(m.key)));
    const writes = mutations.filter((m) => m.op === 'put' || m.op === 'delete');
    const reads = [...reader.readKeys(written), ...mutations.filter((m) => m.op === 'lock').map((m) => m.key)];
    const distinctReads = [...new Map(reads.map((k) => [slot(k), k])).values()];
    const ranges = await reader.rangeReads();
    if (writes.length + distinctReads.length > TXN_KEYS_MAX) throw new PeerKVError('InvalidArgument', `a queued transaction reads and writes at most ${TXN_KEYS_MAX} keys (its reads are locked when it commits)`);
    if (writes.length === 0) {
      // Read-only: nothing to commit; it is as of the ts it read at.
      return this.settledHandle(value, reader.readTs ?? 0n);
    }
    const readTs = reader.readTs ?? (await reader.fixTs(writes[0].key, o.signal));
    // Behind what other clients of the store (other tabs) queued meanwhile.
    if (this.draining === undefined) await this.refresh();
    const rec: QueuedTxnRecord = {
      id: globalThis.crypto.randomUUID(),
      seq: this.nextSeq++,
      createdAtMs: this.b.clock.now(),
      readTs,
      reads: distinctReads,
      ranges,
      writes,
      status: 'queued',
      rerun: false,
      attempts: 0,
    };
    if (mutator) rec.mutator = mutator;
    this.checkRoom(rec);
    await this.o.store.put(rec);
    this.records.set(rec.id, rec);
    const h = deferred();
    this.handles.set(rec.id, h);
    this.kick();
    return this.handleOf(rec.id, value, h);
  }

  private checkRoom(rec: QueuedTxnRecord): void {
    if (this.records.size >= this.o.txnsMax) throw new PeerKVError('QueueFull', `the offline queue holds ${this.records.size} transactions, its offlineQueueTxnsMax`);
    let bytes = queuedTxnBytes(rec);
    for (const r of this.records.values()) bytes += queuedTxnBytes(r);
    if (bytes > this.o.bytesMax) throw new PeerKVError('QueueFull', `the offline queue would hold ${bytes} bytes, over its offlineQueueBytesMax ${this.o.bytesMax}`);
  }

  private settledHandle<T>(value: T, commitTs: bigint): QueuedTxnHandle<T> {
    const h = deferred();
    h.state = 'committed';
    h.resolve({ commitTs, reran: false });
    return this.handleOf(globalThis.crypto.randomUUID(), value, h);
  }

  private handleOf<T>(id: string, value: T, h: Deferred): QueuedTxnHandle<T> {
    const self = this;
    return {
      id,
      value,
      get state(): QueuedTxnState {
        const r = self.records.get(id);
        return r ? self.stateOf(r) : h.state;
      },
      committed: h.promise,
    };
  }

  private stateOf(r: QueuedTxnRecord): Exclude<QueuedTxnState, 'committed'> {
    if (r.status === 'rejected') return 'rejected';
    return r.attempt !== undefined ? 'committing' : 'queued';
  }

  // ------------------------------------------------------------------ the queue

  /** The queue as first read from its store. */
  private load(): Promise<void> {
    this.loading ??= this.refresh();
    return this.loading;
  }

  /**
   * Reads the queue again from its store, which is the truth when several clients (a browser's
   * tabs) share it: new records join, and a record another client settled settles here too.
   * Committed records are kept `OFFLINE_COMMITTED_KEPT_MS` for that, then dropped.
   */
  private async refresh(): Promise<void> {
    const now = this.b.clock.now();
    const stored = await this.o.store.load();
    const seen = new Set<string>();
    for (const r of stored) {
      seen.add(r.id);
      if (r.seq >= this.nextSeq) this.nextSeq = r.seq + 1;
      let h = this.handles.get(r.id);
      if (h === undefined) this.handles.set(r.id, (h = deferred()));
      if (r.status === 'committed') {
        this.records.delete(r.id);
        if (h.state !== 'committed') {
          h.state = 'committed';
          h.resolve({ commitTs: r.commitTs ?? 0n, reran: r.rerun });
        }
        if (now - (r.settledAtMs ?? now) > OFFLINE_COMMITTED_KEPT_MS) await this.o.store.delete(r.id);
        continue;
      }
      this.records.set(r.id, r);
      if (r.status === 'rejected' && h.state !== 'rejected') {
        h.state = 'rejected';
        h.reject(new PeerKVError('QueuedTxnConflict', r.lastError?.message ?? 'rejected', undefined, r.lastError?.keys));
      }
    }
    // Dismissed (or long committed) by another client.
    for (const id of [...this.records.keys()]) if (!seen.has(id)) this.records.delete(id);
  }

  /** Queue order: `seq`; two clients of one store that queued at once tie, broken by time, then id. */
  private ordered(): QueuedTxnRecord[] {
    return [...this.records.values()].sort((a, b) => a.seq - b.seq || a.createdAtMs - b.createdAtMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  private hasQueued(): boolean {
    for (const r of this.records.values()) if (r.status === 'queued') return true;
    return false;
  }

  /** Starts a drain soon (not inside the caller's call stack). */
  private kick(): void {
    if (this.closed || !this.hasQueued()) return;
    this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.retryTimer !== undefined) this.b.clock.clearTimeout(this.retryTimer as never);
    this.retryTimer = this.b.clock.setTimeout(() => {
      this.retryTimer = undefined;
      void this.drain();
    }, ms);
  }

  private async drainLoop(): Promise<void> {
    await this.load();
    await this.refresh();
    for (;;) {
      if (this.closed) return;
      const next = this.ordered().find((r) => r.status === 'queued');
      if (next === undefined) {
        this.failures = 0;
        return;
      }
      const outcome = await this.commitOne(next);
      if (outcome === 'later') {
        const ms = OFFLINE_RETRY_MS_MIN + backoffDelayMs({ ...this.b.backoff, baseMs: OFFLINE_RETRY_MS_MIN, capMs: OFFLINE_RETRY_MS_MAX - OFFLINE_RETRY_MS_MIN }, this.failures++, this.b.random);
        if (!this.closed) this.schedule(ms);
        return;
      }
      this.failures = 0;
    }
  }

  /** One step of the queue's head: `next` once it committed or was rejected, `later` when the quorum did not answer. */
  private async commitOne(rec: QueuedTxnRecord): Promise<'next' | 'later'> {
    try {
      if (rec.attempt !== undefined) {
        const d = await this.b.decideAttempt(rec.attempt);
        if (d.committed !== undefined) return await this.settle(rec, d.committed, rec.rerun);
        delete rec.attempt;
        await this.o.store.put(rec);
      }
      if (rec.rerun) return await this.rerun(rec);
      return await this.commitRecorded(rec);
    } catch (e) {
      rec.lastError = toQueuedError(e);
      await this.o.store.put(rec).catch(() => undefined);
      return 'later';
    }
  }

  /** Commits the recorded writes if nothing the transaction read or wrote changed since its read ts. */
  private async commitRecorded(rec: QueuedTxnRecord): Promise<'next' | 'later'> {
    const mutations: Mutation[] = [...rec.writes, ...rec.reads.map((key): Mutation => ({ op: 'lock', key }))].sort((a, b) => compareKeys(a.key, b.key));
    const startTs = await this.b.getTimestamp();
    rec.attempt = { startTs, primary: mutations[0].key, keys: mutations.map((m) => m.key) };
    rec.attempts++;
    await this.o.store.put(rec);
    try {
      const { commitTs } = await this.b.commitQueued({ startTs, mutations, readTs: rec.readTs, ranges: rec.ranges, lockTtlMs: LOCK_TTL_MS_DEFAULT, beganAtMs: this.b.clock.now() });
      return await this.settle(rec, commitTs, false);
    } catch (e) {
      const kind = kindOf(e);
      if (kind !== 'WriteConflict' && kind !== 'TxnAborted' && kind !== 'SafePointPassed') throw e;
      // Refused before its primary committed (or before its first prewrite): this attempt never commits.
      delete rec.attempt;
      if (kind === 'TxnAborted') throw e;
      if (kind === 'SafePointPassed') {
        return await this.conflict(rec, mutations.map((m) => m.key).concat(rec.ranges.map((g) => g.start)), `GC passed its read ts ${rec.readTs}: what it read can no longer be checked`);
      }
      return await this.conflict(rec, keysOf(e) ?? [], (e as Error).message);
    }
  }

  /** What it read or wrote changed: run the mutator again, or reject. Never merged. */
  private async conflict(rec: QueuedTxnRecord, keys: Uint8Array[], message: string): Promise<'next' | 'later'> {
    rec.lastError = { kind: 'WriteConflict', message, keys };
    if (rec.mutator !== undefined) {
      rec.rerun = true;
      await this.o.store.put(rec);
      return this.rerun(rec);
    }
    rec.status = 'rejected';
    rec.lastError = { kind: 'QueuedTxnConflict', message, keys };
    await this.o.store.put(rec);
    const h = this.handles.get(rec.id);
    if (h) {
      h.state = 'rejected';
      h.reject(new PeerKVError('QueuedTxnConflict', `queued transaction ${rec.id} was not committed: ${message}`, undefined, keys));
    }
    return 'next';
  }

  /** Runs the mutator again as a normal transaction, its commit attempts stored first. */
  private async rerun(rec: QueuedTxnRecord): Promise<'next' | 'later'> {
    const m = rec.mutator!;
    const fn = this.mutators.get(m.name);
    if (fn === undefined) {
      rec.lastError = { kind: 'MutatorNotRegistered', message: `mutator ${m.name} must run again, and is not registered (registerMutator)` };
      await this.o.store.put(rec);
      return 'later';
    }
    const args = JSON.parse(m.argsJson) as never;
    const online = this.b.online;
    const store = this.o.store;
    const backend: TxnBackend = {
      ...online,
      begin: (s) => online.begin(s),
      commit: async (startTs, mutations, co) => {
        rec.attempt = { startTs, primary: mutations[0].key, keys: mutations.map((x) => x.key) };
        rec.attempts++;
        await store.put(rec);
        try {
          return await online.commit(startTs, mutations, co);
        } catch (e) {
          if (kindOf(e) === 'WriteConflict' || kindOf(e) === 'TxnAborted') {
            delete rec.attempt;
            await store.put(rec);
          }
          throw e;
        }
      },
    };
    const { info } = await runTransaction(backend, this.checks, (tx) => fn(tx, args));
    return this.settle(rec, info.commitTs ?? info.startTs, true);
  }

  /**
   * Committed: it leaves the queue. Its record stays, emptied, as `committed` for
   * `OFFLINE_COMMITTED_KEPT_MS`, so another client sharing the store learns the outcome.
   */
  private async settle(rec: QueuedTxnRecord, commitTs: bigint, reran: boolean): Promise<'next'> {
    const done: QueuedTxnRecord = { ...rec, status: 'committed', commitTs, rerun: reran, settledAtMs: this.b.clock.now(), reads: [], ranges: [], writes: [] };
    delete done.attempt;
    delete done.lastError;
    await this.o.store.put(done);
    this.records.delete(rec.id);
    const h = this.handles.get(rec.id);
    if (h) {
      h.state = 'committed';
      h.resolve({ commitTs, reran });
    }
    return 'next';
  }
}
