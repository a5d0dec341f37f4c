/**
 * The transactional workloads of `--txn`: several `PeerKV` clients, each running a few lanes
 * of `kv.transaction()` calls at once over three key sets (hot keys get a share of the picks):
 *
 * - **list-append** (`l00`…): a transaction reads some lists and appends a unique element to
 *   some (append = read the list, write it back with the element added, inside the
 *   transaction);
 * - **rw-register** (`r00`…): reads, read-then-writes and blind writes of unique values;
 * - **bank** (`a00`…): transfers between accounts (both balances read, then written) and
 *   reads of every account in one snapshot (by gets or by a prefix scan); recorded as register
 *   ops too (each balance carries a unique write id);
 * - **long readers**: read-only transactions that read, wait for a while (GC runs meanwhile),
 *   and read the same keys again;
 * - **old snapshots**: `kv.snapshot(ts)` at the start ts of an earlier transaction: refused
 *   when ts is below the GC safe point (accepting it is a violation), else a bank read;
 * - **pessimistic** (`{ pessimistic: true }`): read-modify-writes through `getForUpdate` on the
 *   hot keys in a random order (so two of them can wait for each other: the deadlock detector
 *   ends one with `Deadlock`, which re-runs it), holding the locks a while (so waiters time out:
 *   `LockWaitTimeout`, a short `waitTimeoutMs` on some): a transfer, register updates (with a
 *   `lockKeys` then blind write), or a list append. Every read of such a run is a read for
 *   update, so the run is one snapshot at its largest `forUpdateTs`, recorded as its start ts;
 *   the checker's lost-update rule applies to each read-modify-write.
 * - **queued** (offline writes, README "Offline writes"): a list-append or register body run
 *   against the nearest replica at its resolved ts R, committed later as a queued transaction
 *   (`kv.commitQueuedTxn`: fresh start ts, read keys as `lock` mutations, conflicts since R);
 *   recorded as a transaction whose snapshot is R.
 *
 * Besides these random picks, `txn-directed.ts` takes a few deterministic steps (an abandoned
 * transaction across stores, a queued transaction overtaken before its commit).
 *
 * Some lanes run in simulated browser tabs (`tab-txns.ts`): their transactions go through a host
 * tab's client on the browser runtime's path (reads at the start ts, the commit, a pessimistic
 * run's locks), hosts die mid-request and tabs close mid-commit; they run the kinds above that
 * are `kv.transaction()` calls (an old snapshot, a queued transaction or a read at the nearest
 * replica is a bank read there).
 *
 * Each attempt of the function is one recorded `Txn` (`txn-history.ts`): a re-run after
 * `WriteConflict`/`TxnAborted` ends the previous attempt as `fail`. The call's end decides the
 * last attempt: committed → `ok` with its commit ts; `Undetermined`, or a client killed by a
 * fault (`Aborted`) → `info` (the lane's process retires); any other error → `fail` (the
 * client's contract: only `Undetermined` is ambiguous).
 */
import type { SeededRng } from '@peerkv/raft';
import { PeerKVError, RecordingReader, Transaction, type PeerKV, type TransactionInfo, type TransactionOptions } from 'peerkv';
import { BrowserKvError } from 'peerkv/browser';
import type { Mutation } from '@peerkv/txn';
import { intBetween, weightedPick } from '../rng-utils.ts';
import type { ClusterEnv } from './cluster-env.ts';
import type { GcDriver, GcRegistration } from './txn-gc.ts';
import type { Attempt, TxnRecorder } from './txn-history.ts';
import type { TxnFaultPlan } from './txn-net.ts';
import { SimTxnTab, type TabTxnRun } from './tab-txns.ts';

/** Knobs of the transactional workload (part of `TxnSimOptions`). */
export interface TxnWorkloadOptions {
  lanesPerClient: number;
  listKeys: number;
  registerKeys: number;
  accounts: number;
  initialBalance: number;
  /** The first `hotKeys` keys of each set get `hotKeyShare` of the picks. */
  hotKeys: number;
  hotKeyShare: number;
  thinkMsMax: number;
  weights: Readonly<Record<TxnKind, number>>;
  /** Share of calls with a short lock TTL, and its range, ms (else the client's default). */
  shortTtlShare: number;
  shortTtlMs: readonly [number, number];
  /** Share of calls committed by 2PC only (`onePc: false`). */
  twoPcShare: number;
  /** Share of calls (not by 1PC) committed by async commit. */
  asyncCommitShare: number;
  /** Per call, the chance of each planned fault. */
  dieChance: number;
  crashPrimaryLeaderChance: number;
  slowCommitChance: number;
  /** How long a long reader waits between its two reads, ms. */
  longReadPauseMs: readonly [number, number];
  /** A pessimistic call's `waitTimeoutMs` range, ms. */
  pessimisticWaitMs: readonly [number, number];
  /** How long a pessimistic run holds its locks before it writes, ms. */
  pessimisticHoldMs: readonly [number, number];
  retriesMax: number;
  /** Lanes run in simulated browser tabs (`tab-txns.ts`), each in its own tab. */
  tabLanes: number;
}

export type TxnKind = 'listAppend' | 'register' | 'transfer' | 'bankRead' | 'longRead' | 'oldSnapshot' | 'pessimistic' | 'queued';

