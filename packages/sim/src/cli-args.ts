/**
 * Command-line arguments of `npm run sim`, parsed into a closed shape; bad input is a typed
 * error, never a silent default.
 */

/** Parsed arguments. */
export interface CliArgs {
  /** Seeds to run: `--seed S` alone runs only S; `--seeds N` runs N seeds from `--seed` (default 1). */
  seeds: number[];
  /** Voters per run; undefined mixes 3 and 5 by seed. */
  nodes?: number;
  /** Client operations per seed. */
  ops?: number;
  /** Print every seed's result and the trace of failing seeds. */
  verbose: boolean;
  /** A deliberate bug to turn on (to watch the checkers catch it). */
  mutation?: MutationName;
  /** Stop at the first failing seed. */
  failFast: boolean;
  /** With --verbose: trace every Raft message to or from this node. */
  traceNode?: number;
  /** Let membership changes remove the current leader (FINDINGS.md, finding 2). */
  removeLeader: boolean;
  /** Storage durability; `relaxed` shows the documented data loss on power failure. */
  durability: 'strict' | 'relaxed';
}

/** The deliberate bugs the CLI can turn on. */
export const MUTATION_NAMES = ['staleFollowerReads', 'commitPreviousTermByCount', 'votesBeforePersist', 'skipLogUpToDateCheck'] as const;
export type MutationName = (typeof MUTATION_NAMES)[number];

/** Why the arguments were refused. */
export class CliArgsError extends Error {
  override readonly name = 'CliArgsError';
  constructor(
    readonly kind: 'UnknownFlag' | 'MissingValue' | 'BadNumber' | 'UnknownMutation' | 'BadDurability',
    message: string,
  ) {
    super(message);
  }
}

/** Usage text. */
export const USAGE = `usage: npm run sim -- [--seeds N] [--seed S] [--nodes 3|5] [--ops N] [--verbose [--trace-node ID]] [--fail-fast] [--remove-leader] [--durability strict|relaxed] [--mutation ${MUTATION_NAMES.join('|')}]
       npm run sim -- --cluster [--seeds N] ...   whole clusters (packages/sim/src/cluster/README.md)
       npm run sim -- --txn [--seeds N] [--seed S] [--verbose] [--mutation M]   transactional workloads on whole clusters, checked for snapshot isolation`;

const SEEDS_DEFAULT = 20;

function intArg(flag: string, raw: string | undefined, min: number, max: number): number {
  if (raw === undefined) throw new CliArgsError('MissingValue', `${flag} needs a value`);
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new CliArgsError('BadNumber', `${flag} must be an integer in [${min}, ${max}], got ${raw}`);
  return n;
}

/** Parses `argv` (without node and script). */
export function parseCliArgs(argv: readonly string[]): CliArgs {
  let seedCount: number | undefined;
  let firstSeed: number | undefined;
  let nodes: number | undefined;
  let ops: number | undefined;
  let verbose = false;
  let failFast = false;
  let mutation: MutationName | undefined;
  let traceNode: number | undefined;
  let removeLeader = false;
  let durability: CliArgs['durability'] = 'strict';
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    switch (flag) {
      case '--seeds':
        seedCount = intArg(flag, argv[++i], 1, 1_000_000);
        break;
      case '--seed':
        firstSeed = intArg(flag, argv[++i], 0, 0xffffffff);
        break;
      case '--nodes':
        nodes = intArg(flag, argv[++i], 1, 7);
        break;
      case '--ops':
        ops = intArg(flag, argv[++i], 0, 1_000_000);
        break;
      case '--mutation': {
        const name = argv[++i];
        if (name === undefined) throw new CliArgsError('MissingValue', `${flag} needs a value`);
        if (!(MUTATION_NAMES as readonly string[]).includes(name)) throw new CliArgsError('UnknownMutation', `unknown mutation ${name}`);
        mutation = name as MutationName;
        break;
      }
      case '--trace-node':
        traceNode = intArg(flag, argv[++i], 1, 1000);
        break;
      case '--durability': {
        const d = argv[++i];
        if (d !== 'strict' && d !== 'relaxed') throw new CliArgsError('BadDurability', `--durability must be strict or relaxed, got ${d}`);
        durability = d;
        break;
      }
      case '--remove-leader':
        removeLeader = true;
        break;
      case '--fail-fast':
        failFast = true;
        break;
      case '--verbose':
      case '-v':
        verbose = true;
        break;
      default:
        throw new CliArgsError('UnknownFlag', `unknown argument ${flag}`);
    }
  }
  const count = seedCount ?? (firstSeed !== undefined ? 1 : SEEDS_DEFAULT);
  const start = firstSeed ?? 1;
  const seeds = Array.from({ length: count }, (_, i) => start + i);
  return { seeds, nodes, ops, verbose, mutation, failFast, traceNode, removeLeader, durability };
}
