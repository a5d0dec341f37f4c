/**
 * `npm run bench:transport`: round-trip p50/p99 and MB/s in Chromium for BroadcastChannel and
 * WebRTC, each through `Transport` and raw (bare BroadcastChannel, bare simple-peer) in the
 * same run. The last line is
 * `bench:transport webrtc_overhead=<ratio> bc_overhead=<ratio> webrtc_overhead_min=… webrtc_overhead_max=…
 * bc_overhead_min=… bc_overhead_max=… rounds=<n>` (Transport MB/s over raw MB/s; the goal is ≥ 0.8,
 * with p99 RTT within 1.5× raw), preceded by
 * `bench:transport_rpc webrtc_rpc_rtt_p50_ms=<ms> bc_rpc_rtt_p50_ms=<ms> ...`
 * (`Transport.request` round trips to an echo handler, and their ratio to a message round trip).
 *
 * Rounds (`BENCH_TRANSPORT_ROUNDS`, default 5): each measures every channel once, in a fresh
 * browser, after a warm-up, raw and Transport back to back (the order swapped every round, so a
 * drift of the shared machine does not favour one side). An overhead is the ratio within one
 * round; the figures printed are the medians over rounds, with their spread (min–max).
 *
 * As root it re-executes itself in a fresh network namespace with only loopback up, so the
 * browsers' WebRTC can reach nothing but 127.0.0.1; ICE servers are always empty.
 */
import { chromium } from 'playwright-core';
import type { Page } from 'playwright-core';
import { CHROMIUM_ARGS, chromiumPath } from '../../../tests/chromium.ts';
import { SignalingServer } from '@peerkv/signaling';
import { bundle, servePage } from '../../../tests/e2e/transport/serve.ts';
import { loopbackOnly, reexecInLoopbackNamespace } from '../../../tests/loopback-netns.ts';

const RTT_ROUNDS = 400;
const RTT_PAYLOAD_BYTES = 64;
const THROUGHPUT_MESSAGES = 20_000;
const THROUGHPUT_PAYLOAD_BYTES = 1024;
/** Rounds measured (each channel once per round); medians and spreads are over these. */
const ROUNDS = Number(process.env.BENCH_TRANSPORT_ROUNDS ?? 5);
/** More rounds than this do not fit a bench run (each launches four browsers). */
const ROUNDS_MAX = 50;
if (!Number.isSafeInteger(ROUNDS) || ROUNDS < 1 || ROUNDS > ROUNDS_MAX) throw new Error(`bench:transport: BENCH_TRANSPORT_ROUNDS must be 1..${ROUNDS_MAX}`);

type Bench = Record<string, (...args: any[]) => any>;

function call<T>(page: Page, method: string, ...args: unknown[]): Promise<T> {
  return page.evaluate(([m, a]) => ((window as unknown as { bench: Bench }).bench[m as string] as (...x: unknown[]) => unknown)(...(a as unknown[])), [method, args] as const) as Promise<T>;
}

interface Result {
  p50: number;
  p99: number;
  mbps: number;
  /** `Transport.request` round trips (transports only). */
  rpcP50?: number;
  rpcP99?: number;
}

/** The median of `xs` (the mean of the middle two for an even count). */
function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** A figure over rounds: its median and range. */
interface Spread {
  med: number;
  min: number;
  max: number;
}

const spread = (xs: readonly number[]): Spread => ({ med: median(xs), min: Math.min(...xs), max: Math.max(...xs) });

async function measure(a: Page, rpc: boolean): Promise<Result> {
  await call(a, 'rtt', 50, RTT_PAYLOAD_BYTES); // warm-up
  await call(a, 'throughput', 2000, THROUGHPUT_PAYLOAD_BYTES);
  const rtt = await call<{ p50: number; p99: number }>(a, 'rtt', RTT_ROUNDS, RTT_PAYLOAD_BYTES);
  const mbps = await call<number>(a, 'throughput', THROUGHPUT_MESSAGES, THROUGHPUT_PAYLOAD_BYTES);
  if (!rpc) return { ...rtt, mbps };
  await call(a, 'rpcRtt', 50, RTT_PAYLOAD_BYTES); // warm-up
  const r = await call<{ p50: number; p99: number }>(a, 'rpcRtt', RTT_ROUNDS, RTT_PAYLOAD_BYTES);
  return { ...rtt, mbps, rpcP50: r.p50, rpcP99: r.p99 };
}

