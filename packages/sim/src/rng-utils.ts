/**
 * Small helpers over the seeded PRNG (`SeededRng` from `@peerkv/raft`): every random choice
 * of the simulator goes through these, never `Math.random`.
 */
import type { SeededRng } from '@peerkv/raft';

/** A uniformly chosen element of a non-empty array. */
export function pick<T>(rng: SeededRng, items: readonly T[]): T {
  if (items.length === 0) throw new RangeError('pick from an empty array');
  return items[rng.nextInt(items.length)];
}

/** An integer in [min, max] (both inclusive). */
export function intBetween(rng: SeededRng, min: number, max: number): number {
  return min + rng.nextInt(max - min + 1);
}

/** A float in [min, max). */
export function floatBetween(rng: SeededRng, min: number, max: number): number {
  return min + rng.nextFloat() * (max - min);
}

/** A shuffled copy (Fisher–Yates). */
export function shuffled<T>(rng: SeededRng, items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.nextInt(i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** A key of `weights` chosen with probability proportional to its (non-negative) weight. */
export function weightedPick<K extends string>(rng: SeededRng, weights: Readonly<Record<K, number>>): K {
  const keys = Object.keys(weights) as K[];
  const total = keys.reduce((sum, k) => sum + weights[k], 0);
  if (!(total > 0)) throw new RangeError('weightedPick needs a positive total weight');
  let x = rng.nextFloat() * total;
  for (const k of keys) {
    x -= weights[k];
    if (x < 0) return k;
  }
  return keys[keys.length - 1];
}
