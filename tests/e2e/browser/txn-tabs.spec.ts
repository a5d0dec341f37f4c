/**
 * Issue 12, Playwright: two tabs of one profile run conflicting transactions in the mvcc data
 * model. One persistent context, two pages: one hosts the profile's store in its Worker, the
 * other attaches (its transactions run in the tab; their reads and commits are requests to the
 * host). Both increment the same four counters many times with `kv.transaction`, one counter
 * or two neighbouring ones at a time (read-modify-writes on overlapping keys), and every
 * increment writes its own log key in the same transaction (the keys are split over three
 * regions, so every increment commits by 2PC). Midway the host tab goes, with increments in
 * flight in both tabs: closed (it drains and hands over) in one test, its renderer crashed
 * (no pagehide; its Worker dies mid-commit) in the other. The other tab takes over (it
 * reopens the store) and its in-flight transactions either commit or fail with a typed error. Then, at every
 * snapshot read: each counter equals the increments the log keys record (no lost update, no
 * half-applied transaction); every acknowledged increment's log key is there and no failed
 * one's is; a third tab sees the same; and past the lock TTL no lock stays in the store. Prints
 * `txn-tabs e2e: increments committed=… conflicts=… undetermined=… counters=… locks_after=0`.
 *
 * Run with `node tests/run-e2e.mjs tests/e2e/browser/txn-tabs.spec.ts`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, expect, test, type Page } from '@playwright/test';
import { CHROMIUM_ARGS, chromiumPath } from '../../chromium.ts';
import { startVite, type ViteFixture } from './vite-server.ts';
import { until } from '../until.ts';
import type { CounterRead, CounterStats } from './fixture/txn-workloads.ts';

/** Counters (`ctr/c0` … `ctr/c3`) and their key prefix; log keys are `ctr/log/<tab>/<seq>`. */
const COUNTERS = 4;
const PREFIX = 'ctr/';
/** Where the counters' region is split: c0,c1 | c2,c3 | log keys. */
const SPLIT_KEYS = [`${PREFIX}c2`, `${PREFIX}log/`];
/** Increment loops per tab. */
const WORKERS = 3;
/** Re-runs of an increment after a conflict. */
const RETRIES_MAX = 5;
/** Workload time before the host tab goes and (at least) after, ms. */
const BEFORE_END_MS = 6000;
const AFTER_END_MS = 6000;
/** Increments the remaining tab must commit after the host tab went. */
const COMMITS_AFTER_END_MIN = 10;
/** The default lock TTL (`LOCK_TTL_MS_DEFAULT`), ms. */
const LOCK_TTL_MS = 3000;

let vite: ViteFixture;
let userDataDir: string;

test.beforeAll(async () => {
  vite = await startVite();
  userDataDir = mkdtempSync(join(tmpdir(), 'peerkv-txn-tabs-'));
});

test.afterAll(async () => {
  await vite?.close();
  rmSync(userDataDir, { recursive: true, force: true });
});

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A read is consistent when every counter equals what its log keys record. */
function expectConsistent(r: CounterRead, where: string): void {
  expect({ where, counters: r.counters }).toEqual({ where, counters: r.fromLogs });
}

/** How the host tab goes: closed (pagehide: it drains and hands over) or crashed (its renderer dies, no pagehide). */
type HostEnd = 'close' | 'crash';

test('two tabs of one profile run conflicting transactions; the host tab closes midway; no lost update, typed errors only', async () => {
  test.setTimeout(100_000);
  await conflictingTabs('close', join(userDataDir, 'close'));
});

test('two tabs of one profile run conflicting transactions; the host tab crashes midway; no lost update, typed errors only', async () => {
  test.setTimeout(100_000);
  await conflictingTabs('crash', join(userDataDir, 'crash'));
});

