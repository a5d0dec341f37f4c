#!/usr/bin/env node
// Runs the Playwright suites (tests/e2e/*.spec.ts). As root on Linux, inside a fresh network
// namespace with only loopback up, so WebRTC in tests can reach no address but 127.0.0.1.
import { readdirSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const dir = join(import.meta.dirname, 'e2e');
const specs = existsSync(dir) ? readdirSync(dir, { recursive: true }).filter((f) => String(f).endsWith('.spec.ts')) : [];
if (specs.length === 0) {
  console.log('e2e: no Playwright specs');
  process.exit(0);
}
const cmd = `npx playwright test -c ${join(import.meta.dirname, 'playwright.config.ts')} ${process.argv.slice(2).join(' ')}`;
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const canUnshare = isRoot && spawnSync('unshare', ['-n', 'true']).status === 0;
const r = canUnshare
  ? spawnSync('unshare', ['-n', 'sh', '-c', `ip link set lo up; exec ${cmd}`], { stdio: 'inherit' })
  : spawnSync('sh', ['-c', cmd], { stdio: 'inherit' });
process.exit(r.status ?? 1);
