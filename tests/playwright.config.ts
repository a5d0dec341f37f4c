import { defineConfig } from '@playwright/test';
import { chromiumPath, CHROMIUM_ARGS } from './chromium.ts';

/** Set by `tests/run-e2e.mjs` for its run of the cross-engine specs (tests/e2e/engines/). */
const engines = process.env.PEERKV_E2E_ENGINES === '1';

/**
 * Playwright suites in tests/e2e. Run through `npm run test:e2e`, which enters a
 * loopback-only network namespace when it can (WebRTC must not reach other addresses), and
 * then runs the cross-engine specs in a namespace of their own (see `tests/run-e2e.mjs`).
 */
export default defineConfig({
  testDir: engines ? './e2e/engines' : './e2e',
  testMatch: '**/*.spec.ts',
  testIgnore: engines ? [] : ['**/engines/**'],
  timeout: 180_000,
  workers: 1,
  reporter: [['list']],
  use: {
    headless: true,
    permissions: ['camera', 'microphone'],
    launchOptions: { executablePath: chromiumPath(), args: CHROMIUM_ARGS },
  },
});
