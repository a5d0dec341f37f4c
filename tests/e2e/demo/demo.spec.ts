/**
 * Demo smoke test: the demo served by Vite (its own config) and the real signaling server on
 * a free 127.0.0.1 port; two Chromium processes with their own persistent profiles (two
 * "browsers") open it. Browser A's store creates the cluster, B's joins it over WebRTC; an
 * item added in A shows up in B (through B's watch of the lists), checking it in B shows it done in A; A's dashboard lists
 * both stores (each with its safe ts and lag) and a region with a leader; "Add a store" opens a third store in A's page
 * (joining over BroadcastChannel); a split adds a region; stopping the added store shows it
 * down while the list keeps working, and it starts again; A cuts its link to B and heals it;
 * a second tab of B attaches to B's host tab and shows the list. Then two fresh profiles
 * open the demo at the same moment: one creates the cluster, the other joins, and the list
 * syncs. Last, a private cluster: A presses "New private cluster" (a generated secret) and B
 * joins by its invite link; A closes, B shows its copy "Offline, as of …", adds two items
 * (queued: "2 changes waiting for another device"), reloads (still 2), and A reopens: B's
 * queue drains to 0 and both list the items. Screenshots go to tests/artifacts/demo-*.png.
 *
 * Run with `node tests/run-e2e.mjs tests/e2e/demo`.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, expect, test, type BrowserContext, type Page } from '@playwright/test';
import { SignalingServer } from '../../../signaling/src/server.ts';
import { CHROMIUM_ARGS, chromiumPath } from '../../chromium.ts';
import { REPO_ROOT, startVite, type ViteFixture } from '../browser/vite-server.ts';

const ARTIFACTS = join(REPO_ROOT, 'tests', 'artifacts');
/** Longest wait for one step that crosses browsers (joins, elections, the list's poll), ms. */
const STEP_MS = 30_000;
/** Longest wait for a change made in one browser to show in the other through its lists' watch, ms. */
const WATCH_SHOWN_MS = 8000;

let vite: ViteFixture;
let signaling: SignalingServer;
let signalingUrl: string;
let root: string;
const contexts: BrowserContext[] = [];

test.beforeAll(async () => {
  signaling = new SignalingServer();
  const addr = await signaling.listen(0, '127.0.0.1');
  signalingUrl = `ws://127.0.0.1:${addr.port}`;
  vite = await startVite({ demo: true });
  root = mkdtempSync(join(tmpdir(), 'peerkv-demo-'));
  mkdirSync(ARTIFACTS, { recursive: true });
});

test.afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => undefined);
  await vite?.close();
  await signaling?.close();
  rmSync(root, { recursive: true, force: true });
});

/** A browser: its own Chromium process and persistent profile. */
async function launch(name: string): Promise<BrowserContext> {
  const ctx = await chromium.launchPersistentContext(join(root, name), {
    executablePath: chromiumPath(),
    args: CHROMIUM_ARGS,
    headless: true,
    permissions: ['camera', 'microphone'],
    viewport: { width: 1360, height: 900 },
  });
  contexts.push(ctx);
  return ctx;
}

/** Opens the demo in `ctx` against the test's signaling server. */
async function openDemo(ctx: BrowserContext, name: string, page?: Page): Promise<Page> {
  const p = page ?? (await ctx.newPage());
  p.on('pageerror', (e) => console.log(`${name} pageerror: ${e.message}`));
  await p.goto(`${vite.url}?signaling=${encodeURIComponent(signalingUrl)}`);
  await expect(p.locator('body[data-ready="true"]')).toHaveCount(1);
  return p;
}

/**
 * Whether a store card's `safe ts HH:MM:SS.mmm` (UTC, `store-card.ts`) is at or after `ms` (ms
 * since the epoch, within 12 hours of it).
 */
function safeTsAfter(cardText: string | null, ms: number): boolean {
  const m = /safe ts (\d\d):(\d\d):(\d\d)\.(\d{3})/.exec(cardText ?? '');
  if (!m) return false;
  const dayMs = 86_400_000;
  const shown = ((Number(m[1]) * 60 + Number(m[2])) * 60 + Number(m[3])) * 1000 + Number(m[4]);
  const ahead = (((shown - (ms % dayMs)) % dayMs) + dayMs) % dayMs;
  return ahead < dayMs / 2;
}

