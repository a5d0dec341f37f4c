/**
 * Fast open (issue 16): an empty networked store skips its bootstrap probe only where no member
 * can exist (no signaling, no other database of the cluster in the profile); a store with an
 * identity never probes; `pbkdf2Iterations` is bounded.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { codec } from '../src/index.ts';
import { NetHost, netDatabaseName, type NetHostDeps } from '../src/browser/index.ts';
import { bootstrapProbeMsFor } from '../src/browser/bootstrap-probe.ts';
import { offlineQueueDatabaseName } from '../src/browser/offline-queue-idb.ts';
import { deps, disks, hostOptions } from './net-host-fixture.ts';

const t = codec.text;
/** The probe of the tests that wait for it in full, ms. */
const PROBE_MS = 1500;
/**
 * The probe of the tests that must not wait for it: long enough that an open slowed by a loaded
 * machine (1.9 s seen in CI beside other jobs) is still told apart from one that waited, ms.
 */
const UNWAITED_PROBE_MS = 10_000;
const hosts: NetHost[] = [];
afterEach(async () => {
  for (const h of hosts.splice(0)) await h.close();
});

const own = (cluster: string, storeName: string): string[] => [netDatabaseName(cluster, storeName), offlineQueueDatabaseName(cluster, storeName)];

/** The fixture's engines as the profile's databases (an engine opened is a database created). */
const listing: NetHostDeps = { ...deps, databaseNames: async () => [...disks.keys()] };

async function timedOpen(cluster: string, storeName: string, d: NetHostDeps, probeMs = PROBE_MS): Promise<{ host: NetHost; ms: number }> {
  const t0 = performance.now();
  const host = await NetHost.open(hostOptions('probe-secret', cluster, storeName, { bootstrapProbeMs: probeMs }), d);
  hosts.push(host);
  return { host, ms: performance.now() - t0 };
}

describe('bootstrapProbeMsFor', () => {
  const c = { cluster: 'c', ownDatabases: own('c', 'store'), signaling: [] as string[], probeMs: 3000 };
  it('is 0 with no signaling and no other database of the cluster', () => {
    expect(bootstrapProbeMsFor(c, [])).toBe(0);
    expect(bootstrapProbeMsFor(c, [...own('c', 'store'), 'peerkv:other:store', 'unrelated'])).toBe(0);
  });
  it('is the full probe with signaling, an unknown listing, or another store of the cluster', () => {
    expect(bootstrapProbeMsFor({ ...c, signaling: ['ws://x'] }, [])).toBe(3000);
    expect(bootstrapProbeMsFor(c, undefined)).toBe(3000);
    expect(bootstrapProbeMsFor(c, [...own('c', 'store'), 'peerkv:c:b'])).toBe(3000);
    expect(bootstrapProbeMsFor(c, ['peerkv:c:b:offline-queue'])).toBe(3000);
    // Embedded stores of the cluster, and a cluster whose name extends this one's: probe (safe side).
    expect(bootstrapProbeMsFor(c, ['peerkv:c:store-1'])).toBe(3000);
    expect(bootstrapProbeMsFor(c, ['peerkv:c:x:store'])).toBe(3000);
  });
});

describe('NetHost open', () => {
  it('a new lone store creates the cluster without probing; reopened, it never probes', async () => {
    const cluster = `lone-${Math.random().toString(36).slice(2)}`;
    const first = await timedOpen(cluster, 'store', listing, UNWAITED_PROBE_MS);
    expect((await first.host.status()).opened).toBe('bootstrapped');
    expect(first.ms).toBeLessThan(UNWAITED_PROBE_MS);
    expect(await first.host.call({ kind: 'kv', request: { type: 'put', key: t('k'), value: t('v') } })).toMatchObject({ ok: true });
    await hosts.pop()!.close();
    // Reopened with no listing at all (and a probe it would have waited for): a restart.
    const again = await timedOpen(cluster, 'store', deps, UNWAITED_PROBE_MS);
    expect((await again.host.status()).opened).toBe('reopened');
    expect(again.ms).toBeLessThan(UNWAITED_PROBE_MS);
    expect(await again.host.call({ kind: 'kv', request: { type: 'get', key: t('k') } })).toEqual({ ok: true, value: t('v') });
  }, 30_000);

  it('a new store probes in full when another store of the cluster has a database here, and joins it', async () => {
    const cluster = `pair-${Math.random().toString(36).slice(2)}`;
    const a = await timedOpen(cluster, 'a', listing);
    expect((await a.host.status()).opened).toBe('bootstrapped');
    const b = await timedOpen(cluster, 'b', listing);
    // It heard `a` during its probe and joined instead of creating a second cluster.
    expect((await b.host.status()).opened).toBe('joined');
  }, 30_000);

  it('a new store with no way to list databases probes in full', async () => {
    const cluster = `unlisted-${Math.random().toString(36).slice(2)}`;
    const h = await timedOpen(cluster, 'store', { ...deps, databaseNames: async () => undefined });
    expect((await h.host.status()).opened).toBe('bootstrapped');
    expect(h.ms).toBeGreaterThanOrEqual(PROBE_MS);
  }, 30_000);

  it('refuses pbkdf2Iterations out of range with InvalidArgument', async () => {
    for (const pbkdf2Iterations of [0, 1.5, 1e9]) {
      await expect(NetHost.open(hostOptions('s', 'iters', 'x', { pbkdf2Iterations }), deps)).rejects.toMatchObject({ kind: 'InvalidArgument' });
    }
  });
});