/** Calls made and what the faults did, by kind. */
export interface TxnWorkloadStats {
  listAppend: number;
  register: number;
  transfer: number;
  bankRead: number;
  longRead: number;
  oldSnapshot: number;
  /** Pessimistic calls (`{ pessimistic: true }`). */
  pessimistic: number;
  /** Runs a lock request ended with `Deadlock` (the detector found a cycle; the call re-runs). */
  deadlocks: number;
  /** Calls that ended with `LockWaitTimeout` (a lock held past `waitTimeoutMs`). */
  lockWaitTimeouts: number;
  queued: number;
  /** Queued transactions refused at their commit (something they read or wrote changed since their read ts). */
  queuedConflicts: number;
  /** Old snapshots refused below the safe point (as they must be). */
  snapshotsRefused: number;
  /** Old snapshots read from the nearest replica at its resolved ts (`staleSnapshot`). */
  staleSnapshots: number;
  /** Re-runs of a function after a conflict (attempts after the first). */
  reruns: number;
  onePc: number;
  /** Calls asking for async commit (those not committed by 1PC used it). */
  asyncCommit: number;
  shortTtl: number;
  /** Writes replayed on a conflict (mutation `replayWrites`). */
  replays: number;
  /** Directed abandoned transactions whose prewrites were all in, their commit never sent (`txn-directed.ts`). */
  directedAbandoned: number;
  /** Directed queued transactions whose read key another transaction wrote (committed) before their commit. */
  directedOvertaken: number;
  /** Of those, the ones the stores refused (`WriteConflict`). */
  directedQueuedRefused: number;
  /** Directed steps skipped (no two regions led by different stores, PD or the cluster unavailable). */
  directedSkipped: number;
  /** Splits a directed round asked for to get two regions outside the accounts (`arrangeAcrossLeaders`). */
  directedSplits: number;
  /** Leader transfers a directed round asked for to get two regions led by different stores. */
  directedLeaderTransfers: number;
}

export function emptyTxnWorkloadStats(): TxnWorkloadStats {
  return { listAppend: 0, register: 0, transfer: 0, bankRead: 0, longRead: 0, oldSnapshot: 0, pessimistic: 0, deadlocks: 0, lockWaitTimeouts: 0, queued: 0, queuedConflicts: 0, snapshotsRefused: 0, staleSnapshots: 0, reruns: 0, onePc: 0, asyncCommit: 0, shortTtl: 0, replays: 0, directedAbandoned: 0, directedOvertaken: 0, directedQueuedRefused: 0, directedSkipped: 0, directedSplits: 0, directedLeaderTransfers: 0 };
}

/** A problem the workload saw directly (not through the history). */
export interface WorkloadProblem {
  atMs: number;
  message: string;
}

/** What every lane shares. */
export interface TxnWorkload {
  env: ClusterEnv;
  rec: TxnRecorder;
  clients: PeerKV[];
  o: TxnWorkloadOptions;
  gc?: GcDriver;
  /** Faults planned per start ts (read by the clients' `TxnStoreResolver`s). */
  plans: Map<bigint, TxnFaultPlan>;
  stats: TxnWorkloadStats;
  problems: WorkloadProblem[];
  /** Start ts of recent transactions with their invocation event (for old snapshots). */
  pastTs: { ts: bigint; invokeAt: number }[];
  /** The commit ts of the accounts' opening (a snapshot below it sees no account: not a bank read). */
  accountsOpenedTs?: bigint;
  /** Unique values (list elements, register values, balance write ids). */
  counter: { n: number };
  /** Mutation: on a conflict, commit the old writes again instead of re-running the function. */
  replayWrites: boolean;
  /** The host tabs the tab lanes call through (none: no tab lanes). */
  tabs?: TabTxnRun;
  /** Register keys only the directed steps use (`txn-directed.ts`), read by the final read too. */
  directedKeys: string[];
}

/** Characters of an error message kept in an attempt's label (for reports). */
const ERROR_TEXT_MAX = 160;

/** Past start ts kept for old snapshots. */
const PAST_TS_KEPT = 256;

export const keyOf = (prefix: string, i: number): string => `${prefix}${String(i).padStart(2, '0')}`;
export const listKey = (i: number): string => keyOf('l', i);
export const registerKey = (i: number): string => keyOf('r', i);
export const accountKey = (i: number): string => keyOf('a', i);
/** Every account shares this prefix (a bank read may scan it). */
export const ACCOUNT_PREFIX = 'a';

const enc = new TextEncoder();
const dec = new TextDecoder();
export const bytes = (s: string): Uint8Array => enc.encode(s);

export function decodeList(v: Uint8Array | undefined): number[] | null {
  return v === undefined ? null : (JSON.parse(dec.decode(v)) as number[]);
}

export function decodeRegister(v: Uint8Array | undefined): number | null {
  return v === undefined ? null : Number(dec.decode(v));
}

/** A balance with the unique id of the write that set it. */
export interface Balance {
  balance: number;
  id: number;
}

export function decodeBalance(v: Uint8Array | undefined): Balance | null {
  if (v === undefined) return null;
  const [balance, id] = dec.decode(v).split(':').map(Number);
  return { balance, id };
}

export const encodeBalance = (b: Balance): Uint8Array => bytes(`${b.balance}:${b.id}`);

