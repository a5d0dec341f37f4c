/**
 * The `peerkv` command line: `peerkv [flags] <command> [args]`, flags anywhere. The
 * connection comes from flags or the `PEERKV_*` environment variables (flags win). Parsing is
 * pure: argv and env in, a `CliCommand` out, or `CliUsageError` naming what is wrong.
 */
import type { ConnectOptions } from '../connect.ts';

/** What `peerkv --help` prints. */
export const PEERKV_CLI_USAGE = `usage: peerkv [flags] <command> [args]

A client of a PeerKV cluster (it holds no data): it joins the cluster through the signaling
server, dials the stores over WebRTC, and runs one command.

commands:
  get <key>                       print the value of key (exit 2 if absent)
  put <key> <value>               write key
  del <key>                       delete key
  scan [--prefix P | --start K [--end K]] [--limit N] [--reverse]
                                  list pairs in key order (limit default 100)
  watch [--prefix P | --start K [--end K]] [--from-ts TS] [--count N] [--resolved]
                                  print committed puts and deletes as they happen (mvcc), from
                                  TS (default: now); stop after N changes, or on Ctrl-C;
                                  --resolved also prints the watermarks
  txn [--pessimistic]             read JSON ops from stdin and apply them as one transaction:
                                  [{"op":"get","key":"a"},{"op":"put","key":"a","value":"1"},
                                   {"op":"del","key":"b"},{"op":"expect","key":"c","value":null}]
                                  ("expect": the transaction commits only if c has that value)
  status                          stores, regions, leaders, PD's leader and a TSO timestamp
  members                         the stores this client is connected to, as PD records them
  region <key>                    the region holding key and its leader, as PD routes it
  split <key>                     split the region holding key at key
  transfer-leader <region> <store> [--wait-ms N]
                                  move a region's leadership to the voter on store
  drain <store> [--undo] [--wait-ms N]
                                  hand every leadership of store away and keep leaders off it
                                  (until --undo or the store restarts)
  witness-credential --cluster NAME --secret S
                                  print the credential of a witness store of the cluster
                                  (peerkv-store --witness --witness-credential C): its
                                  membership and signaling keys, not the data key (offline)
  bench load|run [--workload a|b|c] [--records N] [--operations N] [--concurrency N]
                 [--value-bytes N] [--distribution zipfian|uniform] [--seed N]
                                  go-ycsb-like: load records, then run workload A (50/50
                                  read/update), B (95/5) or C (read only); throughput, p50, p99

connection (flags, or the environment):
  --cluster NAME        PEERKV_CLUSTER     the cluster name
  --secret S            PEERKV_SECRET      the cluster's shared secret
  --operator-secret S   PEERKV_OPERATOR_SECRET  signs split, transfer-leader and drain
                                           (default: the cluster secret)
  --signaling URL       PEERKV_SIGNALING   the signaling server, ws://host:port (several
                                           processes of one: comma-separated, tried in turn)
  --ice URL             PEERKV_ICE         an ICE server (repeatable; env: comma-separated)
  --ice-username U      PEERKV_ICE_USERNAME    the username of every turn:/turns: ICE server
  --ice-credential C    PEERKV_ICE_CREDENTIAL  its credential
  --ice-relay-only      PEERKV_ICE_RELAY_ONLY=1  TURN relay candidates only
  --data-model M        PEERKV_DATA_MODEL  mvcc (default) or raw: the stores' data model
  --connect-timeout-ms N                   wait for the cluster at most N ms (default 20000)
  --request-timeout-ms N                   per-attempt request timeout (default 2000)

output:
  --json                one JSON document on stdout (for scripts)
  --hex                 keys and values are hex, on the command line and in the output
  -h, --help            print this and exit

exit codes: 0 ok, 1 usage error or bad input, 2 not found, 3 unavailable or undetermined
(the cluster or a quorum did not answer; a write whose outcome is unknown), 4 the transaction
did not commit (a conflict, or an expect op that did not hold), 5 refused (a split, a
leadership transfer or a drain that did not take effect), 10 internal error, 130 interrupted (a command
other than watch still running 10 s after Ctrl-C).`;

/** Commands. */
export const CLI_COMMANDS = ['get', 'put', 'del', 'scan', 'watch', 'txn', 'status', 'members', 'region', 'split', 'transfer-leader', 'drain', 'bench'] as const;
export type CliCommandName = (typeof CLI_COMMANDS)[number];

