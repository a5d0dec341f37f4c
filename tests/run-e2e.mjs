#!/usr/bin/env node
// Runs the Playwright end-to-end suites under tests/e2e (if any). Each suite is a file
// tests/e2e/*.e2e.ts run with tsx; it exits non-zero on failure.
import { readdirSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const dir = join(import.meta.dirname, 'e2e');
const suites = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.e2e.ts')).sort() : [];
let failed = 0;
for (const suite of suites) {
  console.log(`e2e: ${suite}`);
  const r = spawnSync('npx', ['tsx', join(dir, suite)], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
console.log(`e2e: suites=${suites.length} failed=${failed}`);
process.exit(failed === 0 ? 0 : 1);
