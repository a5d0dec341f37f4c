/**
 * `npm run bench`: every benchmark of the suite in turn (`npm run bench:<name>`), its output
 * passed through as it comes, then its `bench:` lines written to `bench-results/bench.txt` and
 * plotted to `bench-results/bench.svg` (`bench-plot.ts`). Stops at the first benchmark that
 * fails, with its exit code, after writing what the others printed.
 * Usage: `npx tsx scripts/bench.ts [name...]` (default: the whole suite).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { benchSvg, parseBenchLines } from './bench-plot.ts';

/** The suite, in the order it runs (`bench:signaling` is separate: it loads the machine). */
const SUITE = ['raft', 'storage', 'transport', 'cluster', 'txn', 'reads', 'idle', 'open'];
/**
 * Smaller settings the suite runs a benchmark with, unless the caller's environment sets them:
 * `bench:idle` alone splits 10,000 regions (about two minutes); in the suite it takes 2,000.
 */
const SUITE_ENV: Record<string, Record<string, string>> = {
  idle: { BENCH_IDLE_REGIONS: '2000', BENCH_IDLE_WINDOWS: '3', BENCH_IDLE_WINDOW_MS: '3000' },
};
const root = join(import.meta.dirname, '..');
const outDir = join(root, 'bench-results');

/** Runs `npm run bench:<name>`, echoing its output; resolves with it and the exit code. */
function runBench(name: string): Promise<{ out: string; code: number }> {
  return new Promise((resolve) => {
    const env = { ...SUITE_ENV[name], ...process.env };
    const child = spawn('npm', ['run', '--silent', `bench:${name}`], { cwd: root, env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      process.stdout.write(d);
    });
    child.on('exit', (code, signal) => resolve({ out, code: code ?? (signal ? 1 : 0) }));
  });
}

const names = process.argv.length > 2 ? process.argv.slice(2) : SUITE;
let text = '';
let failed = 0;
for (const name of names) {
  const { out, code } = await runBench(name);
  text += out.split('\n').filter((l) => l.startsWith('bench:')).map((l) => `${l}\n`).join('');
  if (code !== 0) {
    console.error(`bench: bench:${name} exited ${code}`);
    failed = code;
    break;
  }
}
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'bench.txt'), text);
const lines = parseBenchLines(text);
writeFileSync(join(outDir, 'bench.svg'), benchSvg(lines, `PeerKV benchmarks, ${new Date().toISOString()}`));
console.log(`bench: ${lines.length} figures line(s) written to bench-results/bench.txt and plotted to bench-results/bench.svg`);
process.exit(failed);
