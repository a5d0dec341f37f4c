/**
 * The `KvEngine` conformance suite on `IdbEngine` (snapshot cases included), the snapshot
 * model and the `RaftLogStore` model test, inside a dedicated Worker in real Chromium
 * (IndexedDB on disk). Fails if any case fails.
 */
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { bundleWorker, serveWorker, type WorkerServer } from '../../../packages/storage/test/browser/serve.ts';
import { conformanceCases } from '../../../packages/storage/test/conformance/cases.ts';
import { IDB_PLATFORM_CHECKS } from './idb-platform.ts';
import { runStorageSuite } from './run-suite.ts';

let server: WorkerServer;

test.beforeAll(async () => {
  server = await serveWorker(await bundleWorker(join(import.meta.dirname, 'conformance-worker.ts')));
});

test.afterAll(async () => {
  await server.close();
});

const runSuite = (page: Page, suite: string) => runStorageSuite(page, server.url, suite);

test('IdbEngine passes the KvEngine conformance suite in a Chromium Worker', async ({ page }) => {
  const results = await runSuite(page, 'conformance');
  expect(results.map((r) => r.name)).toEqual(conformanceCases().map((c) => c.name));
  expect(results.filter((r) => !r.ok)).toEqual([]);
});

test('RaftLogStore on IdbEngine matches MemoryStorage across reopens in a Chromium Worker', async ({ page }) => {
  const results = await runSuite(page, 'raft-model');
  expect(results.length).toBe(2);
  expect(results.filter((r) => !r.ok)).toEqual([]);
});

test('IdbEngine snapshots match the seeded model in a Chromium Worker', async ({ page }) => {
  const results = await runSuite(page, 'snapshot-model');
  expect(results.length).toBe(3);
  expect(results.filter((r) => !r.ok)).toEqual([]);
});

test('IndexedDB in a Chromium Worker behaves as IdbEngine expects (durability, binary keys, values, auto-commit)', async ({ page }) => {
  const results = await runSuite(page, 'platform');
  expect(results.length).toBe(IDB_PLATFORM_CHECKS);
  expect(results.filter((r) => !r.ok)).toEqual([]);
});
