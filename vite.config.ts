import { defaultClientConditions, defaultServerConditions, defineConfig, type UserConfig } from 'vite';

/**
 * The workspace packages' `exports` send `@peerkv/source` to their TypeScript sources and
 * everything else to the build (`dist/`, what an installed package has): the repository's own
 * pages, tests and tools run from sources, with nothing built first.
 */
export const SOURCE_CONDITION = '@peerkv/source';
/** Vite's default conditions, sources first: for pages (`resolve`) and for Node (`ssr`, vitest). */
export const SOURCE_RESOLVE = {
  resolve: { conditions: [SOURCE_CONDITION, ...defaultClientConditions] },
  ssr: { resolve: { conditions: [SOURCE_CONDITION, ...defaultServerConditions] } },
} satisfies UserConfig;

/** The CommonJS dependencies the browser runtime reaches, pre-bundled up front. */
export const PREBUNDLED_DEPS = ['comlink', 'idb', 'sorted-btree', 'simple-peer/simplepeer.min.js'];

/**
 * The demo app (demo/). The browser runtime's Worker is an ES module (it imports the
 * workspace packages); the CommonJS dependencies it reaches are pre-bundled up front so the
 * dev server never reloads the page to add them.
 */
export default defineConfig({
  root: 'demo',
  server: { host: '127.0.0.1', port: 5173, strictPort: false },
  ...SOURCE_RESOLVE,
  worker: { format: 'es' },
  optimizeDeps: { include: PREBUNDLED_DEPS },
  build: { outDir: '../dist/demo', emptyOutDir: true, target: 'es2022' },
});
