// Loads one of this package's modules for a bin: the built JavaScript in dist/ when installed;
// in the repository (src/ is there) the TypeScript source, through scripts/source-import.mjs.
import { existsSync } from 'node:fs';

/** Imports `<entry>` (a path under src/ or dist/, without extension). */
export async function loadEntry(entry) {
  const source = new URL(`../src/${entry}.ts`, import.meta.url);
  if (!existsSync(source)) return import(new URL(`../dist/${entry}.js`, import.meta.url).href);
  const { importSource } = await import('../../../scripts/source-import.mjs');
  return importSource(source);
}
