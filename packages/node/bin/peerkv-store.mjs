#!/usr/bin/env node
// Launcher for the TypeScript CLI: the workspace ships TS sources (no build step), so this
// loads src/cli.ts through tsx's loader API.
import { tsImport } from 'tsx/esm/api';

const { main, StoreCliUsageError } = await tsImport('../src/cli.ts', import.meta.url);
main(process.argv.slice(2)).catch((err) => {
  console.error(`peerkv-store: ${err instanceof Error ? err.message : String(err)}`);
  if (err instanceof StoreCliUsageError) console.error('run peerkv-store --help for the flags');
  process.exit(1);
});