async function addItem(p: Page, text: string): Promise<void> {
  await p.fill('#item', text);
  await p.press('#item', 'Enter');
}

test('two browsers form one cluster: the list syncs, the dashboard shows both stores and the controls work', async () => {
  test.setTimeout(110_000);
  const t0 = performance.now();
  const phase = (what: string) => console.log(`demo e2e: ${what} at ${Math.round(performance.now() - t0)} ms`);

  const ctxA = await launch('a');
  const a = await openDemo(ctxA, 'A', ctxA.pages()[0]);
  await expect(a.locator('.store[data-kind="local"] .badge').first()).toHaveText('up', { timeout: STEP_MS });
  await expect(a.locator('#summary')).toContainText('bootstrapped');
  phase('browser A created the cluster');

  const ctxB = await launch('b');
  const b = await openDemo(ctxB, 'B', ctxB.pages()[0]);
  await expect(b.locator('#summary')).toContainText('joined', { timeout: STEP_MS });
  await expect(a.locator('.store[data-kind="remote"] .badge').first()).toHaveText('up', { timeout: STEP_MS });
  // Each card names the engine its store reports to PD (the `engine` label, read in its Worker).
  await expect(a.locator('.store[data-kind="local"] .badge.engine')).toHaveText('chromium', { timeout: STEP_MS });
  await expect(a.locator('.store[data-kind="remote"] .badge.engine')).toHaveText('chromium', { timeout: STEP_MS });
  phase('browser B joined over WebRTC');

  // B's lists follow kv.watch (they are not polled while its watermarks come): A's adds show in
  // B well within the watch's silence limit (11 s), after which a poll would take over.
  await expect(b.locator('#list-status')).toHaveAttribute('data-watch', 'on', { timeout: STEP_MS });
  await addItem(a, 'oat milk');
  await addItem(a, 'sourdough bread');
  await expect(b.locator('#items li .text')).toHaveText(['oat milk', 'sourdough bread'], { timeout: WATCH_SHOWN_MS });
  await expect(b.locator('#list-status')).toHaveAttribute('data-watch', 'on');
  await b.locator('#items li', { hasText: 'oat milk' }).locator('input[type=checkbox]').check();
  await expect(a.locator('#items li.done .text')).toHaveText(['oat milk'], { timeout: STEP_MS });
  phase('an item added in A shows in B; checked in B, done in A');

  // Moving an item to the basket is one transaction (delete here, put there): B sees it move,
  // A shows its start and commit ts, and the dashboard logs it and counts the stores' locks.
  await a.locator('#items li', { hasText: 'sourdough bread' }).locator('button.move').click();
  await expect(a.locator('#txn-status')).toContainText(/moved “sourdough bread” to the basket in one transaction: start ts \d+, commit ts \d+/, { timeout: STEP_MS });
  await expect(b.locator('#basket li .text')).toHaveText(['sourdough bread'], { timeout: STEP_MS });
  await expect(b.locator('#items li .text')).toHaveText(['oat milk'], { timeout: STEP_MS });
  await expect(a.locator('#events')).toContainText('moved “sourdough bread” to the basket', { timeout: STEP_MS });
  await expect(a.locator('.store[data-kind="local"] .counters')).toContainText(/txn locks \d+/, { timeout: STEP_MS });
  // Each store's safe ts (resolved ts) and its lag: this browser's own, and B's through the store RPC.
  await expect(a.locator('.store[data-kind="local"] .counters')).toContainText(/safe ts \d\d:\d\d:\d\d\.\d{3} · lag \d+ ms/, { timeout: STEP_MS });
  await expect(a.locator('.store[data-kind="remote"] .counters').filter({ hasText: /safe ts \d\d:\d\d:\d\d\.\d{3} · lag \d+ ms/ }).first()).toBeVisible({ timeout: STEP_MS });
  await b.locator('#basket li', { hasText: 'sourdough bread' }).locator('button.move').click();
  await expect(a.locator('#items li .text')).toHaveText(['oat milk', 'sourdough bread'], { timeout: STEP_MS });
  await expect(a.locator('#basket li')).toHaveCount(0, { timeout: STEP_MS });
  phase('an item moved to the basket and back, atomically, seen in both browsers');

  await expect(a.locator('.store')).toHaveCount(2);
  await expect(a.locator('#regions tbody tr .leader-cell').first()).toContainText('store', { timeout: STEP_MS });
  await expect(a.locator('#pd')).toContainText('PD leader store');
  // PD's view: a timestamp from the TSO, each store's PD record, each data region's size.
  await expect(a.locator('#summary')).toContainText(/TSO \d+/, { timeout: STEP_MS });
  await expect(a.locator('.store .counters', { hasText: 'PD: up' })).toHaveCount(2, { timeout: STEP_MS });
  await expect(a.locator('#regions tbody tr td:nth-child(6)', { hasText: 'keys' }).first()).toBeVisible({ timeout: STEP_MS });

  await a.click('#add-store');
  await expect(a.locator('.store')).toHaveCount(3, { timeout: STEP_MS });
  await expect(a.locator('.store[data-kind="extra"] .badge').first()).toHaveText('up', { timeout: STEP_MS });
  await expect(b.locator('.store')).toHaveCount(3, { timeout: STEP_MS });
  // A's store created the cluster and leads PD unless PD's leadership moved: then the
  // replicas PD added on the new store show as operators in A's event log.
  if ((await a.locator('#pd').textContent())?.includes('operator(s) running')) {
    await expect(a.locator('#events')).toContainText('PD operator started', { timeout: STEP_MS });
  }
  // Its card shows PD placing replicas on it ("joining: k of n regions placed here"), then "joined".
  await expect(a.locator('.store[data-kind="extra"] .counters')).toContainText(/joined: [1-9]\d* of [1-9]\d* regions placed here, all caught up/, { timeout: STEP_MS });
  phase('a third store added in A joined');

  const regionsBefore = await a.locator('#regions tbody tr').count();
  await a.fill('#split-key', 'list/m');
  await a.click('#split');
  // A failed control shows its error under the table: report it instead of a bare count.
  const rowsOrError = async () => (await a.locator('#cluster-error').textContent()) || (await a.locator('#regions tbody tr').count());
  await expect.poll(rowsOrError, { timeout: STEP_MS }).toBe(regionsBefore + 1);
  await expect(a.locator('#regions tbody tr', { hasText: '[list/m,' })).toHaveCount(1);
  phase(`split: ${regionsBefore} → ${regionsBefore + 1} regions`);

  const extra = a.locator('.store[data-kind="extra"]');
  await extra.locator('button', { hasText: 'Stop' }).click();
  await expect(extra.locator('.badge.down')).toHaveCount(1, { timeout: STEP_MS });
  await addItem(b, 'apples');
  await expect(a.locator('#items li .text')).toHaveText(['oat milk', 'sourdough bread', 'apples'], { timeout: STEP_MS });
  await a.screenshot({ path: join(ARTIFACTS, 'demo-browser-a-store-stopped.png'), fullPage: true });
  await extra.locator('button', { hasText: 'Start' }).click();
  await expect(extra.locator('.badge').first()).toHaveText('up', { timeout: STEP_MS });
  phase('the added store stopped (the list kept working) and started again');

  // Partition A's link to B, then heal: the card shows the cut, the heal clears it.
  const remote = a.locator('.store[data-kind="remote"]');
  await remote.locator('button', { hasText: 'Partition' }).click();
  await expect(remote.locator('.badge.cut')).toHaveCount(1, { timeout: STEP_MS });
  await a.click('#heal');
  await expect(remote.locator('.badge.cut')).toHaveCount(0, { timeout: STEP_MS });
  await expect(remote.locator('.badge').first()).toHaveText('up', { timeout: STEP_MS });
  await addItem(b, 'coffee');
  await expect(a.locator('#items li .text')).toHaveText(['oat milk', 'sourdough bread', 'apples', 'coffee'], { timeout: STEP_MS });
  phase('A cut its link to B and healed it; the list syncs again');

  const b2 = await openDemo(ctxB, 'B2');
  await expect(b2.locator('#host')).toContainText('attached to host tab', { timeout: STEP_MS });
  await expect(b2.locator('#items li .text')).toHaveText(['oat milk', 'sourdough bread', 'apples', 'coffee'], { timeout: STEP_MS });
  phase('a second tab of B attached to its host tab');

  // The latency trace: started on A's dashboard, an item A adds shows its spans: A's host
  // serving the commit, its client's timestamp and sends to a store, and the store's own spans.
  await a.click('#trace-toggle');
  await expect(a.locator('#trace-toggle')).toHaveText('Stop trace', { timeout: STEP_MS });
  await addItem(a, 'lemons');
  await expect(a.locator('#trace tbody tr[data-stage^="host:commit"]').first()).toBeVisible({ timeout: STEP_MS });
  await expect(a.locator('#trace tbody tr[data-stage^="send:txn"]').first()).toBeVisible({ timeout: STEP_MS });
  await expect(a.locator('#trace tbody tr[data-stage="tso"]')).toBeVisible({ timeout: STEP_MS });
  await a.click('#trace-toggle');
  await expect(a.locator('#trace-toggle')).toHaveText('Start trace', { timeout: STEP_MS });
  await expect(a.locator('#trace tbody tr[data-stage="tso"]')).toHaveCount(0, { timeout: STEP_MS });
  phase('the latency trace showed an add, span by span');

  await a.screenshot({ path: join(ARTIFACTS, 'demo-browser-a.png'), fullPage: true });
  await b.screenshot({ path: join(ARTIFACTS, 'demo-browser-b.png'), fullPage: true });
  await b2.screenshot({ path: join(ARTIFACTS, 'demo-browser-b-second-tab.png'), fullPage: true });
});