async function conflictingTabs(end: HostEnd, profileDir: string): Promise<void> {
  const t0 = performance.now();
  const ended = end === 'close' ? 'closed' : 'crashed';
  const phase = (what: string) => console.log(`txn-tabs e2e (${end}): ${what} at ${Math.round(performance.now() - t0)} ms`);
  const cluster = `txn-tabs-${end}-${Date.now().toString(36)}`;
  const ctx = await chromium.launchPersistentContext(profileDir, { executablePath: chromiumPath(), args: CHROMIUM_ARGS, headless: true });
  const openTab = async (name: string): Promise<Page> => {
    const page = await ctx.newPage();
    page.on('pageerror', (e) => console.log(`pageerror ${name}: ${e.message}`));
    page.on('console', (m) => (m.type() === 'error' || m.type() === 'warning') && !m.location().url.endsWith('/favicon.ico') && console.log(`console ${name} ${m.type()}: ${m.text()} (${m.location().url})`));
    await page.goto(`${vite.url}tests/e2e/browser/fixture/index.html?cluster=${cluster}&mvcc`);
    await page.waitForFunction(() => document.getElementById('state')?.textContent === 'ready');
    return page;
  };
  try {
    const a = await openTab('A');
    await a.evaluate(() => window.harness.put('hello/A', 'x'));
    const b = await openTab('B');
    await b.evaluate(() => window.harness.put('hello/B', 'x'));
    const isHost = await Promise.all([a, b].map((p) => p.evaluate(async () => (await window.harness.status()).isHost)));
    expect(isHost.filter(Boolean)).toHaveLength(1);
    const [host, other] = isHost[0] ? [a, b] : [b, a];
    const [hostTag, otherTag] = isHost[0] ? ['A', 'B'] : ['B', 'A'];
    await host.evaluate(([p, n, tag]) => window.harness.countersOpen(p, n, tag, true), [PREFIX, COUNTERS, hostTag] as const);
    await other.evaluate(([p, n, tag]) => window.harness.countersOpen(p, n, tag, false), [PREFIX, COUNTERS, otherTag] as const);
    // Counters in two regions, log keys in a third: every increment commits by 2PC.
    for (const k of SPLIT_KEYS) await other.evaluate((key) => window.harness.split(key), k);
    phase(`tab ${hostTag} hosts the store, tab ${otherTag} attached; ${COUNTERS} counters at 0; split at ${SPLIT_KEYS.join(', ')}`);

    for (const p of [host, other]) await p.evaluate(([workers, retriesMax]) => window.harness.countersStart({ workers, retriesMax }), [WORKERS, RETRIES_MAX] as const);
    await sleep(BEFORE_END_MS / 2);
    // Reads while both tabs write see whole transactions only.
    expectConsistent(await other.evaluate(() => window.harness.countersRead()), `tab ${otherTag} while both write`);
    expectConsistent(await host.evaluate(() => window.harness.countersRead()), `tab ${hostTag} while both write`);
    await sleep(BEFORE_END_MS / 2);
    const stats = (p: Page): Promise<CounterStats> => p.evaluate(() => window.harness.countersStats());
    await until('both tabs have committed increments', async () => (await stats(host)).committed > 0 && (await stats(other)).committed > 0, 30_000);

    // The host tab goes with increments in flight in both tabs.
    const hostLast = await stats(host);
    const otherAtEnd = await stats(other);
    const endedAt = performance.now();
    if (end === 'close') await host.close({ runBeforeUnload: true });
    else {
      // The renderer of the host tab (and its Worker) dies without pagehide.
      const cdp = await ctx.newCDPSession(host);
      const crashed = host.waitForEvent('crash');
      // The command never answers: the page is gone.
      void cdp.send('Page.crash').catch(() => undefined);
      await crashed;
    }
    phase(`host tab ${hostTag} ${ended} (${hostLast.committed} increments committed there; tab ${otherTag}: ${otherAtEnd.committed} committed, ${otherAtEnd.calls - otherAtEnd.committed - otherAtEnd.failedLogs.length - otherAtEnd.undeterminedLogs.length} in flight)`);
    // Locks of the gone tab's commits (cut midway) are still in the store until their TTL runs out.
    const locksAtTakeover = await other.evaluate(() => window.harness.txnLocks());
    await sleep(AFTER_END_MS);
    await until(`tab ${otherTag} commits ${COMMITS_AFTER_END_MIN} increments after the host tab ${ended}`, async () => (await stats(other)).committed - otherAtEnd.committed >= COMMITS_AFTER_END_MIN, 60_000);
    const st = await other.evaluate(() => window.harness.status());
    expect({ isHost: st.isHost, opened: st.opened }).toEqual({ isHost: true, opened: 'reopened' });
    const afterMs = Math.round(performance.now() - endedAt);
    const last = await other.evaluate(() => window.harness.countersStop());
    phase(`tab ${otherTag} took over in ${st.takeoverMs} ms and stopped ${afterMs} ms after the host tab ${ended}: ${JSON.stringify({ ...last, committedLogs: last.committedLogs.length, failedLogs: last.failedLogs.length, undeterminedLogs: last.undeterminedLogs })}`);
    // Every failure is typed.
    expect(last.errors.untyped ?? 0).toBe(0);
    expect(last.errorSamples.filter((x) => x.startsWith('untyped'))).toEqual([]);

    // Past the TTL of the locks the gone tab's transactions left, a read resolves them.
    await sleep(LOCK_TTL_MS + 500);
    const final = await other.evaluate(() => window.harness.countersRead());
    expectConsistent(final, `tab ${otherTag} at the end`);
    const logs = new Set(final.logs);
    // Acknowledged increments are there; failed ones are not.
    expect([...hostLast.committedLogs, ...last.committedLogs].filter((k) => !logs.has(k))).toEqual([]);
    expect([...hostLast.failedLogs, ...last.failedLogs].filter((k) => logs.has(k))).toEqual([]);
    const undeterminedCommitted = last.undeterminedLogs.filter((k) => logs.has(k)).length;

    // A third tab attaches to the new host and sees the same.
    const c = await openTab('C');
    await c.evaluate(([p, n]) => window.harness.countersOpen(p, n, 'C', false), [PREFIX, COUNTERS] as const);
    const fromC = await c.evaluate(() => window.harness.countersRead());
    expect({ counters: fromC.counters, logs: fromC.logs }).toEqual({ counters: final.counters, logs: final.logs });
    expect(await c.evaluate(async () => (await window.harness.status()).isHost)).toBe(false);
    await until('no lock left in the store', async () => (await other.evaluate(() => window.harness.txnLocks())) === 0, 15_000);

    const committed = hostLast.committed + last.committed;
    console.log(
      `txn-tabs e2e (${end}): increments committed=${committed} conflicts=${hostLast.conflicts + last.conflicts} undetermined=${last.undetermined} ` +
        `counters=${final.counters.join(',')} logs=${final.logs.length} locks_after=0 locks_at_takeover=${locksAtTakeover} ` +
        `(acknowledged: tab ${hostTag} ${hostLast.committed} before it went, tab ${otherTag} ${last.committed}; ${final.logs.length - committed} more committed in flight or Undetermined ` +
        `(${undeterminedCommitted}/${last.undetermined} Undetermined found committed); errors of tab ${otherTag} ${JSON.stringify(last.errors)}; 1pc=${hostLast.onePc + last.onePc})`,
    );
  } finally {
    await ctx.close().catch(() => undefined);
  }
}
