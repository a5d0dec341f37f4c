#!/usr/bin/env node
// `npm start`: the signaling server (when built) plus the Vite demo, on 127.0.0.1.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const children = [];
const signalingBin = join(root, 'signaling', 'bin', 'peerkv-signaling.mjs');
if (existsSync(signalingBin)) {
  children.push(spawn(process.execPath, [signalingBin, '--host', '127.0.0.1', '--port', process.env.SIGNALING_PORT ?? '4444'], { stdio: 'inherit' }));
}
children.push(spawn('npx', ['vite', '--host', '127.0.0.1'], { cwd: root, stdio: 'inherit' }));
const stop = () => {
  for (const c of children) c.kill('SIGTERM');
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