test('two browsers opening the demo at the same moment form one cluster (one creates it, the other joins)', async () => {
  test.setTimeout(90_000);
  // The first test's browsers leave, so these two find no member and race to create the cluster.
  for (const c of contexts.splice(0)) await c.close();
  const [ctxC, ctxD] = await Promise.all([launch('c'), launch('d')]);
  const [c, d] = await Promise.all([openDemo(ctxC, 'C', ctxC.pages()[0]), openDemo(ctxD, 'D', ctxD.pages()[0])]);
  const opened = async (p: Page) => {
    await expect(p.locator('#summary')).toContainText(/bootstrapped|joined/, { timeout: STEP_MS });
    return /bootstrapped/.test((await p.locator('#summary').textContent()) ?? '') ? 'bootstrapped' : 'joined';
  };
  expect((await Promise.all([opened(c), opened(d)])).sort()).toEqual(['bootstrapped', 'joined']);
  await expect(c.locator('.store .badge:text-is("up")')).toHaveCount(2, { timeout: STEP_MS });
  await addItem(d, 'tea');
  await expect(c.locator('#items li .text')).toHaveText(['tea'], { timeout: STEP_MS });
  await c.screenshot({ path: join(ARTIFACTS, 'demo-simultaneous-open.png'), fullPage: true });
});

