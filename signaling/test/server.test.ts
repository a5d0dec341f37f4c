import { afterEach, describe, expect, it } from 'vitest';
import { SignalingServer } from '../src/server.ts';
import type { SignalingLimits } from '../src/limits.ts';
import { CLOSE_CODES } from '../src/limits.ts';
import { parseArgs } from '../src/cli.ts';
import { RawClient, until } from './helpers.ts';

const servers: SignalingServer[] = [];
const clients: RawClient[] = [];

async function start(limits: Partial<SignalingLimits> = {}): Promise<{ server: SignalingServer; url: string; http: string }> {
  const server = new SignalingServer({ limits });
  servers.push(server);
  const addr = await server.listen(0, '127.0.0.1');
  return { server, url: `ws://127.0.0.1:${addr.port}`, http: `http://127.0.0.1:${addr.port}` };
}

async function client(url: string, opts = {}): Promise<RawClient> {
  const c = new RawClient(url, opts);
  clients.push(c);
  await c.opened;
  return c;
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  for (const s of servers.splice(0)) await s.close();
});

describe('signaling protocol', () => {
  it('relays publish to every subscriber of the topic, sender included, with clients count', async () => {
    const { url } = await start();
    const a = await client(url);
    const b = await client(url);
    const c = await client(url);
    a.send({ type: 'subscribe', topics: ['room'] });
    b.send({ type: 'subscribe', topics: ['room', 'other'] });
    c.send({ type: 'subscribe', topics: ['other'] });
    await new Promise((r) => setTimeout(r, 20));
    a.send({ type: 'publish', topic: 'room', data: { hello: 1 } });
    const got = await b.waitFor((m) => m.type === 'publish');
    expect(got).toMatchObject({ type: 'publish', topic: 'room', data: { hello: 1 }, clients: 2 });
    expect(typeof got.sender).toBe('number');
    await a.waitFor((m) => m.type === 'publish');
    await new Promise((r) => setTimeout(r, 20));
    expect(c.received).toEqual([]);
  });

  it('survives a deeply nested payload (relayed as sent, never re-serialised) and any handler failure', async () => {
    const { url, server } = await start({ messageBytesMax: 64 * 1024 });
    const a = await client(url);
    const b = await client(url);
    a.send({ type: 'subscribe', topics: ['deep'] });
    b.send({ type: 'subscribe', topics: ['deep'] });
    await until(() => server.metrics().subscriptions === 2);
    // 20,000 levels of arrays: parses, but serialising it again overflowed the stack.
    const depth = 20_000;
    a.ws.send(`{"type":"publish","topic":"deep","data":${'['.repeat(depth)}${']'.repeat(depth)},"clients":99}`);
    const got = await b.waitFor((m) => m.type === 'publish');
    expect(got.topic).toBe('deep');
    expect(got.clients).toBe(2);
    // Still serving.
    b.send({ type: 'ping' });
    await b.waitFor((m) => m.type === 'pong');
    expect(server.metrics().connections).toBe(2);
  });

  it('stops relaying after unsubscribe and on close; answers ping with pong', async () => {
    const { url, server } = await start();
    const a = await client(url);
    const b = await client(url);
    a.send({ type: 'subscribe', topics: ['t'] });
    b.send({ type: 'subscribe', topics: ['t'] });
    await until(() => server.metrics().subscriptions === 2);
    b.send({ type: 'unsubscribe', topics: ['t'] });
    await until(() => server.metrics().subscriptions === 1);
    a.send({ type: 'publish', topic: 't', data: 1 });
    await a.waitFor((m) => m.type === 'publish');
    expect(b.received).toEqual([]);
    b.send({ type: 'ping' });
    await b.waitFor((m) => m.type === 'pong');
    a.ws.close();
    await until(() => server.metrics().topics === 0 && server.metrics().connections === 1);
  });

  it('serves /healthz and /metrics with counters', async () => {
    const { url, http } = await start();
    const a = await client(url);
    a.send({ type: 'subscribe', topics: ['x'] });
    a.send('not json');
    a.send({ type: 'publish', topic: 'x', data: 'd' });
    await a.waitFor((m) => m.type === 'publish');
    expect(await (await fetch(`${http}/healthz`)).json()).toMatchObject({ status: 'ok', connections: 1 });
    const m = (await (await fetch(`${http}/metrics`)).json()) as Record<string, unknown>;
    expect(m).toMatchObject({ connections: 1, topics: 1, messagesPublished: 1, messagesDelivered: 1, drops: { badMessage: 1 } });
    expect(a.closeCode).toBe(null); // bad JSON is counted, not fatal
  });
});

