/**
 * `peerkv-signaling --host 127.0.0.1 --port 4444 [--max-connections N] [--max-topics N]
 * [--max-message-bytes N] [--rate N] [--burst N] [--idle-timeout-ms N]
 * [--max-connections-per-address N] [--max-pending-upgrades N] [--upgrade-timeout-ms N]
 * [--app-idle-timeout-ms N] [--client-buffer-bytes N] [--publish-bytes-per-address N]
 * [--publish-burst-bytes-per-address N] [--witness DIR --cluster NAME (--witness-credential C | --secret S)]
 * [--redis URL [--redis-prefix P] [--redis-pending-bytes N]]`.
 * Prints `peerkv-signaling listening on ws://HOST:PORT` once bound; SIGTERM/SIGINT close
 * every connection with 1001 and exit 0.
 *
 * `--witness DIR` also runs a witness store of cluster NAME (its credential C from `peerkv
 * witness-credential`, or `PEERKV_WITNESS_CREDENTIAL`; or the secret S, or `PEERKV_SECRET`,
 * which it derives the credential from and does not keep) in this process, on LevelDB in DIR, through this server (`peerkv-store --witness`, from
 * `@peerkv/node`, loaded only then): it votes and keeps the Raft log but holds no data and
 * no data key (the log's payloads are sealed: SECURITY.md), so a
 * cluster of two devices gets a third vote from whoever runs the signaling server. It waits
 * for the cluster to exist (a full store creates it), and is drained and closed before the
 * server on SIGTERM/SIGINT.
 *
 * `--redis URL` shares topics with every other process given the same Redis (and prefix), so
 * several can run behind a load balancer (`RedisLink`). The server starts without waiting for
 * Redis: it delivers locally and links up when Redis answers.
 */
import type { SignalingLimits } from './limits.ts';
import { SignalingServer } from './server.ts';
import type { RedisLinkOptions } from './redis-link.ts';

/** Parsed command line. */
export interface CliOptions {
  host: string;
  port: number;
  limits: Partial<SignalingLimits>;
  /** `--witness DIR --cluster NAME --witness-credential C` (or `--secret S`): a witness store beside the server. */
  witness?: { dir: string; cluster: string } & ({ credential: string } | { secret: string });
  /** `--redis URL [--redis-prefix P] [--redis-pending-bytes N]`: topics shared through Redis. */
  redis?: RedisLinkOptions;
}

const LIMIT_FLAGS: Record<string, keyof SignalingLimits> = {
  '--max-connections': 'connectionsMax',
  '--max-topics': 'topicsPerConnectionMax',
  '--max-message-bytes': 'messageBytesMax',
  '--rate': 'messagesPerSecondMax',
  '--burst': 'messagesBurstMax',
  '--idle-timeout-ms': 'idleTimeoutMs',
  '--max-connections-per-address': 'connectionsPerAddressMax',
  '--max-pending-upgrades': 'upgradesPendingMax',
  '--upgrade-timeout-ms': 'upgradeTimeoutMs',
  '--app-idle-timeout-ms': 'appIdleTimeoutMs',
  '--client-buffer-bytes': 'clientBufferedBytesMax',
  '--publish-bytes-per-address': 'publishBytesPerSecondPerAddressMax',
  '--publish-burst-bytes-per-address': 'publishBytesBurstPerAddressMax',
};

function intArg(flag: string, v: string | undefined): number {
  const n = Number(v);
  if (v === undefined || !Number.isInteger(n) || n < 0) throw new Error(`${flag} needs a non-negative integer`);
  return n;
}

function strArg(flag: string, v: string | undefined): string {
  if (v === undefined || v.startsWith('--') || v.length === 0) throw new Error(`${flag} needs a value`);
  return v;
}