/** Largest `--limit` of a scan. */
export const SCAN_LIMIT_MAX = 100_000;
/** Default `--limit` of a scan. */
export const SCAN_LIMIT_DEFAULT = 100;
/** Largest `--count` of watch. */
export const WATCH_COUNT_MAX = 1_000_000_000;
/** Longest `--wait-ms` of transfer-leader. */
export const CLI_WAIT_MS_MAX = 60_000;

/** A bad command line; the message says what. */
export class CliUsageError extends Error {
  override readonly name = 'CliUsageError';
}

/** How the command's output is written. */
export interface OutputOptions {
  json: boolean;
  /** Keys and values as hex (else UTF-8 text). */
  hex: boolean;
}

/** A parsed command line. */
export interface CliCommand {
  command: CliCommandName;
  /** Positional arguments after the command. */
  args: string[];
  /** Value flags of the command (`--limit`, `--prefix`...), by name without dashes. */
  flags: Record<string, string>;
  /** Boolean flags of the command (`reverse`, `pessimistic`, `resolved`). */
  switches: Set<string>;
  output: OutputOptions;
  connect: ConnectOptions;
}

/** Flags that take a value: connection ones and command ones. */
const VALUE_FLAGS = new Set(['cluster', 'secret', 'operator-secret', 'signaling', 'ice', 'ice-username', 'ice-credential', 'data-model', 'connect-timeout-ms', 'request-timeout-ms', 'prefix', 'start', 'end', 'limit', 'wait-ms', 'workload', 'records', 'operations', 'concurrency', 'value-bytes', 'distribution', 'seed', 'from-ts', 'count']);
/** Flags that take none. */
const SWITCHES = new Set(['json', 'hex', 'reverse', 'pessimistic', 'resolved', 'undo', 'ice-relay-only']);
/** Positional arguments each command takes. */
const ARITY: Record<CliCommandName, number> = { get: 1, put: 2, del: 1, scan: 0, watch: 0, txn: 0, status: 0, members: 0, region: 1, split: 1, 'transfer-leader': 2, drain: 1, bench: 1 };
/** Command flags each command accepts (connection and output flags go with any). */
const COMMAND_FLAGS: Record<CliCommandName, readonly string[]> = {
  get: [],
  put: [],
  del: [],
  scan: ['prefix', 'start', 'end', 'limit', 'reverse'],
  watch: ['prefix', 'start', 'end', 'from-ts', 'count', 'resolved'],
  txn: ['pessimistic'],
  status: [],
  members: [],
  region: [],
  split: [],
  'transfer-leader': ['wait-ms'],
  drain: ['wait-ms', 'undo'],
  bench: ['workload', 'records', 'operations', 'concurrency', 'value-bytes', 'distribution', 'seed'],
};
const GLOBAL_FLAGS = new Set(['cluster', 'secret', 'operator-secret', 'signaling', 'ice', 'ice-username', 'ice-credential', 'ice-relay-only', 'data-model', 'connect-timeout-ms', 'request-timeout-ms', 'json', 'hex']);

/** Whether the command line asks for the usage text (`-h`, `--help` or `help` as the command). */
export function wantsCliHelp(argv: readonly string[]): boolean {
  return argv.length === 0 || argv[0] === 'help' || argv.some((a) => a === '-h' || a === '--help');
}

/** Parses argv (without node and script) with `env` for the connection. Throws `CliUsageError`. */
export function parseCliArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): CliCommand {
  const positional: string[] = [];
  const values = new Map<string, string>();
  const ice: string[] = [];
  const switches = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    if (SWITCHES.has(name)) {
      if (eq >= 0) throw new CliUsageError(`--${name} takes no value`);
      switches.add(name);
      continue;
    }
    if (!VALUE_FLAGS.has(name)) throw new CliUsageError(`unknown flag --${name}`);
    const v = eq >= 0 ? a.slice(eq + 1) : argv[++i];
    if (v === undefined) throw new CliUsageError(`--${name} needs a value`);
    if (name === 'ice') ice.push(v);
    else if (values.has(name)) throw new CliUsageError(`--${name} given twice`);
    else values.set(name, v);
  }
  const [name, ...args] = positional;
  if (name === undefined) throw new CliUsageError('no command (try peerkv --help)');
  if (!(CLI_COMMANDS as readonly string[]).includes(name)) throw new CliUsageError(`unknown command '${name}'`);
  const command = name as CliCommandName;
  if (args.length !== ARITY[command]) throw new CliUsageError(`${command} takes ${ARITY[command]} argument${ARITY[command] === 1 ? '' : 's'}, got ${args.length}`);
  const allowed = new Set([...GLOBAL_FLAGS, ...COMMAND_FLAGS[command]]);
  for (const f of [...values.keys(), ...switches]) if (!allowed.has(f)) throw new CliUsageError(`${command} takes no --${f}`);
  const flags: Record<string, string> = {};
  for (const [k, v] of values) if (!GLOBAL_FLAGS.has(k)) flags[k] = v;
  return { command, args, flags, switches, output: { json: switches.has('json'), hex: switches.has('hex') }, connect: connectionOf(values, ice, switches.has('ice-relay-only'), env) };
}

