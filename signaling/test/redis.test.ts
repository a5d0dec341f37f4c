/**
 * Signaling scale-out (issue 15): several signaling servers share topics through a real
 * `redis-server`. Clients on different processes see each other's publishes once each, the
 * limits apply where the publisher is connected, `/metrics` and `/healthz` show the link,
 * and a Redis outage leaves local delivery going, queues publishes within `pendingBytesMax`,
 * and heals when Redis returns. Fails (does not skip) without `redis-server`.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, readEnvelope, redactRedisUrl, SignalingServer, writeEnvelope } from '../src/index.ts';
import { RedisServer, SignalingProcess } from '../../tests/e2e/redis-server.ts';
import { until as eventually } from '../../tests/e2e/until.ts';
import { RawClient, until } from './helpers.ts';

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

type Json = Record<string, unknown>;
const getJson = async (url: string): Promise<{ status: number; body: Json }> => {
  const r = await fetch(url);
  return { status: r.status, body: (await r.json()) as Json };
};

async function client(url: string, topics: string[]): Promise<RawClient> {
  const c = new RawClient(url);
  cleanups.push(() => c.ws.terminate());
  await c.opened;
  c.send({ type: 'subscribe', topics });
  return c;
}

const published = (c: RawClient, tag: string) => c.received.filter((m) => m.type === 'publish' && (m.data as Json | undefined)?.tag === tag);

describe('envelope and flags', () => {
  it('writes and reads an envelope, and refuses what is not one', () => {
    const text = '{"type":"publish","topic":"t","data":"a\\nb"}';
    expect(readEnvelope(writeEnvelope({ origin: 'abc', connection: 7, text }))).toEqual({ origin: 'abc', connection: 7, text });
    for (const bad of ['', 'no newline', `2 abc 7\n${text}`, `1 abc\n${text}`, `1 a b 7\n${text}`, `1 abc -1\n${text}`, `1 abc 7 8\n${text}`, `1 ${'x'.repeat(80)} 7\n${text}`]) expect(readEnvelope(bad)).toBeNull();
  });

  it('never shows a Redis password', () => {
    expect(redactRedisUrl('redis://user:hunter2@127.0.0.1:6379/0')).toBe('redis://user:***@127.0.0.1:6379/0');
    expect(redactRedisUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
    expect(redactRedisUrl('::nonsense')).toBe('(unparsable URL)');
  });

  it('fails, saying how to install it, where redis-server is missing', async () => {
    const bin = mkdtempSync(join(tmpdir(), 'peerkv-no-redis-'));
    symlinkSync('/bin/sh', join(bin, 'sh'));
    const path = process.env.PATH;
    process.env.PATH = bin;
    try {
      await expect(RedisServer.start()).rejects.toThrow(/redis-server is not installed: .*apt-get install -y redis-server/);
    } finally {
      process.env.PATH = path;
      rmSync(bin, { recursive: true, force: true });
    }
  });

  it('parses --redis, --redis-prefix and --redis-pending-bytes', () => {
    expect(parseArgs(['--redis', 'redis://127.0.0.1:6379', '--redis-prefix', 'p:', '--redis-pending-bytes', '4096']).redis).toEqual({ url: 'redis://127.0.0.1:6379', channelPrefix: 'p:', pendingBytesMax: 4096 });
    expect(parseArgs([]).redis).toBeUndefined();
    expect(() => parseArgs(['--redis', 'http://127.0.0.1:6379'])).toThrow(/redis:\/\/ or rediss:\/\//);
    expect(() => parseArgs(['--redis', 'nonsense'])).toThrow(/redis:\/\/ or rediss:\/\//);
    expect(() => parseArgs(['--redis-prefix', 'p:'])).toThrow(/are for --redis URL/);
  });
});

describe('signaling processes sharing topics through redis-server', () => {
  it('relays publishes across processes once each, with limits at the publishing process, and shows the link', async () => {
    const redis = await RedisServer.start();
    cleanups.push(() => redis.stop());
    const [s1, s2] = await Promise.all([1, 2].map(() => SignalingProcess.start(['--redis', redis.url, '--max-message-bytes', '4096'])));
    cleanups.push(() => s1.process.stop(), () => s2.process.stop());
    await Promise.all([s1.process.redisConnected(), s2.process.redisConnected()]);

    const a = await client(s1.url, ['room']);
    const other = await client(s1.url, ['elsewhere']);
    const b = await client(s2.url, ['room']);
    await eventually('both processes subscribed to the room channel', async () => ((await getJson(`${s2.http}/metrics`)).body.redis as Json).channels === 1 && ((await getJson(`${s1.http}/metrics`)).body.redis as Json).channels === 2, 15_000, 100);

    a.send({ type: 'publish', topic: 'room', data: { tag: 'from-a' } });
    const atB = await b.waitFor((m) => (m.data as Json | undefined)?.tag === 'from-a');
    b.send({ type: 'publish', topic: 'room', data: { tag: 'from-b' } });
    const atA = await a.waitFor((m) => (m.data as Json | undefined)?.tag === 'from-b');
    // The sender's id names its process, so ids of two processes' connections never collide.
    const ownAtA = await a.waitFor((m) => (m.data as Json | undefined)?.tag === 'from-a');
    expect(atB.sender).toBe(ownAtA.sender);
    expect(String(atB.sender)).toMatch(/^[0-9a-f]{12}:\d+$/);
    expect(String(atA.sender).split(':')[0]).not.toBe(String(atB.sender).split(':')[0]);
    expect(atB.clients).toBe(1); // subscribers on the relaying process

    // Over the limit at s1: a is closed there, and nothing reaches s2.
    await new Promise((r) => setTimeout(r, 300));
    const big = new RawClient(s1.url);
    cleanups.push(() => big.ws.terminate());
    await big.opened;
    big.send({ type: 'subscribe', topics: ['room'] });
    big.send({ type: 'publish', topic: 'room', data: { tag: 'too-big', pad: 'x'.repeat(5000) } });
    // A publish to a topic one did not subscribe to is dropped at s1, for s2 too.
    other.send({ type: 'publish', topic: 'room', data: { tag: 'outsider' } });
    await big.closed;
    expect(big.closeCode).toBe(1009);
    b.send({ type: 'publish', topic: 'room', data: { tag: 'marker' } });
    await a.waitFor((m) => (m.data as Json | undefined)?.tag === 'marker');
    await b.waitFor((m) => (m.data as Json | undefined)?.tag === 'marker');
    // No echo duplication: every publish arrived exactly once at each member.
    for (const tag of ['from-a', 'from-b', 'marker']) expect([published(a, tag).length, published(b, tag).length]).toEqual([1, 1]);
    for (const tag of ['too-big', 'outsider']) expect([published(a, tag).length, published(b, tag).length]).toEqual([0, 0]);
    expect(other.received.filter((m) => m.type === 'publish')).toEqual([]);

    const m1 = (await getJson(`${s1.http}/metrics`)).body;
    const m2 = (await getJson(`${s2.http}/metrics`)).body;
    expect(m1.redis).toMatchObject({ url: `${redis.url}`, connected: true, publishesSent: 1, publishesReceived: 2, reconnects: 0, dropped: { queueFull: 0, publishFailed: 0, tooBig: 0, badMessage: 0 } });
    expect(m2.redis).toMatchObject({ connected: true, publishesSent: 2, publishesReceived: 1, reconnects: 0 });
    expect((m1.drops as Json).messageTooBig).toBe(1);
    expect((m1.drops as Json).notSubscribed).toBe(1);
    expect(await getJson(`${s2.http}/healthz`)).toMatchObject({ status: 200, body: { status: 'ok', redis: { connected: true } } });

    // The last local subscriber gone, the process leaves the channel.
    b.send({ type: 'unsubscribe', topics: ['room'] });
    await eventually('s2 left the channel', async () => ((await getJson(`${s2.http}/metrics`)).body.redis as Json).channels === 0, 15_000, 100);
  });

  it('keeps local delivery through a Redis outage, bounds what waits, and heals when Redis is back', async () => {
    const first = await RedisServer.start();
    const port = first.port;
    let redis = first;
    cleanups.push(() => redis.stop());
    const logs: string[] = [];
    const options = { redis: { url: redis.url, pendingBytesMax: 2000, reconnectDelayMsMin: 50, reconnectDelayMsMax: 200, connectTimeoutMs: 1000 }, log: (l: string) => logs.push(l) };
    const s1 = new SignalingServer({ ...options, serverId: 'one' });
    const s2 = new SignalingServer({ ...options, serverId: 'two' });
    cleanups.push(() => s1.close(), () => s2.close());
    const [p1, p2] = [(await s1.listen(0)).port, (await s2.listen(0)).port];
    await until(() => s1.health().redis?.connected === true && s2.health().redis?.connected === true, 5000);
    const a = await client(`ws://127.0.0.1:${p1}`, ['t']);
    const a2 = await client(`ws://127.0.0.1:${p1}`, ['t']);
    const b = await client(`ws://127.0.0.1:${p2}`, ['t']);
    await until(() => s1.metrics().redis!.channels === 1 && s2.metrics().redis!.channels === 1);
    await new Promise((r) => setTimeout(r, 100)); // the SUBSCRIBEs reach Redis
    a.send({ type: 'publish', topic: 't', data: { tag: 'before' } });
    expect((await b.waitFor((m) => (m.data as Json | undefined)?.tag === 'before')).sender).toBe('one:1');

    // A Redis that stops answering (SIGSTOP) with the link up: what is sent and not answered
    // counts against the same 2,000 bytes, and once Redis answers, exactly what was kept arrives.
    redis.signal('SIGSTOP');
    for (let i = 0; i < 10; i++) a.send({ type: 'publish', topic: 't', data: { tag: `slow${i}`, pad: 'x'.repeat(400) } });
    await a2.waitFor((m) => (m.data as Json | undefined)?.tag === 'slow9');
    const slow = s1.metrics().redis!;
    expect(slow.connected).toBe(true);
    expect(slow.pendingBytes).toBeGreaterThan(0);
    expect(slow.pendingBytes).toBeLessThanOrEqual(2000);
    expect(slow.dropped.queueFull).toBeGreaterThan(0);
    redis.signal('SIGCONT');
    await until(() => s1.metrics().redis!.pendingBytes === 0, 5000);
    const kept = 10 - slow.dropped.queueFull;
    await until(() => b.received.filter((m) => String((m.data as Json | undefined)?.tag).startsWith('slow')).length === kept, 5000);
    await new Promise((r) => setTimeout(r, 100));
    expect(b.received.filter((m) => String((m.data as Json | undefined)?.tag).startsWith('slow')).length).toBe(kept);
    const droppedBefore = slow.dropped.queueFull;

    await redis.stop('SIGKILL');
    await until(() => !s1.health().redis!.connected && !s2.health().redis!.connected, 5000);
    expect(await getJson(`http://127.0.0.1:${p1}/healthz`)).toMatchObject({ status: 200, body: { status: 'ok', redis: { connected: false } } });
    // Local delivery goes on; what is for the other process waits, up to 2,000 bytes.
    for (let i = 0; i < 10; i++) a.send({ type: 'publish', topic: 't', data: { tag: `down${i}`, pad: 'x'.repeat(400) } });
    await a2.waitFor((m) => (m.data as Json | undefined)?.tag === 'down9');
    const during = s1.metrics().redis!;
    expect(during.connected).toBe(false);
    expect(during.pendingBytes).toBeGreaterThan(0);
    expect(during.pendingBytes).toBeLessThanOrEqual(2000);
    expect(during.dropped.queueFull).toBeGreaterThan(droppedBefore);
    const waiting = 10 - (during.dropped.queueFull - droppedBefore);
    expect(waiting).toBeGreaterThan(0);
    await until(() => s1.metrics().redis!.errors.connection > 0, 5000);
    expect(logs.some((l) => /redis: link lost/.test(l))).toBe(true);
    expect(s1.metrics().redis!.lastError).toMatch(/^redis connection: /);

    // Redis returns on the same port, empty: both reconnect, subscribe again and send what waited.
    redis = await RedisServer.start(port);
    await until(() => s1.health().redis!.connected && s2.health().redis!.connected, 10_000);
    const after = s1.metrics().redis!;
    expect(after.reconnects).toBe(1);
    await until(() => s1.metrics().redis!.publishesSent === 1 + kept + waiting && s1.metrics().redis!.pendingBytes === 0, 5000);
    await until(() => s2.metrics().redis!.channels === 1);
    await new Promise((r) => setTimeout(r, 100));
    a.send({ type: 'publish', topic: 't', data: { tag: 'after' } });
    await b.waitFor((m) => (m.data as Json | undefined)?.tag === 'after');
    expect(published(b, 'after').length).toBe(1);
    expect(published(a2, 'after').length).toBe(1);
  });
});
