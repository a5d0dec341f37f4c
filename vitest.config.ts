import { defineConfig } from 'vitest/config';
import { SOURCE_RESOLVE } from './vite.config.ts';

/** Unit, golden and Node-engine tests. Browser (Playwright) suites run from tests/run-e2e.mjs. */
export default defineConfig({
  // The workspace packages resolve to their TypeScript sources (`@peerkv/source`, as in
  // vite.config.ts), never to a build that may be absent or stale.
  ...SOURCE_RESOLVE,
  test: {
    include: ['packages/*/test/**/*.test.ts', 'signaling/test/**/*.test.ts', 'tests/scripts/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
