/**
 * What the Node + browser specs start first: a signaling server in the test process, the Vite
 * server of the browser fixture, and a temporary data root, each closed or removed by `cleanups`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignalingServer } from '../../../signaling/src/server.ts';
import { startVite } from '../browser/vite-server.ts';

export async function startNetSetup(rootPrefix: string, cleanups: (() => unknown)[]): Promise<{ signalingUrl: string; viteUrl: string; root: string }> {
  const signaling = new SignalingServer();
  const signalingUrl = `ws://127.0.0.1:${(await signaling.listen(0, '127.0.0.1')).port}`;
  cleanups.push(() => signaling.close());
  const vite = await startVite();
  cleanups.push(() => vite.close());
  const root = mkdtempSync(join(tmpdir(), rootPrefix));
  cleanups.push(() => rmSync(root, { recursive: true, force: true }));
  return { signalingUrl, viteUrl: vite.url, root };
}
