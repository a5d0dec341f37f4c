#!/usr/bin/env node
/**
 * `npm run build`: every published package to ESM JavaScript plus `.d.ts` in its `dist/`
 * (what its `exports` give everyone but the repository's own tools, which resolve the
 * `@peerkv/source` condition to the TypeScript sources; see vite.config.ts). Clean, then
 * `tsc -b tsconfig.build.json` (project references, dependencies first), then the one rewrite
 * tsc leaves: a module URL built from `import.meta.url` (the browser runtime's Worker entry,
 * `new URL('./store-worker.ts', import.meta.url)`) keeps its `.ts` name, which the build must
 * point at the emitted `.js` (tsc's `rewriteRelativeImportExtensions` covers imports only).
 * Prints the packages built and the time taken. Usage: `node scripts/build.mjs`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const root = join(import.meta.dirname, '..');

/** The directories of the packages `tsconfig.build.json` builds (its references' directories). */
function builtPackageDirs() {
  const refs = JSON.parse(readFileSync(join(root, 'tsconfig.build.json'), 'utf8')).references;
  return [...new Set(refs.map((r) => join(root, dirname(r.path))))];
}

/** `new URL('./x.ts', import.meta.url)` (a relative module URL to a TypeScript file). */
const TS_MODULE_URL = /new URL\((['"])(\.{1,2}\/[^'"]+)\.ts\1, import\.meta\.url\)/g;

/** Rewrites TS_MODULE_URL to `.js` in every emitted file under `dir`; returns how many. */
function rewriteModuleUrls(dir) {
  let n = 0;
  for (const f of readdirSync(dir, { recursive: true })) {
    if (!String(f).endsWith('.js')) continue;
    const file = join(dir, String(f));
    const text = readFileSync(file, 'utf8');
    const out = text.replace(TS_MODULE_URL, (_m, q, path) => {
      n++;
      return `new URL(${q}${path}.js${q}, import.meta.url)`;
    });
    if (out !== text) writeFileSync(file, out);
  }
  return n;
}

const startedMs = performance.now();
const dirs = builtPackageDirs();
for (const d of dirs) rmSync(join(d, 'dist'), { recursive: true, force: true });
const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-b', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
if (tsc.status !== 0) process.exit(tsc.status ?? 1);
let urls = 0;
for (const d of dirs) {
  if (!existsSync(join(d, 'dist', 'index.js'))) throw new Error(`build: ${d} has no dist/index.js`);
  urls += rewriteModuleUrls(join(d, 'dist'));
}
const names = dirs.map((d) => JSON.parse(readFileSync(join(d, 'package.json'), 'utf8')).name);
console.log(`build: ${names.length} packages (${names.join(' ')}) in ${((performance.now() - startedMs) / 1000).toFixed(1)} s; ${urls} module URL(s) pointed at .js`);
