/**
 * How `npm run bench:browser` serves its page: built by Vite for production (minified bundles,
 * PeerKV's Worker one bundle), as an app would ship it, then served by Vite's preview server on
 * 127.0.0.1. Open times measured on the dev server would include its unbundled module loading
 * (hundreds of requests for each Worker start), which no deployed page pays. `--dev` serves the
 * sources through the dev server instead (no build; quicker to start when editing the bench).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, preview } from 'vite';
import { SOURCE_RESOLVE } from '../../../vite.config.ts';
import { REPO_ROOT, freePort, startVite } from '../../e2e/browser/vite-server.ts';

/** The page's path under the repository (and under the build's output). */
export const PAGE_PATH = 'tests/bench/browser/index.html';
/** The CommonJS-or-heavy dependencies the dev server pre-bundles for the page. */
const PAGE_DEPS = ['dexie', 'rxdb', 'rxdb/plugins/storage-dexie', 'yjs', 'y-indexeddb'];

/** A served bench page. */
export interface ServedPage {
  url: string;
  close(): Promise<void>;
}

/** Builds the page into a temporary directory and serves it; `dev` serves the sources instead. */
export async function servePage(dev: boolean): Promise<ServedPage> {
  if (dev) {
    const vite = await startVite({ prebundle: PAGE_DEPS, cacheName: 'bench-browser' });
    return { url: `${vite.url}${PAGE_PATH}`, close: () => vite.close() };
  }
  const outDir = mkdtempSync(join(tmpdir(), 'peerkv-bench-browser-build-'));
  await build({
    ...SOURCE_RESOLVE,
    configFile: false,
    root: REPO_ROOT,
    // Errors only: the bundler's plugin timing notes are not the benchmark's output.
    logLevel: 'error',
    worker: { format: 'es' },
    build: { outDir, emptyOutDir: true, target: 'es2022', rollupOptions: { input: join(REPO_ROOT, PAGE_PATH) }, reportCompressedSize: false },
  });
  const port = await freePort();
  const server = await preview({ configFile: false, root: REPO_ROOT, logLevel: 'warn', build: { outDir }, preview: { host: '127.0.0.1', port, strictPort: true } });
  return {
    url: `http://127.0.0.1:${port}/${PAGE_PATH}`,
    async close() {
      await server.close();
      rmSync(outDir, { recursive: true, force: true });
    },
  };
}
