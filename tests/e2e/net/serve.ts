/**
 * Node side of the networked-store specs: bundles `fixture/page.ts` and serves it on
 * 127.0.0.1, starts the real signaling server, runs `peerkv-store` processes, and calls
 * `window.net` in pages.
 */
import { join } from 'node:path';
import type { Page } from '@playwright/test';
import { SignalingServer } from '../../../signaling/src/server.ts';
import { bundle, servePage } from '../transport/serve.ts';
import type { NetApi } from './fixture/page.ts';


/** Page URL, signaling URL and a closer. */
export interface NetFixture {
  pageUrl: string;
  signalingUrl: string;
  close(): Promise<void>;
}

/** Bundles and serves the page, starts signaling on a free port. */
export async function startNetFixture(): Promise<NetFixture> {
  const page = await servePage(await bundle(join(import.meta.dirname, 'fixture/page.ts')));
  const signaling = new SignalingServer();
  const addr = await signaling.listen(0, '127.0.0.1');
  return {
    pageUrl: page.url,
    signalingUrl: `ws://127.0.0.1:${addr.port}`,
    close: async () => {
      await signaling.close();
      await page.close();
    },
  };
}

/** Calls `window.net.<name>(...args)` in `page`. */
export function net<K extends keyof NetApi>(page: Page, name: K, ...args: Parameters<NetApi[K]>): Promise<Awaited<ReturnType<NetApi[K]>>> {
  return page.evaluate(([k, a]) => {
    const api = (window as unknown as { net: Record<string, (...x: unknown[]) => unknown> }).net;
    return api[k as string](...(a as unknown[]));
  }, [name, args] as const) as Promise<Awaited<ReturnType<NetApi[K]>>>;
}

/** Polls `cond` every 100 ms until true; throws after `timeoutMs`. */
export async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 40_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      if (await cond()) return;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for: ${what}${last ? ` (last error: ${String(last)})` : ''}`);
}

export { StoreProcess } from '../store-process.ts';
