/**
 * Issue 6: three Chromium processes (three devices, each a persistent profile so IndexedDB
 * survives a restart) form a cluster through the real signaling server; the first
 * bootstraps, the others join through PD. 1,000 keys are written; the browser holding the
 * most leaderships is killed (SIGKILL to its main process); a survivor keeps writing and the time until
 * writes resume is printed (`net e2e: writes resumed after <ms> ms`); the killed browser
 * restarts on the same profile, restarts its store from IndexedDB and catches up; the three
 * replicas then hold identical data.
 *
 * Run with `node tests/run-e2e.mjs tests/e2e/net/browsers.spec.ts`.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, expect, test } from '@playwright/test';
import type { BrowserContext, Page } from '@playwright/test';
import { BOOTSTRAP_IDS, randomTempStoreId } from '@peerkv/store';
import { CHROMIUM_ARGS, chromiumPath } from '../../chromium.ts';
import type { RegionSummary } from './fixture/page.ts';
import { net, startNetFixture, until } from './serve.ts';

const SECRET = 'net-e2e-secret';
/** Keys written before the kill. */
const KEYS = 1000;
/** Concurrent writers in the page while writing them. */
const WRITERS = 16;
/** Keys written by a survivor after writes resume. */
const KEYS_AFTER = 100;

/** The main process of the Chromium we launched on profile `dir` (found by its `--user-data-dir`). */
function browserPid(dir: string): number {
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    let args: string[];
    try {
      args = readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (args.includes(`--user-data-dir=${dir}`) && !args.some((a) => a.startsWith('--type='))) return Number(e);
  }
  throw new Error(`no Chromium main process for ${dir}`);
}

interface Device {
  dir: string;
  ctx: BrowserContext;
  page: Page;
  storeId: number;
}

