/**
 * Polling on virtual time, for a task of the simulation (it sleeps between probes, so the
 * scheduler runs everything else meanwhile).
 */
import type { ClusterEnv } from './cluster-env.ts';

/**
 * Probes until `done` holds for the probe's answer or virtual time `deadlineMs` passes, sleeping
 * `everyMs` between probes; answers the last probe's answer (the first probe runs at once).
 */
export async function pollUntil<T>(env: Pick<ClusterEnv, 'sched'>, probe: () => T | Promise<T>, done: (value: T) => boolean, deadlineMs: number, everyMs: number): Promise<T> {
  for (;;) {
    const value = await probe();
    if (done(value) || env.sched.now() >= deadlineMs) return value;
    await env.sched.sleep(everyMs);
  }
}
