/** Helpers the client benchmarks share (`txn-bench.ts`, `reads-bench.ts`). */

/** The `p`th percentile of ascending `sorted` (0 when empty). */
export function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/** Polls `cond` every 20 ms until it holds; throws after `timeoutMs`. */
export async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`bench: timed out waiting for ${what}`);
}
