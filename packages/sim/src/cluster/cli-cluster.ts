/**
 * `npm run sim -- --cluster --seeds N [--seed S] [--verbose] [--tear] [--durability strict|relaxed] [--mutation M]`: runs
 * cluster-mode seeds, prints each failing seed with how to reproduce it, and ends with
 * exactly `sim: seeds=<N> ops=<total> violations=<v> unknown=<u>` (u: seeds whose
 * linearizability check ran out of its step budget: reported, never counted as passed). The
 * lines before it count the client ops with an unknown outcome, every fault injected, every
 * client call made and the operators PD finished (`operators`: succeeded by kind, e.g.
 * `replaceReplica` for a replica rebuilt off a down store, and the rest by outcome). Exit code 1 on any violation or unknown verdict, 2 on bad arguments.
 * Run directly: `npx tsx packages/sim/src/cluster/cli-cluster.ts --seeds 20`.
 */
import { runClusterSeed, type ClusterSeedResult } from './run.ts';
import type { StoreTestMutations } from '@peerkv/store';
import type { TabServeTestMutations } from 'peerkv/browser';
import type { ClusterMutations, ClusterSimOptions } from './options.ts';

/** Parsed cluster-mode arguments. */
export interface ClusterCliArgs {
  seeds: number[];
  verbose: boolean;
  mutation?: ClusterMutationName;
  /** Crashes may tear the write in flight (`tearChance` 0.5): a disk that breaks the engine contract. */
  tear: boolean;
  /** The stores' Raft write durability (`relaxed`: power cuts lose acknowledged writes, by design). */
  durability: 'strict' | 'relaxed';
  /** The last store is a witness store (`ClusterSimOptions.witness`). */
  witness?: boolean;
  /** Devices alternate chromium/firefox labels and PD keeps replicas on both (`ClusterSimOptions.engines`). */
  engines?: boolean;
  /** PD's patrol checks this many regions a round (`ClusterSimOptions.pdPatrolRegionsPerRound`). */
  patrol?: number;
}

/** Deliberate bugs of the harness (clients, disks). */
export const HARNESS_MUTATIONS = ['staleReads', 'diskWriteFailure', 'unsyncedDisk'] as const;
/** Deliberate bugs in the store (`StoreTestMutations`), one name each. */
export const STORE_MUTATIONS = ['sealWithFirstDataKey', 'sealBeforeTermApplied', 'dataKeyForwardOff', 'rotationResumeOff', 'retireIgnoresLog', 'snapshotWithoutDataKeySwitch', 'dedupOff', 'splitDedupAfterBatch', 'ackBeforePersist', 'readIndexWithoutTermCommit', 'snapshotWithoutDedup', 'restartedReadContext', 'witnessLeads', 'workSetMissesStep'] as const satisfies readonly (keyof StoreTestMutations)[];
/** Deliberate bugs in the browser runtime's serving path (`TabServeTestMutations`), one name each. */
export const TAB_SERVE_MUTATIONS = ['stampDropped', 'batchStampDropped'] as const satisfies readonly (keyof TabServeTestMutations)[];
/** The deliberate bugs cluster mode can turn on. */
export const CLUSTER_MUTATIONS = [...HARNESS_MUTATIONS, ...STORE_MUTATIONS, ...TAB_SERVE_MUTATIONS] as const;
/** One of `CLUSTER_MUTATIONS`. */
export type ClusterMutationName = (typeof CLUSTER_MUTATIONS)[number];

/** The options a mutation name turns on. */
export function mutationOptions(name: ClusterMutationName | undefined): ClusterMutations {
  if (name === undefined) return {};
  const store = STORE_MUTATIONS.find((m) => m === name);
  if (store !== undefined) return { store: { [store]: true } };
  const tabServe = TAB_SERVE_MUTATIONS.find((m) => m === name);
  if (tabServe !== undefined) return { tabServe: { [tabServe]: true } };
  return { [name]: true };
}

/** Bad command-line input. */
export class ClusterCliError extends Error {
  override readonly name = 'ClusterCliError';
  constructor(
    readonly kind: 'UnknownFlag' | 'MissingValue' | 'BadNumber' | 'UnknownMutation' | 'BadDurability',
    message: string,
  ) {
    super(message);
  }
}

/** Usage of cluster mode. */
export const CLUSTER_USAGE = `usage: npm run sim -- --cluster [--seeds N] [--seed S] [--verbose] [--tear] [--durability strict|relaxed] [--witness] [--engines] [--patrol N] [--mutation ${CLUSTER_MUTATIONS.join('|')}]`;

