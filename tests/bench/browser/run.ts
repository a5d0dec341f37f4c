/**
 * `npm run bench:browser` (issue 16): PeerKV beside raw `idb` (strict and relaxed), Dexie
 * (default and strict), RxDB (Dexie storage) and Yjs + y-indexeddb (awaiting persistence), in
 * one Chromium run on Debian's Chromium (`tests/chromium.ts`), on persistent profiles so
 * IndexedDB is on disk:
 *
 * - one browser (profile `main`) runs every single-browser system, each round on a fresh
 *   database in a fresh tab: PeerKV as `openBrowser()` opens it by default (one store, mvcc,
 *   strict) and as the embedded 3-store cluster;
 * - three more Chromium processes (profiles `d0`..`d2`) form one PeerKV cluster through the
 *   signaling server over WebRTC (the 3-browser row; the workload runs in `d0`), and a raw
 *   simple-peer channel between `d0` and `d1` gives the limit row: its RTT p50 plus the strict
 *   IndexedDB put p50 of the same round.
 *
 * Each round runs every system in turn; figures are medians over rounds, printed with their
 * range. The last lines are `bench:browser put_p50_ms=… … open_ms=…` (see `report.ts`), the
 * spread, and the chart's lines; `bench-results/bench-browser.txt` and `.svg` keep them.
 * As root it re-executes itself in a loopback-only network namespace (`tests/loopback-netns.ts`).
 *
 * The page is a production build served by Vite's preview server (`serve.ts`; `--dev`: the
 * dev server, unbundled).
 *
 * `--trace`: after each PeerKV round, `TRACE_WRITES` more sequential writes with the latency
 * trace on in every browser of the row, and each PeerKV row's per-stage breakdown (p50, p99,
 * per write; `trace-report.ts`) printed after the table.
 *
 * Usage: `npm run bench:browser [-- --rounds N --writes N --dev --trace]` (defaults 3 and 300).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { SignalingServer } from '@peerkv/signaling';
import { CHROMIUM_ARGS, chromiumPath } from '../../chromium.ts';
import { REPO_ROOT } from '../../e2e/browser/vite-server.ts';
import { loopbackOnly, reexecInLoopbackNamespace } from '../../loopback-netns.ts';
import { benchSvg, parseBenchLines } from '../../../scripts/bench-plot.ts';
import { SYSTEM_LABELS, chartLines, spreadLine, summarize, summaryLine, table, type BenchRun, type LimitRound, type RoundFigures, type SystemId, type SystemRounds } from './report.ts';
import { servePage } from './serve.ts';
import type { WorkloadConfig } from './workload.ts';
import { traceLine, traceTable, type TraceRound } from './trace-report.ts';

/** The rows run in the `main` browser, in order. */
const FRESH_SYSTEMS: Exclude<SystemId, 'peerkv-webrtc3'>[] = ['idb-strict', 'idb-relaxed', 'dexie', 'dexie-strict', 'rxdb', 'yjs', 'peerkv-one', 'peerkv-embedded3'];
/** Raw simple-peer round trips per round, and their payload. */
const RTT_ROUNDS = 300;
const RTT_PAYLOAD_BYTES = 64;
/** How long one system's round may take, ms (a hung round fails its row, not the run). */
const ROUND_TIMEOUT_MS = 240_000;
/** How long the 3-browser cluster may take to form (three voters on every region), ms. */
const FORM_TIMEOUT_MS = 120_000;
/** The first store's bootstrap probe in the 3-browser cluster, ms (the others join at once). */
const NET_PROBE_MS = 1500;
/** `--trace`: traced sequential writes per PeerKV round (at most the trace's `TRACE_SAMPLES_MAX` samples per span). */
const TRACE_WRITES = 200;
/** Upper bounds of the command line's sizes. */
const ROUNDS_MAX = 20;
const WRITES_MAX = 20_000;

const log = (s: string): void => void process.stderr.write(`bench:browser: ${s}\n`);

/** `--name N` from the command line, within [1, max]. */
function argInt(name: string, fallback: number, max: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const n = Number(process.argv[i + 1]);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new RangeError(`--${name} must be an integer in [1, ${max}], got ${process.argv[i + 1]}`);
  return n;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms)));
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

