/**
 * `StoreProcess`: a `peerkv-store` child process (the Node store CLI) and the lines it
 * printed, shared by the Node multi-process suite and the Node + browser Playwright specs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { BOOTSTRAP_IDS } from '@peerkv/store';

const BIN = join(import.meta.dirname, '../../packages/node/bin/peerkv-store.mjs');

/** Poll interval while waiting for output, ms. */
const POLL_MS = 100;

/** Appends every line `child` prints (stdout and stderr) to `lines`. */
export function captureLines(child: ChildProcess, lines: string[]): void {
  let buf = '';
  const onData = (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop() ?? '';
    lines.push(...parts);
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
}

export class StoreProcess {
  readonly lines: string[] = [];
  readonly exited: Promise<number | null>;
  /** The signal that ended the process (null while running or after a normal exit). */
  exitSignal: NodeJS.Signals | null = null;
  private readonly child: ChildProcess;

  constructor(readonly args: string[]) {
    this.child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    captureLines(this.child, this.lines);
    this.exited = new Promise((r) =>
      this.child.on('exit', (code, signal) => {
        this.exitSignal = signal;
        r(code);
      }),
    );
  }

  /** Waits for `peerkv-store serving ...`; returns the store id and how it started. */
  async serving(timeoutMs = 40_000): Promise<{ storeId: number; started: string }> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const m = this.lines.map((l) => l.match(/^peerkv-store serving store=(\d+) cluster=\S+ started=(\w+)(?: witness)?$/)).find((x) => x);
      if (m) return { storeId: Number(m[1]), started: m[2] };
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    throw new Error(`timed out waiting for: serving line from ${this.args.join(' ')}; output: ${this.lines.join(' | ')}`);
  }

  /** The process id (for reports). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }
}

/**
 * Starts store `a` with `--bootstrap` and store `b` to join it (both SIGKILLed by `cleanups`),
 * and checks that `a` bootstrapped as the first store and `b` joined.
 */
export async function bootstrapAndJoin(argsOf: (name: string, extra?: string[]) => string[], cleanups: (() => unknown)[]): Promise<{ a: StoreProcess; b: StoreProcess; bStoreId: number }> {
  const a = new StoreProcess(argsOf('a', ['--bootstrap']));
  cleanups.push(() => a.kill('SIGKILL'));
  const sa = await a.serving();
  if (sa.started !== 'bootstrapped' || sa.storeId !== BOOTSTRAP_IDS.store) throw new Error(`store a: expected bootstrapped store ${BOOTSTRAP_IDS.store}, got ${JSON.stringify(sa)}`);
  const b = new StoreProcess(argsOf('b'));
  cleanups.push(() => b.kill('SIGKILL'));
  const sb = await b.serving();
  if (sb.started !== 'joined') throw new Error(`store b: expected joined, got ${JSON.stringify(sb)}`);
  return { a, b, bStoreId: sb.storeId };
}
