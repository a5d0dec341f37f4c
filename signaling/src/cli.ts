/**
 * `peerkv-signaling --host 127.0.0.1 --port 4444 [--max-connections N] [--max-topics N]
 * [--max-message-bytes N] [--rate N] [--burst N] [--idle-timeout-ms N]
 * [--max-connections-per-address N] [--max-pending-upgrades N] [--upgrade-timeout-ms N]
 * [--app-idle-timeout-ms N] [--client-buffer-bytes N] [--publish-bytes-per-address N]
 * [--publish-burst-bytes-per-address N]`.
 * Prints `peerkv-signaling listening on ws://HOST:PORT` once bound; SIGTERM/SIGINT close
 * every connection with 1001 and exit 0.
 */
import type { SignalingLimits } from './limits.ts';
import { SignalingServer } from './server.ts';

/** Parsed command line. */
export interface CliOptions {
  host: string;
  port: number;
  limits: Partial<SignalingLimits>;
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

/** Parses argv (without node and script). Throws on unknown flags. */
export function parseArgs(argv: string[]): CliOptions {
  const o: CliOptions = { host: '127.0.0.1', port: 4444, limits: {} };
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (flag === '--host') o.host = value ?? o.host;
    else if (flag === '--port') o.port = intArg(flag, value);
    else if (flag in LIMIT_FLAGS) o.limits[LIMIT_FLAGS[flag]] = intArg(flag, value);
    else throw new Error(`unknown flag ${flag}`);
  }
  return o;
}

/** Runs the server until SIGTERM/SIGINT. */
export async function main(argv: string[]): Promise<void> {
  const o = parseArgs(argv);
  const server = new SignalingServer({ limits: o.limits, log: (l) => console.log(l) });
  const addr = await server.listen(o.port, o.host);
  console.log(`peerkv-signaling listening on ws://${addr.address}:${addr.port}`);
  const stop = (signal: string) => {
    console.log(`peerkv-signaling: ${signal}, closing`);
    void server.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