test('a private cluster with a generated secret: A starts it, B joins by its invite link, the list syncs; A closes and B shows its copy, offline as of its resolved ts; B queues two adds, keeps them over a reload, and they commit when A is back', async () => {
  test.setTimeout(240_000);
  const t0 = performance.now();
  const phase = (what: string) => console.log(`demo e2e (private): ${what} at ${Math.round(performance.now() - t0)} ms`);
  for (const c of contexts.splice(0)) await c.close();
  const ctxE = await launch('e');
  const e = await openDemo(ctxE, 'E', ctxE.pages()[0]);
  // "New private cluster" reloads the page on a link whose fragment holds a fresh invite.
  await e.evaluate(() => ((window as unknown as { beforePrivate: boolean }).beforePrivate = true));
  await e.click('#private-cluster');
  const reloaded = () => e.evaluate(() => !(window as unknown as { beforePrivate?: boolean }).beforePrivate && location.hash.startsWith('#invite=') && document.body.dataset.ready === 'true');
  await expect.poll(() => reloaded().catch(() => false), { timeout: STEP_MS }).toBe(true);
  await expect(e.locator('#summary')).toContainText('bootstrapped', { timeout: STEP_MS });
  // Once E's store status names PD's voters, the link is a version 2 invite anchoring their
  // keys: E's own store, the only voter.
  await expect(e.locator('#invite-link')).toHaveAttribute('href', /#invite=peerkv2\./, { timeout: STEP_MS });
  const link = await e.locator('#invite-link').getAttribute('href');
  const invite = JSON.parse(Buffer.from(link!.split('#invite=peerkv2.')[1], 'base64url').toString()) as { c: string; s: string; a: [number, string][] };
  expect(invite.c).toMatch(/^private-/);
  expect(invite.s).toMatch(/^pk1_[A-Za-z0-9_-]{43}$/);
  const eStoreId = Number(await e.locator('.store[data-kind="local"]').first().getAttribute('data-store'));
  expect(invite.a.map(([id]) => id)).toEqual([eStoreId]);
  expect(Buffer.from(invite.a[0][1], 'base64url').length).toBe(65);

  const ctxF = await launch('f');
  const f = ctxF.pages()[0];
  f.on('pageerror', (err) => console.log(`F pageerror: ${err.message}`));
  await f.goto(link!);
  await expect(f.locator('body[data-ready="true"]')).toHaveCount(1);
  await expect(f.locator('#summary')).toContainText('joined', { timeout: STEP_MS });
  // F's store opened with the anchor and hands it on in its own link.
  await expect(f.locator('#invite-link')).toHaveAttribute('href', /#invite=peerkv2\./, { timeout: STEP_MS });
  await addItem(e, 'private tea');
  await expect(f.locator('#items li .text')).toHaveText(['private tea'], { timeout: STEP_MS });
  await f.screenshot({ path: join(ARTIFACTS, 'demo-private-cluster.png'), fullPage: true });
  // F's copy is as of its own replica's safe ts, which the leader's resolved-ts entries move
  // (about every second): E must not close before one reached F past the item, or F's copy
  // rightly shows the list as it was before it. The item was committed before F showed it.
  const shownAtMs = await f.evaluate(() => Date.now());
  await expect.poll(async () => safeTsAfter(await f.locator('.store[data-kind="local"] .counters').first().textContent(), shownAtMs), { timeout: STEP_MS }).toBe(true);

  // E closes: two browsers, no quorum left. F still shows its own copy of the list, read from
  // its store's replica at the resolved ts, and says as of when.
  await ctxE.close();
  await expect(f.locator('#list-status')).toContainText('Offline, as of', { timeout: 60_000 });
  await expect(f.locator('#items li .text')).toHaveText(['private tea']);
  await f.screenshot({ path: join(ARTIFACTS, 'demo-offline-as-of.png'), fullPage: true });
  phase('E closed; F shows its copy, offline as of its resolved ts');

  // Offline writes: F's adds are queued in IndexedDB (shown as waiting, not on the list), the
  // queue survives a reload, and commits once E is back.
  await expect(f.locator('#queue-status')).toHaveText('0 changes waiting for another device');
  await addItem(f, 'offline bread');
  await addItem(f, 'offline jam');
  // A failed write shows under the lists: report it instead of a bare count.
  const queueOrError = async () => `${await f.locator('#queue-status').textContent()} | ${await f.locator('#txn-status').textContent()}`;
  await expect.poll(queueOrError, { timeout: STEP_MS }).toMatch(/^2 changes waiting for another device \|/);
  await expect(f.locator('#queued li')).toHaveText([/add “offline bread”/, /add “offline jam”/]);
  await expect(f.locator('#items li .text')).toHaveText(['private tea']);
  phase('F queued two adds while offline');
  await f.reload();
  await expect(f.locator('body[data-ready="true"]')).toHaveCount(1, { timeout: STEP_MS });
  await expect(f.locator('#queue-status')).toHaveText('2 changes waiting for another device', { timeout: STEP_MS });
  await expect(f.locator('#queued li')).toHaveText([/add “offline bread”/, /add “offline jam”/]);
  phase('F reloaded: still two changes waiting (IndexedDB queue)');
  await f.screenshot({ path: join(ARTIFACTS, 'demo-offline-queued.png'), fullPage: true });

  const back = performance.now();
  const ctxE2 = await launch('e');
  const e2 = ctxE2.pages()[0];
  e2.on('pageerror', (err) => console.log(`E pageerror: ${err.message}`));
  await e2.goto(link!);
  await expect(e2.locator('body[data-ready="true"]')).toHaveCount(1);
  const all = ['private tea', 'offline bread', 'offline jam'];
  await expect(f.locator('#queue-status')).toHaveText('0 changes waiting for another device', { timeout: 60_000 });
  phase(`E is back: F's queue drained ${Math.round(performance.now() - back)} ms after E reopened`);
  await expect(f.locator('#items li .text')).toHaveText(all, { timeout: STEP_MS });
  await expect(e2.locator('#items li .text')).toHaveText(all, { timeout: STEP_MS });
  phase(`E and F list the two items added offline ${Math.round(performance.now() - back)} ms after E reopened`);
  await f.screenshot({ path: join(ARTIFACTS, 'demo-offline-drained.png'), fullPage: true });
});
