import { defineConfig } from 'vitest/config';

/** Unit, golden and Node-engine tests. Browser (Playwright) suites run from tests/run-e2e.mjs. */
export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts', 'signaling/test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