function redisUrlArg(v: string): string {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new Error(`--redis needs a redis:// or rediss:// URL, got '${v}'`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new Error(`--redis needs a redis:// or rediss:// URL, got '${u.protocol}'`);
  return v;
}

/** Parses argv (without node and script; `env` for `PEERKV_SECRET`). Throws on unknown flags. */
export function parseArgs(argv: string[], env: Record<string, string | undefined> = {}): CliOptions {
  const o: CliOptions = { host: '127.0.0.1', port: 4444, limits: {} };
  let dir: string | undefined;
  let cluster: string | undefined;
  let secret = env.PEERKV_SECRET;
  let credential = env.PEERKV_WITNESS_CREDENTIAL;
  let redis: RedisLinkOptions | undefined;
  const redisExtra: Omit<RedisLinkOptions, 'url'> = {};
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (flag === '--host') o.host = value ?? o.host;
    else if (flag === '--port') o.port = intArg(flag, value);
    else if (flag in LIMIT_FLAGS) o.limits[LIMIT_FLAGS[flag]] = intArg(flag, value);
    else if (flag === '--witness') dir = strArg(flag, value);
    else if (flag === '--cluster') cluster = strArg(flag, value);
    else if (flag === '--secret') secret = strArg(flag, value);
    else if (flag === '--witness-credential') credential = strArg(flag, value);
    else if (flag === '--redis') redis = { url: redisUrlArg(strArg(flag, value)) };
    else if (flag === '--redis-prefix') redisExtra.channelPrefix = strArg(flag, value);
    else if (flag === '--redis-pending-bytes') redisExtra.pendingBytesMax = intArg(flag, value);
    else throw new Error(`unknown flag ${flag}`);
  }
  if (redis) o.redis = { ...redis, ...redisExtra };
  else if (Object.keys(redisExtra).length > 0) throw new Error('--redis-prefix and --redis-pending-bytes are for --redis URL');
  if (dir === undefined) {
    if (cluster !== undefined) throw new Error('--cluster is for --witness DIR');
    return o;
  }
  if (cluster === undefined) throw new Error('--witness DIR needs --cluster NAME');
  // The credential wins: a witness given one never needs the secret.
  if (credential !== undefined) return { ...o, witness: { dir, cluster, credential } };
  if (secret === undefined) throw new Error('--witness DIR needs --witness-credential C (peerkv witness-credential; or PEERKV_WITNESS_CREDENTIAL) or --secret S (or PEERKV_SECRET)');
  return { ...o, witness: { dir, cluster, secret } };
}

/** Runs the server until SIGTERM/SIGINT. */
export async function main(argv: string[]): Promise<void> {
  const o = parseArgs(argv, process.env);
  const server = new SignalingServer({ limits: o.limits, redis: o.redis, log: (l) => console.log(l) });
  const addr = await server.listen(o.port, o.host);
  console.log(`peerkv-signaling listening on ws://${addr.address}:${addr.port}`);
  const witness = o.witness ? await startWitness(o.witness, `ws://${o.host === '0.0.0.0' || o.host === '::' ? '127.0.0.1' : o.host}:${addr.port}`) : undefined;
  const stop = (signal: string) => {
    console.log(`peerkv-signaling: ${signal}, closing`);
    void (witness?.stop(signal) ?? Promise.resolve())
      .catch((e: unknown) => console.log(`peerkv-signaling: witness: ${String(e)}`))
      .then(() => server.close())
      .then(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/** Starts the witness store of `--witness` (not awaited: it waits for its cluster to exist). */
async function startWitness(w: NonNullable<CliOptions['witness']>, signalingUrl: string): Promise<{ stop(signal: string): Promise<void> }> {
  // Loaded only with --witness: the server alone needs nothing but `ws`.
  const { parseStoreArgs, runStore } = await import('@peerkv/node');
  const key = 'credential' in w ? ['--witness-credential', w.credential] : ['--secret', w.secret];
  const running = runStore(parseStoreArgs(['--data', w.dir, '--cluster', w.cluster, ...key, '--signaling', signalingUrl, '--witness', '--address', `witness@${signalingUrl}`]));
  running.started.catch((e: unknown) => console.log(`peerkv-signaling: the witness store did not start: ${e instanceof Error ? e.message : String(e)}`));
  return running;
}
