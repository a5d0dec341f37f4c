/**
 * `npm run bench:signaling`: the signaling server under 1,000 concurrent loopback clients with
 * 32 topics each, and a malicious minority (issue 13). The server runs in its own process (its
 * bin, default limits but `--max-connections`), so its memory is measured alone.
 *
 * Honest clients come from 20 loopback addresses (127.0.1.x; the per-address limit is 64) and
 * each publishes an announce-sized message on one of its topics every second. The minority,
 * from 127.0.2.x: hogs opening as many sockets as one address allows, parkers holding sockets
 * mid-headers, outsiders publishing to topics they did not subscribe to, slow consumers that
 * stop reading a topic blasters fill with 60 KB messages, and ping flooders.
 *
 * Prints `bench:signaling clients= msgs_per_s= rss_mb= refused=` (msgs_per_s: messages the
 * server delivered per second; rss_mb: the server's peak resident set; refused: sockets,
 * connections and messages the server refused or cut) and a line of detail. Exits 1 when an
 * honest client was cut off or the server's peak RSS is over `RSS_MB_MAX`.
 * Knobs: `CLIENTS` (1000), `SECONDS` (10).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import WebSocket from 'ws';
import type { SignalingMetrics } from '../src/metrics.ts';

const CLIENTS = Number(process.env.CLIENTS ?? 1000);
const SECONDS = Number(process.env.SECONDS ?? 10);
const TOPICS_PER_CLIENT = 32;
/** Topic pool: about 32 subscribers per topic. */
const TOPICS = CLIENTS;
const CLIENTS_PER_ADDRESS = 50;
/** Bound the server must stay under, in MiB of peak resident memory. */
const RSS_MB_MAX = 512;
const ANNOUNCE = JSON.stringify({ peerkv: 1, iv: 'A'.repeat(16), ct: 'B'.repeat(300) });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function startServer(): Promise<{ port: number; pid: number; stop: () => void }> {
  const bin = new URL('../bin/peerkv-signaling.mjs', import.meta.url).pathname;
  const p = spawn(process.execPath, [bin, '--port', '0', '--max-connections', String(CLIENTS + 200)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  p.stdout.on('data', (d) => (out += String(d)));
  for (let i = 0; i < 400 && !/listening on ws:\/\/[\d.]+:\d+/.test(out); i++) await sleep(50);
  const port = Number(/listening on ws:\/\/[\d.]+:(\d+)/.exec(out)?.[1]);
  if (!port) throw new Error(`server did not start: ${out}`);
  return { port, pid: p.pid as number, stop: () => p.kill('SIGTERM') };
}

/** Peak and current resident set of a process, MiB (Linux /proc; NaN elsewhere). */
function rssMb(pid: number): { peak: number; now: number } {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1]);
    return { peak: kb('VmHWM') / 1024, now: kb('VmRSS') / 1024 };
  } catch {
    return { peak: NaN, now: NaN };
  }
}

