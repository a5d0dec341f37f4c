#!/usr/bin/env node
// Runs the Node multi-process suites (tests/e2e/node/*.test.ts) with vitest. As root on Linux,
// inside a fresh network namespace with only loopback up (PEERKV_NETNS=1), so WebRTC between
// the processes can reach no address but 127.0.0.1; elsewhere on the host network (the
// tests pass `iceServers: []`: host candidates only).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const config = join(import.meta.dirname, 'vitest.config.ts');
const cmd = `npx vitest run --config ${config} ${process.argv.slice(2).join(' ')}`;
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const canUnshare = isRoot && spawnSync('unshare', ['-n', 'true']).status === 0;
if (!canUnshare) console.log('e2e node: not root or no unshare: running on the host network');
const r = canUnshare
  ? spawnSync('unshare', ['-n', 'sh', '-c', `ip link set lo up; exec ${cmd}`], { stdio: 'inherit', env: { ...process.env, PEERKV_NETNS: '1' } })
  : spawnSync('sh', ['-c', cmd], { stdio: 'inherit' });
process.exit(r.status ?? 1);
