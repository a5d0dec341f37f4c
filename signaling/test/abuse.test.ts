/**
 * Abuse of the signaling server (issue 13, findings 5 and 8): no single client holds slots
 * for long or for everyone, `/healthz` tells when the server is full, and relaying is bounded
 * per receiver.
 */
import { afterEach, describe, expect, it } from 'vitest';
import net from 'node:net';
import { SignalingServer } from '../src/server.ts';
import type { SignalingLimits } from '../src/limits.ts';
import { CLOSE_CODES } from '../src/limits.ts';
import { addressKey } from '../src/socket-gate.ts';
import { RawClient, until } from './helpers.ts';

const servers: SignalingServer[] = [];
const clients: RawClient[] = [];
const sockets: net.Socket[] = [];

async function start(limits: Partial<SignalingLimits> = {}): Promise<{ server: SignalingServer; url: string; http: string; port: number }> {
  const server = new SignalingServer({ limits });
  servers.push(server);
  const { port } = await server.listen(0, '127.0.0.1');
  return { server, port, url: `ws://127.0.0.1:${port}`, http: `http://127.0.0.1:${port}` };
}

function client(url: string, opts = {}): RawClient {
  const c = new RawClient(url, opts);
  clients.push(c);
  return c;
}

/** A TCP socket that sends the first lines of an upgrade request and then nothing. */
async function parked(port: number, localAddress = '127.0.0.1'): Promise<net.Socket> {
  const s = net.connect({ port, host: '127.0.0.1', localAddress });
  sockets.push(s);
  s.on('error', () => {});
  await new Promise((r) => s.once('connect', r));
  s.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n');
  return s;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) await s.close();
});

describe('connection slots', () => {
  it('limits sockets per address, upgrading ones included; other addresses still get in', async () => {
    const { url, server, port } = await start({ connectionsPerAddressMax: 3 });
    const a = client(url);
    const b = client(url);
    await Promise.all([a.opened, b.opened]);
    await parked(port); // the third slot: held mid-headers, and counted
    const c = client(url);
    c.opened.catch(() => {}); // it never opens
    await c.closed;
    expect(c.closeCode).toBe(1006); // refused at connect, before any WebSocket exists
    await until(() => server.metrics().drops.addressFull === 1);
    const other = client(url, { localAddress: '127.0.0.2' });
    await other.opened;
    expect(server.metrics()).toMatchObject({ connections: 3, socketsPending: 1, addresses: 2 });
  });

  it('destroys a socket that does not finish its upgrade headers within upgradeTimeoutMs', async () => {
    const { server, port } = await start({ upgradeTimeoutMs: 150 });
    const s = await parked(port);
    await until(() => server.metrics().socketsPending === 1);
    const closed = new Promise((r) => s.once('close', r));
    await closed;
    expect(server.metrics().drops.upgradeTimeout).toBe(1);
    expect(server.metrics().socketsPending).toBe(0);
  });

  it('closes a client that answers pings but neither subscribes nor publishes (appIdleTimeoutMs)', async () => {
    const { url, server } = await start({ appIdleTimeoutMs: 300, idleTimeoutMs: 10_000 });
    const lurker = client(url);
    const member = client(url);
    await Promise.all([lurker.opened, member.opened]);
    member.send({ type: 'subscribe', topics: ['t'] });
    const pinger = setInterval(() => {
      lurker.send({ type: 'ping' });
      member.send({ type: 'publish', topic: 't', data: 'announce' });
    }, 50);
    await lurker.closed;
    clearInterval(pinger);
    expect(lurker.closeCode).toBe(CLOSE_CODES.idleTimeout);
    expect(lurker.closeReason).toMatch(/no subscribe or publish/);
    expect(member.closeCode).toBe(null);
    expect(server.metrics().drops.appIdleTimeout).toBe(1);
  });

  it('/healthz answers 503 full when every connection slot is taken; /metrics reports saturation', async () => {
    const { url, http } = await start({ connectionsMax: 2 });
    const a = client(url);
    await a.opened;
    let r = await fetch(`${http}/healthz`);
    expect(r.status).toBe(200);
    expect(((await (await fetch(`${http}/metrics`)).json()) as { saturation: number }).saturation).toBe(0.5);
    const b = client(url);
    await b.opened;
    r = await fetch(`${http}/healthz`);
    expect(r.status).toBe(503);
    expect(await r.json()).toMatchObject({ status: 'full', connections: 2, connectionsMax: 2 });
    expect(await (await fetch(`${http}/metrics`)).json()).toMatchObject({ connections: 2, connectionsMax: 2, saturation: 1 });
    b.ws.close();
    await b.closed;
    for (let i = 0; i < 100 && (await fetch(`${http}/healthz`)).status !== 200; i++) await sleep(10);
    expect((await fetch(`${http}/healthz`)).status).toBe(200);
  });

  it('/healthz is full while sockets parked mid-headers fill upgradesPendingMax', async () => {
    const { http, port, server } = await start({ upgradesPendingMax: 3 });
    for (let i = 0; i < 2; i++) await parked(port);
    await until(() => server.metrics().socketsPending === 2);
    // The health check's own socket is the third pending one.
    const r = await fetch(`${http}/healthz`);
    expect(r.status).toBe(503);
    expect(await r.json()).toMatchObject({ status: 'full', socketsPending: 3 });
  });
});