/** `urls` as ICE servers, the credentials (given both or neither) on the `turn:`/`turns:` ones. */
function iceServersOf(urls: string[], username: string | undefined, credential: string | undefined): RTCIceServer[] {
  if ((username === undefined) !== (credential === undefined)) throw new CliUsageError('--ice-username and --ice-credential go together');
  const isTurn = (u: string) => u.startsWith('turn:') || u.startsWith('turns:');
  if (username !== undefined && !urls.some(isTurn)) throw new CliUsageError('--ice-username and --ice-credential are for a turn: or turns: ICE server');
  return urls.map((u) => (isTurn(u) && username !== undefined && credential !== undefined ? { urls: u, username, credential } : { urls: u }));
}

/** The connection from flags, else the environment. */
function connectionOf(values: Map<string, string>, ice: string[], relayOnly: boolean, env: Readonly<Record<string, string | undefined>>): ConnectOptions {
  const pick = (flag: string, variable: string): string | undefined => values.get(flag) ?? (env[variable] || undefined);
  const cluster = pick('cluster', 'PEERKV_CLUSTER');
  const secret = pick('secret', 'PEERKV_SECRET');
  const operatorSecret = pick('operator-secret', 'PEERKV_OPERATOR_SECRET');
  const signaling = pick('signaling', 'PEERKV_SIGNALING');
  if (!cluster) throw new CliUsageError('no cluster: pass --cluster or set PEERKV_CLUSTER');
  if (!signaling) throw new CliUsageError('no signaling server: pass --signaling or set PEERKV_SIGNALING');
  if (!secret) throw new CliUsageError('no secret: pass --secret or set PEERKV_SECRET');
  const iceUrls = ice.length > 0 ? ice : (env.PEERKV_ICE ?? '').split(',').filter((u) => u !== '');
  const iceServers = iceServersOf(iceUrls, pick('ice-username', 'PEERKV_ICE_USERNAME'), pick('ice-credential', 'PEERKV_ICE_CREDENTIAL'));
  const iceTransportPolicy = relayOnly || env.PEERKV_ICE_RELAY_ONLY === '1' ? { iceTransportPolicy: 'relay' as const } : {};
  const dataModel = pick('data-model', 'PEERKV_DATA_MODEL') ?? 'mvcc';
  if (dataModel !== 'mvcc' && dataModel !== 'raw') throw new CliUsageError(`--data-model is mvcc or raw, got '${dataModel}'`);
  const connectTimeoutMs = values.has('connect-timeout-ms') ? intFlag('connect-timeout-ms', values.get('connect-timeout-ms'), 1, 300_000) : undefined;
  const requestTimeoutMs = values.has('request-timeout-ms') ? intFlag('request-timeout-ms', values.get('request-timeout-ms'), 1, 300_000) : undefined;
  return {
    cluster,
    secret,
    // Several processes of one deployment (`peerkv-signaling --redis`): tried in turn.
    signaling: signaling.includes(',') ? signaling.split(',') : signaling,
    iceServers,
    ...iceTransportPolicy,
    dataModel,
    ...(connectTimeoutMs !== undefined ? { connectTimeoutMs } : {}),
    ...(requestTimeoutMs !== undefined ? { requestTimeoutMs } : {}),
    ...(operatorSecret !== undefined ? { operatorSecret } : {}),
  };
}

/** An integer flag in [min, max]; `CliUsageError` otherwise. */
export function intFlag(name: string, v: string | undefined, min: number, max: number): number {
  const n = Number(v);
  if (v === undefined || v === '' || !Number.isSafeInteger(n) || n < min || n > max) throw new CliUsageError(`--${name} needs an integer in ${min}..${max}, got '${v ?? ''}'`);
  return n;
}

/** A key or value from the command line: UTF-8 text, or hex with `--hex`. */
export function bytesArg(what: string, s: string, o: OutputOptions): Uint8Array {
  if (!o.hex) return new TextEncoder().encode(s);
  if (!/^([0-9a-fA-F]{2})*$/.test(s)) throw new CliUsageError(`${what} is not hex: '${s.slice(0, 64)}'`);
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}