/** Lines of one violation printed without --verbose. */
export const REPORT_LINES_MAX = 40;

/** `tearChance` under `--tear`. */
export const CLI_TEAR_CHANCE = 0.5;

/** Largest `--patrol` (PD's `patrolRegionsPerRoundMax` default). */
export const PATROL_REGIONS_MAX = 8192;

/** Largest `--seeds`. */
export const CLUSTER_SEEDS_MAX = 100_000;

function intArg(flag: string, raw: string | undefined, min: number, max: number): number {
  if (raw === undefined) throw new ClusterCliError('MissingValue', `${flag} needs a value`);
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new ClusterCliError('BadNumber', `${flag} must be an integer in [${min}, ${max}], got ${raw}`);
  return n;
}

/** Parses cluster-mode arguments (`--cluster` itself is accepted and ignored). */
export function parseClusterArgs(argv: readonly string[]): ClusterCliArgs {
  let count: number | undefined;
  let first: number | undefined;
  let verbose = false;
  let mutation: ClusterCliArgs['mutation'];
  let tear = false;
  let durability: ClusterCliArgs['durability'] = 'strict';
  let witness = false;
  let engines = false;
  let patrol: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--cluster') continue;
    else if (a === '--tear') tear = true;
    else if (a === '--witness') witness = true;
    else if (a === '--engines') engines = true;
    else if (a === '--durability') {
      const d = argv[++i];
      if (d !== 'strict' && d !== 'relaxed') throw new ClusterCliError('BadDurability', `--durability must be strict or relaxed, got ${d}`);
      durability = d;
    }
    else if (a === '--seeds') count = intArg(a, argv[++i], 1, CLUSTER_SEEDS_MAX);
    else if (a === '--patrol') patrol = intArg(a, argv[++i], 1, PATROL_REGIONS_MAX);
    else if (a === '--seed') first = intArg(a, argv[++i], 0, 2 ** 31 - 1);
    else if (a === '--verbose') verbose = true;
    else if (a === '--mutation') {
      const m = argv[++i];
      if (m === undefined) throw new ClusterCliError('MissingValue', '--mutation needs a value');
      const known = CLUSTER_MUTATIONS.find((x) => x === m);
      if (known === undefined) throw new ClusterCliError('UnknownMutation', `unknown mutation ${m} (cluster mode knows: ${CLUSTER_MUTATIONS.join(', ')})`);
      mutation = known;
    } else throw new ClusterCliError('UnknownFlag', `unknown flag ${a}`);
  }
  const start = first ?? 1;
  const n = count ?? (first !== undefined ? 1 : 20);
  return { seeds: Array.from({ length: n }, (_, i) => start + i), verbose, tear, durability, ...(mutation ? { mutation } : {}), ...(witness ? { witness } : {}), ...(engines ? { engines } : {}), ...(patrol !== undefined ? { patrol } : {}) };
}

/** `k=v` pairs of a record of counts, in its key order. */
export function counts(c: object): string {
  return Object.entries(c)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ');
}

/** Adds every count of `from` into `into`. */
export function addCounts<T extends object>(into: T, from: T): void {
  const a = into as Record<string, number>;
  for (const [k, v] of Object.entries(from)) a[k] = (a[k] ?? 0) + (v as number);
}

function printSeed(r: ClusterSeedResult, wallMs: number, args: ClusterCliArgs): void {
  const o = r.outcomes;
  console.log(
    `seed ${r.seed}: ops=${r.ops} ok=${o.ok} fail=${o.fail} unknown=${o.unknown} regions=${r.regions} stores=${r.storesJoined}${r.retired ? ` retired=${r.retired}` : ''}${args.witness ? ` witnessGroups=${r.witnessGroups}` : ''} ` +
      `virtual=${r.virtualMs}ms converge=${r.convergeMs}ms timers=${r.timersFired} hash=${r.historyHash} wall=${wallMs.toFixed(0)}ms${r.linearizabilityUnknown ? ' lin=unknown' : ''}\n` +
      `  faults: ${counts(r.faults)}\n  workload: ${counts(r.workload)}\n  operators: ${counts(r.operators)}`,
  );
}

