/**
 * Issue 14, Playwright: `watch` from a third browser across a kill of the leader. Three
 * Chromium processes (three devices, persistent profiles, mvcc) form a cluster over WebRTC
 * through the real signaling server. One browser that does not lead the region of `w/` runs
 * `kv.watch({ prefix: 'w/' })` (on its host's client: `host-watches.ts`, `tab-watch.ts`); all
 * three write `w/0` … `w/5` in a loop, one transaction each, recording every acknowledged
 * commit ts. The leader's browser is SIGKILLed with writes in flight; the two survivors go on
 * writing. Then: every acknowledged commit (the victim's before the kill, the survivors'
 * before and after) arrives at the watcher once, each key's changes come in commitTs order,
 * no change comes at or below a watermark already given, and the watermarks only go up, past
 * the last commit. Prints `watch e2e: commits=… events=… watermarks=… watermark_catch_up_ms=…`
 * (from the writers' stop to a watermark past the last commit).
 *
 * Run with `node tests/run-e2e.mjs tests/e2e/browser/watch-failover.spec.ts`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test, type BrowserContext } from '@playwright/test';
import { openDevice, type Device } from './device.ts';
import { browserPid } from './browser-pid.ts';
import { useNetServers } from './net-servers.ts';
import { until } from '../until.ts';
import type { CommitLoopResult, WatchRecord } from './fixture/watch-workload.ts';

const PREFIX = 'w/';
/** Keys the writers cycle over (several changes per key, so the per-key order is tested). */
const KEYS = 6;
/** Writing time before the kill, and (at least) after it, ms. */
const BEFORE_KILL_MS = 5000;
const AFTER_KILL_MS = 6000;
/** Commits each survivor must make after the kill. */
const COMMITS_AFTER_KILL_MIN = 5;

const servers = useNetServers();

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

