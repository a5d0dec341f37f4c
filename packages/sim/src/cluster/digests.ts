/**
 * The cross-replica consistency check (TiKV's consistency check, by sampling): every store's
 * `regionDigests()` (per data region: applied index, epoch, a hash of its data and dedup
 * records as of that index) is sampled periodically during the run and after it converged.
 * Applying the same log prefix must give the same state, so two digests of one region with
 * the same applied index and epoch — from two replicas, or one replica at two times — must
 * have the same hash; otherwise the replicas diverged (`divergence`).
 */
import type { RegionDigest } from '@peerkv/store';
import type { ClusterEnv } from './cluster-env.ts';

/** One digest seen, with where and when. */
interface Seen {
  digest: RegionDigest;
  storeId: number;
  atMs: number;
}

/** Two replicas (or two samples) of one region that disagree at the same applied index and epoch. */
export interface DivergenceProblem {
  atMs: number;
  regionId: number;
  applied: number;
  message: string;
}

/** Keeps every digest seen in a run and compares each new one with the first of its (region, applied, epoch). */
export class DigestChecker {
  private readonly seen = new Map<string, Seen>();
  private readonly reported = new Set<number>();
  readonly problems: DivergenceProblem[] = [];
  /** Store samples taken (one `regionDigests()` call each). */
  samples = 0;
  /** Digests compared with an earlier one of the same region, applied index and epoch. */
  checks = 0;

  /** Samples every running store once (a store that crashes or closes meanwhile is skipped). */
  async sample(env: ClusterEnv): Promise<void> {
    for (const s of env.liveStores()) {
      let digests: RegionDigest[];
      try {
        digests = await s.regionDigests();
      } catch {
        continue; // closed or crashed under the sample
      }
      if (env.isCrashed(s)) continue;
      this.samples++;
      for (const d of digests) {
        this.compare(d, s.storeId, env.rel());
        env.dataKeys.observeDigest(d, s.storeId, env.rel());
      }
      env.dataKeys.observeStore(s, env.rel());
    }
  }

  private compare(d: RegionDigest, storeId: number, atMs: number): void {
    const key = `${d.regionId}@${d.applied}/${d.epoch.confVer}.${d.epoch.version}`;
    const first = this.seen.get(key);
    if (first === undefined) {
      this.seen.set(key, { digest: d, storeId, atMs });
      return;
    }
    this.checks++;
    if (first.digest.hash === d.hash || this.reported.has(d.regionId)) return;
    this.reported.add(d.regionId); // one report per region: later samples repeat it
    const a = first.digest;
    this.problems.push({
      atMs,
      regionId: d.regionId,
      applied: d.applied,
      message:
        `region ${d.regionId} at applied index ${d.applied}, epoch ${JSON.stringify(d.epoch)}: ` +
        `store ${first.storeId} (peer ${a.peerId}, sampled at ${first.atMs}ms) has hash ${a.hash} over ${a.keys} keys, ` +
        `store ${storeId} (peer ${d.peerId}, sampled at ${atMs}ms) has hash ${d.hash} over ${d.keys} keys`,
    });
  }
}

/** Virtual time between two digest samples of every store during the workload, ms. */
export const DIGEST_SAMPLE_MS = 250;

/** Samples digests every `DIGEST_SAMPLE_MS` until virtual time `untilMs`. */
export async function sampleDigests(env: ClusterEnv, checker: DigestChecker, untilMs: number): Promise<void> {
  while (env.sched.now() < untilMs) {
    await env.sched.sleep(DIGEST_SAMPLE_MS);
    await checker.sample(env);
  }
}