describe('relaying', () => {
  it('refuses to relay a publish to a topic the connection did not subscribe to', async () => {
    const { url, server } = await start();
    const outsider = client(url);
    const member = client(url);
    await Promise.all([outsider.opened, member.opened]);
    member.send({ type: 'subscribe', topics: ['room'] });
    await until(() => server.metrics().subscriptions === 1);
    outsider.send({ type: 'publish', topic: 'room', data: 'junk' });
    member.send({ type: 'publish', topic: 'room', data: 'real' });
    const got = await member.waitFor((m) => m.type === 'publish');
    expect(got.data).toBe('real');
    await sleep(30);
    expect(member.received.filter((m) => m.type === 'publish').length).toBe(1);
    expect(server.metrics().drops.notSubscribed).toBe(1);
    expect(outsider.closeCode).toBe(null);
  });

  it('names the sender connection, and a client cannot forge it', async () => {
    const { url, server } = await start();
    const a = client(url);
    const b = client(url);
    await Promise.all([a.opened, b.opened]);
    a.send({ type: 'subscribe', topics: ['t'] });
    b.send({ type: 'subscribe', topics: ['t'] });
    await until(() => server.metrics().subscriptions === 2);
    a.send({ type: 'publish', topic: 't', data: 1, sender: 999 });
    b.send({ type: 'publish', topic: 't', data: 2, sender: 999 });
    await until(() => a.received.length === 2);
    const [fromA, fromB] = [a.received.find((m) => m.data === 1), a.received.find((m) => m.data === 2)];
    expect(fromA?.sender).not.toBe(999);
    expect(fromB?.sender).not.toBe(999);
    expect(fromA?.sender).not.toBe(fromB?.sender);
  });

  it('closes a client that does not read what is relayed to it once clientBufferedBytesMax is queued', async () => {
    const lots = { messagesBurstMax: 10_000, messagesPerSecondMax: 10_000, publishBytesPerSecondPerAddressMax: 1e9, publishBytesBurstPerAddressMax: 1e9 };
    const { url, server } = await start({ clientBufferedBytesMax: 256 * 1024, ...lots });
    const slow = client(url);
    const pub = client(url);
    await Promise.all([slow.opened, pub.opened]);
    slow.send({ type: 'subscribe', topics: ['t'] });
    pub.send({ type: 'subscribe', topics: ['t'] });
    await until(() => server.metrics().subscriptions === 2);
    (slow.ws as unknown as { _socket: net.Socket })._socket.pause(); // stops reading
    const data = 'x'.repeat(60_000);
    // Enough to fill the kernel's loopback buffers, then the server's queue for `slow`.
    for (let i = 0; i < 2000 && server.metrics().drops.slowConsumer === 0; i++) {
      pub.send({ type: 'publish', topic: 't', data });
      if (i % 20 === 19) await sleep(5);
    }
    await until(() => server.metrics().drops.slowConsumer === 1);
    expect(server.metrics().subscriptions).toBe(1);
    expect(pub.closeCode).toBe(null);
  });
});

describe('addressKey', () => {
  it('counts IPv4 as is, IPv4-mapped as IPv4, IPv6 by its /64', () => {
    expect(addressKey('127.0.0.1')).toBe('127.0.0.1');
    expect(addressKey('::ffff:10.1.2.3')).toBe('10.1.2.3');
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8:1:2:ffff:ffff:ffff:fffe')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:0db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
  });
});

describe('publish bytes per address', () => {
  it('drops publishes over the address budget, counted, across its connections and reconnects; other addresses unaffected', async () => {
    const { url, server } = await start({ publishBytesPerSecondPerAddressMax: 1000, publishBytesBurstPerAddressMax: 20_000 });
    const a1 = client(url);
    const a2 = client(url);
    const other = client(url, { localAddress: '127.0.0.2' });
    const watcher = client(url, { localAddress: '127.0.0.3' });
    await Promise.all([a1.opened, a2.opened, other.opened, watcher.opened]);
    for (const c of [a1, a2, other, watcher]) c.send({ type: 'subscribe', topics: ['t'] });
    await until(() => server.metrics().subscriptions === 4);
    const data = 'x'.repeat(4_900); // about 5 KB a message: four fit the 20 KB burst
    for (let i = 0; i < 4; i++) a1.send({ type: 'publish', topic: 't', data });
    for (let i = 0; i < 4; i++) a2.send({ type: 'publish', topic: 't', data });
    await until(() => server.metrics().drops.publishBytesLimited === 4);
    // Closing and reconnecting refills nothing.
    a1.ws.close();
    await a1.closed;
    const again = client(url);
    await again.opened;
    again.send({ type: 'subscribe', topics: ['t'] });
    again.send({ type: 'publish', topic: 't', data });
    await until(() => server.metrics().drops.publishBytesLimited === 5);
    other.send({ type: 'publish', topic: 't', data: 'from elsewhere' });
    await watcher.waitFor((m) => m.data === 'from elsewhere');
    expect(watcher.received.filter((m) => m.data === data).length).toBe(4);
  });
});
