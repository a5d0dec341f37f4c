/**
 * One `--txn` seed: the cluster of `--cluster` mode (real stores declaring the txn column
 * families, PD, the nemesis, the lossy client network) running transactional workloads through
 * the real `PeerKV` clients' `kv.transaction()`, with the transaction faults of `txn-net.ts`
 * and GC racing long readers (`txn-gc.ts`); then heal, converge, one final read of every key,
 * and the checks: snapshot isolation over the whole history (`txn-check`, list-append and
 * rw-register, with process, real-time and timestamp order), the bank's conserved total,
 * snapshots below the safe point refused, and the cluster checks of `--cluster` (stores
 * stopped with an error, region coverage, convergence, replica digests in runs without GC).
 * A change feed watcher runs beside the workload; what it delivered is checked against what
 * the stores applied (`txn-feed.ts`).
 */
import { SeededRng } from '@peerkv/raft';
import { PeerKV } from 'peerkv';
import { checkBank, checkSnapshotIsolation, type CheckReport } from '../txn-check/index.ts';
import { ClusterEnv, type Device } from './cluster-env.ts';
import { clusterDump, convergenceProblem, replicaViewProblem, laggingFullReplicaProblem, witnessDataProblem } from './checks.ts';
import { lastChecks, runUntilConverged, sampleCoverage, storeErrorProblems, within } from './run.ts';
import { SimStoreResolver } from './client-net.ts';
import { DigestChecker, sampleDigests } from './digests.ts';
import { nemesisLoop, type NemesisStats } from './nemesis.ts';
import { defaultClusterOptions, type ClusterSimOptions } from './options.ts';
import { GcDriver, PD_SERVICE_TTL_MS_MAX, STORE_GC_INTERVAL_MS, tsAtMs, type GcStats } from './txn-gc.ts';
import { TxnRecorder } from './txn-history.ts';
import { TxnStoreResolver, emptyTxnNetStats, type TxnNetStats } from './txn-net.ts';
import { simClientOptions } from './workload.ts';
import { TabWriter } from 'peerkv/browser';
import { SimTabHost } from './tabs.ts';
import { emptyTabTxnStats, type TabTxnStats } from './tab-txns.ts';
import { SimWatchTab, emptyTabWatchStats, type TabWatchStats } from './tab-watch-lane.ts';
import { CommittedChanges, FeedWatcher, checkFeed, emptyFeedStats, feedWriter, type FeedStats } from './txn-feed.ts';
import { directedSteps } from './txn-directed.ts';
import { emptyTxnWorkloadStats, finalRead, openAccounts, txnLanes, type TxnWorkload, type TxnWorkloadOptions, type TxnWorkloadStats } from './txn-workload.ts';

/** Deliberate bugs `--txn` can turn on (each must be caught). */
export interface TxnMutations {
  /** A commit whose lock was resolved away is reported committed (`txn-net.ts`). */
  commitWithoutLockCheck?: boolean;
  /** Reads read around every lock they meet (`txn-net.ts`). */
  readIgnoringLocks?: boolean;
  /** The GC safe point passes the start ts of open read-only transactions (`txn-gc.ts`). */
  gcPastReader?: boolean;
  /** On a conflict, the old writes are committed again instead of re-running the function. */
  replayWrites?: boolean;
  /** A tab reports a commit whose outcome is unknown as aborted (`tab-txns.ts`). */
  tabUndeterminedAsAborted?: boolean;
  /** A watching tab reopens its watch above the watermark it yielded (`tab-watch-lane.ts`). */
  tabWatchResumesAhead?: boolean;
}

/** Everything a `--txn` seed depends on besides the cluster options. */
export interface TxnSimOptions extends TxnWorkloadOptions {
  /** Whether the simulator moves the GC safe point in this seed (the stores collect below it). */
  gc: boolean;
  gcIntervalMs: number;
  gcLifeMs: number;
  gcGraceMs: number;
  /** Whether a tab watches the change feed through host tabs that die (`tab-watch-lane.ts`), checked as the feed is. */
  tabWatch: boolean;
  /** How long a store crashed by `crashPrimaryLeader` stays down, ms. */
  primaryCrashDownMs: readonly [number, number];
  txnMutations: TxnMutations;
  cluster: Partial<Omit<ClusterSimOptions, 'seed'>>;
}