async function openPage(ctx: BrowserContext, url: string, name: string): Promise<Page> {
  const page = await ctx.newPage();
  page.on('pageerror', (e) => log(`page ${name}: ${e.message}`));
  await page.goto(url);
  await page.waitForFunction(() => document.getElementById('state')?.textContent === 'ready', undefined, { timeout: 60_000 });
  return page;
}

const launch = (dir: string): Promise<BrowserContext> =>
  // Media permissions make Chromium offer host candidates rather than mDNS names, which cannot
  // resolve in the loopback-only namespace.
  chromium.launchPersistentContext(dir, { executablePath: chromiumPath(), args: CHROMIUM_ARGS, headless: true, permissions: ['camera', 'microphone'] });

/** The 3-browser cluster: its pages (`d0` runs the workload) and the last store's join time. */
interface Cluster {
  pages: Page[];
  joinMs: number;
}

async function formCluster(contexts: BrowserContext[], root: string, url: string, signalingUrl: string): Promise<Cluster> {
  const cluster = `bench-${Date.now().toString(36)}`;
  const pages: Page[] = [];
  for (const name of ['d0', 'd1', 'd2']) {
    const ctx = await launch(join(root, name));
    contexts.push(ctx);
    pages.push(await openPage(ctx, url, name));
  }
  const open = (p: Page) => withTimeout(p.evaluate(([c, s, ms]) => window.bench.netOpen(c, s, 'bench-secret', ms), [cluster, signalingUrl, NET_PROBE_MS] as const), FORM_TIMEOUT_MS, 'netOpen');
  const first = await open(pages[0]);
  const rest = await Promise.all(pages.slice(1).map(open));
  log(`3 browsers: stores ${[first, ...rest].map((o) => `${o.storeId} ${o.opened} in ${Math.round(o.ms)} ms`).join(', ')}`);
  if (first.opened !== 'bootstrapped' || rest.some((o) => o.opened !== 'joined')) throw new Error(`3 browsers opened as ${[first, ...rest].map((o) => o.opened).join(', ')}`);
  const ids = JSON.stringify([first, ...rest].map((o) => o.storeId).sort((a, b) => a - b));
  const until = Date.now() + FORM_TIMEOUT_MS;
  for (const p of pages) {
    for (;;) {
      const voters = await p.evaluate(() => window.bench.netVoters());
      if (voters.length > 0 && voters.every((v) => JSON.stringify(v) === ids)) break;
      if (Date.now() > until) throw new Error(`regions not on three voters in ${FORM_TIMEOUT_MS} ms: ${JSON.stringify(voters)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  return { pages, joinMs: Math.max(...rest.map((o) => o.ms)) };
}

/** A bare simple-peer channel between `a` and `b`, its signals relayed through this process. */
async function connectRawPeers(a: Page, b: Page): Promise<void> {
  await a.evaluate(() => window.bench.startRawPeer(true));
  await b.evaluate(() => window.bench.startRawPeer(false));
  const until = Date.now() + 30_000;
  while (Date.now() < until) {
    if ((await a.evaluate(() => window.bench.rawConnected())) && (await b.evaluate(() => window.bench.rawConnected()))) return;
    for (const s of await a.evaluate(() => window.bench.takeRawSignals())) await b.evaluate((x) => window.bench.giveRawSignal(x), s);
    for (const s of await b.evaluate(() => window.bench.takeRawSignals())) await a.evaluate((x) => window.bench.giveRawSignal(x), s);
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('raw simple-peer did not connect in 30 s');
}

/**
 * `TRACE_WRITES` writes from the first page with every page's trace on: the others are switched
 * on first and off last, so their stores' write traces hold exactly these writes.
 */
async function netTracedWrites(pages: Page[], prefix: string): Promise<TraceRound> {
  const [writer, ...others] = pages;
  await Promise.all(others.map((p) => p.evaluate(() => window.bench.netTrace(true))));
  const round = await withTimeout(writer.evaluate(([p, n]) => window.bench.netTracedWrites(p, n), [prefix, TRACE_WRITES] as const), ROUND_TIMEOUT_MS, 'traced writes');
  const views = await Promise.all(others.map((p) => p.evaluate(() => window.bench.netTrace(false))));
  return { ...round, views: [...round.views, ...views] };
}

async function main(): Promise<void> {
  reexecInLoopbackNamespace();
  const rounds = argInt('rounds', 3, ROUNDS_MAX);
  const writes = argInt('writes', 300, WRITES_MAX);
  const traced = process.argv.includes('--trace');
  const cfg: WorkloadConfig = { writes, writers: 16, writesPerWriter: Math.max(1, Math.round((2 * writes) / 16)), reads: writes, batchKeys: Math.max(10, Math.round((10 * writes) / 3 / 10) * 10), peerkvReads: false, traceWrites: 0 };
  const dev = process.argv.includes('--dev');
  const served = await servePage(dev);
  const signaling = new SignalingServer();
  const signalingUrl = `ws://127.0.0.1:${(await signaling.listen(0, '127.0.0.1')).port}`;
  const url = served.url;
  const root = mkdtempSync(join(tmpdir(), 'peerkv-bench-browser-'));
  const contexts: BrowserContext[] = [];
  // Interrupted: the browsers and their profiles go too (the normal path closes them below).
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      void Promise.allSettled(contexts.map((c) => c.close()))
        .then(() => served.close())
        .finally(() => {
          rmSync(root, { recursive: true, force: true });
          process.exit(1);
        });
    });
  }
  const tag = Date.now().toString(36);
  const systems: SystemRounds[] = [...FRESH_SYSTEMS, 'peerkv-webrtc3' as const].map((id) => ({ id, rounds: [] }));
  const row = (id: SystemId): SystemRounds => systems.find((s) => s.id === id)!;
  const limit: LimitRound[] = [];
  let cluster: Cluster | undefined;
  try {
    const main = await launch(join(root, 'main'));
    contexts.push(main);
    try {
      cluster = await formCluster(contexts, root, url, signalingUrl);
      await connectRawPeers(cluster.pages[0], cluster.pages[1]);
      log(`3 browsers formed; last join ${Math.round(cluster.joinMs)} ms`);
    } catch (e) {
      row('peerkv-webrtc3').error = String(e);
      log(`3-browser row left out: ${String(e)}`);
      cluster = undefined;
    }
    for (let r = 1; r <= rounds; r++) {
      for (const id of FRESH_SYSTEMS) {
        if (row(id).error) continue;
        const page = await openPage(main, url, id);
        try {
          const name = `bb-${id}-${r}-${tag}`;
          const peerkv = id.startsWith('peerkv');
          const f = await withTimeout(page.evaluate(([i, n, c]) => window.bench.runFresh(i, n, c), [id, name, { ...cfg, peerkvReads: peerkv, traceWrites: traced && peerkv ? TRACE_WRITES : 0 }] as const), ROUND_TIMEOUT_MS, id);
          row(id).rounds.push(f);
          log(`round ${r} ${id}: ${f.putOpsPerS.toFixed(0)} writes/s, p50 ${f.putP50Ms.toFixed(2)} ms, 16 writers ${f.put16OpsPerS.toFixed(0)}/s, reads ${f.readOpsPerS.toFixed(0)}/s, create ${f.createMs.toFixed(0)} ms, reopen ${f.reopenMs.toFixed(0)} ms`);
        } catch (e) {
          row(id).error = String(e);
          log(`round ${r} ${id} failed: ${String(e)}`);
        } finally {
          await page.close();
        }
      }
      if (cluster && !row('peerkv-webrtc3').error) {
        const [d0] = cluster.pages;
        try {
          await d0.evaluate(([n, b]) => window.bench.rawRtt(n, b), [50, RTT_PAYLOAD_BYTES] as const); // warm-up
          const rttP50Ms = await d0.evaluate(([n, b]) => window.bench.rawRtt(n, b), [RTT_ROUNDS, RTT_PAYLOAD_BYTES] as const);
          const strict = row('idb-strict').rounds[r - 1];
          if (strict) limit.push({ rttP50Ms, idbStrictPutP50Ms: strict.putP50Ms });
          const f = await withTimeout(d0.evaluate(([p, c]) => window.bench.netRound(p, c), [`r${r}/`, { ...cfg, peerkvReads: true }] as const), ROUND_TIMEOUT_MS, 'peerkv-webrtc3');
          const trace = traced ? await netTracedWrites(cluster.pages, `t${r}/`) : undefined;
          const figures: RoundFigures = { ...f, createMs: cluster.joinMs, reopenMs: NaN, ...(trace ? { trace } : {}) };
          row('peerkv-webrtc3').rounds.push(figures);
          log(`round ${r} peerkv-webrtc3: ${f.putOpsPerS.toFixed(0)} writes/s, p50 ${f.putP50Ms.toFixed(2)} ms, 16 writers ${f.put16OpsPerS.toFixed(0)}/s, reads ${f.readOpsPerS.toFixed(0)}/s; simple-peer rtt p50 ${rttP50Ms.toFixed(2)} ms`);
        } catch (e) {
          row('peerkv-webrtc3').error = String(e);
          log(`round ${r} peerkv-webrtc3 failed: ${String(e)}`);
        }
      }
    }
  } finally {
    for (const c of contexts) await c.close().catch(() => {});
    await signaling.close();
    await served.close();
    rmSync(root, { recursive: true, force: true });
  }
  const run: BenchRun = { systems, limit, joinMs: cluster?.joinMs, dev, config: { rounds, writes, writers: cfg.writers, writesPerWriter: cfg.writesPerWriter, reads: cfg.reads, batchKeys: cfg.batchKeys } };
  report(run);
}

