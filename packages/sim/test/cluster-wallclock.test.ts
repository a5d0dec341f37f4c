/**
 * Cluster mode never consults the wall clock or real timers: during a whole seed (setup,
 * workload, faults, healing, final reads), `Date.now`, `setTimeout` and `setInterval` are
 * not called (the linearizability checker's budget counts search steps, not time).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { runClusterSeed } from '../src/cluster/index.ts';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('cluster mode time', () => {
  it('runs a seed without Date.now, setTimeout or setInterval', async () => {
    const dateNow = vi.spyOn(Date, 'now');
    const timeout = vi.spyOn(globalThis, 'setTimeout');
    const interval = vi.spyOn(globalThis, 'setInterval');
    const r = await runClusterSeed(3, { workloadMs: 1_500 });
    const calls = { dateNow: dateNow.mock.calls.length, setTimeout: timeout.mock.calls.length, setInterval: interval.mock.calls.length };
    vi.restoreAllMocks();
    expect(r.ops).toBeGreaterThan(20);
    expect(calls).toEqual({ dateNow: 0, setTimeout: 0, setInterval: 0 });
  }, 60_000);
});
