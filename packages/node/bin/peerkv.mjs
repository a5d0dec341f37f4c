#!/usr/bin/env node
// Launcher for the `peerkv` CLI in src/peerkv-cli/main.ts: the build (dist/) when installed, the
// TypeScript source in the repository (load.mjs). The exit code is set, not forced: the
// process ends by itself once the client has closed (nothing else holds it).
import { loadEntry } from './load.mjs';

const { runCli, readStdin } = await loadEntry('peerkv-cli/main');
const { TXN_INPUT_BYTES_MAX } = await loadEntry('peerkv-cli/txn-ops');
// SIGINT/SIGTERM stop a running command: a watch ends and the client closes (exit 0); whatever
// is still running STOP_GRACE_MS later is cut short with exit 130 (closing a WebRTC client
// takes up to a few seconds on a loaded machine: 3 s cut a stopped watch short in CI).
const STOP_GRACE_MS = 10_000;
const stop = new AbortController();
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    stop.abort();
    setTimeout(() => process.exit(130), STOP_GRACE_MS).unref();
  });
}
process.exitCode = await runCli(process.argv.slice(2), process.env, {
  signal: stop.signal,
  out: (s) => process.stdout.write(`${s}\n`),
  err: (s) => process.stderr.write(`${s}\n`),
  stdin: () => readStdin(TXN_INPUT_BYTES_MAX),
});
