/** Helpers the client benchmarks share (`txn-bench.ts`, `reads-bench.ts`). */
import type { KvEngine, KvSnapshot } from '@peerkv/storage';

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

/** The median of `xs` (0 when empty); `xs` is not changed. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return 0;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Engine calls an `EngineCounts` has seen, summed over the engines it wraps. */
export interface EngineCallCounts {
  /** Point reads (`get` or `getSync`, on the engine or a snapshot). */
  gets: number;
  /** Range reads opened (`scan`, on the engine or a snapshot). */
  scans: number;
  /** Snapshots taken. */
  snapshots: number;
  /** Batch writes (one per store round, plus the rest). */
  writes: number;
}

/**
 * Counts the calls made on the engines it wraps (`wrap`), as supporting evidence for what a
 * benchmarked operation costs: the counts do not depend on the machine's load the way ops/s do.
 */
export class EngineCounts {
  readonly total: EngineCallCounts = { gets: 0, scans: 0, snapshots: 0, writes: 0 };

  /** A copy of the counts so far. */
  now(): EngineCallCounts {
    return { ...this.total };
  }

  /** `engine` with its calls counted here. */
  wrap(engine: KvEngine): KvEngine {
    const t = this.total;
    const countReads = (s: KvSnapshot): KvSnapshot => ({
      columnFamilies: s.columnFamilies,
      get: (cf, key) => (t.gets++, s.get(cf, key)),
      scan: (cf, o) => (t.scans++, s.scan(cf, o)),
      approximateSize: (cf, range) => s.approximateSize(cf, range),
      release: () => s.release(),
      close: () => s.close(),
    });
    return {
      kind: engine.kind,
      columnFamilies: engine.columnFamilies,
      get: (cf, key) => (t.gets++, engine.get(cf, key)),
      ...(engine.getSync ? { getSync: (cf: string, key: Uint8Array) => (t.gets++, engine.getSync!(cf, key)) } : {}),
      scan: (cf, o) => (t.scans++, engine.scan(cf, o)),
      write: (batch, o) => (t.writes++, engine.write(batch, o)),
      approximateSize: (cf, range) => engine.approximateSize(cf, range),
      snapshot: async () => (t.snapshots++, countReads(await engine.snapshot())),
      close: () => engine.close(),
    };
  }
}
