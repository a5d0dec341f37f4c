import { defineConfig } from 'vite';

/**
 * The demo app (demo/). The browser runtime's Worker is an ES module (it imports the
 * workspace packages); the CommonJS dependencies it reaches are pre-bundled up front so the
 * dev server never reloads the page to add them.
 */
export const PREBUNDLED_DEPS = ['comlink', 'idb', 'sorted-btree', 'simple-peer/simplepeer.min.js'];

export default defineConfig({
  root: 'demo',
  server: { host: '127.0.0.1', port: 5173, strictPort: false },
  worker: { format: 'es' },
  optimizeDeps: { include: PREBUNDLED_DEPS },
  build: { outDir: '../dist/demo', emptyOutDir: true, target: 'es2022' },
});
