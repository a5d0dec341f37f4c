/**
 * Runs one suite of `conformance-worker.ts` on a page of `serveWorker`, for both engines'
 * specs: a Playwright page (Chromium) and a puppeteer-core page (Firefox) share this shape.
 */
import { expect } from '@playwright/test';

/** One case's outcome, as the worker posts it. */
export interface SuiteResult {
  name: string;
  ok: boolean;
  error?: string;
}

/** What both drivers' pages offer that a suite run needs. */
export interface SuitePage {
  goto(url: string): Promise<unknown>;
  evaluate<A, R>(fn: (arg: A) => R | Promise<R>, arg: A): Promise<R>;
  on(event: 'console', handler: (m: { text(): string }) => void): unknown;
}

/** Opens `url` on `page`, runs `suite` in its Worker, prints the worker's log and returns the results. */
export async function runStorageSuite(page: SuitePage, url: string, suite: string): Promise<SuiteResult[]> {
  const logs: string[] = [];
  page.on('console', (m) => logs.push(m.text()));
  await page.goto(url);
  const out = (await page.evaluate((s) => (window as unknown as { runWorker(m: unknown): Promise<unknown> }).runWorker({ suite: s }), suite)) as {
    results: SuiteResult[];
    error?: string;
  };
  console.log(logs.join('\n'));
  expect(out.error).toBeUndefined();
  return out.results;
}
