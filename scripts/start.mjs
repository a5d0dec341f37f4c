#!/usr/bin/env node
// `npm start`: the signaling server plus the demo on Vite's dev server, both on 127.0.0.1, with
// no configuration. The demo's stores find each other through that signaling server (its URL
// reaches the page as VITE_PEERKV_SIGNALING). Prints the demo's URL once it is served.
//
// The signaling server also runs a witness store of the demo's cluster (`--witness`): it votes
// and keeps the Raft log but holds no data, so two browsers keep a quorum when one closes. Its
// directory is fresh on every run (a temporary one, removed on Ctrl-C): a witness left from an
// earlier run could belong to a cluster the browsers have since recreated. PEERKV_WITNESS=0
// runs the signaling server alone.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'vite';

/** The demo's cluster and its (public) secret: demo/stores.ts's DEMO_CLUSTER and DEMO_SECRET. */
const DEMO_CLUSTER = 'demo-mvcc';
const DEMO_SECRET = 'peerkv-demo-not-a-secret';

const root = join(import.meta.dirname, '..');
const signalingBin = join(root, 'signaling', 'bin', 'peerkv-signaling.mjs');
const signalingPort = process.env.SIGNALING_PORT ?? '4444';
const witnessDir = process.env.PEERKV_WITNESS === '0' ? undefined : mkdtempSync(join(tmpdir(), 'peerkv-demo-witness-'));
const witnessArgs = witnessDir ? ['--witness', witnessDir, '--cluster', DEMO_CLUSTER, '--secret', DEMO_SECRET] : [];
const signaling = existsSync(signalingBin)
  ? spawn(process.execPath, [signalingBin, '--host', '127.0.0.1', '--port', signalingPort, ...witnessArgs], { stdio: 'inherit' })
  : undefined;
// A busy signaling port must not take the demo down: the demo runs without it.
signaling?.on('exit', (code) => {
  if (code) console.log(`peerkv-signaling exited (${code}); the demo keeps running without it`);
});

process.env.VITE_PEERKV_SIGNALING ??= `ws://127.0.0.1:${signalingPort}`;

const vite = await createServer({ configFile: join(root, 'vite.config.ts'), server: { host: '127.0.0.1' } });
await vite.listen();
const url = vite.resolvedUrls?.local[0] ?? `http://127.0.0.1:${vite.config.server.port}/`;
console.log(
  [
    '',
    `  PeerKV demo: ${url}`,
    `  signaling:   ${process.env.VITE_PEERKV_SIGNALING}`,
    '  Open the URL in two browsers (or two profiles of one browser): their stores find each other',
    '  through the signaling server and form one cluster, with no configuration. Each profile keeps',
    '  its store in IndexedDB; more tabs of one profile attach to the tab hosting its store.',
    ...(witnessDir ? ['  A witness store runs beside the signaling server: with two browsers, either can close and', '  the other keeps reading and writing (PEERKV_WITNESS=0 turns it off).'] : []),
    '',
  ].join('\n'),
);

const stop = async () => {
  signaling?.kill('SIGTERM');
  await vite.close();
  if (signaling && signaling.exitCode === null) await new Promise((r) => signaling.once('exit', r));
  if (witnessDir) rmSync(witnessDir, { recursive: true, force: true });
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