test('three Chromium processes: a cluster, 1,000 keys, the leading browser killed and restarted', async () => {
  test.setTimeout(170_000);
  const t0 = performance.now();
  const phase = (what: string) => console.log(`net e2e browsers: ${what} at ${Math.round(performance.now() - t0)} ms`);
  const cleanups: (() => unknown)[] = [];
  try {
    const fx = await startNetFixture();
    cleanups.push(() => fx.close());
    const root = mkdtempSync(join(tmpdir(), 'peerkv-net-browsers-'));
    cleanups.push(() => rmSync(root, { recursive: true, force: true }));
    const cluster = `net-${randomTempStoreId()}`;
    const startOpts = (name: string, bootstrap: boolean) => ({ clusterId: cluster, secret: SECRET, signalingUrl: fx.signalingUrl, bootstrap, bootstrapProbeMs: 1000, labels: { device: name }, store: { tickIntervalMs: 50 }, joinTimeoutMs: 30_000 });

    const open = async (name: string, bootstrap: boolean, dir = join(root, name)): Promise<Device & { started: string }> => {
      const ctx = await chromium.launchPersistentContext(dir, { executablePath: chromiumPath(), args: CHROMIUM_ARGS, headless: true, permissions: ['camera', 'microphone'] });
      cleanups.push(() => ctx.close().catch(() => undefined));
      const page = ctx.pages()[0] ?? (await ctx.newPage());
      page.on('pageerror', (e) => console.error(`page ${name}: ${e.message}`));
      await page.goto(fx.pageUrl);
      const r = await net(page, 'start', startOpts(name, bootstrap));
      return { dir, ctx, page, storeId: r.storeId, started: r.started };
    };

    const first = await open('d0', true);
    expect(first.started).toBe('bootstrapped');
    expect(first.storeId).toBe(BOOTSTRAP_IDS.store);
    const [second, third] = await Promise.all([open('d1', false), open('d2', false)]);
    expect([second.started, third.started]).toEqual(['joined', 'joined']);
    const devices: Device[] = [first, second, third];
    const ids = devices.map((d) => d.storeId).sort((x, y) => x - y);
    expect(new Set(ids).size).toBe(3);
    phase(`3 browser stores started (${ids.join(', ')})`);

    const threeVoters = (rs: RegionSummary[]) => rs.length >= 2 && rs.every((r) => JSON.stringify(r.voters) === JSON.stringify(ids));
    for (const d of devices) await until(`3 voters on store ${d.storeId}`, async () => threeVoters(await net(d.page, 'regions')), 60_000);
    phase('3 voters of PD and data on every browser');

    expect(await net(first.page, 'putRange', 'k', 0, KEYS, WRITERS)).toBe(KEYS);
    phase(`${KEYS} keys written`);
    expect(await net(third.page, 'get', 'k00999')).toBe('v999');

    // The browser holding the most leaderships is killed (SIGKILL to its main process: no unload, no goodbye).
    const leaders = await Promise.all(devices.map((d) => net(d.page, 'leaders')));
    const victim = devices[leaders.indexOf(Math.max(...leaders))];
    const survivors = devices.filter((d) => d !== victim);
    console.log(`net e2e browsers: leaderships per store ${devices.map((d, i) => `${d.storeId}:${leaders[i]}`).join(' ')}; killing store ${victim.storeId}`);
    const pid = browserPid(victim.dir);
    const gone = new Promise((r) => victim.ctx.once('close', r));
    const killedAt = performance.now();
    process.kill(pid, 'SIGKILL');
    const departed = until(`survivors see store ${victim.storeId} gone`, async () => !(await net(survivors[0].page, 'members')).includes(victim.storeId), 60_000).then(() => Math.round(performance.now() - killedAt));
    await gone;
    let n = 0;
    for (;;) {
      try {
        await net(survivors[0].page, 'put', `resume-${n++}`, 'x');
        break;
      } catch (e) {
        if (performance.now() - killedAt > 60_000) throw e;
      }
    }
    const resumedMs = Math.round(performance.now() - killedAt);
    console.log(`net e2e: writes resumed after ${resumedMs} ms (${n} attempts)`);
    console.log(`net e2e browsers: a survivor's transport dropped store ${victim.storeId} after ${await departed} ms`);
    expect(await net(survivors[1].page, 'putRange', 'after-', 0, KEYS_AFTER, 8)).toBe(KEYS_AFTER);
    expect(await net(survivors[0].page, 'get', 'after-00099')).toBe('v99');
    phase(`${KEYS_AFTER} more keys written without store ${victim.storeId}`);

    // It restarts on the same profile: the store restarts from IndexedDB and catches up.
    const back = await open(`d${devices.indexOf(victim)}`, devices.indexOf(victim) === 0, victim.dir);
    expect({ storeId: back.storeId, started: back.started }).toEqual({ storeId: victim.storeId, started: 'restarted' });
    phase(`store ${back.storeId} restarted`);
    const all = [...survivors, back];
    await until('the restarted store holds the writes made while it was down', async () => (await net(back.page, 'getLocal', 'after-00099')) === 'v99', 60_000);
    phase('restarted store caught up');

    // Every device's own replica holds the same data, equal to what the client reads.
    expect((await net(back.page, 'dump', 'k')).count).toBe(KEYS);
    expect((await net(back.page, 'dump', 'after-')).count).toBe(KEYS_AFTER);
    // A failed attempt may still have been applied: between 1 and n `resume-` keys.
    const reference = await net(back.page, 'dump', '');
    expect(reference.count).toBeGreaterThan(KEYS + KEYS_AFTER);
    expect(reference.count).toBeLessThanOrEqual(KEYS + KEYS_AFTER + n);
    await until('identical local replicas on the three browsers', async () => {
      const local = await Promise.all(all.map((d) => net(d.page, 'dumpLocal', '')));
      return local.every((x) => x.count === reference.count && x.digest === reference.digest);
    }, 30_000);
    phase('identical data on the three browsers');
  } finally {
    for (const c of cleanups.reverse()) await c();
  }
});
