/**
 * How a package's bin runs inside this repository (`src/` beside `bin/`, `dist/` absent or
 * stale): its TypeScript source through tsx, with the workspace packages it imports resolved
 * to their sources too, by a module hook that adds the `@peerkv/source` export condition (see
 * "Installing the packages" in README.md). Installed from a tarball, a bin has no `src/` and
 * imports its `dist/` instead; it never reaches this file, which no package ships.
 */
import { register } from 'node:module';
import { tsImport } from 'tsx/esm/api';

const SOURCE_CONDITION_HOOK = `data:text/javascript,${encodeURIComponent(`
export async function resolve(specifier, context, next) {
  const conditions = context.conditions.includes('@peerkv/source') ? context.conditions : [...context.conditions, '@peerkv/source'];
  return next(specifier, { ...context, conditions });
}`)}`;

let hooked = false;

/** Imports the TypeScript module at `source` (a file URL) from the workspace's sources. */
export function importSource(source) {
  if (!hooked) {
    register(SOURCE_CONDITION_HOOK);
    hooked = true;
  }
  return tsImport(source.href, import.meta.url);
}
