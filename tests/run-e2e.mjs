#!/usr/bin/env node
// Runs the Playwright suites (tests/e2e/*.spec.ts). As root on Linux, inside a fresh network
// namespace with only loopback up, so WebRTC in tests can reach no address but 127.0.0.1.
// The cross-engine specs (tests/e2e/engines/) run after the others, in a namespace of their own
// with a veth pair up (addresses at both ends, a default route through the far end): Firefox
// gathers no ICE candidates on loopback alone. Nothing leaves that namespace either.
// Arguments go to Playwright; file arguments pick which of the two runs happen.
import { readdirSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const dir = join(import.meta.dirname, 'e2e');
const specs = existsSync(dir) ? readdirSync(dir, { recursive: true }).filter((f) => String(f).endsWith('.spec.ts')) : [];
if (specs.length === 0) {
  console.log('e2e: no Playwright specs');
  process.exit(0);
}
const LOOPBACK_UP = 'ip link set lo up';
const VETH_UP = [
  LOOPBACK_UP,
  'ip link add v0 type veth peer name v1',
  'ip addr add 10.213.0.1/24 dev v0',
  'ip addr add 10.213.0.2/24 dev v1',
  'ip link set v0 up',
  'ip link set v1 up',
  'ip route add default via 10.213.0.2 dev v0',
].join(' && ');

const args = process.argv.slice(2);
const isEnginesPath = (a) => /(^|\/)engines(\/|$)/.test(a);
const files = args.filter((a) => !a.startsWith('-'));
const options = args.filter((a) => a.startsWith('-'));
const runs = [
  { engines: false, files: files.filter((a) => !isEnginesPath(a)), netUp: LOOPBACK_UP },
  { engines: true, files: files.filter(isEnginesPath), netUp: VETH_UP },
].filter((r) => files.length === 0 || r.files.length > 0);
if (!specs.some((f) => isEnginesPath(String(f)))) runs.splice(runs.findIndex((r) => r.engines), 1);

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const canUnshare = isRoot && spawnSync('unshare', ['-n', 'true']).status === 0;
let status = 0;
for (const run of runs) {
  const cmd = `npx playwright test -c ${join(import.meta.dirname, 'playwright.config.ts')} ${[...run.files, ...options].join(' ')}`;
  const env = { ...process.env, PEERKV_E2E_ENGINES: run.engines ? '1' : '0' };
  const r = canUnshare
    ? spawnSync('unshare', ['-n', 'sh', '-c', `${run.netUp} && exec ${cmd}`], { stdio: 'inherit', env })
    : spawnSync('sh', ['-c', cmd], { stdio: 'inherit', env });
  if (r.status !== 0) status = r.status ?? 1;
}
process.exit(status);
