/**
 * Mutation tests: turn on one deliberate bug at a time and require the simulator to find a
 * violation within a bounded number of seeds — and the same seed to pass without the bug,
 * so the violation is the bug's doing and not noise.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_CLIENTS, DEFAULT_FAULTS, defaultOptions, type SimMutations, type SimOptions } from '../src/options.ts';
import { runSeed } from '../src/simulation.ts';
import { FLAP_THINK_TIME_MS_MAX, flapFaults } from '../src/swarm.ts';
import type { ViolationKind } from '../src/invariants.ts';

/** Upper bound on seeds tried per mutation. */
const SEEDS_MAX = 300;

interface Found {
  seed: number;
  kind: ViolationKind;
  message: string;
}

function firstViolation(mutations: SimMutations, overrides: (seed: number) => Partial<SimOptions> = () => ({})): Found | undefined {
  for (let seed = 1; seed <= SEEDS_MAX; seed++) {
    const r = runSeed(defaultOptions(seed, { ...overrides(seed), mutations }));
    const v = r.violations[0];
    if (v !== undefined) return { seed, kind: v.kind, message: v.message };
  }
  return undefined;
}

function cleanWithoutMutation(seed: number, overrides: Partial<SimOptions> = {}): void {
  const r = runSeed(defaultOptions(seed, overrides));
  expect(r.violations).toEqual([]);
}

describe('mutation tests: the simulator finds deliberate bugs', () => {
  it('(a) a follower serving reads from its local state (stale reads) breaks linearizability', () => {
    const found = firstViolation({ staleFollowerReads: true });
    expect(found, 'stale follower reads were not detected').toBeDefined();
    expect(found?.kind).toBe('linearizability');
    cleanWithoutMutation(found!.seed);
  });

  it('(b) a leader committing a previous-term entry by counting replicas (Figure 8) is caught', () => {
    // Leader flapping builds Figure 8 far more often than the default swarm (which also finds it).
    const flap = (): Partial<SimOptions> => ({ nodes: 3, faults: flapFaults(DEFAULT_FAULTS), client: { ...DEFAULT_CLIENTS, thinkTimeMsMax: FLAP_THINK_TIME_MS_MAX } });
    const found = firstViolation({ raft: { commitPreviousTermByCount: true } }, flap);
    expect(found, 'commit-by-count was not detected').toBeDefined();
    expect(['stateMachineSafety', 'leaderCompleteness', 'logMatching', 'linearizability', 'raftAssertion']).toContain(found?.kind);
    cleanWithoutMutation(found!.seed, flap());
  });

  it('(c) votes sent before the vote is persisted give two leaders in one term', () => {
    const found = firstViolation({ raft: { votesBeforePersist: true } });
    expect(found, 'votes-before-persist was not detected').toBeDefined();
    expect(found?.kind).toBe('electionSafety');
    cleanWithoutMutation(found!.seed);
  });

  it('(d) granting votes without the log up-to-date check loses committed entries', () => {
    const found = firstViolation({ raft: { skipLogUpToDateCheck: true } });
    expect(found, 'skipping the up-to-date check was not detected').toBeDefined();
    cleanWithoutMutation(found!.seed);
  });
});
