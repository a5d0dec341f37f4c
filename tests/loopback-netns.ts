/**
 * Benchmarks that open WebRTC between browsers run inside a fresh network namespace with only
 * loopback up, so the browsers can reach nothing but 127.0.0.1 (as `tests/run-e2e.mjs` does for
 * the e2e suites). Needs root and `unshare`; elsewhere the process stays on the host network.
 */
import { spawnSync } from 'node:child_process';

/** Set in the re-executed process; `loopbackOnly()` reads it. */
const NETNS_ENV = 'PEERKV_BENCH_NETNS';

/**
 * As root with `unshare`, runs this same process again inside a loopback-only network
 * namespace and exits with its status; returns at once when already inside, or when it cannot.
 */
export function reexecInLoopbackNamespace(): void {
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot || process.env[NETNS_ENV] === '1') return;
  if (spawnSync('unshare', ['-n', 'true']).status !== 0) return;
  const argv = [process.execPath, ...process.execArgv, ...process.argv.slice(1)].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const r = spawnSync('unshare', ['-n', 'sh', '-c', `ip link set lo up; exec ${argv}`], { stdio: 'inherit', env: { ...process.env, [NETNS_ENV]: '1' } });
  process.exit(r.status ?? 1);
}

/** True in the process `reexecInLoopbackNamespace` started. */
export const loopbackOnly = (): boolean => process.env[NETNS_ENV] === '1';