/** The data column families a transactional store declares. */
export const TXN_DATA_CFS = ['default', 'lock', 'write'] as const;

/** The defaults for `seed`, with `overrides` applied. */
export function defaultTxnOptions(seed: number, overrides: Partial<TxnSimOptions> = {}): TxnSimOptions {
  return {
    lanesPerClient: 3,
    listKeys: 8,
    registerKeys: 6,
    accounts: 5,
    initialBalance: 100,
    hotKeys: 2,
    hotKeyShare: 0.35,
    thinkMsMax: 20,
    weights: { listAppend: 38, register: 22, transfer: 18, bankRead: 9, longRead: 6, oldSnapshot: 7, pessimistic: 16, queued: 6 },
    shortTtlShare: 0.25,
    shortTtlMs: [80, 400],
    twoPcShare: 0.3,
    asyncCommitShare: 0.3,
    dieChance: 0.03,
    crashPrimaryLeaderChance: 0.015,
    slowCommitChance: 0.03,
    longReadPauseMs: [300, 1_500],
    pessimisticWaitMs: [30, 800],
    pessimisticHoldMs: [0, 60],
    retriesMax: 10,
    tabLanes: 3,
    gc: seed % 3 !== 0,
    tabWatch: true,
    gcIntervalMs: 250,
    gcLifeMs: 600,
    gcGraceMs: 2_500,
    primaryCrashDownMs: [50, 800],
    txnMutations: {},
    cluster: {},
    ...overrides,
  };
}

/** What the stores handed to the client lock resolver (`StoreOptions.gcLockResolver`). */
export interface StoreLockResolution {
  /** Expired locks whose primary's region another store leads (GC rounds and resolved-ts runs). */
  locksHanded: number;
}

/** A problem found in one seed. */
export interface TxnViolation {
  kind: 'si' | 'bank' | 'gcSafePoint' | 'checkerUnknown' | 'liveness' | 'regionCoverage' | 'divergence' | 'storeError' | 'feed' | 'tabFeed' | 'witnessData';
  atMs: number;
  message: string;
}

export interface TxnSeedResult {
  seed: number;
  txns: number;
  committed: number;
  aborted: number;
  undetermined: number;
  violations: TxnViolation[];
  /** Anomaly counts by type (SI checker) and G2 seen (allowed). */
  anomalyCounts: Record<string, number>;
  g2Seen: number;
  bankReads: number;
  historyHash: string;
  nemesis: NemesisStats;
  net: TxnNetStats;
  /** Snapshot sends lost (`netSnapshotDropRate`) and staged chunks a pending apply found gone (`stagedChunkLossChance`). */
  snapshotFaults: { snapshotDrops: number; stagedChunksLost: number };
  gc: GcStats;
  /** The stores' use of the client lock resolver. */
  storeLockResolution: StoreLockResolution;
  workload: TxnWorkloadStats;
  /** What the tab lanes did (`tab-txns.ts`). */
  tabs: TabTxnStats;
  feed: FeedStats;
  /** The change feed watched through a tab (`tab-watch-lane.ts`): what it delivered and what the tab went through. */
  tabFeed: FeedStats & TabWatchStats;
  regions: number;
  virtualMs: number;
  /** Lines of the history around the anomalies (for reports). */
  historyExcerpt: string[];
  trace: string[];
}

/** The client network of `--txn`'s client i (wrapped by the transaction faults). */
function txnStores(env: ClusterEnv, i: number, wrap: (inner: SimStoreResolver) => TxnStoreResolver): TxnStoreResolver {
  return wrap(new SimStoreResolver(env, new SeededRng((env.o.seed * 1_000_003 + i * 7_919 + 23) >>> 0)));
}

