/**
 * A real `redis-server` (Debian's package) on 127.0.0.1 for the signaling scale-out tests, and
 * `peerkv-signaling` processes. No persistence: a restart starts empty, as after a crash of a
 * Redis used only for pub/sub. A missing `redis-server` fails the test that needs it, with how
 * to install it: CI installs it (`.ci/run`), and a skipped test would prove nothing.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { captureLines } from './store-process.ts';

const SIGNALING_BIN = join(import.meta.dirname, '../../signaling/bin/peerkv-signaling.mjs');

/** How long a child gets to print its ready line, ms. */
const READY_TIMEOUT_MS = 20_000;

/** Throws, with the way to install it, when `redis-server` is not on PATH. */
export function requireRedisServer(): void {
  if (spawnSync('sh', ['-c', 'command -v redis-server']).status !== 0) {
    throw new Error("redis-server is not installed: the signaling scale-out tests need Debian's redis-server (apt-get install -y redis-server; .ci/run installs it)");
  }
}

/** A free TCP port on 127.0.0.1 (free when asked: bind it soon). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** A child process and what it printed. */
export class LoggedProcess {
  readonly lines: string[] = [];
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;

  constructor(cmd: string, args: string[]) {
    this.child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    captureLines(this.child, this.lines);
    this.exited = new Promise((r) => this.child.on('exit', (code) => r(code)));
  }

  /** The first printed line matching `re`, waiting for it. */
  async line(re: RegExp, what: string): Promise<RegExpMatchArray> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      for (const l of this.lines) {
        const m = l.match(re);
        if (m) return m;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`timed out waiting for ${what}; output: ${this.lines.join(' | ')}`);
  }

  /** Sends `signal` (SIGSTOP freezes it: connections stay open, nothing is answered). */
  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** Sends `signal` and waits for the exit (no-op once exited). */
  async stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    await this.exited;
  }
}

/** A running `redis-server`. */
export class RedisServer extends LoggedProcess {
  constructor(readonly port: number) {
    super('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes']);
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts one on `port` (a free one by default) and waits until it accepts connections. */
  static async start(port?: number): Promise<RedisServer> {
    requireRedisServer();
    const r = new RedisServer(port ?? (await freePort()));
    await r.line(/Ready to accept connections/, `redis-server on port ${r.port}`);
    return r;
  }
}

/** A `peerkv-signaling` process (`signaling/bin`) on 127.0.0.1 with a free port. */
export class SignalingProcess extends LoggedProcess {
  constructor(args: string[]) {
    super(process.execPath, [SIGNALING_BIN, '--host', '127.0.0.1', '--port', '0', ...args]);
  }

  /** Starts one and waits for its `listening on ws://…` line; returns it with its URL. */
  static async start(args: string[]): Promise<{ process: SignalingProcess; url: string; http: string }> {
    const p = new SignalingProcess(args);
    const m = await p.line(/listening on (ws:\/\/[\d.]+:(\d+))$/, 'peerkv-signaling to listen');
    return { process: p, url: m[1], http: `http://127.0.0.1:${m[2]}` };
  }

  /** Waits until the process's log says its Redis link is up. */
  redisConnected(): Promise<RegExpMatchArray> {
    return this.line(/redis: connected to /, 'peerkv-signaling to link to redis');
  }
}
