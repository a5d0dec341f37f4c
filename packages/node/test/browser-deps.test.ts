/**
 * Installing a browser package must not install Node-only modules: the production dependency
 * closure (dependencies, optional and peer dependencies, followed through node_modules as
 * Node resolves them) of `peerkv` and of every package it reaches holds neither
 * `@roamhq/wrtc` (native), `ws` nor `classic-level` (native; an optional peer of
 * `@peerkv/storage`, needed only by its `./level` subpath). Those are `@peerkv/node`'s, with the
 * `peerkv` and `peerkv-store` bins.
 * (Imports are checked by scripts/check-deps.mjs; this checks what `npm install` pulls.)
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../../..');

/** Browser-reachable workspace packages, by directory under packages/. */
const BROWSER_PACKAGE_DIRS = ['client', 'raft', 'storage', 'transport', 'pd', 'store', 'proto'];
/** What a browser package's install must never pull. */
const NODE_ONLY_NPM = ['@roamhq/wrtc', 'ws', 'classic-level'];

interface PackageJson {
  name: string;
  bin?: Record<string, string>;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

function readPackage(dir: string): PackageJson {
  return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as PackageJson;
}

/** The installed directory of `name` as seen from `fromDir` (Node's node_modules lookup), real path. */
function resolvePackageDir(name: string, fromDir: string): string | undefined {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return realpathSync(candidate);
    if (dirname(dir) === dir) return undefined;
  }
}

/**
 * Every package `npm install <root package>` installs, name → the chain that pulls it.
 * Missing required dependencies throw (the closure would be incomplete); a missing optional
 * one is skipped.
 */
function productionClosure(rootDir: string): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  const queue: { dir: string; chain: string[] }[] = [{ dir: rootDir, chain: [readPackage(rootDir).name] }];
  const visitedDirs = new Set<string>([rootDir]);
  while (queue.length > 0) {
    const { dir, chain } = queue.shift()!;
    const pkg = readPackage(dir);
    const optional = new Set(Object.keys(pkg.optionalDependencies ?? {}));
    // npm installs an optional peer only when something else asks for it (LevelDB's
    // `classic-level` for `@peerkv/storage/level`): it is not part of the closure.
    const optionalPeers = new Set(Object.entries(pkg.peerDependenciesMeta ?? {}).filter(([, m]) => m.optional).map(([n]) => n));
    const peers = Object.keys(pkg.peerDependencies ?? {}).filter((n) => !optionalPeers.has(n));
    const names = new Set([...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.optionalDependencies ?? {}), ...peers]);
    for (const name of names) {
      const depDir = resolvePackageDir(name, dir);
      if (depDir === undefined) {
        if (optional.has(name)) continue;
        throw new Error(`${chain.join(' > ')} needs ${name}, not installed`);
      }
      if (!seen.has(name)) seen.set(name, [...chain, name]);
      if (!visitedDirs.has(depDir)) {
        visitedDirs.add(depDir);
        queue.push({ dir: depDir, chain: [...chain, name] });
      }
    }
  }
  return seen;
}

describe('browser packages pull no Node-only modules', () => {
  for (const p of BROWSER_PACKAGE_DIRS) {
    it(`packages/${p}`, () => {
      const closure = productionClosure(join(ROOT, 'packages', p));
      const pulled = NODE_ONLY_NPM.filter((n) => closure.has(n)).map((n) => closure.get(n)!.join(' > '));
      expect(pulled).toEqual([]);
    });
  }

  it('the closure walk sees them when they are there: @peerkv/node has both and the bins', () => {
    const dir = join(ROOT, 'packages', 'node');
    const closure = productionClosure(dir);
    for (const n of NODE_ONLY_NPM) expect(closure.get(n)?.slice(0, 2)).toEqual(['@peerkv/node', n]);
    expect(readPackage(dir).bin).toEqual({ peerkv: './bin/peerkv.mjs', 'peerkv-store': './bin/peerkv-store.mjs' });
    for (const p of BROWSER_PACKAGE_DIRS) expect(readPackage(join(ROOT, 'packages', p)).bin).toBeUndefined();
  });
});