function open(port: number, localAddress: string, onMessage?: () => void): Promise<WebSocket | null> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}`, { localAddress });
    ws.once('open', () => resolve(ws));
    ws.once('error', () => resolve(null));
    if (onMessage) ws.on('message', onMessage);
  });
}

function topicsOf(i: number): string[] {
  return Array.from({ length: TOPICS_PER_CLIENT }, (_, k) => `cluster-${(i * 7 + k * 31) % TOPICS}`);
}

async function main(): Promise<void> {
  const server = await startServer();
  const { port } = server;
  const metrics = async () => (await (await fetch(`http://127.0.0.1:${port}/metrics`)).json()) as SignalingMetrics;
  let received = 0;
  let honestClosed = 0;

  // Honest clients, 50 per address.
  const honest: Array<{ ws: WebSocket; topics: string[] }> = [];
  for (let i = 0; i < CLIENTS; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, CLIENTS - i) }, (_, k) => open(port, `127.0.1.${1 + Math.floor((i + k) / CLIENTS_PER_ADDRESS)}`, () => received++)),
    );
    batch.forEach((ws, k) => {
      if (!ws) return honestClosed++;
      const topics = topicsOf(i + k);
      ws.send(JSON.stringify({ type: 'subscribe', topics }));
      ws.once('close', () => honestClosed++);
      honest.push({ ws, topics });
    });
  }

  // The malicious minority.
  const hogs = (await Promise.all(Array.from({ length: 200 }, () => open(port, '127.0.2.1')))).filter((w) => w !== null);
  const parked: net.Socket[] = [];
  for (let i = 0; i < 100; i++) {
    const s = net.connect({ port, host: '127.0.0.1', localAddress: '127.0.2.2' });
    s.on('error', () => {});
    s.once('connect', () => s.write('GET / HTTP/1.1\r\nHost: x\r\n'));
    parked.push(s);
  }
  const outsiders = (await Promise.all(Array.from({ length: 10 }, () => open(port, '127.0.2.3')))).filter((w) => w !== null);
  const slow = (await Promise.all(Array.from({ length: 10 }, () => open(port, '127.0.2.4')))).filter((w) => w !== null);
  for (const ws of slow) ws.send(JSON.stringify({ type: 'subscribe', topics: ['hot'] }));
  await sleep(100);
  for (const ws of slow) (ws as unknown as { _socket: net.Socket })._socket.pause();
  const blasters = (await Promise.all(Array.from({ length: 2 }, () => open(port, '127.0.2.5')))).filter((w) => w !== null);
  for (const ws of blasters) ws.send(JSON.stringify({ type: 'subscribe', topics: ['hot'] }));
  const flooders = (await Promise.all(Array.from({ length: 10 }, () => open(port, '127.0.2.6')))).filter((w) => w !== null);
  for (const ws of [...hogs, ...outsiders, ...slow, ...blasters, ...flooders]) ws.on('error', () => {});
  const malicious = 200 + parked.length + outsiders.length + slow.length + blasters.length + flooders.length;

  const before = await metrics();
  const t0 = performance.now();
  let peak = rssMb(server.pid).peak;
  const big = JSON.stringify({ type: 'publish', topic: 'hot', data: 'x'.repeat(60_000) });
  const tick = setInterval(() => {
    // Honest: one announce per client per second, spread over the second.
    for (let i = 0; i < honest.length / 100; i++) {
      const h = honest[Math.floor(Math.random() * honest.length)];
      if (h.ws.readyState === WebSocket.OPEN) h.ws.send(`{"type":"publish","topic":"${h.topics[Math.floor(Math.random() * TOPICS_PER_CLIENT)]}","data":${ANNOUNCE}}`);
    }
    for (const ws of outsiders) if (ws.readyState === WebSocket.OPEN) ws.send(`{"type":"publish","topic":"cluster-${Math.floor(Math.random() * TOPICS)}","data":${ANNOUNCE}}`);
    for (const ws of blasters) if (ws.readyState === WebSocket.OPEN) ws.send(big);
    for (const ws of flooders) for (let k = 0; k < 20; k++) if (ws.readyState === WebSocket.OPEN) ws.send('{"type":"ping"}');
    peak = Math.max(peak, rssMb(server.pid).peak);
  }, 10);
  await sleep(SECONDS * 1000);
  clearInterval(tick);
  const elapsedS = (performance.now() - t0) / 1000;
  const after = await metrics();
  const rss = rssMb(server.pid);
  const drops = after.drops;
  const refused = Object.values(drops).reduce((a, b) => a + b, 0);
  const msgsPerS = Math.round((after.messagesDelivered - before.messagesDelivered) / elapsedS);
  const clients = honest.length + malicious;
  console.log(`bench:signaling clients=${clients} msgs_per_s=${msgsPerS} rss_mb=${Math.round(Math.max(peak, rss.peak))} refused=${refused}`);
  const detail = Object.entries(drops).filter(([, n]) => n > 0).map(([k, n]) => `${k}=${n}`).join(' ');
  console.log(`  honest=${honest.length} honest_closed=${honestClosed} malicious=${malicious} received_by_bench=${received} connections=${after.connections} socketsPending=${after.socketsPending} saturation=${after.saturation.toFixed(2)} rss_now_mb=${Math.round(rss.now)} | ${detail}`);

  for (const h of honest) h.ws.terminate();
  for (const ws of [...hogs, ...outsiders, ...slow, ...blasters, ...flooders]) ws.terminate();
  for (const s of parked) s.destroy();
  server.stop();
  if (honestClosed > 0 || peak > RSS_MB_MAX) {
    console.error(`bench:signaling FAILED: honest_closed=${honestClosed} peak rss ${Math.round(peak)} MiB (max ${RSS_MB_MAX})`);
    process.exit(1);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
