#!/usr/bin/env node
// `npm start`: the signaling server plus the demo on Vite's dev server, both on 127.0.0.1, with
// no configuration. The demo's stores find each other through that signaling server (its URL
// reaches the page as VITE_PEERKV_SIGNALING). Prints the demo's URL once it is served.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'vite';

const root = join(import.meta.dirname, '..');
const signalingBin = join(root, 'signaling', 'bin', 'peerkv-signaling.mjs');
const signalingPort = process.env.SIGNALING_PORT ?? '4444';
const signaling = existsSync(signalingBin)
  ? spawn(process.execPath, [signalingBin, '--host', '127.0.0.1', '--port', signalingPort], { stdio: 'inherit' })
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
    '',
  ].join('\n'),
);

const stop = async () => {
  signaling?.kill('SIGTERM');
  await vite.close();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
