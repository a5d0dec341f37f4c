/**
 * What the `NetHost` tests in Node share: engines on memory disks that outlive them (as
 * IndexedDB outlives a store), and host options with fast ticks and a short bootstrap probe.
 */
import { MemoryDisk, MemoryEngine } from '@peerkv/storage';
import type { NetHostOptions } from '../src/browser/index.ts';

/** Disks by engine name; reopening a name is a restart on the same storage. */
export const disks = new Map<string, MemoryDisk>();

/** The host's platform dependencies in Node. */
export const deps = {
  openEngine: (name: string, cfs: readonly string[]) => {
    if (!disks.has(name)) disks.set(name, new MemoryDisk());
    return MemoryEngine.open({ columnFamilies: cfs, disk: disks.get(name) });
  },
  now: () => performance.now(),
};

/** Options of host `storeName` in `cluster` (no signaling: hosts meet over BroadcastChannel). */
export function hostOptions(secret: string, cluster: string, storeName: string, extra: Partial<NetHostOptions> = {}): NetHostOptions {
  return {
    cluster,
    secret,
    signaling: [],
    storeName,
    address: `node:${storeName}`,
    bootstrapProbeMs: 400,
    store: { tickIntervalMs: 10, heartbeatIntervalTicks: 5, requestTimeoutMs: 1000 },
    ...extra,
  };
}
