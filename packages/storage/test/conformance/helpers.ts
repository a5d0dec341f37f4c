/**
 * Shared pieces of the conformance cases: the column families every case opens, byte
 * helpers, and reads collected into arrays.
 */
import { WriteBatch, type KvEngine, type KvPair, type KvSnapshot, type ScanOptions } from '../../src/engine.ts';
import type { EngineHarness } from './harness.ts';

/** The column families a case opens. */
export const CFS = ['default', 'raft', 'lock'] as const;
const enc = new TextEncoder();
export const b = (...xs: number[]): Uint8Array => new Uint8Array(xs);
export const s = (text: string): Uint8Array => enc.encode(text);
export const relaxed = { durability: 'relaxed' } as const;
export const strict = { durability: 'strict' } as const;

/** Key `i` as 4 big-endian bytes, so numeric order is byte order. */
export function keyOf(i: number): Uint8Array {
  return b((i >>> 24) & 0xff, (i >>> 16) & 0xff, (i >>> 8) & 0xff, i & 0xff);
}

/** Every pair a scan yields. */
export async function collect(e: Pick<KvEngine, 'scan'> | KvSnapshot, cf: string, options?: ScanOptions): Promise<KvPair[]> {
  const out: KvPair[] = [];
  for await (const pair of e.scan(cf, options)) out.push(pair);
  return out;
}

/** The keys a scan yields, as the numbers `keyOf` encoded. */
export async function keysOf(e: Pick<KvEngine, 'scan'> | KvSnapshot, cf: string, options?: ScanOptions): Promise<number[]> {
  return (await collect(e, cf, options)).map((p) => new DataView(p.key.buffer, p.key.byteOffset).getUint32(0));
}

/** Puts keys `0..n-1` with values `v<i>` into `cf`. */
export async function fill(e: KvEngine, cf: string, n: number): Promise<void> {
  const wb = new WriteBatch();
  for (let i = 0; i < n; i++) wb.put(cf, keyOf(i), s(`v${i}`));
  await e.write(wb, relaxed);
}

/** Runs `fn` on an engine opened with `CFS`, closing it after. */
export async function withEngine(h: EngineHarness, fn: (e: KvEngine) => Promise<void>): Promise<void> {
  const e = await h.open(CFS);
  try {
    await fn(e);
  } finally {
    await e.close();
  }
}

/** `[lo, hi)` as an array. */
export const range = (lo: number, hi: number): number[] => Array.from({ length: hi - lo }, (_, i) => lo + i);

