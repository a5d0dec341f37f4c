/**
 * A real TURN server, Debian's `coturn` (`turnserver`), on 127.0.0.1 for the relay-only ICE
 * test: long-term credentials, relay ports on loopback (`--allow-loopback-peers`, which only
 * a test may use), no TLS, no config file, its user database and pid file in a temporary
 * directory, and verbose logging, whose `ALLOCATE`/`CHANNEL_BIND ... success` lines show that
 * peers relayed through it. A missing `turnserver` fails the test, with how to install it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, LoggedProcess } from './redis-server.ts';

/** Relay ports per server (each data channel's allocation takes one). */
const RELAY_PORTS = 200;

/** Throws, with the way to install it, when `turnserver` is not on PATH. */
export function requireTurnServer(): void {
  if (spawnSync('sh', ['-c', 'command -v turnserver']).status !== 0) {
    throw new Error("turnserver is not installed: the relay-only ICE test needs Debian's coturn (apt-get install -y coturn; .ci/run installs it)");
  }
}

/** A running `turnserver` with one user. */
export class TurnServer extends LoggedProcess {
  private constructor(
    readonly port: number,
    readonly username: string,
    readonly credential: string,
    private readonly dir: string,
  ) {
    const relayMin = 40_000 + (port % 100) * RELAY_PORTS;
    super('turnserver', [
      '-n', '--listening-ip=127.0.0.1', '--relay-ip=127.0.0.1', `--listening-port=${port}`,
      `--min-port=${relayMin}`, `--max-port=${relayMin + RELAY_PORTS - 1}`,
      '--lt-cred-mech', `--user=${username}:${credential}`, '--realm=peerkv',
      '--allow-loopback-peers', '--no-tls', '--no-dtls', '--no-cli', '--fingerprint',
      `--userdb=${join(dir, 'turndb')}`, `--pidfile=${join(dir, 'turnserver.pid')}`,
      '--log-file=stdout', '--simple-log', '-v',
    ]);
  }

  /** `turn:127.0.0.1:<port>?transport=udp` */
  get url(): string {
    return `turn:127.0.0.1:${this.port}?transport=udp`;
  }

  /** Lines saying `what` (`ALLOCATE`, `CHANNEL_BIND`, ...) succeeded for this server's user. */
  successes(what: string): number {
    return this.lines.filter((l) => l.includes(`user <${this.username}>: incoming packet ${what} processed, success`)).length;
  }

  /** Starts one on a free port and waits until it listens on UDP. */
  static async start(username = 'peerkv', credential = 'turn-secret'): Promise<TurnServer> {
    requireTurnServer();
    const dir = mkdtempSync(join(tmpdir(), 'peerkv-turn-'));
    const t = new TurnServer(await freePort(), username, credential, dir);
    await t.line(/UDP listener opened on/, `turnserver on port ${t.port}`);
    return t;
  }

  override async stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await super.stop(signal);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
