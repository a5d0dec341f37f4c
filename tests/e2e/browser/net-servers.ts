/**
 * The servers a networked browser spec needs, started once per spec file: Vite serving the
 * fixture page and the real signaling server on loopback. `fixtureUrl(cluster)` opens the
 * fixture page on that cluster through that signaling server.
 */
import { test } from '@playwright/test';
import { SignalingServer } from '../../../signaling/src/server.ts';
import { startVite, type ViteFixture } from './vite-server.ts';

/** Registers beforeAll/afterAll hooks for Vite and signaling; the returned getters work inside tests. */
export function useNetServers(): { fixtureUrl(cluster: string, probeMs?: number): string; signalingUrl(): string } {
  let vite: ViteFixture | undefined;
  let signaling: SignalingServer | undefined;
  let signalingUrl = '';
  test.beforeAll(async () => {
    vite = await startVite();
    signaling = new SignalingServer();
    signalingUrl = `ws://127.0.0.1:${(await signaling.listen(0, '127.0.0.1')).port}`;
  });
  test.afterAll(async () => {
    await signaling?.close();
    await vite?.close();
  });
  return {
    fixtureUrl: (cluster, probeMs = 1500) => `${vite!.url}tests/e2e/browser/fixture/index.html?cluster=${cluster}&signaling=${encodeURIComponent(signalingUrl)}&probeMs=${probeMs}`,
    signalingUrl: () => signalingUrl,
  };
}
