#!/usr/bin/env node
// Launcher for the `peerkv` CLI in src/peerkv-cli/main.ts: the build (dist/) when installed, the
// TypeScript source in the repository (load.mjs). Once the client has closed and the output is
// flushed, the process exits with process.exit: an exit by itself runs Node's environment
// cleanup, whose finalizers of @roamhq/wrtc's native objects crashed the process with SIGSEGV
// about once in 100 runs under load (`peerkv drain 999999` in the CLI e2e, in CI);
// process.exit skips that cleanup (node-webrtc issue 636).
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
const code = await runCli(process.argv.slice(2), process.env, {
  signal: stop.signal,
  out: (s) => process.stdout.write(`${s}\n`),
  err: (s) => process.stderr.write(`${s}\n`),
  stdin: () => readStdin(TXN_INPUT_BYTES_MAX),
});
const flushed = (stream) => new Promise((resolve) => stream.write('', () => resolve()));
await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
process.exit(code);
