#!/usr/bin/env node
// Launcher for the TypeScript CLI: the workspace ships TS sources (no build step), so this
// loads src/net/cli.ts through tsx's loader API.
import { tsImport } from 'tsx/esm/api';

const { main } = await tsImport('../src/net/cli.ts', import.meta.url);
main(process.argv.slice(2)).catch((err) => {
  console.error(`peerkv-store: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