async function connectRawPeers(a: Page, b: Page): Promise<void> {
  await call(a, 'startRawPeer', true);
  await call(b, 'startRawPeer', false);
  for (let i = 0; i < 1000; i++) {
    if ((await call<boolean>(a, 'rawConnected')) && (await call<boolean>(b, 'rawConnected'))) return;
    for (const s of await call<unknown[]>(a, 'takeRawSignals')) await call(b, 'giveRawSignal', s);
    for (const s of await call<unknown[]>(b, 'takeRawSignals')) await call(a, 'giveRawSignal', s);
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('raw simple-peer did not connect');
}

type Setup = (a: Page, b: Page) => Promise<void>;

async function runPair(url: string, sameContext: boolean, setup: Setup, rpc: boolean): Promise<Result> {
  const browser = await chromium.launch({ executablePath: chromiumPath(), args: CHROMIUM_ARGS });
  try {
    // Media permissions make Chromium expose host candidates instead of mDNS names, which
    // cannot resolve inside the loopback-only namespace.
    const newContext = () => browser.newContext({ permissions: ['camera', 'microphone'] });
    const ctxA = await newContext();
    const ctxB = sameContext ? ctxA : await newContext();
    const a = await ctxA.newPage();
    const b = await ctxB.newPage();
    for (const p of [a, b]) {
      p.on('pageerror', (e) => console.error(`page error: ${e.message}`));
      await p.goto(url);
    }
    await setup(a, b);
    return await measure(a, rpc);
  } finally {
    await browser.close();
  }
}

function fmt(name: string, rs: readonly Result[]): string {
  const col = (xs: number[], digits: number, width: number): string => {
    const v = spread(xs);
    return `${v.med.toFixed(digits)} (${v.min.toFixed(digits)}–${v.max.toFixed(digits)})`.padStart(width);
  };
  return `${name.padEnd(18)} ${col(rs.map((r) => r.p50), 3, 24)} ${col(rs.map((r) => r.p99), 3, 24)} ${col(rs.map((r) => r.mbps), 1, 20)}`;
}

async function main(): Promise<void> {
  reexecInLoopbackNamespace();
  const page = await servePage(await bundle(new URL('./browser.ts', import.meta.url).pathname));
  const signaling = new SignalingServer();
  const { port } = await signaling.listen(0, '127.0.0.1');
  const signalingUrl = `ws://127.0.0.1:${port}`;
  const setups: Record<string, { same: boolean; setup: Setup }> = {
    'raw-bc': { same: true, setup: async (a, b) => { await call(a, 'startRawBc'); await call(b, 'startRawBc'); } },
    'transport-bc': {
      same: true,
      setup: async (a, b) => {
        await call(a, 'startTransport', 'bc', 1, 2, signalingUrl);
        await call(b, 'startTransport', 'bc', 2, 1, signalingUrl);
        if (!(await call<boolean>(a, 'waitTransportPeer', 2, 20_000))) throw new Error('bc transport did not connect');
      },
    },
    'raw-webrtc': { same: false, setup: connectRawPeers },
    'transport-webrtc': {
      same: false,
      setup: async (a, b) => {
        await call(a, 'startTransport', 'webrtc', 1, 2, signalingUrl);
        await call(b, 'startTransport', 'webrtc', 2, 1, signalingUrl);
        if (!(await call<boolean>(a, 'waitTransportPeer', 2, 30_000))) throw new Error('webrtc transport did not connect');
      },
    },
  };
  const runs: Record<string, Result[]> = {};
  const pairs = [
    ['raw-bc', 'transport-bc'],
    ['raw-webrtc', 'transport-webrtc'],
  ] as const;
  for (let i = 0; i < ROUNDS; i++) {
    for (const pair of pairs) {
      for (const name of i % 2 === 0 ? pair : [...pair].reverse()) {
        const s = setups[name];
        (runs[name] ??= []).push(await runPair(page.url, s.same, s.setup, name.startsWith('transport-')));
      }
    }
  }
  await signaling.close();
  await page.close();
  // Per-round ratios: raw and Transport were measured back to back in the same round.
  const perRound = (f: (t: Result, raw: Result) => number, t: string, raw: string): Spread => spread(runs[t].map((r, i) => f(r, runs[raw][i])));
  const overhead = (t: string, raw: string): Spread => perRound((a, b) => a.mbps / b.mbps, t, raw);
  const p99 = (t: string, raw: string): Spread => perRound((a, b) => a.p99 / b.p99, t, raw);
  const med = (t: string, f: (r: Result) => number): number => median(runs[t].map(f));
  console.log(`transport bench: ${RTT_ROUNDS} round trips of ${RTT_PAYLOAD_BYTES} B, ${THROUGHPUT_MESSAGES} x ${THROUGHPUT_PAYLOAD_BYTES} B streamed; median (min–max) of ${ROUNDS} rounds; netns=${loopbackOnly() ? 'loopback-only' : 'host'}`);
  console.log(`${'channel'.padEnd(18)} ${'rtt_p50_ms'.padStart(24)} ${'rtt_p99_ms'.padStart(24)} ${'MB/s'.padStart(20)}`);
  for (const [name, rs] of Object.entries(runs)) console.log(fmt(name, rs));
  const range = (v: Spread, d = 2): string => `${v.med.toFixed(d)} (${v.min.toFixed(d)}–${v.max.toFixed(d)})`;
  const ow = overhead('transport-webrtc', 'raw-webrtc');
  const ob = overhead('transport-bc', 'raw-bc');
  console.log(`rtt_p99 ratio: webrtc=${range(p99('transport-webrtc', 'raw-webrtc'))} bc=${range(p99('transport-bc', 'raw-bc'))} (goal ≤ 1.5)`);
  console.log(`overhead (MB/s ratio, per round): webrtc=${range(ow)} bc=${range(ob)} (goal ≥ 0.8)`);
  const rpc = (t: string) => {
    const p50 = med(t, (r) => r.rpcP50 as number);
    return `rpc_rtt_p50_ms=${p50.toFixed(3)} rpc_rtt_p99_ms=${med(t, (r) => r.rpcP99 as number).toFixed(3)} rpc_over_message_rtt_p50=${median(runs[t].map((r) => (r.rpcP50 as number) / r.p50)).toFixed(2)}`;
  };
  console.log(`bench:transport_rpc webrtc_${rpc('transport-webrtc').replace(/ /g, ' webrtc_')} bc_${rpc('transport-bc').replace(/ /g, ' bc_')}`);
  console.log(
    `bench:transport webrtc_overhead=${ow.med.toFixed(2)} bc_overhead=${ob.med.toFixed(2)} webrtc_overhead_min=${ow.min.toFixed(2)} webrtc_overhead_max=${ow.max.toFixed(2)} bc_overhead_min=${ob.min.toFixed(2)} bc_overhead_max=${ob.max.toFixed(2)} rounds=${ROUNDS}`,
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
