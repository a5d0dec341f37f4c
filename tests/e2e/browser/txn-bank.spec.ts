/**
 * Issue 12, Playwright: the bank workload over WebRTC in the mvcc data model. Three Chromium
 * processes (three devices, persistent profiles) form a cluster through the real signaling
 * server with `dataModel: 'mvcc'`; eight accounts share a known total, split over two
 * regions so that a transfer across them commits by 2PC (the lower account is its primary)
 * or, every third transfer, by async commit, and one inside a region by 1PC. Every browser runs concurrent transfers (each a
 * `kv.transaction` in the page: read two accounts, move an amount, write both) and snapshot
 * reads of every account (`snapshot().batchGet` and `snapshot().scan`) that check the total.
 * While they run, the browser leading the region of the first account (the primary of every
 * transfer that touches it) is SIGKILLed, with its transactions in flight. The survivors keep
 * transferring; every snapshot read, before and after the kill, has the exact total. Once
 * their writers stop and the lock TTL has passed, a snapshot read over every account (which
 * resolves the locks the killed browser left) has the total and no lock stays in either
 * survivor's `lock` column family. The killed browser restarts on its profile, reads the same
 * total and holds no lock either. Prints
 * `txn-bank e2e: transfers committed=… conflicts=… undetermined=… reads=… total=… locks_after=0`.
 *
 * Run with `node tests/run-e2e.mjs tests/e2e/browser/txn-bank.spec.ts`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, expect, test, type BrowserContext, type Page } from '@playwright/test';
import { CHROMIUM_ARGS, chromiumPath } from '../../chromium.ts';
import { browserPid } from './browser-pid.ts';
import type { Device } from './device.ts';
import { useNetServers } from './net-servers.ts';
import { until } from '../until.ts';
import type { BankStats } from './fixture/txn-workloads.ts';

/** Accounts, the total they share, and their key prefix (`acct/000` … `acct/007`). */
const ACCOUNTS = 8;
const TOTAL = 8000;
const PREFIX = 'acct/';
/** Transfer loops and snapshot-read loops per browser. */
const TRANSFERERS = 3;
const READERS = 1;
/** Every k-th transfer asks for async commit (it commits by 1PC when its accounts share a region). */
const ASYNC_COMMIT_EVERY = 3;
/** Re-runs of a transfer after a conflict (the rest are counted as conflicts). */
const RETRIES_MAX = 3;
/** Workload time before the kill and (at least) after it, ms. */
const BEFORE_KILL_MS = 8000;
const AFTER_KILL_MS = 10_000;
/** Transfers each survivor must commit after the kill. */
const COMMITS_AFTER_KILL_MIN = 5;
/** The default lock TTL (`LOCK_TTL_MS_DEFAULT`), ms. */
const LOCK_TTL_MS = 3000;

const servers = useNetServers();

function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