/** The flags besides the seed that a reproduce line repeats. */
function reproduceFlags(args: ClusterCliArgs): string {
  return `${args.tear ? ' --tear' : ''}${args.witness ? ' --witness' : ''}${args.engines ? ' --engines' : ''}${args.patrol !== undefined ? ` --patrol ${args.patrol}` : ''}${args.durability === 'relaxed' ? ' --durability relaxed' : ''}${args.mutation ? ` --mutation ${args.mutation}` : ''}`;
}

function printFailure(r: ClusterSeedResult, args: ClusterCliArgs): void {
  console.log(`seed ${r.seed}: ${r.violations.length} violation(s)`);
  for (const v of r.violations) {
    const lines = v.message.split('\n');
    const shown = args.verbose || lines.length <= REPORT_LINES_MAX ? lines : [...lines.slice(0, REPORT_LINES_MAX), `      ... ${lines.length - REPORT_LINES_MAX} more (--verbose shows all)`];
    console.log(`  [${v.kind}] at ${v.atMs}ms: ${shown.join('\n')}`);
  }
  if (args.verbose) for (const line of r.trace) console.log(`    | ${line}`);
  console.log(`reproduce with: npm run sim -- --cluster --seed ${r.seed}${reproduceFlags(args)}`);
}

/** Runs cluster mode with `argv`; returns the exit code (prints to the console). */
export async function runClusterCli(argv: readonly string[]): Promise<number> {
  let args: ClusterCliArgs;
  try {
    args = parseClusterArgs(argv);
  } catch (e) {
    if (!(e instanceof ClusterCliError)) throw e;
    console.error(`${e.message}\n${CLUSTER_USAGE}`);
    return 2;
  }
  const started = performance.now();
  let ops = 0;
  let violations = 0;
  let unknown = 0;
  let unknownOps = 0;
  let witnessGroups = 0;
  let multiEngineGroups = 0;
  let groups = 0;
  const overrides: Partial<ClusterSimOptions> = {
    mutations: mutationOptions(args.mutation),
    durability: args.durability,
    ...(args.tear ? { tearChance: CLI_TEAR_CHANCE } : {}),
    ...(args.witness ? { witness: true } : {}),
    ...(args.engines ? { engines: true } : {}),
    ...(args.patrol !== undefined ? { pdPatrolRegionsPerRound: args.patrol } : {}),
  };
  const faults = {} as ClusterSeedResult['faults'];
  const workload = {} as ClusterSeedResult['workload'];
  const operators = {} as ClusterSeedResult['operators'];
  const proofs = {} as ClusterSeedResult['proofs'];
  const dataKeys = {} as ClusterSeedResult['dataKeys'];
  for (const seed of args.seeds) {
    const t0 = performance.now();
    const r = await runClusterSeed(seed, overrides);
    addCounts(faults, r.faults);
    addCounts(workload, r.workload);
    addCounts(operators, r.operators);
    addCounts(proofs, r.proofs);
    addCounts(dataKeys, r.dataKeys);
    ops += r.ops;
    violations += r.violations.length;
    unknownOps += r.outcomes.unknown;
    if (r.linearizabilityUnknown) {
      unknown++;
      console.log(`seed ${seed}: the linearizability check ran out of its step budget after ${r.checkSteps} steps (unknown, not a pass)`);
      console.log(`reproduce with: npm run sim -- --cluster --seed ${seed}${reproduceFlags(args)}`);
    }
    if (args.verbose) printSeed(r, performance.now() - t0, args);
    witnessGroups += r.witnessGroups;
    multiEngineGroups += r.multiEngineGroups;
    groups += r.groups;
    if (r.violations.length > 0) printFailure(r, args);
  }
  console.log(`sim: cluster ${args.seeds.length} seeds in ${((performance.now() - started) / 1000).toFixed(1)}s wall, ${unknownOps} client ops with unknown outcome`);
  console.log(`sim: faults ${counts(faults)}`);
  console.log(`sim: workload ${counts(workload)}`);
  console.log(`sim: operators ${counts(operators)}`);
  console.log(`sim: data-key proofs ${counts(proofs)}`);
  console.log(`sim: data keys ${counts(dataKeys)}`);
  if (args.witness) console.log(`sim: witness groups with a witness voter once healed=${witnessGroups}`);
  if (args.engines) console.log(`sim: engines groups on 2 engines once healed=${multiEngineGroups} of ${groups}`);
  console.log(`sim: seeds=${args.seeds.length} ops=${ops} violations=${violations} unknown=${unknown}`);
  // An unknown verdict is not a pass: CI must look at it.
  return violations > 0 || unknown > 0 ? 1 : 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await runClusterCli(process.argv.slice(2));
}