describe('signaling limits', () => {
  it('closes with 1009 and a reason on a message over messageBytesMax', async () => {
    const { url, server } = await start({ messageBytesMax: 1000 });
    const a = await client(url);
    a.send({ type: 'publish', topic: 'x', data: 'y'.repeat(1500) });
    await a.closed;
    expect(a.closeCode).toBe(CLOSE_CODES.messageTooBig);
    expect(a.closeReason).toMatch(/message too big/);
    expect(server.metrics().drops.messageTooBig).toBe(1);
  });

  it('closes with 4001 when a connection subscribes to too many topics', async () => {
    const { url, server } = await start({ topicsPerConnectionMax: 3 });
    const a = await client(url);
    a.send({ type: 'subscribe', topics: ['a', 'b', 'c', 'd'] });
    await a.closed;
    expect(a.closeCode).toBe(CLOSE_CODES.tooManyTopics);
    expect(a.closeReason).toMatch(/too many topics/);
    expect(server.metrics().drops.tooManyTopics).toBe(1);
    expect(server.metrics().topics).toBe(0);
  });

  it('closes with 1013 beyond connectionsMax', async () => {
    const { url, server } = await start({ connectionsMax: 2 });
    await client(url);
    await client(url);
    const c = new RawClient(url);
    clients.push(c);
    await c.closed;
    expect(c.closeCode).toBe(CLOSE_CODES.serverFull);
    expect(c.closeReason).toMatch(/server full/);
    expect(server.metrics().drops.serverFull).toBe(1);
  });

  it('closes with 4029 past the per-connection message rate', async () => {
    const { url, server } = await start({ messagesPerSecondMax: 1, messagesBurstMax: 5 });
    const a = await client(url);
    for (let i = 0; i < 20; i++) a.send({ type: 'ping' });
    await a.closed;
    expect(a.closeCode).toBe(CLOSE_CODES.rateLimited);
    expect(a.received.filter((m) => m.type === 'pong').length).toBeLessThanOrEqual(6);
    expect(server.metrics().drops.rateLimited).toBe(1);
  });

  it('pings idle clients and closes with 4008 those that never answer', async () => {
    const { url, server } = await start({ idleTimeoutMs: 150 });
    const silent = await client(url, { autoPong: false });
    const alive = await client(url);
    await silent.closed;
    expect(silent.closeCode).toBe(CLOSE_CODES.idleTimeout);
    expect(alive.closeCode).toBe(null); // it answers pings
    expect(server.metrics().drops.idleTimeout).toBe(1);
  });

  it('closes clients with 1001 on shutdown', async () => {
    const { url, server } = await start();
    const a = await client(url);
    await server.close();
    servers.splice(servers.indexOf(server), 1);
    await a.closed;
    expect(a.closeCode).toBe(CLOSE_CODES.goingAway);
  });
});

describe('cli', () => {
  it('parses host, port and limits', () => {
    expect(parseArgs(['--host', '127.0.0.1', '--port', '0', '--max-topics', '4'])).toEqual({ host: '127.0.0.1', port: 0, limits: { topicsPerConnectionMax: 4 } });
    expect(() => parseArgs(['--nope', '1'])).toThrow(/unknown flag/);
    expect(parseArgs(['--max-connections-per-address', '8', '--upgrade-timeout-ms', '2000', '--app-idle-timeout-ms', '60000', '--max-pending-upgrades', '16', '--client-buffer-bytes', '65536']).limits).toEqual({
      connectionsPerAddressMax: 8,
      upgradeTimeoutMs: 2000,
      appIdleTimeoutMs: 60_000,
      upgradesPendingMax: 16,
      clientBufferedBytesMax: 65_536,
    });
  });
});

describe('bin', () => {
  it('starts on the given host and port and exits 0 on SIGTERM', async () => {
    const { spawn } = await import('node:child_process');
    const bin = new URL('../bin/peerkv-signaling.mjs', import.meta.url).pathname;
    const p = spawn(process.execPath, [bin, '--host', '127.0.0.1', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += String(d)));
    await until(() => /listening on ws:\/\/127\.0\.0\.1:\d+/.test(out), 10_000);
    const port = Number(/:(\d+)/.exec(out.split('ws://')[1])?.[1]);
    expect(((await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as { status: string }).status).toBe('ok');
    const exited = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
    p.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
