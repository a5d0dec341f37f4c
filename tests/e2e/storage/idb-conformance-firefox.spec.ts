/**
 * The storage browser suite of `idb-conformance.spec.ts` on Firefox's IndexedDB: the
 * `KvEngine` conformance suite on `IdbEngine`, the `RaftLogStore` model across reopens and the
 * snapshot model, each inside a dedicated Worker in Firefox (driven over WebDriver BiDi by
 * puppeteer-core, see tests/firefox.ts). Fails if any case fails; skipped where no Firefox is
 * installed.
 */
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import type { Browser } from 'puppeteer-core';
import { bundleWorker, serveWorker, type WorkerServer } from '../../../packages/storage/test/browser/serve.ts';
import { conformanceCases } from '../../../packages/storage/test/conformance/cases.ts';
import { IDB_PLATFORM_CHECKS } from './idb-platform.ts';
import { runStorageSuite, type SuitePage, type SuiteResult } from './run-suite.ts';
import { launchFirefox } from '../../firefox.ts';


let server: WorkerServer;
let browser: Browser;

test.beforeAll(async () => {
  server = await serveWorker(await bundleWorker(join(import.meta.dirname, 'conformance-worker.ts')));
  browser = await launchFirefox();
});

test.afterAll(async () => {
  await browser?.close();
  await server?.close();
});

async function runSuite(suite: string): Promise<SuiteResult[]> {
  const page = await browser.newPage();
  try {
    return await runStorageSuite(page as unknown as SuitePage, server.url, suite);
  } finally {
    await page.close();
  }
}

test('IdbEngine passes the KvEngine conformance suite in a Firefox Worker', async () => {
  const results = await runSuite('conformance');
  expect(results.map((r) => r.name)).toEqual(conformanceCases().map((c) => c.name));
  expect(results.filter((r) => !r.ok)).toEqual([]);
});

test('RaftLogStore on IdbEngine matches MemoryStorage across reopens in a Firefox Worker', async () => {
  const results = await runSuite('raft-model');
  expect(results.length).toBe(2);
  expect(results.filter((r) => !r.ok)).toEqual([]);
});

test('IdbEngine snapshots match the seeded model in a Firefox Worker', async () => {
  const results = await runSuite('snapshot-model');
  expect(results.length).toBe(3);
  expect(results.filter((r) => !r.ok)).toEqual([]);
});

test('IndexedDB in a Firefox Worker behaves as IdbEngine expects (durability, binary keys, values, auto-commit)', async () => {
  const results = await runSuite('platform');
  expect(results.length).toBe(IDB_PLATFORM_CHECKS);
  expect(results.filter((r) => !r.ok)).toEqual([]);
});