/** A `PeerKV` for `--txn` (the client network wrapped by the transaction faults). */
function txnClient(env: ClusterEnv, i: number, wrap: (inner: SimStoreResolver) => TxnStoreResolver, stores = txnStores(env, i, wrap)): PeerKV {
  return new PeerKV({
    pd: env.pd,
    stores,
    clientId: `sim-${env.o.seed}-t${i}`,
    clock: env.sched,
    random: env.sched.random,
    requestTimeoutMs: env.o.requestTimeoutMs,
    backoff: { attemptsMax: 40, baseMs: 5, capMs: 400, budgetMs: env.o.clientBudgetMs },
    dataModel: 'mvcc',
    // The clients read through every replica choice: the leader, a follower, the closest by
    // RTT (`handlers/replica-read.ts`), all checked by the same SI and bank checkers.
    ...TXN_CLIENT_READS[i % TXN_CLIENT_READS.length],
  });
}

/**
 * The read choice of client i (by i modulo the list). The follower reads come from the client's
 * `consistency: 'follower'`, which the mvcc model serves as `replicaRead: 'follower'` (so the
 * mutations `replicaReadSkipsCatchUp`/`replicaReadSkipsMaxTs` meet it too).
 */
const TXN_CLIENT_READS = [{ replicaRead: 'leader' }, { consistency: 'follower' }, { replicaRead: 'closest' }] as const;

/** A `PeerKV` on the plain client network (no transaction faults), mvcc: the change feed's watcher and writer. */
function feedClient(env: ClusterEnv, i: number): PeerKV {
  return new PeerKV(simClientOptions(env, i, 71, 'f'));
}

/** How long the feed may take to resolve past the ts taken after the final read, virtual ms (an idle region's resolved ts moves every 10 s). */
const FEED_CATCH_UP_MS = 30_000;