/** One lane: a client, its process id (renewed after an `info` attempt), its choices. */
export interface Lane {
  w: TxnWorkload;
  kv: PeerKV;
  rng: SeededRng;
  process: number;
  name: string;
  /** A tab lane's tab (a new one after it closed), whose transactions go through the host tabs. */
  tab?: { current: SimTxnTab; opened: number };
}

/** The lane's `transactionWithInfo`: its client's, or its tab's. */
function transact<T>(l: Lane, fn: (tx: Transaction) => Promise<T>, o: TransactionOptions): Promise<{ value: T; info: TransactionInfo }> {
  return l.tab === undefined ? l.kv.transactionWithInfo(fn, o) : tabOf(l).transactionWithInfo(fn, o);
}

/** The tab lane's open tab (a closed one is replaced, as a user opens the page again). */
function tabOf(l: Lane): SimTxnTab {
  const t = l.tab!;
  if (t.current.closed) t.current = new SimTxnTab(l.w.tabs!, `${l.name}-tab${++t.opened}`, l.rng.fork());
  return t.current;
}

/** The kind of a client's or a tab's error. */
function kindOf(e: unknown): string | undefined {
  return e instanceof PeerKVError || e instanceof BrowserKvError ? e.kind : undefined;
}

function pickKey(l: Lane, count: number): number {
  const { hotKeys, hotKeyShare } = l.w.o;
  if (hotKeys > 0 && l.rng.nextFloat() < hotKeyShare) return l.rng.nextInt(Math.min(hotKeys, count));
  return l.rng.nextInt(count);
}

function pickKeys(l: Lane, count: number, n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n * 4 && out.length < n; i++) {
    const k = pickKey(l, count);
    if (!out.includes(k)) out.push(k);
  }
  return out;
}

export const uniq = (w: TxnWorkload): number => w.counter.n++;

/** The writes a function made, for mutation `replayWrites`. */
export type Buffered = Map<string, Uint8Array>;

export function put(tx: Transaction, buf: Buffered, key: string, value: Uint8Array): void {
  tx.put(bytes(key), value);
  buf.set(key, value);
}

/** A list-append transaction: reads some lists, appends to some. */
async function listAppend(l: Lane, tx: Transaction, a: Attempt, buf: Buffered): Promise<void> {
  for (const i of pickKeys(l, l.w.o.listKeys, intBetween(l.rng, 1, 3))) {
    const k = listKey(i);
    const list = decodeList(await tx.get(bytes(k)));
    a.mops.push(['r', k, list]);
    if (l.rng.nextFloat() < 0.3) continue;
    const e = uniq(l.w);
    a.mops.push(['append', k, e]);
    put(tx, buf, k, bytes(JSON.stringify([...(list ?? []), e])));
  }
}

/** A register transaction: reads, read-then-writes and blind writes. */
async function registerOps(l: Lane, tx: Transaction, a: Attempt, buf: Buffered): Promise<void> {
  for (const i of pickKeys(l, l.w.o.registerKeys, intBetween(l.rng, 1, 3))) {
    const k = registerKey(i);
    const c = l.rng.nextFloat();
    if (c < 0.75) a.mops.push(['r', k, decodeRegister(await tx.get(bytes(k)))]);
    if (c < 0.35) continue;
    const v = uniq(l.w);
    a.mops.push(['w', k, v]);
    put(tx, buf, k, bytes(String(v)));
  }
}

/** A transfer: both balances read, then both written (nothing when the source is empty). */
async function transfer(l: Lane, tx: Transaction, a: Attempt, buf: Buffered): Promise<void> {
  const n = l.w.o.accounts;
  const from = l.rng.nextInt(n);
  const to = (from + 1 + l.rng.nextInt(n - 1)) % n;
  const [fk, tk] = [accountKey(from), accountKey(to)];
  const fb = decodeBalance(await tx.get(bytes(fk)));
  a.mops.push(['r', fk, fb?.id ?? null]);
  const tb = decodeBalance(await tx.get(bytes(tk)));
  a.mops.push(['r', tk, tb?.id ?? null]);
  if (fb === null || tb === null || fb.balance <= 0) return;
  const amount = intBetween(l.rng, 1, Math.min(fb.balance, 20));
  const [fid, tid] = [uniq(l.w), uniq(l.w)];
  a.mops.push(['w', fk, fid], ['w', tk, tid]);
  put(tx, buf, fk, encodeBalance({ balance: fb.balance - amount, id: fid }));
  put(tx, buf, tk, encodeBalance({ balance: tb.balance + amount, id: tid }));
  a.bank = { f: 'transfer', from: fk, to: tk, amount };
}

/** Reads every account (by gets, or by a prefix scan), recording a bank read. */
async function readAccounts(w: TxnWorkload, r: { get(k: Uint8Array): Promise<Uint8Array | undefined>; scan(o: { prefix: Uint8Array }): AsyncIterableIterator<{ key: Uint8Array; value: Uint8Array }> }, a: Attempt, byScan: boolean): Promise<void> {
  const seen = new Map<string, Balance | null>();
  if (byScan) {
    for await (const p of r.scan({ prefix: bytes(ACCOUNT_PREFIX) })) seen.set(dec.decode(p.key), decodeBalance(p.value));
  } else {
    for (let i = 0; i < w.o.accounts; i++) seen.set(accountKey(i), decodeBalance(await r.get(bytes(accountKey(i)))));
  }
  const balances: Record<string, number> = {};
  for (let i = 0; i < w.o.accounts; i++) {
    const k = accountKey(i);
    const b = seen.get(k) ?? null;
    a.mops.push(['r', k, b?.id ?? null]);
    if (b !== null) balances[k] = b.balance;
  }
  // A key the scan returned that is no account shows up in the bank check (`unexpected-account`).
  for (const [k, b] of seen) if (!(k in balances) && b !== null) balances[k] = b.balance;
  a.bank = { f: 'read', balances };
}

