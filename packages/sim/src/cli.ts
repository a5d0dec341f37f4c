/**
 * `npm run sim -- [--cluster] --seeds N [--seed S] [--nodes 3|5] [--ops N] [--verbose] [--mutation M]`: runs
 * seeds, prints each failure with how to reproduce it (with --verbose, the trace of a failing
 * seed, or of the only seed run), and ends with exactly
 * `sim: seeds=<N> ops=<total> violations=<v> unknown=<u>` (u: seeds whose linearizability
 * check ran out of its step budget: not a pass). Exits 1 on any violation or unknown
 * verdict, 2 on bad arguments.
 */
import { CliArgsError, USAGE, parseCliArgs, type CliArgs } from './cli-args.ts';
import { defaultOptions, type SimMutations, type SimOptions } from './options.ts';
import { runSeed, type SeedResult } from './simulation.ts';
import { runClusterCli, runTxnCli } from './cluster/index.ts';

/** The options a mutation name turns on. */
export function mutationOptions(name: CliArgs['mutation']): SimMutations {
  if (name === undefined) return {};
  if (name === 'staleFollowerReads') return { staleFollowerReads: true };
  return { raft: { [name]: true } };
}

/** The options of one seed under the command-line arguments. */
function optionsFor(seed: number, args: CliArgs): SimOptions {
  const options = defaultOptions(seed, {
    trace: args.verbose,
    traceMessagesOfNode: args.traceNode,
    mutations: mutationOptions(args.mutation),
    durability: args.durability,
    ...(args.nodes !== undefined ? { nodes: args.nodes } : {}),
    ...(args.ops !== undefined ? { ops: args.ops } : {}),
  });
  if (args.removeLeader) options.faults = { ...options.faults, mayRemoveLeader: true };
  return options;
}

/** Runs one seed; an exception escaping the simulator counts as a violation of that seed. */
function runSafely(seed: number, args: CliArgs): SeedResult {
  const options = optionsFor(seed, args);
  try {
    return runSeed(options);
  } catch (e) {
    const message = e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ''}` : String(e);
    return {
      seed,
      nodes: options.nodes,
      ops: 0,
      violations: [{ kind: 'simError', atMs: 0, message: `the simulator threw: ${message}` }],
      linearizabilityUnknown: false,
      checkSteps: 0,
      outcomes: { ok: 0, fail: 0, unknown: 0, pending: 0 },
      virtualMs: 0,
      stats: {
        leaderTerms: 0,
        messagesSent: 0,
        messagesDropped: 0,
        writesLostInCrash: 0,
        writesLostInPowerLoss: 0,
        events: { crash: 0, powerLoss: 0, crashMidWrite: 0, linkFault: 0, leaderTransfer: 0, confChangeProposed: 0, snapshotInstalled: 0 },
      },
      trace: [],
    };
  }
}

function reproduceLine(seed: number, args: CliArgs): string {
  const extra =
    `${args.nodes !== undefined ? ` --nodes ${args.nodes}` : ''}${args.ops !== undefined ? ` --ops ${args.ops}` : ''}` +
    `${args.mutation !== undefined ? ` --mutation ${args.mutation}` : ''}${args.removeLeader ? ' --remove-leader' : ''}${args.durability === 'relaxed' ? ' --durability relaxed' : ''}`;
  return `reproduce with: npm run sim -- --seed ${seed}${extra}`;
}

function printFailure(r: SeedResult, args: CliArgs): void {
  console.log(`seed ${r.seed} (${r.nodes} nodes): ${r.violations.length} violation(s)`);
  for (const v of r.violations) console.log(`  [${v.kind}] at ${v.atMs}ms: ${v.message}`);
  if (args.verbose) for (const line of r.trace.slice(-300)) console.log(`    | ${line}`);
  console.log(reproduceLine(r.seed, args));
}

function printSeed(r: SeedResult, wallMs: number): void {
  const o = r.outcomes;
  console.log(
    `seed ${r.seed}: nodes=${r.nodes} ops=${r.ops} ok=${o.ok} fail=${o.fail} unknown=${o.unknown} ` +
      `virtual=${r.virtualMs}ms wall=${wallMs.toFixed(0)}ms terms=${r.stats.leaderTerms} msgs=${r.stats.messagesSent} ` +
      `dropped=${r.stats.messagesDropped} lostWrites=${r.stats.writesLostInCrash}${r.linearizabilityUnknown ? ' lin=unknown' : ''}`,
  );
}

function main(argv: readonly string[]): number {
  let args: CliArgs;
  try {
    args = parseCliArgs(argv);
  } catch (e) {
    if (!(e instanceof CliArgsError)) throw e;
    console.error(`${e.message}\n${USAGE}`);
    return 2;
  }
  const started = performance.now();
  let ops = 0;
  let violations = 0;
  let unknown = 0;
  let seedsRun = 0;
  const totals: Record<string, number> = { elections: 0, unknownOps: 0, failedOps: 0, messagesDropped: 0 };
  for (const seed of args.seeds) {
    seedsRun++;
    const t0 = performance.now();
    const r = runSafely(seed, args);
    ops += r.ops;
    violations += r.violations.length;
    if (r.linearizabilityUnknown) {
      unknown++;
      console.log(`seed ${seed}: the linearizability check ran out of its step budget (unknown, not a pass)`);
      console.log(reproduceLine(seed, args));
    }
    totals.elections += r.stats.leaderTerms;
    totals.unknownOps += r.outcomes.unknown;
    totals.failedOps += r.outcomes.fail;
    totals.messagesDropped += r.stats.messagesDropped;
    for (const [k, v] of Object.entries(r.stats.events)) totals[k] = (totals[k] ?? 0) + v;
    if (args.verbose) printSeed(r, performance.now() - t0);
    if (args.verbose && args.seeds.length === 1 && r.violations.length === 0) for (const line of r.trace) console.log(`    | ${line}`);
    if (r.violations.length > 0) printFailure(r, args);
    if (r.violations.length > 0 && args.failFast) break;
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(`sim: ${seedsRun} seeds in ${seconds.toFixed(1)}s wall; exercised ${Object.entries(totals).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  console.log(`sim: seeds=${seedsRun} ops=${ops} violations=${violations} unknown=${unknown}`);
  // An unknown verdict is not a pass: CI must look at it.
  return violations > 0 || unknown > 0 ? 1 : 0;
}

// `--cluster` runs whole PD-driven clusters (stores + PD + clients) instead of bare Raft groups.
// `--txn` runs transactional workloads on those clusters, checked for snapshot isolation.
const argv = process.argv.slice(2);
if (argv.includes('--txn')) process.exitCode = await runTxnCli(argv);
else if (argv.includes('--cluster')) process.exitCode = await runClusterCli(argv);
else process.exitCode = main(argv);
