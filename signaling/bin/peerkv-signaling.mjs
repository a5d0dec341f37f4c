#!/usr/bin/env node
// Launcher for the CLI in src/cli.ts: the build (dist/cli.js) when installed; in the repository
// (src/ is there) the TypeScript source, through scripts/source-import.mjs.
import { existsSync } from 'node:fs';

const source = new URL('../src/cli.ts', import.meta.url);
const { main } = existsSync(source)
  ? await (await import('../../scripts/source-import.mjs')).importSource(source)
  : await import('../dist/cli.js');
main(process.argv.slice(2)).catch((err) => {
  console.error(`peerkv-signaling: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