/** A long reader: reads lists and the accounts, waits (GC runs), reads them all again. */
async function longRead(l: Lane, tx: Transaction, a: Attempt): Promise<void> {
  const keys = pickKeys(l, l.w.o.listKeys, intBetween(l.rng, 2, 4)).map(listKey);
  for (const k of keys) a.mops.push(['r', k, decodeList(await tx.get(bytes(k)))]);
  await readAccounts(l.w, tx, a, false);
  await l.w.env.sched.sleep(intBetween(l.rng, l.w.o.longReadPauseMs[0], l.w.o.longReadPauseMs[1]));
  for (const k of keys) a.mops.push(['r', k, decodeList(await tx.get(bytes(k)))]);
  await readAccounts(l.w, tx, a, l.rng.nextFloat() < 0.5);
}

/** A pessimistic call's settings, and the key its run locked first (its primary). */
interface PessimisticCall {
  waitTimeoutMs: number;
  firstLocked?: string;
}

/** `getForUpdate` of `k` (the first lock of the run names the primary). */
async function readForUpdate(tx: Transaction, p: PessimisticCall, k: string): Promise<Uint8Array | undefined> {
  p.firstLocked ??= k;
  return tx.getForUpdate(bytes(k));
}

/** `keys` in a random order (so two runs may lock the same keys in opposite orders). */
function shuffled<T>(l: Lane, keys: T[]): T[] {
  const out = [...keys];
  for (let i = out.length - 1; i > 0; i--) {
    const j = l.rng.nextInt(i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/**
 * A pessimistic run (see the module comment): reads for update, holds the locks, writes. Its
 * snapshot is its largest `forUpdateTs`, recorded as the attempt's start ts.
 */
async function pessimisticOps(l: Lane, tx: Transaction, a: Attempt, buf: Buffered, p: PessimisticCall): Promise<void> {
  const w = l.w;
  const o = w.o;
  const hold = (): Promise<void> => w.env.sched.sleep(intBetween(l.rng, o.pessimisticHoldMs[0], o.pessimisticHoldMs[1]));
  const c = l.rng.nextFloat();
  if (c < 0.4) {
    // A transfer between two of the first three accounts, locked in a random order.
    const [from, to] = shuffled(l, [0, 1, 2].slice(0, Math.min(3, o.accounts))).slice(0, 2);
    const got = new Map<number, Balance | null>();
    for (const i of shuffled(l, [from, to])) {
      const b = decodeBalance(await readForUpdate(tx, p, accountKey(i)));
      a.mops.push(['r', accountKey(i), b?.id ?? null]);
      got.set(i, b);
    }
    await hold();
    const [fb, tb] = [got.get(from) ?? null, got.get(to) ?? null];
    if (fb === null || tb === null || fb.balance <= 0) return;
    const amount = intBetween(l.rng, 1, Math.min(fb.balance, 20));
    const [fid, tid] = [uniq(w), uniq(w)];
    a.mops.push(['w', accountKey(from), fid], ['w', accountKey(to), tid]);
    put(tx, buf, accountKey(from), encodeBalance({ balance: fb.balance - amount, id: fid }));
    put(tx, buf, accountKey(to), encodeBalance({ balance: tb.balance + amount, id: tid }));
    a.bank = { f: 'transfer', from: accountKey(from), to: accountKey(to), amount };
  } else if (c < 0.8) {
    // Register updates on hot keys in a random order; sometimes a key locked first, written blind.
    const keys = shuffled(l, pickKeys(l, Math.min(o.registerKeys, o.hotKeys + 2), intBetween(l.rng, 1, 3)).map(registerKey));
    if (l.rng.nextFloat() < 0.3) {
      const blind = registerKey(l.rng.nextInt(o.registerKeys));
      if (!keys.includes(blind)) {
        p.firstLocked ??= blind;
        await tx.lockKeys([bytes(blind)]);
        const v = uniq(w);
        a.mops.push(['w', blind, v]);
        put(tx, buf, blind, bytes(String(v)));
      }
    }
    const read: [string, number | null][] = [];
    for (const k of keys) {
      const v = decodeRegister(await readForUpdate(tx, p, k));
      a.mops.push(['r', k, v]);
      read.push([k, v]);
    }
    await hold();
    for (const [k] of read) {
      if (l.rng.nextFloat() < 0.2) continue;
      const v = uniq(w);
      a.mops.push(['w', k, v]);
      put(tx, buf, k, bytes(String(v)));
    }
  } else {
    // A list append under the list's lock.
    const k = listKey(pickKey(l, o.listKeys));
    const list = decodeList(await readForUpdate(tx, p, k));
    a.mops.push(['r', k, list]);
    await hold();
    const e = uniq(w);
    a.mops.push(['append', k, e]);
    put(tx, buf, k, bytes(JSON.stringify([...(list ?? []), e])));
  }
}

/** Plans one of the faults for a call, or none. */
function planFault(l: Lane): 'die' | 'crashPrimaryLeader' | 'slowCommit' | undefined {
  const o = l.w.o;
  const x = l.rng.nextFloat();
  if (x < o.dieChance) return 'die';
  if (x < o.dieChance + o.crashPrimaryLeaderChance) return 'crashPrimaryLeader';
  if (x < o.dieChance + o.crashPrimaryLeaderChance + o.slowCommitChance) return 'slowCommit';
  return undefined;
}

/** A transaction's function, recording its micro-ops in `a` and its writes in `buf`. */
export type Body = (tx: Transaction, a: Attempt, buf: Buffered) => Promise<void>;

/** Runs one `kv.transaction` call of `body` (pessimistic with `p`), recording every attempt. */
async function runTxn(l: Lane, label: string, body: Body, reader: boolean, p?: PessimisticCall): Promise<void> {
  const w = l.w;
  const rec = w.rec;
  const invokeAt = rec.tick();
  const ctrl = new AbortController();
  const fault = reader ? undefined : planFault(l);
  const shortTtl = l.rng.nextFloat() < w.o.shortTtlShare || fault === 'slowCommit' || fault === 'die';
  const lockTtlMs = shortTtl ? intBetween(l.rng, w.o.shortTtlMs[0], w.o.shortTtlMs[1]) : undefined;
  // Optimistic and pessimistic transactions alike commit by 1PC, async commit or 2PC.
  const onePc = fault === undefined && l.rng.nextFloat() >= w.o.twoPcShare;
  const asyncCommit = fault !== 'die' && l.rng.nextFloat() < w.o.asyncCommitShare;
  if (asyncCommit) w.stats.asyncCommit++;
  const slowDelayMs = intBetween(l.rng, 1, 3) * (lockTtlMs ?? 100);
  if (shortTtl) w.stats.shortTtl++;
  let cur: Attempt | undefined;
  let buf: Buffered = new Map();
  let reg: GcRegistration | undefined;
  const planned: bigint[] = [];
  let attempts = 0;
  const fn = async (tx: Transaction): Promise<void> => {
    if (cur !== undefined) rec.finish(cur, 'fail'); // the previous run conflicted: nothing of it committed
    if (reg !== undefined) w.gc?.end(reg);
    if (attempts++ > 0) w.stats.reruns++;
    const startTs = tx.startTs;
    reg = w.gc?.register(startTs, reader);
    const a = rec.begin(l.process, invokeAt, `${l.name} ${label}${fault ? ` (${fault})` : ''}${lockTtlMs ? ` ttl=${lockTtlMs}` : ''}${onePc ? ' 1pc' : ''}${asyncCommit ? ' async' : ''}${p ? ` pessimistic wait=${p.waitTimeoutMs}` : ''}`, startTs);
    if (p !== undefined) delete p.firstLocked;
    cur = a;
    buf = new Map();
    w.pastTs.push({ ts: startTs, invokeAt });
    if (w.pastTs.length > PAST_TS_KEPT) w.pastTs.shift();
    if (fault !== undefined) {
      planned.push(startTs);
      // A tab's transaction dies with its host, once: the reply is lost, the next host commits it
      // again (its prewrites are answered too, and must not kill host after host).
      let died = false;
      const hostDies = (): void => {
        if (!died) tabOf(l).hostDies(`after a prewrite of txn ${startTs}`);
        died = true;
      };
      const abort = l.tab === undefined ? () => ctrl.abort() : hostDies;
      w.plans.set(startTs, planOf(fault, abort, slowDelayMs));
    }
    try {
      await body(tx, a, buf);
    } catch (e) {
      a.threwInFn = true;
      if (kindOf(e) === 'Deadlock') w.stats.deadlocks++;
      if (kindOf(e) === 'LockWaitTimeout') w.stats.lockWaitTimeouts++;
      throw e;
    }
    // Its reads for update are one snapshot at its largest forUpdateTs (see the module comment).
    if (p !== undefined && tx.forUpdateTs !== undefined) a.startTs = rec.ts(tx.forUpdateTs);
    // The primary is the smallest key written (the committer sorts the mutations), or a
    // pessimistic run's first lock.
    const plan = w.plans.get(startTs);
    if (plan?.kind === 'crashPrimaryLeader' || plan?.kind === 'slowCommit') plan.primary = bytes(p?.firstLocked ?? [...buf.keys()].sort()[0] ?? '');
  };
  const how = p === undefined ? { onePc, asyncCommit } : { onePc, asyncCommit, pessimistic: true, waitTimeoutMs: p.waitTimeoutMs };
  const options = { signal: ctrl.signal, retriesMax: w.replayWrites ? 0 : w.o.retriesMax, ...how, ...(lockTtlMs !== undefined ? { lockTtlMs } : {}) };
  try {
    const r = await transact(l, fn, options);
    if (r.info.onePc) w.stats.onePc++;
    if (cur !== undefined) rec.finish(cur, 'ok', r.info.commitTs);
  } catch (e) {
    if (cur !== undefined) await endFailed(l, cur, e, buf, ctrl.signal.aborted);
  } finally {
    if (reg !== undefined) w.gc?.end(reg);
    for (const ts of planned) w.plans.delete(ts);
  }
}

function planOf(fault: 'die' | 'crashPrimaryLeader' | 'slowCommit', abort: () => void, delayMs: number): TxnFaultPlan {
  if (fault === 'die') return { kind: 'die', abort };
  if (fault === 'crashPrimaryLeader') return { kind: 'crashPrimaryLeader', primary: new Uint8Array() };
  return { kind: 'slowCommit', primary: new Uint8Array(), delayMs };
}

/** Ends a call's last attempt after its error (or, under `replayWrites`, replays its writes). */
async function endFailed(l: Lane, a: Attempt, e: unknown, buf: Buffered, killed: boolean): Promise<void> {
  const w = l.w;
  const kind = kindOf(e);
  if (w.replayWrites && !a.threwInFn && (kind === 'WriteConflict' || kind === 'TxnAborted') && buf.size > 0) {
    // The TiDB 2.1.7 bug: the old writes, computed from stale reads, committed again.
    w.stats.replays++;
    try {
      const r = await transact(l, async (tx) => {
        for (const [k, v] of buf) tx.put(bytes(k), v);
      }, { retriesMax: 0 });
      w.rec.finish(a, 'ok', r.info.commitTs);
    } catch (e2) {
      const kind2 = kindOf(e2);
      w.rec.finish(a, kind2 !== undefined && kind2 !== 'Undetermined' ? 'fail' : 'info');
    }
    return;
  }
  a.label += ` [${kind ?? 'error'}: ${e instanceof Error ? e.message.slice(0, ERROR_TEXT_MAX) : String(e)}]`;
  const ambiguous = !a.threwInFn && (killed || kind === undefined || kind === 'Undetermined' || kind === 'Aborted');
  w.rec.finish(a, ambiguous ? 'info' : 'fail');
  if (ambiguous) l.process = w.rec.newProcess();
  if (kind === undefined) w.env.note(`${l.name}: transaction threw a non-PeerKV error: ${String((e as Error).stack ?? e)}`);
}

/** A read at the start ts of an earlier transaction (`kv.snapshot(ts)`). */
async function oldSnapshot(l: Lane): Promise<void> {
  const w = l.w;
  if (w.pastTs.length === 0) return;
  const past = w.pastTs[l.rng.nextInt(w.pastTs.length)];
  const applied = await w.env.pd.getGcSafePoint().catch(() => undefined);
  if (applied === undefined) return;
  const mustRefuse = past.ts < applied;
  // Between the safe point applied and the one proposed, a snapshot may be accepted and then
  // collected under: the harness never picks such a ts (it is the GC worker's own window).
  if (!mustRefuse && w.gc !== undefined && past.ts < w.gc.proposed) return;
  // Half of them read from the nearest replica at its resolved ts (a stale read, locks ignored;
  // the leader at the same ts when the replica is behind): checked as a snapshot at that ts.
  // Not below the safe point: a store learns it late, so its refusal there is best effort.
  const stale = !mustRefuse && l.rng.nextFloat() < 0.5;
  // Half of those at whatever the nearest replica has (`maxStaleness: Infinity`): a recent ts,
  // where live locks are (the ts is known after the first read). A stale read may miss writes
  // that completed before it was invoked (that is what stale means), so it is recorded as
  // invoked at event 0: no real-time edge leads into it, its snapshot at its ts is checked.
  const nearest = stale && l.rng.nextFloat() < 0.5;
  const reg = w.gc?.register(past.ts, true);
  const a = nearest
    ? w.rec.begin(w.rec.newProcess(), 0, `${l.name} snapshot at the nearest replica's resolved ts`)
    : w.rec.begin(w.rec.newProcess(), past.invokeAt, `${l.name} snapshot at an old ts${stale ? ' (stale read)' : ''}`, past.ts);
  try {
    const snap = stale ? await l.kv.staleSnapshot(nearest ? { maxStaleness: Infinity } : { readTs: past.ts }) : await l.kv.snapshot(past.ts);
    if (mustRefuse) w.problems.push({ atMs: w.env.rel(), message: `kv.snapshot(${past.ts}) was accepted below the GC safe point ${applied}` });
    await readAccounts(w, snap, a, l.rng.nextFloat() < 0.5);
    if (nearest) {
      a.startTs = w.rec.ts(snap.ts!);
      // Older than the accounts (a replica whose resolved ts has not moved since): checked as a
      // snapshot (it must see none), not as a bank read.
      if (w.accountsOpenedTs === undefined || snap.ts! < w.accountsOpenedTs) delete a.bank;
    }
    if (stale) w.stats.staleSnapshots++;
    w.rec.finish(a, 'ok');
  } catch (e) {
    if (e instanceof PeerKVError && e.kind === 'InvalidArgument') w.stats.snapshotsRefused++;
    a.threwInFn = true;
    w.rec.finish(a, 'fail');
  } finally {
    if (reg !== undefined) w.gc?.end(reg);
  }
}

/** Share of bank reads made from the nearest replica at its resolved ts (stale reads). */
const NEAREST_READ_SHARE = 0.3;

/**
 * A bank read at whatever the nearest replica has (`staleSnapshot({ maxStaleness: Infinity })`):
 * served from the replica's own state at its resolved ts, locks ignored. Recorded as a
 * read-only transaction at that ts, invoked at event 0 (a stale read may miss writes that
 * completed before it: no real-time edge leads into it); below the accounts' opening it is a
 * snapshot that must see none, not a bank read.
 */
async function nearestRead(l: Lane, byScan: boolean): Promise<void> {
  const w = l.w;
  const a = w.rec.begin(w.rec.newProcess(), 0, `${l.name} bank read at the nearest replica's resolved ts${byScan ? ' (scan)' : ''}`);
  try {
    const snap = await l.kv.staleSnapshot({ maxStaleness: Infinity });
    await readAccounts(w, snap, a, byScan);
    a.startTs = w.rec.ts(snap.ts!);
    if (w.accountsOpenedTs === undefined || snap.ts! < w.accountsOpenedTs) delete a.bank;
    w.stats.staleSnapshots++;
    w.rec.finish(a, 'ok');
  } catch {
    a.threwInFn = true;
    a.mops.length = 0;
    delete a.bank;
    w.rec.finish(a, 'fail');
  }
}

/** Keys and values a queued body may write (the client checks them at its commit anyway). */
const QUEUED_CHECKS = { key: (): void => undefined, value: (): void => undefined };

/** One queued transaction's reads, writes and the step before its commit (see `queuedTxn`). */
export interface QueuedCall {
  label: string;
  /** Where the body reads: the nearest replica at whatever it has, or at a given read ts. */
  staleness: { maxStaleness: number } | { readTs: bigint };
  body: Body;
  /** Runs once the read ts is known, before the commit (a write that overtakes the reads). */
  beforeCommit?: (readTs: bigint) => Promise<void>;
}

/**
 * A queued offline transaction (`offline-txns.ts`, without the queue): the body runs against
 * the nearest replica (`staleSnapshot`: at its resolved ts R, or at a given read ts), then
 * commits as the queue commits it — a fresh start ts, the keys it read as `lock` mutations,
 * conflicts checked since R. Recorded with R as its snapshot (invoked at event 0, as any stale
 * read: it may miss writes that completed before it); a refusal is `fail`, an unknown outcome `info`.
 * Returns the kind of the error its commit ended with, if any.
 */
export async function queuedTxn(l: Lane, c: QueuedCall): Promise<string | undefined> {
  const w = l.w;
  const a = w.rec.begin(w.rec.newProcess(), 0, `${l.name} ${c.label}`);
  let reg: GcRegistration | undefined;
  let committing = false;
  try {
    const snap = await l.kv.staleSnapshot(c.staleness);
    const reader = new RecordingReader({
      get ts() {
        return snap.ts;
      },
      get: (key) => snap.get(key),
      scan: (start, end, limit) => snap.scan({ start, end, limit }),
    });
    const tx = new Transaction(reader, QUEUED_CHECKS);
    const buf: Buffered = new Map();
    await c.body(tx, a, buf);
    const writes = tx.seal().filter((m) => m.op !== 'lock');
    const readTs = reader.readTs ?? (writes.length > 0 ? await reader.fixTs(writes[0].key) : undefined);
    if (readTs === undefined) throw new PeerKVError('Unavailable', 'nothing read, nothing written');
    a.startTs = w.rec.ts(readTs);
    // Held from GC like any open transaction; one whose read ts GC may already pass reads nothing.
    reg = w.gc?.register(readTs, false);
    if (w.gc !== undefined && readTs < w.gc.proposed) throw new PeerKVError('SafePointPassed', 'read ts below the proposed safe point');
    if (writes.length === 0) {
      w.rec.finish(a, 'ok');
      return undefined;
    }
    await c.beforeCommit?.(readTs);
    // `readKeys` leaves out the written keys (named as binary strings).
    const written = new Set(writes.map((m) => String.fromCharCode(...m.key)));
    const mutations: Mutation[] = [...writes, ...reader.readKeys(written).map((key): Mutation => ({ op: 'lock', key }))].sort((x, y) => {
      const [p, q] = [dec.decode(x.key), dec.decode(y.key)];
      return p < q ? -1 : p > q ? 1 : 0;
    });
    const startTs = await l.kv.getTimestamp();
    committing = true;
    const { commitTs } = await l.kv.commitQueuedTxn({ startTs, mutations, readTs, ranges: [], lockTtlMs: 3000, beganAtMs: w.env.sched.now() });
    w.rec.finish(a, 'ok', commitTs);
    return undefined;
  } catch (e) {
    const kind = e instanceof PeerKVError ? e.kind : undefined;
    if (!committing) {
      a.threwInFn = true;
      a.mops.length = 0;
      w.rec.finish(a, 'fail');
      return undefined;
    }
    if (kind === 'WriteConflict') w.stats.queuedConflicts++;
    a.label += ` [${kind ?? 'error'}: ${e instanceof Error ? e.message.slice(0, ERROR_TEXT_MAX) : String(e)}]`;
    w.rec.finish(a, kind === 'Undetermined' || kind === 'Aborted' || !(e instanceof PeerKVError) ? 'info' : 'fail');
    return kind ?? 'error';
  } finally {
    if (reg !== undefined) w.gc?.end(reg);
  }
}

/** One lane's loop until virtual time `untilMs`. */
async function laneLoop(l: Lane, untilMs: number): Promise<void> {
  const w = l.w;
  while (w.env.sched.now() < untilMs) {
    await w.env.sched.sleep(l.rng.nextInt(w.o.thinkMsMax + 1));
    if (w.env.sched.now() >= untilMs) break;
    const picked = weightedPick(l.rng, w.o.weights);
    // A tab runs transactions only (see the module comment): the other kinds read the bank there.
    const kind = l.tab !== undefined && (picked === 'oldSnapshot' || picked === 'queued') ? 'bankRead' : picked;
    w.stats[kind]++;
    switch (kind) {
      case 'listAppend':
        await runTxn(l, 'list-append', (tx, a, buf) => listAppend(l, tx, a, buf), false);
        break;
      case 'register':
        await runTxn(l, 'register', (tx, a, buf) => registerOps(l, tx, a, buf), false);
        break;
      case 'transfer':
        await runTxn(l, 'transfer', (tx, a, buf) => transfer(l, tx, a, buf), false);
        break;
      case 'bankRead': {
        const byScan = l.rng.nextFloat() < 0.5;
        if (l.tab === undefined && l.rng.nextFloat() < NEAREST_READ_SHARE) await nearestRead(l, byScan);
        else await runTxn(l, `bank read${byScan ? ' (scan)' : ''}`, (tx, a) => readAccounts(w, tx, a, byScan), true);
        break;
      }
      case 'longRead':
        await runTxn(l, 'long read', (tx, a) => longRead(l, tx, a), true);
        break;
      case 'oldSnapshot':
        await oldSnapshot(l);
        break;
      case 'pessimistic': {
        const p: PessimisticCall = { waitTimeoutMs: intBetween(l.rng, w.o.pessimisticWaitMs[0], w.o.pessimisticWaitMs[1]) };
        await runTxn(l, 'pessimistic', (tx, a, buf) => pessimisticOps(l, tx, a, buf, p), false, p);
        break;
      }
      case 'queued':
        await queuedTxn(l, {
          label: "queued (read at the nearest replica's resolved ts, committed with readTs)",
          staleness: { maxStaleness: Infinity },
          body: (tx, a, buf) => (l.rng.nextFloat() < 0.5 ? listAppend(l, tx, a, buf) : registerOps(l, tx, a, buf)),
        });
        break;
    }
  }
}

/** Starts every lane of every client; resolves when all stopped. */
export function txnLanes(w: TxnWorkload, rng: SeededRng, untilMs: number): Promise<void>[] {
  const out: Promise<void>[] = [];
  w.clients.forEach((kv, c) => {
    for (let i = 0; i < w.o.lanesPerClient; i++) {
      out.push(laneLoop({ w, kv, rng: rng.fork(), process: w.rec.newProcess(), name: `c${c}.${i}` }, untilMs));
    }
  });
  if (w.tabs === undefined) return out;
  for (let i = 0; i < w.o.tabLanes; i++) {
    const laneRng = rng.fork();
    const name = `tab${i}`;
    const tab = { current: new SimTxnTab(w.tabs, `${name}-tab0`, laneRng.fork()), opened: 0 };
    out.push(laneLoop({ w, kv: w.clients[0], rng: laneRng, process: w.rec.newProcess(), name, tab }, untilMs));
  }
  return out;
}

/** Writes every account's opening balance (one transaction, recorded); true once committed. */
export async function openAccounts(w: TxnWorkload, kv: PeerKV): Promise<boolean> {
  for (let round = 0; round < 5; round++) {
    const invokeAt = w.rec.tick();
    let a: Attempt | undefined;
    try {
      const r = await kv.transactionWithInfo(async (tx) => {
        if (a !== undefined) w.rec.finish(a, 'fail');
        a = w.rec.begin(w.rec.newProcess(), invokeAt, 'open accounts', tx.startTs);
        for (let i = 0; i < w.o.accounts; i++) {
          const id = uniq(w);
          a.mops.push(['w', accountKey(i), id]);
          tx.put(bytes(accountKey(i)), encodeBalance({ balance: w.o.initialBalance, id }));
        }
      });
      if (a !== undefined) w.rec.finish(a, 'ok', r.info.commitTs);
      if (r.info.commitTs !== undefined) w.accountsOpenedTs = r.info.commitTs;
      return true;
    } catch (e) {
      if (a !== undefined) w.rec.finish(a, e instanceof PeerKVError && e.kind !== 'Undetermined' ? 'fail' : 'info');
      if (e instanceof PeerKVError && e.kind === 'Undetermined') return false;
    }
  }
  return false;
}

/** After healing: one read-only transaction over every key (so every append has a place); true once read. */
export async function finalRead(w: TxnWorkload, kv: PeerKV): Promise<boolean> {
  for (let round = 0; round < 5; round++) {
    const invokeAt = w.rec.tick();
    const a = w.rec.begin(w.rec.newProcess(), invokeAt, 'final read');
    try {
      await kv.transaction(async (tx) => {
        a.startTs = w.rec.ts(tx.startTs);
        a.mops = [];
        for (let i = 0; i < w.o.listKeys; i++) a.mops.push(['r', listKey(i), decodeList(await tx.get(bytes(listKey(i))))]);
        for (let i = 0; i < w.o.registerKeys; i++) a.mops.push(['r', registerKey(i), decodeRegister(await tx.get(bytes(registerKey(i))))]);
        for (const k of w.directedKeys) a.mops.push(['r', k, decodeRegister(await tx.get(bytes(k)))]);
        await readAccounts(w, tx, a, false);
      });
      w.rec.finish(a, 'ok');
      return true;
    } catch {
      w.rec.finish(a, 'fail');
    }
  }
  return false;
}
