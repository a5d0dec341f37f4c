#!/usr/bin/env node
// Launcher for the CLI in src/cli.ts: the build (dist/cli.js) when installed, the TypeScript
// source in the repository (load.mjs).
import { loadEntry } from './load.mjs';

const { main, StoreCliUsageError } = await loadEntry('cli');
main(process.argv.slice(2)).catch((err) => {
  console.error(`peerkv-store: ${err instanceof Error ? err.message : String(err)}`);
  if (err instanceof StoreCliUsageError) console.error('run peerkv-store --help for the flags');
  process.exit(1);
});
