import { defineConfig } from '@playwright/test';
import { chromiumPath, CHROMIUM_ARGS } from './chromium.ts';

/**
 * Playwright suites in tests/e2e. Run through `npm run test:e2e`, which enters a
 * loopback-only network namespace when it can (WebRTC must not reach other addresses).
 */
export default defineConfig({
  testDir: './e2e',
  testMatch: '**/*.spec.ts',
  timeout: 180_000,
  workers: 1,
  reporter: [['list']],
  use: {
    headless: true,
    permissions: ['camera', 'microphone'],
    launchOptions: { executablePath: chromiumPath(), args: CHROMIUM_ARGS },
  },
});