/** Runs one `--txn` seed end to end. */
export async function runTxnSeed(seed: number, overrides: Partial<TxnSimOptions> = {}): Promise<TxnSeedResult> {
  const t = defaultTxnOptions(seed, overrides);
  const gcOptions = t.gc ? { storeGcIntervalMs: STORE_GC_INTERVAL_MS, pdGc: { serviceTtlMsMax: PD_SERVICE_TTL_MS_MAX } } : {};
  const o = defaultClusterOptions(seed, { clients: 4, workloadMs: 6_000, regionSplitKeys: 6, ...gcOptions, ...t.cluster, dataColumnFamilies: TXN_DATA_CFS, dataModel: 'mvcc' });
  const env = new ClusterEnv(o);
  const committedChanges = new CommittedChanges();
  env.applyObservers.push(committedChanges);
  const feedStats = emptyFeedStats();
  let feed: FeedWatcher | undefined;
  const tabFeedStats = { ...emptyFeedStats(), ...emptyTabWatchStats() };
  let tabFeed: { watcher: FeedWatcher; tab: SimWatchTab } | undefined;
  const rng = new SeededRng(seed ^ 0x7478_6e21);
  const violations: TxnViolation[] = [];
  const at = (): number => env.rel();
  const nemesis: NemesisStats = { kills: 0, restarts: 0, wipes: 0, partitions: 0, leaderTransfers: 0 };
  const net = emptyTxnNetStats();
  // Timestamps are recorded relative to an hour before the run (below every TSO value of it).
  const rec = new TxnRecorder(tsAtMs(env.startMs - 3_600_000));
  const digests = new DigestChecker();
  const background: Promise<void>[] = [];
  const faultRng = rng.fork();
  const crashStore = async (storeId: number, why: string): Promise<void> => {
    const d = env.devices.find((x) => x.storeId === storeId && x.up && !x.busy);
    const down = env.devices.filter((x) => !x.up).length;
    if (d === undefined || down >= o.downStoresMax) return;
    env.note(`crash ${d.label} (store ${storeId}): ${why}`);
    await env.crash(d, faultRng);
    background.push(restartLater(env, d, faultRng.nextInt(t.primaryCrashDownMs[1] - t.primaryCrashDownMs[0] + 1) + t.primaryCrashDownMs[0]));
  };
  const w: TxnWorkload = {
    env,
    rec,
    clients: [],
    o: t,
    plans: new Map(),
    stats: emptyTxnWorkloadStats(),
    problems: [],
    pastTs: [],
    counter: { n: 1 },
    replayWrites: t.txnMutations.replayWrites === true,
    directedKeys: [],
  };
  const wrap = (inner: SimStoreResolver): TxnStoreResolver =>
    new TxnStoreResolver(inner, { plan: (ts) => w.plans.get(ts), crashStore, sleep: env.sched.sleep, mutations: t.txnMutations, stats: net });
  let gc: GcDriver | undefined;
  const lockResolution: StoreLockResolution = { locksHanded: 0 };
  const tabStats = emptyTabTxnStats();
  try {
    await within(env, 'setup', env.setup(), o.setupMaxMs);
    if (!(await env.sched.runUntil(() => convergenceProblem(env) === undefined, o.setupMaxMs))) {
      violations.push({ kind: 'liveness', atMs: at(), message: `initial replication did not converge: ${convergenceProblem(env)}` });
    }
    const clientStores = Array.from({ length: o.clients }, (_, i) => txnStores(env, i, wrap));
    w.clients = clientStores.map((stores, i) => txnClient(env, i, wrap, stores));
    // Every client hosts tabs too (`tab-txns.ts`): the tab lanes' transactions run through them.
    const hosts = w.clients.map((kv, i) => new SimTabHost(`host-${seed}-${i}`, kv, new TabWriter({ getRegion: (key) => env.pd.getRegion(key), store: (id) => clientStores[i].store(id) }, o.requestTimeoutMs, env.sched.sleep), undefined, env.sched));
    w.tabs = { env, hosts, stats: tabStats, undeterminedAsAborted: t.txnMutations.tabUndeterminedAsAborted === true };
    if (!(await within(env, 'open accounts', openAccounts(w, w.clients[0]), o.setupMaxMs * 2))) {
      violations.push({ kind: 'liveness', atMs: at(), message: 'the accounts could not be opened on a healthy cluster' });
    }
    const until = env.sched.now() + o.workloadMs;
    // The stores resolve the expired locks they cannot resolve themselves (the primary's region
    // is led by another store) through a client, as every deployment wires them
    // (`StoreOptions.gcLockResolver`): in every seed, GC or not, since the resolved-ts worker
    // needs it too. Without it, a rolled-back transaction's secondary locks in regions led away
    // from its primary's held those regions' resolved ts, and the feed, below its start ts for
    // good once no reader met them (sim --txn seed 39, GC off, on the idle branch's timeline).
    const resolver = txnClient(env, o.clients + 1, wrap).gcLockResolver();
    env.pd.gcLockResolver = {
      resolveLocks: (locks) => {
        lockResolution.locksHanded += locks.length;
        return resolver.resolveLocks(locks);
      },
    };
    if (t.gc) {
      gc = new GcDriver(env, { gcIntervalMs: t.gcIntervalMs, gcLifeMs: t.gcLifeMs, gcGraceMs: t.gcGraceMs, pastReaders: t.txnMutations.gcPastReader === true });
      w.gc = gc;
    }
    feed = new FeedWatcher(env, feedClient(env, 1), gc, feedStats);
    await within(env, 'feed start', feed.start(), o.setupMaxMs);
    if (t.tabWatch) {
      // Three host tabs, each on its own client of the plain network, serve a watching tab.
      const kvs = [3, 4, 5].map((i) => feedClient(env, i));
      const hosts = kvs.map((kv, i) => {
        const writer = new TabWriter({ getRegion: (key) => env.pd.getRegion(key), store: () => undefined }, o.requestTimeoutMs, env.sched.sleep);
        return new SimTabHost(`watch-host-${seed}-${i}`, kv, writer, undefined, env.sched);
      });
      const tab = new SimWatchTab(`watch-tab-${seed}`, env, hosts, rng.fork(), tabFeedStats, t.txnMutations.tabWatchResumesAhead === true);
      tabFeed = { tab, watcher: new FeedWatcher(env, kvs[0], gc, tabFeedStats, (fromTs) => tab.watch(fromTs)) };
      await within(env, 'tab feed start', tabFeed.watcher.start(), o.setupMaxMs);
    }
    const lanes = txnLanes(w, rng.fork(), until);
    // Deterministic steps beside the random lanes, on their own rng (`txn-directed.ts`).
    lanes.push(directedSteps(w, until));
    // A wipe waits until PD's view and every replica agree (`replicaViewProblem`), not PD's alone.
    const faults = nemesisLoop(env, rng.fork(), until, () => convergenceProblem(env) === undefined && replicaViewProblem(env) === undefined && (!o.witness || laggingFullReplicaProblem(env) === undefined), nemesis);
    const side: Promise<void>[] = [sampleCoverage(env, until, (message) => violations.push({ kind: 'regionCoverage', atMs: at(), message }))];
    if (gc) side.push(gc.loop(until));
    side.push(feedWriter(env, feedClient(env, 2), until, feedStats));
    if (tabFeed) side.push(tabFeed.tab.hostDeaths(until));
    // The stores' GC goes through Raft; only the mutation's GC changes replicas apart.
    const compareDigests = t.txnMutations.gcPastReader !== true;
    if (compareDigests) side.push(sampleDigests(env, digests, until));
    await within(env, 'workload', Promise.all([...lanes, faults, ...side]), o.workloadMs + o.clientBudgetMs * 6 + o.faultLengthMs[1] * 2 + o.setupMaxMs);
    await within(env, 'restarts', Promise.all(background), o.setupMaxMs);
    await within(env, 'heal', env.healAll(), o.setupMaxMs);
    if (!(await runUntilConverged(env, o.convergeMaxMs))) {
      violations.push({ kind: 'liveness', atMs: at(), message: `not converged ${o.convergeMaxMs}ms after healing: ${convergenceProblem(env)}` });
      env.trace.push(...clusterDump(env));
    }
    const reader = txnClient(env, o.clients + 2, wrap);
    if (!(await within(env, 'final read', finalRead(w, reader), o.clientBudgetMs * 12))) {
      violations.push({ kind: 'liveness', atMs: at(), message: 'the final read failed on the healed cluster' });
    }
    const targetTs = await within(env, 'feed target ts', reader.getTimestamp(), o.clientBudgetMs * 3);
    await feed.catchUp(targetTs, FEED_CATCH_UP_MS);
    await feed.stop();
    for (const p of checkFeed(feed, committedChanges.changes(), targetTs, at(), feedStats)) violations.push({ kind: 'feed', ...p });
    if (tabFeed) {
      await tabFeed.watcher.catchUp(targetTs, FEED_CATCH_UP_MS);
      await tabFeed.watcher.stop();
      tabFeed.tab.closeHosts();
      for (const p of checkFeed(tabFeed.watcher, committedChanges.changes(), targetTs, at(), tabFeedStats)) violations.push({ kind: 'tabFeed', ...p });
    }
    const cov = await lastChecks(env, compareDigests ? digests : undefined);
    if (cov) violations.push({ kind: 'regionCoverage', atMs: at(), message: cov });
    const wd = await witnessDataProblem(env);
    if (wd) violations.push({ kind: 'witnessData', atMs: at(), message: wd });
  } catch (e) {
    violations.push({ kind: 'storeError', atMs: at(), message: `run aborted: ${String((e as Error).stack ?? e)}` });
  }
  // (Stopped already unless the run aborted; a second stop does nothing.)
  await feed?.stop();
  await tabFeed?.watcher.stop();
  tabFeed?.tab.closeHosts();
  rec.closePending();
  gc?.readStoreStats();
  for (const p of storeErrorProblems(env)) violations.push({ kind: 'storeError', ...p });
  for (const p of digests.problems) violations.push({ kind: 'divergence', atMs: p.atMs, message: p.message });
  for (const p of w.problems) violations.push({ kind: 'gcSafePoint', atMs: p.atMs, message: p.message });
  const excerpt = new Set<number>();
  const report = checkSi(rec, violations, excerpt);
  const bank = checkBank(rec.bankTxns(), { accounts: Array.from({ length: t.accounts }, (_, i) => `a${String(i).padStart(2, '0')}`), total: t.accounts * t.initialBalance });
  for (const e of bank.errors) {
    violations.push({ kind: 'bank', atMs: at(), message: `${e.kind}: ${e.explanation}` });
    excerpt.add(Number(rec.bankTxns()[e.txn]?.id ?? -1));
  }
  if (bank.badReads > bank.errors.length) violations.push({ kind: 'bank', atMs: at(), message: `${bank.badReads - bank.errors.length} more bad bank read(s)` });
  const c = rec.counts();
  const regions = env.pd.regions().length;
  await env.sched.await(env.pd.close(), 10_000);
  return {
    seed,
    txns: rec.size,
    committed: c.ok,
    aborted: c.fail,
    undetermined: c.info,
    violations,
    anomalyCounts: report ? ({ ...report.anomalyCounts } as Record<string, number>) : {},
    g2Seen: report?.seen.G2 ?? 0,
    bankReads: bank.readsChecked,
    historyHash: rec.hash(),
    nemesis,
    net,
    snapshotFaults: { snapshotDrops: env.snapshotFaults.snapshotSendsDropped, stagedChunksLost: env.snapshotFaults.stagedChunksLost },
    gc: gc?.stats ?? { safePoints: 0, versionsDropped: 0, heldByRegistrations: 0, storeVersionsDropped: 0, storeLocksResolved: 0 },
    storeLockResolution: lockResolution,
    workload: w.stats,
    tabs: tabStats,
    feed: feedStats,
    tabFeed: tabFeedStats,
    regions,
    virtualMs: at(),
    historyExcerpt: [...excerpt].filter((i) => i >= 0).sort((a, b) => a - b).slice(0, HISTORY_EXCERPT_TXNS_MAX).map((i) => rec.describe(i)),
    trace: env.trace,
  };
}

