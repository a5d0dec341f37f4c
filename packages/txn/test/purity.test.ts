/**
 * The purity check of issue 12 ("a check in npm test enforces it"): `packages/txn/src` imports
 * only `@peerkv/proto` and its own modules, and never names a clock, randomness, a timer, crypto
 * or the network. Comments are stripped first, so the rules may be discussed in prose.
 * (`scripts/check-deps.mjs` enforces the import half on the resolved graph too.)
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const srcDir = join(import.meta.dirname, '..', 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

/** The code without its comments (block, TSDoc and line comments). */
export function stripComments(code: string): string {
  return code.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

/** Every module specifier: static imports and re-exports, side-effect imports, dynamic imports, require. */
export function specifiers(code: string): string[] {
  const out: string[] = [];
  const patterns = [/\bfrom\s+['"]([^'"]+)['"]/g, /\bimport\s+['"]([^'"]+)['"]/g, /\bimport\s*\(\s*['"`]?([^'"`)]*)/g, /\brequire\s*\(\s*['"`]?([^'"`)]*)/g];
  for (const re of patterns) for (const m of code.matchAll(re)) out.push(m[1]);
  return out;
}

const FORBIDDEN: { name: string; re: RegExp }[] = [
  { name: 'Date', re: /\bDate\b/ },
  { name: 'performance', re: /\bperformance\b/ },
  { name: 'Math.random', re: /\bMath\s*\.\s*random\b/ },
  { name: 'setTimeout', re: /\bsetTimeout\b/ },
  { name: 'setInterval', re: /\bsetInterval\b/ },
  { name: 'setImmediate', re: /\bsetImmediate\b/ },
  { name: 'queueMicrotask', re: /\bqueueMicrotask\b/ },
  { name: 'crypto', re: /\bcrypto\b/ },
  { name: 'fetch', re: /\bfetch\b/ },
  { name: 'process', re: /\bprocess\b/ },
  { name: 'globalThis', re: /\bglobalThis\b/ },
];

/** What is wrong with one source file's text (empty: pure). */
export function violations(code: string): string[] {
  const stripped = stripComments(code);
  const bad = specifiers(stripped)
    .filter((s) => s !== '@peerkv/proto' && !s.startsWith('./') && !s.startsWith('../'))
    .map((s) => `imports ${s}`);
  for (const f of FORBIDDEN) if (f.re.test(stripped)) bad.push(`uses ${f.name}`);
  return bad;
}

describe('txn purity', () => {
  const files = sourceFiles(srcDir);

  it('scans the sources', () => {
    expect(files.length).toBeGreaterThan(10);
  });

  it.each(files.map((f) => [relative(srcDir, f), f]))('%s imports only @peerkv/proto and uses no clock, randomness, timer or I/O', (_name, file) => {
    expect(violations(readFileSync(file, 'utf8'))).toEqual([]);
  });

  it('catches what it is meant to catch', () => {
    expect(violations("import { x } from 'node:fs';")).toEqual(['imports node:fs']);
    expect(violations("import fc from 'fast-check';")).toEqual(['imports fast-check']);
    expect(violations("export * from '@peerkv/raft';")).toEqual(['imports @peerkv/raft']);
    expect(violations("const m = await import('./x.ts');")).toEqual([]);
    expect(violations("const m = await import('idb');")).toEqual(['imports idb']);
    expect(violations('const now = Date.now();')).toEqual(['uses Date']);
    expect(violations('const t = performance.now();')).toEqual(['uses performance']);
    expect(violations('const r = Math.random();')).toEqual(['uses Math.random']);
    expect(violations('setTimeout(f, 1);')).toEqual(['uses setTimeout']);
    expect(violations('crypto.getRandomValues(b);')).toEqual(['uses crypto']);
    expect(violations("await fetch('/x');")).toEqual(['uses fetch']);
    expect(violations('/** no Date, no fetch */ // nor Math.random\nconst a = 1;')).toEqual([]);
    expect(violations("import { ByteWriter } from '@peerkv/proto';\nimport { x } from '../key.ts';")).toEqual([]);
  });
});