test('watch from a third browser across a kill of the leader: every commit arrives, in commitTs order per key; watermarks never go back', async () => {
  test.setTimeout(150_000);
  const t0 = performance.now();
  const phase = (what: string) => console.log(`watch e2e: ${what} at ${Math.round(performance.now() - t0)} ms`);
  const root = mkdtempSync(join(tmpdir(), 'peerkv-watch-'));
  const cluster = `watch-${Date.now().toString(36)}`;
  const contexts: BrowserContext[] = [];
  const open = (name: string): Promise<Device> => openDevice(root, name, `${servers.fixtureUrl(cluster)}&mvcc`, contexts);
  try {
    const first = await open('d0');
    const devices = [first, ...(await Promise.all([open('d1'), open('d2')]))];
    const ids = devices.map((d) => d.storeId).sort((a, b) => a - b);
    expect(new Set(ids).size).toBe(3);
    for (const d of devices) {
      await until(`every region on three voters at store ${d.storeId}`, async () => {
        const v = Object.values(await d.page.evaluate(() => window.harness.localVoters()));
        return v.length >= 1 && v.every((x) => JSON.stringify(x) === JSON.stringify(ids));
      });
    }
    let leader: number | undefined;
    await until(`a leader for ${PREFIX}`, async () => (leader = await first.page.evaluate((k) => window.harness.leaderStore(k), PREFIX)) !== undefined);
    const victim = devices.find((d) => d.storeId === leader)!;
    const survivors = devices.filter((d) => d !== victim);
    const watcher = survivors[survivors.length - 1];
    phase(`3 stores (${ids.join(', ')}); store ${victim.storeId} leads ${PREFIX}; store ${watcher.storeId} watches`);

    await watcher.page.evaluate((p) => window.harness.watchStart(p), PREFIX);
    await until('the watch has a watermark', async () => (await watcher.page.evaluate(() => window.harness.watchRecords())).resolvedTs !== '0', 30_000);
    for (const d of devices) await d.page.evaluate(([p, n, tag]) => window.harness.commitsStart(p, n, tag), [PREFIX, KEYS, d.name] as const);
    await sleep(BEFORE_KILL_MS);
    await until('every browser has committed', async () => (await Promise.all(devices.map((d) => d.page.evaluate(() => window.harness.commitsStats())))).every((s) => s.committed.length > 0), 30_000);

    const victimCommits = await victim.page.evaluate(() => window.harness.commitsStats());
    const beforeKill = await Promise.all(survivors.map((d) => d.page.evaluate(() => window.harness.commitsStats().committed.length)));
    const gone = new Promise((r) => victim.ctx.once('close', r));
    process.kill(browserPid(victim.dir), 'SIGKILL');
    await gone;
    phase(`store ${victim.storeId} killed (${victimCommits.committed.length} commits acknowledged there)`);

    await sleep(AFTER_KILL_MS);
    await until(
      `each survivor commits ${COMMITS_AFTER_KILL_MIN} times after the kill`,
      async () => (await Promise.all(survivors.map((d) => d.page.evaluate(() => window.harness.commitsStats().committed.length)))).every((n, i) => n - beforeKill[i] >= COMMITS_AFTER_KILL_MIN),
      60_000,
    );
    const results: CommitLoopResult[] = [victimCommits, ...(await Promise.all(survivors.map((d) => d.page.evaluate(() => window.harness.commitsStop()))))];
    phase('writers stopped');
    const stoppedAt = performance.now();
    const committed = results.flatMap((r) => r.committed);
    const lastTs = committed.reduce((m, c) => (BigInt(c.commitTs) > m ? BigInt(c.commitTs) : m), 0n);
    let records: WatchRecord[] = [];
    let resolvedTs = '0';
    try {
      await until(
        'a watermark past the last commit',
        async () => {
          const r = await watcher.page.evaluate(() => window.harness.watchRecords());
          records = r.records;
          resolvedTs = r.resolvedTs;
          if (r.error) throw new Error(`the watch failed: ${r.error}`);
          return BigInt(r.resolvedTs) >= lastTs;
        },
        60_000,
      );
    } finally {
      console.log(`watch e2e: ${records.length} items; last watermark ${resolvedTs}; last commit ${lastTs}`);
    }
    const catchUpMs = Math.round(performance.now() - stoppedAt);
    await watcher.page.evaluate(() => window.harness.watchStop());

    // The checks: completeness, at most once after dedup, per-key order, watermarks.
    const changes = records.filter((r): r is Exclude<WatchRecord, { type: 'resolved' }> => r.type !== 'resolved');
    const seen = new Set(changes.map((c) => `${c.key}@${c.commitTs}`));
    expect(seen.size).toBe(changes.length);
    const missing = committed.filter((c) => !seen.has(`${c.key}@${c.commitTs}`));
    expect(missing).toEqual([]);
    let watermark = 0n;
    let watermarks = 0;
    const lastByKey = new Map<string, bigint>();
    for (const r of records) {
      if (r.type === 'resolved') {
        expect(BigInt(r.ts)).toBeGreaterThan(watermark);
        watermark = BigInt(r.ts);
        watermarks++;
        continue;
      }
      const ts = BigInt(r.commitTs);
      expect(ts, `${r.key}@${r.commitTs} came after watermark ${watermark}`).toBeGreaterThan(watermark);
      expect(ts, `${r.key}@${r.commitTs} came after a later change of the key`).toBeGreaterThan(lastByKey.get(r.key) ?? 0n);
      lastByKey.set(r.key, ts);
    }
    const errors: Record<string, number> = {};
    for (const r of results) for (const [k, n] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + n;
    expect(errors.untyped ?? 0).toBe(0);
    console.log(
      `watch e2e: commits=${committed.length} events=${changes.length} watermarks=${watermarks} watermark_catch_up_ms=${catchUpMs} ` +
        `(victim store ${victim.storeId}: ${victimCommits.committed.length} commits before the kill; watcher store ${watcher.storeId}; events not acknowledged to a writer ${changes.length - committed.length}; writer errors ${JSON.stringify(errors)})`,
    );
  } finally {
    for (const c of contexts) await c.close().catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
  }
});