/** Transactions shown around the anomalies in a report. */
const HISTORY_EXCERPT_TXNS_MAX = 40;

/** Runs the SI checker; records its anomalies as violations and their transactions in `excerpt`. */
function checkSi(rec: TxnRecorder, violations: TxnViolation[], excerpt: Set<number>): CheckReport | undefined {
  let report: CheckReport;
  try {
    report = checkSnapshotIsolation(rec.txns(), { process: true, realtime: true, timestamps: true });
  } catch (e) {
    violations.push({ kind: 'si', atMs: 0, message: `the history was refused by the checker: ${String((e as Error).message ?? e)}` });
    return undefined;
  }
  for (const a of report.anomalies) {
    violations.push({ kind: 'si', atMs: 0, message: `${a.type}: ${a.explanation}` });
    if ('cycle' in a) for (const s of a.cycle) excerpt.add(s.from), excerpt.add(s.to);
    else for (const i of a.witness.txns) excerpt.add(i);
  }
  const reported = report.anomalies.length;
  const total = Object.values(report.anomalyCounts).reduce((s, n) => s + (n ?? 0), 0);
  if (total > reported) violations.push({ kind: 'si', atMs: 0, message: `${total - reported} more anomalies not listed` });
  if (report.valid === 'unknown') violations.push({ kind: 'checkerUnknown', atMs: 0, message: `the SI checker ran out of its step budget after ${report.stats.steps} steps (unknown, not a pass)` });
  return report;
}

async function restartLater(env: ClusterEnv, d: Device, downMs: number): Promise<void> {
  d.busy = true;
  await env.sched.sleep(downMs);
  await env.start(d);
}

