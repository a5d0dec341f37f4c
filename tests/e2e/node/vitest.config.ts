import { defineConfig } from 'vitest/config';
import { SOURCE_RESOLVE } from '../../../vite.config.ts';

/** Node multi-process suites (real WebRTC between `peerkv-store` processes); run through run.mjs. */
export default defineConfig({
  // The workspace packages resolve to their TypeScript sources (`@peerkv/source`), not a build.
  ...SOURCE_RESOLVE,
  test: {
    root: import.meta.dirname,
    include: ['**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
