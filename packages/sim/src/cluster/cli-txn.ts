/**
 * `npm run sim -- --txn --seeds N [--seed S] [--verbose] [--mutation M]`: runs `--txn` seeds
 * (`txn-run.ts`), prints each failing seed with its anomalies, an excerpt of the history and
 * how to reproduce it, and ends with exactly
 * `sim: seeds=<N> txns=<T> committed=<C> aborted=<A> undetermined=<U> anomalies=<X>`
 * (X: SI anomalies, bad bank reads and every other violation, a checker out of budget
 * included). Exit code 1 on any anomaly, 2 on bad arguments.
 */
import { addCounts, counts } from './cli-cluster.ts';
import { runTxnSeed, type TxnMutations, type TxnSeedResult, type TxnSimOptions } from './txn-run.ts';

/** The deliberate bugs `--txn` can turn on; each must be caught. */
export const TXN_MUTATIONS = ['commitWithoutLockCheck', 'readIgnoringLocks', 'asyncCommitBelowMaxTs', 'gcPastReader', 'replayWrites', 'safeTsPastLocks', 'replicaReadSkipsCatchUp', 'replicaReadSkipsMaxTs', 'pessimisticLockIgnoresConflict', 'localReadSkipsCatchUp', 'queuedIgnoresReadTs', 'cdcSkipDeletes', 'cdcWatermarkAhead', 'cdcBufferIgnoresFloor', 'tabUndeterminedAsAborted', 'tabWatchResumesAhead'] as const;
export type TxnMutationName = (typeof TXN_MUTATIONS)[number];

export interface TxnCliArgs {
  seeds: number[];
  verbose: boolean;
  mutation?: TxnMutationName;
  /** The last store is a witness store (`ClusterSimOptions.witness`). */
  witness?: boolean;
}

/** Bad command-line input. */
export class TxnCliError extends Error {
  override readonly name = 'TxnCliError';
}

export const TXN_USAGE = `usage: npm run sim -- --txn [--seeds N] [--seed S] [--verbose] [--witness] [--mutation ${TXN_MUTATIONS.join('|')}]`;

/** Largest `--seeds`. */
export const TXN_SEEDS_MAX = 100_000;

/** Lines of one violation printed without --verbose. */
const REPORT_LINES_MAX = 40;

function intArg(flag: string, raw: string | undefined, min: number, max: number): number {
  const n = Number(raw);
  if (raw === undefined || !Number.isSafeInteger(n) || n < min || n > max) throw new TxnCliError(`${flag} must be an integer in [${min}, ${max}], got ${raw}`);
  return n;
}

/** Parses `--txn` arguments (`--txn` itself is accepted and ignored). */
export function parseTxnArgs(argv: readonly string[]): TxnCliArgs {
  let count: number | undefined;
  let first: number | undefined;
  let verbose = false;
  let mutation: TxnMutationName | undefined;
  let witness = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--txn') continue;
    else if (a === '--witness') witness = true;
    else if (a === '--seeds') count = intArg(a, argv[++i], 1, TXN_SEEDS_MAX);
    else if (a === '--seed') first = intArg(a, argv[++i], 0, 2 ** 31 - 1);
    else if (a === '--verbose' || a === '-v') verbose = true;
    else if (a === '--mutation') {
      const m = argv[++i];
      const known = TXN_MUTATIONS.find((x) => x === m);
      if (known === undefined) throw new TxnCliError(`unknown mutation ${m} (--txn knows: ${TXN_MUTATIONS.join(', ')})`);
      mutation = known;
    } else throw new TxnCliError(`unknown argument ${a}`);
  }
  const start = first ?? 1;
  const n = count ?? (first !== undefined ? 1 : 20);
  return { seeds: Array.from({ length: n }, (_, i) => start + i), verbose, ...(mutation ? { mutation } : {}), ...(witness ? { witness } : {}) };
}

/** The options a mutation turns on. */
export function txnMutationOptions(name: TxnMutationName | undefined): Partial<TxnSimOptions> {
  if (name === undefined) return {};
  // A store mutation: async-commit and 1PC prewrites compute their commit ts as if max_ts were 0.
  if (name === 'asyncCommitBelowMaxTs') return { cluster: { mutations: { store: { asyncCommitIgnoresMaxTs: true } } } };
  // A store mutation: the resolved ts ignores locks, so stale reads read past live transactions.
  // The resolved ts then advances every 200 ms (not 1 s), so stale reads meet transactions in
  // flight often enough to catch it (at 200 ms the unmutated seed 11 has an open liveness
  // finding: FINDINGS.md).
  // A store mutation: a pessimistic lock is granted over a commit newer than its forUpdateTs,
  // and reads the value before that commit.
  if (name === 'pessimisticLockIgnoresConflict') return { cluster: { mutations: { store: { pessimisticLockIgnoresConflict: true } } } };
  if (name === 'safeTsPastLocks') return { cluster: { mutations: { store: { safeTsPastLocks: true } }, safeTsIntervalMs: 200 } };
  // Store mutations of the replica reads (`handlers/replica-read.ts`).
  // A store mutation: a queued transaction's prewrite checks conflicts from its start ts, not its read ts.
  if (name === 'queuedIgnoresReadTs') return { cluster: { mutations: { store: { prewriteIgnoresReadTs: true } } } };
  // A store mutation: write commands read the engine locally before earlier terms' entries are in it.
  if (name === 'localReadSkipsCatchUp') return { cluster: { mutations: { store: { localReadSkipsCatchUp: true } } } };
  if (name === 'replicaReadSkipsCatchUp' || name === 'replicaReadSkipsMaxTs') return { cluster: { mutations: { store: { [name]: true } } } };
  // Store mutations of the change feed: delete events dropped, or a watermark past the resolved ts.
  if (name === 'cdcSkipDeletes' || name === 'cdcWatermarkAhead' || name === 'cdcBufferIgnoresFloor') return { cluster: { mutations: { store: { [name]: true } } } };
  const m: TxnMutations = { [name]: true };
  return name === 'gcPastReader' ? { txnMutations: m, gc: true } : { txnMutations: m };
}

