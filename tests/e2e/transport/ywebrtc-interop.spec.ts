/**
 * y-webrtc's own `WebrtcProvider`, in two browser contexts, finds its peer through PeerKV's
 * signaling server and syncs a Y.Doc over WebRTC: the server speaks y-webrtc's protocol.
 */
import { expect, test } from '@playwright/test';
import type { Page } from '@playwright/test';
import { SignalingServer } from '../../../signaling/src/server.ts';
import { bundle, servePage } from './serve.ts';

type Yjs = { start(room: string, url: string, pw: string): void; insert(t: string): void; text(): string; webrtcPeers(): number };
const y = (p: Page) => ({
  start: (url: string) => p.evaluate((u) => (window as unknown as { yjs: Yjs }).yjs.start('peerkv-interop', u, 'pw'), url),
  insert: (t: string) => p.evaluate((x) => (window as unknown as { yjs: Yjs }).yjs.insert(x), t),
  text: () => p.evaluate(() => (window as unknown as { yjs: Yjs }).yjs.text()),
  peers: () => p.evaluate(() => (window as unknown as { yjs: Yjs }).yjs.webrtcPeers()),
});

test("y-webrtc's WebrtcProvider syncs a document through PeerKV's signaling server", async ({ browser }) => {
  const signaling = new SignalingServer();
  const { port } = await signaling.listen(0, '127.0.0.1');
  const page = await servePage(await bundle(new URL('./fixture/yjs-harness.ts', import.meta.url).pathname));
  try {
    const [a, b] = await Promise.all([browser.newContext(), browser.newContext()].map(async (c) => (await c).newPage()));
    for (const p of [a, b]) {
      await p.goto(page.url);
      await y(p).start(`ws://127.0.0.1:${port}`);
    }
    await expect.poll(() => y(a).peers(), { timeout: 30_000 }).toBe(1);
    await y(a).insert('hello from a');
    await expect.poll(() => y(b).text(), { timeout: 30_000 }).toBe('hello from a');
    expect(signaling.metrics().messagesPublished).toBeGreaterThan(0);
  } finally {
    await page.close();
    await signaling.close();
  }
});
