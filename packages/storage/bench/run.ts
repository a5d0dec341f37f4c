/**
 * `npm run bench:storage`: launches Debian's Chromium (playwright-core, a persistent context
 * in a temp user-data-dir so IndexedDB is on disk), runs `bench/worker.ts` in a Worker and
 * prints a table and the summary line
 * `bench:storage engine_vs_raw_batched=<ratio> strict_vs_relaxed=<ratio>`:
 * - engine_vs_raw_batched: IdbEngine batched throughput over raw idb batched throughput for
 *   the same puts (batch sizes 100 and 1000, both durabilities, all rounds summed);
 * - strict_vs_relaxed: IdbEngine batched throughput at `strict` over `relaxed`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, chromiumPath } from '../../../tests/chromium.ts';
import { bundleWorker, serveWorker } from '../test/browser/serve.ts';
import type { Measurement } from './cases.ts';
import type { BenchConfig } from './worker.ts';

const CONFIG: BenchConfig = {
  rounds: 6,
  singlePuts: 300,
  batched: [
    [100, 40],
    [1000, 5],
  ],
  raftWrites: 40,
};

function table(results: Measurement[]): string {
  const rows = new Map<string, { ops: number; bytes: number; ms: number }>();
  for (const m of results) {
    const key = `${m.name} | ${m.durability}`;
    const r = rows.get(key) ?? { ops: 0, bytes: 0, ms: 0 };
    r.ops += m.ops;
    r.bytes += m.bytes;
    r.ms += m.ms;
    rows.set(key, r);
  }
  const lines = ['case | durability | ops | ms | ops/s | MB/s', '---|---|---|---|---|---'];
  for (const [key, r] of rows) {
    const s = r.ms / 1000;
    lines.push(`${key} | ${r.ops} | ${r.ms.toFixed(0)} | ${(r.ops / s).toFixed(0)} | ${(r.bytes / s / 1e6).toFixed(2)}`);
  }
  return lines.join('\n');
}

function totalMs(results: Measurement[], pick: (m: Measurement) => boolean): number {
  return results.filter(pick).reduce((t, m) => t + m.ms, 0);
}

function summary(results: Measurement[]): string {
  const batchedRaw = (m: Measurement): boolean => m.name.startsWith('raw idb') && !m.name.includes('1 put/tx');
  const batchedEngine = (m: Measurement): boolean => m.name.startsWith('IdbEngine');
  const rawMs = totalMs(results, batchedRaw);
  const engineMs = totalMs(results, batchedEngine);
  const relaxedMs = totalMs(results, (m) => batchedEngine(m) && m.durability === 'relaxed');
  const strictMs = totalMs(results, (m) => batchedEngine(m) && m.durability === 'strict');
  const nativeOf = (size: string): number => totalMs(results, (m) => m.name === `native IndexedDB, ${size} puts/tx`);
  const engineRound = (size: string): number =>
    totalMs(results, (m) => m.name === `IdbEngine, ${size} puts/batch`) / results.filter((m) => m.name === `IdbEngine, ${size} puts/batch`).length;
  const nativeRound = (size: string): number => nativeOf(size) / results.filter((m) => m.name === `native IndexedDB, ${size} puts/tx`).length;
  console.log(`(reference: IdbEngine over native IndexedDB without idb wrappers: 100/tx ${(nativeRound('100') / engineRound('100')).toFixed(3)}, 1000/tx ${(nativeRound('1000') / engineRound('1000')).toFixed(3)})`);
  // Same puts on both sides, so the throughput ratio is the inverse time ratio.
  return `bench:storage engine_vs_raw_batched=${(rawMs / engineMs).toFixed(3)} strict_vs_relaxed=${(relaxedMs / strictMs).toFixed(3)}`;
}

async function main(): Promise<void> {
  const workerJs = await bundleWorker(join(import.meta.dirname, 'worker.ts'));
  const server = await serveWorker(workerJs);
  const userDataDir = mkdtempSync(join(tmpdir(), 'peerkv-bench-storage-'));
  const context = await chromium.launchPersistentContext(userDataDir, { executablePath: chromiumPath(), args: CHROMIUM_ARGS, headless: true });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (m) => {
      if (m.type() === 'log') process.stderr.write(`  ${m.text()}\n`);
    });
    await page.goto(server.url);
    const out = (await page.evaluate((cfg) => (window as unknown as { runWorker(m: unknown): Promise<unknown> }).runWorker(cfg), CONFIG)) as {
      results: Measurement[];
      error?: string;
    };
    if (out.error) throw new Error(`benchmark worker failed: ${out.error}`);
    console.log(table(out.results));
    console.log(summary(out.results));
  } finally {
    await context.close();
    await server.close();
    rmSync(userDataDir, { recursive: true, force: true });
  }
}

await main();