/** The anomalies of one seed: every violation counts. */
export function anomaliesOf(r: TxnSeedResult): number {
  return r.violations.length;
}

function printSeed(r: TxnSeedResult, wallMs: number): void {
  console.log(
    `seed ${r.seed}: txns=${r.txns} committed=${r.committed} aborted=${r.aborted} undetermined=${r.undetermined} G2seen=${r.g2Seen} bankReads=${r.bankReads} regions=${r.regions} ` +
      `virtual=${r.virtualMs}ms hash=${r.historyHash} wall=${wallMs.toFixed(0)}ms\n` +
      `  faults: ${counts(r.nemesis)} ${counts(r.net)} ${counts(r.snapshotFaults)}\n  gc: ${counts(r.gc)}\n  workload: ${counts(r.workload)}\n  tabs: ${counts(r.tabs)}\n  feed: ${counts(r.feed)}\n  tab feed: ${counts(r.tabFeed)}`,
  );
}

function reproduce(seed: number, args: TxnCliArgs): string {
  return `reproduce with: npm run sim -- --txn --seed ${seed}${args.witness ? ' --witness' : ''}${args.mutation ? ` --mutation ${args.mutation}` : ''} --verbose`;
}

function printFailure(r: TxnSeedResult, args: TxnCliArgs): void {
  console.log(`seed ${r.seed}: ${r.violations.length} anomal${r.violations.length === 1 ? 'y' : 'ies'}`);
  for (const v of r.violations) {
    const lines = v.message.split('\n');
    const shown = args.verbose || lines.length <= REPORT_LINES_MAX ? lines : [...lines.slice(0, REPORT_LINES_MAX), `      ... ${lines.length - REPORT_LINES_MAX} more (--verbose shows all)`];
    console.log(`  [${v.kind}] at ${v.atMs}ms: ${shown.join('\n')}`);
  }
  if (r.historyExcerpt.length > 0) {
    console.log('  history (the transactions named above):');
    for (const line of r.historyExcerpt) console.log(`    ${line}`);
  }
  if (args.verbose) for (const line of r.trace) console.log(`    | ${line}`);
  console.log(reproduce(r.seed, args));
}

/** Runs `--txn` mode with `argv`; returns the exit code. */
export async function runTxnCli(argv: readonly string[]): Promise<number> {
  let args: TxnCliArgs;
  try {
    args = parseTxnArgs(argv);
  } catch (e) {
    if (!(e instanceof TxnCliError)) throw e;
    console.error(`${e.message}\n${TXN_USAGE}`);
    return 2;
  }
  const started = performance.now();
  const mutated = txnMutationOptions(args.mutation);
  const overrides: Partial<TxnSimOptions> = args.witness ? { ...mutated, cluster: { ...mutated.cluster, witness: true } } : mutated;
  const total = { txns: 0, committed: 0, aborted: 0, undetermined: 0, anomalies: 0, g2Seen: 0, bankReads: 0 };
  const faults = {} as TxnSeedResult['nemesis'] & TxnSeedResult['net'] & TxnSeedResult['snapshotFaults'];
  const gc = {} as TxnSeedResult['gc'] & { locksHandedToClient: number };
  const workload = {} as TxnSeedResult['workload'];
  const tabs = {} as TxnSeedResult['tabs'];
  const feed = {} as TxnSeedResult['feed'];
  const tabFeed = {} as TxnSeedResult['tabFeed'];
  const failing: number[] = [];
  for (const seed of args.seeds) {
    const t0 = performance.now();
    const r = await runTxnSeed(seed, overrides);
    total.txns += r.txns;
    total.committed += r.committed;
    total.aborted += r.aborted;
    total.undetermined += r.undetermined;
    total.anomalies += anomaliesOf(r);
    total.g2Seen += r.g2Seen;
    total.bankReads += r.bankReads;
    addCounts(faults, { ...r.nemesis, ...r.net, ...r.snapshotFaults });
    addCounts(gc, { ...r.gc, locksHandedToClient: r.storeLockResolution.locksHanded });
    addCounts(workload, r.workload);
    addCounts(tabs, r.tabs);
    addCounts(feed, r.feed);
    addCounts(tabFeed, r.tabFeed);
    if (args.verbose) printSeed(r, performance.now() - t0);
    if (r.violations.length > 0) {
      failing.push(seed);
      printFailure(r, args);
    }
  }
  console.log(`sim: txn ${args.seeds.length} seeds in ${((performance.now() - started) / 1000).toFixed(1)}s wall; G2 seen (allowed under SI) ${total.g2Seen}; bank reads checked ${total.bankReads}${failing.length > 0 ? `; failing seeds ${failing.join(', ')}` : ''}`);
  console.log(`sim: faults ${counts(faults)}`);
  console.log(`sim: gc ${counts(gc)}`);
  console.log(`sim: workload ${counts(workload)}`);
  console.log(`sim: tabs ${counts(tabs)}`);
  console.log(`sim: feed ${counts(feed)}`);
  console.log(`sim: tab feed ${counts(tabFeed)}`);
  console.log(`sim: seeds=${args.seeds.length} txns=${total.txns} committed=${total.committed} aborted=${total.aborted} undetermined=${total.undetermined} anomalies=${total.anomalies}`);
  return total.anomalies > 0 ? 1 : 0;
}
