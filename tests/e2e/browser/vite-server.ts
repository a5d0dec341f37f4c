/**
 * Node side of the browser-runtime and demo specs: a Vite dev server on 127.0.0.1 with a
 * free port, rooted at the repository (fixture pages) or at demo/ (the demo's own config),
 * with file watching and HMR off so edits elsewhere never reload a page under test.
 */
import net from 'node:net';
import { join } from 'node:path';
import { createServer, type InlineConfig } from 'vite';
import { PREBUNDLED_DEPS, SOURCE_RESOLVE } from '../../../vite.config.ts';

/** The repository root. */
export const REPO_ROOT = join(import.meta.dirname, '..', '..', '..');

/** A running Vite server. */
export interface ViteFixture {
  /** Base URL, ending in `/`. */
  url: string;
  close(): Promise<void>;
}

/** A TCP port free on 127.0.0.1 a moment ago. */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/**
 * Starts Vite: `demo: true` uses vite.config.ts (root demo/), otherwise the repository root,
 * pre-bundling the browser runtime's CommonJS dependencies and `prebundle` (named `cacheName`
 * in the cache, so a page with other dependencies keeps its own).
 */
export async function startVite(o: { demo?: boolean; prebundle?: string[]; cacheName?: string } = {}): Promise<ViteFixture> {
  const port = await freePort();
  const common: InlineConfig = {
    logLevel: 'warn',
    clearScreen: false,
    server: { host: '127.0.0.1', port, strictPort: true, hmr: false, watch: null },
    cacheDir: join(REPO_ROOT, 'node_modules', '.vite-e2e', o.cacheName ?? (o.demo ? 'demo' : 'repo')),
  };
  // The demo runs exactly as `npm start` serves it (its dependency discovery included).
  const config: InlineConfig = o.demo
    ? { ...common, configFile: join(REPO_ROOT, 'vite.config.ts'), root: join(REPO_ROOT, 'demo') }
    : { ...common, ...SOURCE_RESOLVE, configFile: false, root: REPO_ROOT, worker: { format: 'es' }, optimizeDeps: { include: [...PREBUNDLED_DEPS, ...(o.prebundle ?? [])], noDiscovery: true } };
  const server = await createServer(config);
  await server.listen();
  return { url: `http://127.0.0.1:${port}/`, close: () => server.close() };
}
