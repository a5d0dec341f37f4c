/**
 * The `KvEngine` conformance suite on `IdbEngine`, inside a dedicated Worker in real
 * Chromium (IndexedDB on disk). Fails if any conformance case fails.
 */
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { bundleWorker, serveWorker, type WorkerServer } from '../../../packages/storage/test/browser/serve.ts';
import { conformanceCases } from '../../../packages/storage/test/conformance/cases.ts';

interface Result {
  name: string;
  ok: boolean;
  error?: string;
}

let server: WorkerServer;

test.beforeAll(async () => {
  server = await serveWorker(await bundleWorker(join(import.meta.dirname, 'conformance-worker.ts')));
});

test.afterAll(async () => {
  await server.close();
});

test('IdbEngine passes the KvEngine conformance suite in a Chromium Worker', async ({ page }) => {
  const logs: string[] = [];
  page.on('console', (m) => logs.push(m.text()));
  await page.goto(server.url);
  const out = (await page.evaluate(() => (window as unknown as { runWorker(m: unknown): Promise<unknown> }).runWorker({}))) as {
    results: Result[];
    error?: string;
  };
  console.log(logs.join('\n'));
  expect(out.error).toBeUndefined();
  expect(out.results.map((r) => r.name)).toEqual(conformanceCases().map((c) => c.name));
  expect(out.results.filter((r) => !r.ok)).toEqual([]);
});
