import { defineConfig } from 'vitest/config';

/** Node multi-process suites (real WebRTC between `peerkv-store` processes); run through run.mjs. */
export default defineConfig({
  test: {
    root: import.meta.dirname,
    include: ['**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
