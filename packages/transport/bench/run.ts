/**
 * `npm run bench:transport`: round-trip p50/p99 and MB/s in Chromium for BroadcastChannel and
 * WebRTC, each through `Transport` and raw (bare BroadcastChannel, bare simple-peer) in the
 * same run. The last line is
 * `bench:transport webrtc_overhead=<ratio> bc_overhead=<ratio>` (Transport MB/s over raw MB/s;
 * the goal is ≥ 0.8, with p99 RTT within 1.5× raw), preceded by
 * `bench:transport_rpc webrtc_rpc_rtt_p50_ms=<ms> bc_rpc_rtt_p50_ms=<ms> ...`
 * (`Transport.request` round trips to an echo handler, and their ratio to a message round trip).
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
/** Each measurement alternates raw/Transport this many times; the median is reported. */
const REPEATS = 3;

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

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

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

function fmt(name: string, r: Result): string {
  return `${name.padEnd(18)} ${r.p50.toFixed(3).padStart(10)} ${r.p99.toFixed(3).padStart(10)} ${r.mbps.toFixed(1).padStart(9)}`;
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
  for (let i = 0; i < REPEATS; i++) {
    for (const [name, s] of Object.entries(setups)) (runs[name] ??= []).push(await runPair(page.url, s.same, s.setup, name.startsWith('transport-')));
  }
  const results: Record<string, Result> = {};
  for (const [name, rs] of Object.entries(runs)) {
    results[name] = { p50: median(rs.map((r) => r.p50)), p99: median(rs.map((r) => r.p99)), mbps: median(rs.map((r) => r.mbps)) };
    if (rs[0].rpcP50 !== undefined) Object.assign(results[name], { rpcP50: median(rs.map((r) => r.rpcP50 as number)), rpcP99: median(rs.map((r) => r.rpcP99 as number)) });
  }
  await signaling.close();
  await page.close();
  console.log(`transport bench: ${RTT_ROUNDS} round trips of ${RTT_PAYLOAD_BYTES} B, ${THROUGHPUT_MESSAGES} x ${THROUGHPUT_PAYLOAD_BYTES} B streamed; median of ${REPEATS}; netns=${loopbackOnly() ? 'loopback-only' : 'host'}`);
  console.log(`${'channel'.padEnd(18)} ${'rtt_p50_ms'.padStart(10)} ${'rtt_p99_ms'.padStart(10)} ${'MB/s'.padStart(9)}`);
  for (const [name, r] of Object.entries(results)) console.log(fmt(name, r));
  const ratio = (t: string, raw: string) => results[t].mbps / results[raw].mbps;
  const p99 = (t: string, raw: string) => results[t].p99 / results[raw].p99;
  console.log(`rtt_p99 ratio: webrtc=${p99('transport-webrtc', 'raw-webrtc').toFixed(2)} bc=${p99('transport-bc', 'raw-bc').toFixed(2)} (goal ≤ 1.5)`);
  const rpc = (t: string) => `rpc_rtt_p50_ms=${(results[t].rpcP50 as number).toFixed(3)} rpc_rtt_p99_ms=${(results[t].rpcP99 as number).toFixed(3)} rpc_over_message_rtt_p50=${((results[t].rpcP50 as number) / results[t].p50).toFixed(2)}`;
  console.log(`bench:transport_rpc webrtc_${rpc('transport-webrtc').replace(/ /g, ' webrtc_')} bc_${rpc('transport-bc').replace(/ /g, ' bc_')}`);
  console.log(`bench:transport webrtc_overhead=${ratio('transport-webrtc', 'raw-webrtc').toFixed(2)} bc_overhead=${ratio('transport-bc', 'raw-bc').toFixed(2)}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
