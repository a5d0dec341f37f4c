import { defineConfig } from 'vitest/config';

/**
 * The pack-and-install test (pack.test.ts): builds, packs and installs the packages into a
 * fresh project outside the repository; run through `npm run test:pack`.
 */
export default defineConfig({
  test: {
    root: import.meta.dirname,
    include: ['**/*.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 600_000,
    pool: 'forks',
  },
});