test('three browsers run the bank workload in the mvcc model; the primary region leader is killed; totals hold and no lock stays', async () => {
  test.setTimeout(150_000);
  const t0 = performance.now();
  const phase = (what: string) => console.log(`txn-bank e2e: ${what} at ${Math.round(performance.now() - t0)} ms`);
  const root = mkdtempSync(join(tmpdir(), 'peerkv-txn-bank-'));
  const cluster = `txn-bank-${Date.now().toString(36)}`;
  const contexts: BrowserContext[] = [];
  const open = async (name: string): Promise<Device> => {
    const dir = join(root, name);
    const ctx = await chromium.launchPersistentContext(dir, { executablePath: chromiumPath(), args: CHROMIUM_ARGS, headless: true, permissions: ['camera', 'microphone'] });
    contexts.push(ctx);
    const page = ctx.pages()[0] ?? (await ctx.newPage());
    page.on('pageerror', (e) => console.log(`page ${name}: ${e.message}`));
    page.on('console', (m) => (m.type() === 'error' || m.type() === 'warning') && !m.location().url.endsWith('/favicon.ico') && console.log(`console ${name} ${m.type()}: ${m.text()} (${m.location().url})`));
    await page.goto(`${servers.fixtureUrl(cluster)}&mvcc`);
    await page.waitForFunction(() => document.getElementById('state')?.textContent === 'ready', undefined, { timeout: 60_000 });
    // The first call returns once the store serves (created, joined or reopened); in the mvcc model a put is a transaction.
    await page.evaluate((nm) => window.harness.put(`hello/${nm}`, 'x'), name);
    const st = await page.evaluate(() => window.harness.status());
    return { name, dir, ctx, page, storeId: st.localStoreId!, opened: st.opened };
  };
  const stats = (d: Device): Promise<BankStats> => d.page.evaluate(() => window.harness.bankStats());
  try {
    const first = await open('d0');
    expect(first.opened).toBe('bootstrapped');
    const rest = await Promise.all([open('d1'), open('d2')]);
    expect(rest.map((d) => d.opened)).toEqual(['joined', 'joined']);
    const devices = [first, ...rest];
    const ids = devices.map((d) => d.storeId).sort((a, b) => a - b);
    expect(new Set(ids).size).toBe(3);
    phase(`3 mvcc stores (${ids.join(', ')})`);
    for (const d of devices) {
      await until(`every region on three voters at store ${d.storeId}`, async () => {
        const v = Object.values(await d.page.evaluate(() => window.harness.localVoters()));
        return v.length >= 2 && v.every((x) => JSON.stringify(x) === JSON.stringify(ids));
      });
    }
    expect((await first.page.evaluate(() => window.harness.txnLocks())) ?? -1).toBeGreaterThanOrEqual(0);

    // The accounts, then a split between them: a transfer across the two regions is 2PC.
    await first.page.evaluate(([p, n, t]) => window.harness.bankInit(p, n, t), [PREFIX, ACCOUNTS, TOTAL] as const);
    const splitKey = `${PREFIX}${String(ACCOUNTS / 2).padStart(3, '0')}`;
    await first.page.evaluate((k) => window.harness.split(k), splitKey);
    for (const d of devices) {
      await until(`the accounts' two regions on three voters at store ${d.storeId}`, async () => {
        const v = Object.values(await d.page.evaluate(() => window.harness.localVoters()));
        return v.length >= 3 && v.every((x) => JSON.stringify(x) === JSON.stringify(ids));
      });
    }
    for (const d of rest) await d.page.evaluate(([p, n, t]) => window.harness.bankOpen(p, n, t), [PREFIX, ACCOUNTS, TOTAL] as const);
    for (const d of devices) expect((await d.page.evaluate(() => window.harness.bankRead('scan'))).total).toBe(TOTAL);
    phase(`${ACCOUNTS} accounts, total ${TOTAL}, split at ${splitKey}`);

    for (const d of devices) {
      await d.page.evaluate(([transferers, readers, retriesMax, asyncCommitEvery]) => window.harness.bankStart({ transferers, readers, retriesMax, asyncCommitEvery }), [TRANSFERERS, READERS, RETRIES_MAX, ASYNC_COMMIT_EVERY] as const);
    }
    await sleep(BEFORE_KILL_MS);
    await until('every browser has committed transfers', async () => (await Promise.all(devices.map(stats))).every((s) => s.transfers.committed > 0), 30_000);

    // The victim: the browser leading the region of the first account (the primary of the transfers touching it).
    const firstKey = `${PREFIX}000`;
    const leaderOfFirst = await first.page.evaluate((k) => window.harness.leaderStore(k), firstKey);
    const leaders = await Promise.all(devices.map((d) => d.page.evaluate(() => window.harness.localLeaders())));
    const victim = devices.find((d) => d.storeId === leaderOfFirst) ?? devices[leaders.indexOf(Math.max(...leaders))];
    const survivors = devices.filter((d) => d !== victim);
    const beforeKill = await Promise.all(survivors.map(stats));
    const victimStats = await stats(victim);
    console.log(
      `txn-bank e2e: leader of ${firstKey}'s region: store ${leaderOfFirst ?? 'none'}; leaderships per store ${devices.map((d, i) => `${d.storeId}:${leaders[i]}`).join(' ')}; ` +
        `killing store ${victim.storeId} (${victimStats.transfers.committed} transfers committed there, ${victimStats.transfers.calls - victimStats.transfers.committed - victimStats.transfers.conflictsFinal - victimStats.transfers.undetermined} in flight or failed)`,
    );
    const gone = new Promise((r) => victim.ctx.once('close', r));
    const killedAtWall = Date.now();
    process.kill(browserPid(victim.dir), 'SIGKILL');
    await gone;
    const killedAt = performance.now();
    phase(`store ${victim.storeId} killed`);

    await sleep(AFTER_KILL_MS);
    await until(
      `each survivor commits ${COMMITS_AFTER_KILL_MIN} transfers after the kill`,
      async () => (await Promise.all(survivors.map(stats))).every((s, i) => s.transfers.committed - beforeKill[i].transfers.committed >= COMMITS_AFTER_KILL_MIN),
      60_000,
    );
    const results = await Promise.all(survivors.map((d) => d.page.evaluate(() => window.harness.bankStop())));
    phase(`survivors' workloads stopped ${Math.round(performance.now() - killedAt)} ms after the kill`);
    const locksAt = async () => Promise.all(survivors.map((d) => d.page.evaluate(() => window.harness.txnLocks())));
    const locksAtStop = await locksAt();
    for (const [i, r] of results.entries()) {
      const after = r.committedAtMs.filter((t) => t >= killedAtWall);
      const gapMsMax = Math.max(...after.map((t, j) => t - (j === 0 ? killedAtWall : after[j - 1])));
      const latency = [...r.latencyMs].sort((a, b) => a - b);
      console.log(
        `txn-bank e2e: store ${survivors[i].storeId}: ${JSON.stringify(r.transfers)} ${JSON.stringify(r.reads)}; ` +
          `first commit ${after[0] - killedAtWall} ms after the kill, longest gap after it ${gapMsMax} ms; latency p50 ${latency[latency.length >> 1]} ms, max ${latency[latency.length - 1]} ms`,
      );
      // Every snapshot read, before and after the kill, saw the exact total.
      expect(r.reads.wrongSamples).toEqual([]);
      expect(r.reads.wrong).toBe(0);
      expect(r.reads.reads - beforeKill[i].reads.reads).toBeGreaterThan(0);
      // Every failure is typed.
      expect(r.transfers.errors.untyped ?? 0).toBe(0);
      expect(r.reads.errors.untyped ?? 0).toBe(0);
    }

    // Past the TTL of every lock left behind (by the killed browser, or by an Undetermined
    // commit), a read over every account resolves them.
    await sleep(LOCK_TTL_MS + 500);
    for (const d of survivors) {
      for (const how of ['get', 'scan'] as const) {
        const r = await d.page.evaluate((h) => window.harness.bankRead(h), how);
        expect({ how, total: r.total, accounts: r.accounts }).toEqual({ how, total: TOTAL, accounts: ACCOUNTS });
      }
    }
    let locks = await locksAt();
    try {
      await until('no lock left on the survivors', async () => (locks = await locksAt()).every((n) => n === 0), 15_000);
    } catch (e) {
      console.log(`txn-bank e2e: locks left ${JSON.stringify(locks)}; status ${JSON.stringify(await survivors[0].page.evaluate(() => window.harness.status()), (_, v) => (typeof v === 'bigint' ? String(v) : v))}`);
      throw e;
    }
    phase('no lock left on the survivors');

    const t = results.map((r) => r.transfers);
    const errors: Record<string, number> = {};
    for (const r of results) for (const [k, n] of Object.entries(r.transfers.errors)) errors[k] = (errors[k] ?? 0) + n;
    const afterKill = sum(results.map((r, i) => r.transfers.committed - beforeKill[i].transfers.committed));
    console.log(
      `txn-bank e2e: transfers committed=${sum(t.map((x) => x.committed))} conflicts=${sum(t.map((x) => x.conflicts))} undetermined=${sum(t.map((x) => x.undetermined))} ` +
        `reads=${sum(results.map((r) => r.reads.reads))} total=${TOTAL} locks_after=${sum(locks.map((n) => n ?? 0))} ` +
        `(survivors; locks_at_stop=${locksAtStop.join('+')} 1pc=${sum(t.map((x) => x.onePc))} async_commit=${sum(t.map((x) => x.asyncCommit))} conflicts_final=${sum(t.map((x) => x.conflictsFinal))} committed_after_kill=${afterKill} errors=${JSON.stringify(errors)} read_errors=${JSON.stringify(results.map((r) => r.reads.errors))})`,
    );

    // The killed browser restarts on its profile and sees the same total, and no lock.
    const back = await open(victim.name);
    expect({ storeId: back.storeId, opened: back.opened }).toEqual({ storeId: victim.storeId, opened: 'reopened' });
    await back.page.evaluate(([p, n, t]) => window.harness.bankOpen(p, n, t), [PREFIX, ACCOUNTS, TOTAL] as const);
    for (const how of ['get', 'scan'] as const) {
      const r = await back.page.evaluate((h) => window.harness.bankRead(h), how);
      expect({ how, total: r.total, accounts: r.accounts }).toEqual({ how, total: TOTAL, accounts: ACCOUNTS });
    }
    const balances = (await survivors[0].page.evaluate(() => window.harness.bankRead('get'))).balances;
    expect((await back.page.evaluate(() => window.harness.bankRead('get'))).balances).toEqual(balances);
    await until('no lock left on the restarted store', async () => (await back.page.evaluate(() => window.harness.txnLocks())) === 0, 30_000);
    phase(`store ${back.storeId} reopened: total ${TOTAL}, balances ${balances.join(' ')}, no lock`);
  } finally {
    for (const c of contexts) await c.close().catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
  }
});