function report(run: BenchRun): void {
  const c = run.config;
  const s = summarize(run);
  const out: string[] = [];
  out.push(
    `browser bench: ${c.rounds} round(s); per round ${c.writes} sequential awaited 100-byte writes, ${c.writers} writers x ${c.writesPerWriter}, ${c.reads} reads, one ${c.batchKeys}-put batch, one scan;` +
      ` medians with (min–max) over rounds; netns=${loopbackOnly() ? 'loopback-only' : 'host'}; page=${run.dev ? 'dev server (unbundled)' : 'production build'}`,
  );
  out.push('create: a fresh database opened until its first read answered (PeerKV one store: created at once, no member can exist without signaling; 3 browsers: the last store joined until it served a write); reopen: closed, then opened until a read of a written key answered');
  out.push("reads: PeerKV's linearizable (follower, stale beside); Yjs reads its in-memory Y.Doc, and RxDB's findOne by id is at times served by its document cache");
  out.push(table(run));
  const rows = run.systems.filter((x) => x.rounds.length < c.rounds);
  for (const x of rows) out.push(`note: ${SYSTEM_LABELS[x.id]} has ${x.rounds.length} of ${c.rounds} rounds${x.error ? `: ${x.error}` : ''}`);
  out.push(
    s.peerkvRow
      ? `the summary's PeerKV figures come from: ${SYSTEM_LABELS[s.peerkvRow]}${s.peerkvRow !== 'peerkv-webrtc3' ? ' (the 3-browser row has no rounds)' : ''}; open_ms is the one-store row's reopen; limit = raw simple-peer RTT p50 (3-browser d0 to d1) + strict IndexedDB put p50, per round`
      : 'no PeerKV row has rounds: its figures are NA',
  );
  out.push(summaryLine(s));
  out.push(spreadLine(run, s));
  for (const x of run.systems) {
    const traces = x.rounds.flatMap((r): TraceRound[] => (r.trace ? [r.trace] : []));
    if (traces.length > 0) out.push(traceTable(SYSTEM_LABELS[x.id], traces), traceLine(x.id, traces));
  }
  out.push(...chartLines(run));
  const text = out.join('\n');
  console.log(text);
  const dir = join(REPO_ROOT, 'bench-results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'bench-browser.txt'), `${text}\n`);
  writeFileSync(join(dir, 'bench-browser.svg'), benchSvg(parseBenchLines(text), `PeerKV bench:browser, ${new Date().toISOString()}`));
  console.log('browser bench: written to bench-results/bench-browser.txt and plotted to bench-results/bench-browser.svg');
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
