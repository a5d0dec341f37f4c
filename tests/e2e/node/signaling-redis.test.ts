/**
 * Signaling scale-out (issue 15): a real `redis-server` and two `peerkv-signaling --redis`
 * processes. Three `peerkv-store` processes form one cluster across them: a and c use
 * signaling process 1 (given `--signaling sig1,sig2`), b uses process 2 (`sig2,sig1`), so b can
 * join only through Redis. A `PeerKV.connect` client given process 2 alone reaches all three
 * and writes. Process 1 is killed (SIGKILL): a and c reconnect to process 2 (its `/metrics`
 * counts them), the client keeps writing and reading, and a fresh client on process 2 finds
 * all three stores there. Every store stops on SIGTERM with exit code 0.
 *
 * Needs Debian's `redis-server` (fails, does not skip, without it). Run with
 * `node tests/e2e/node/run.mjs signaling-redis`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BOOTSTRAP_IDS, randomTempStoreId } from '@peerkv/store';
import { PeerKV } from '@peerkv/node';
import { codec } from 'peerkv';
import { StoreProcess } from '../store-process.ts';
import { RedisServer, SignalingProcess } from '../redis-server.ts';
import { until } from '../until.ts';
import { untilThreeVoters } from './cluster-wait.ts';

const t = codec.text;
const s = codec.fromText;
const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

type Json = Record<string, unknown>;
const metrics = async (http: string): Promise<Json> => (await (await fetch(`${http}/metrics`)).json()) as Json;

describe('stores on two signaling processes sharing topics through redis-server (Node, WebRTC)', () => {
  it('form one cluster, and keep serving when one signaling process is killed', async () => {
    const t0 = performance.now();
    const phase = (what: string) => console.log(`e2e signaling-redis: ${what} at ${Math.round(performance.now() - t0)} ms`);
    const redis = await RedisServer.start();
    cleanups.push(() => redis.stop());
    const [sig1, sig2] = await Promise.all([1, 2].map(() => SignalingProcess.start(['--redis', redis.url])));
    cleanups.push(() => sig1.process.stop(), () => sig2.process.stop());
    await Promise.all([sig1.process.redisConnected(), sig2.process.redisConnected()]);
    phase('redis and 2 signaling processes up');

    const root = mkdtempSync(join(tmpdir(), 'peerkv-e2e-redis-'));
    cleanups.push(() => rmSync(root, { recursive: true, force: true }));
    const cluster = `e2e-r-${randomTempStoreId()}`;
    const secret = 'e2e-secret';
    const argsOf = (name: string, signaling: string[], extra: string[] = []) => ['--data', join(root, name), '--cluster', cluster, '--secret', secret, '--signaling', signaling.join(','), '--label', `device=${name}`, '--tick-ms', '50', '--drain-wait-ms', '300', '--bootstrap-probe-ms', '1000', ...extra];
    const start = (args: string[]) => {
      const p = new StoreProcess(args);
      cleanups.push(() => p.kill('SIGKILL'));
      return p;
    };
    const a = start(argsOf('a', [sig1.url, sig2.url], ['--bootstrap']));
    expect(await a.serving()).toEqual({ storeId: BOOTSTRAP_IDS.store, started: 'bootstrapped' });
    const b = start(argsOf('b', [sig2.url, sig1.url]));
    const c = start(argsOf('c', [sig1.url, sig2.url]));
    const [sb, sc] = [await b.serving(), await c.serving()];
    expect([sb.started, sc.started]).toEqual(['joined', 'joined']);
    const ids = [BOOTSTRAP_IDS.store, sb.storeId, sc.storeId].sort((x, y) => x - y);
    // A store prints `serving` once its store is open, which does not wait for its signaling
    // socket (joiners reconnect under their real id): wait for the sockets, then pin who is where.
    const connections = async () => [(await metrics(sig1.http)).connections, (await metrics(sig2.http)).connections];
    await until('a and c connected to signaling 1, b to signaling 2', async () => (await connections()).join() === '2,1', 20_000, 100);
    expect(await connections()).toEqual([2, 1]);
    phase('3 stores serving: a, c on signaling 1, b on signaling 2');

    // A client on signaling 2 alone: a and c answer it through Redis.
    const kv = await PeerKV.connect({ cluster, secret, signaling: [sig2.url], iceServers: [], connectTimeoutMs: 30_000 });
    cleanups.push(() => kv.close());
    await untilThreeVoters(kv, ids, 'across both signaling processes');
    for (let i = 0; i < 10; i++) await kv.put(t(`k${i}`), t(`v${i}`));
    expect(s((await kv.get(t('k7')))!)).toBe('v7');
    const before = await metrics(sig2.http);
    expect((before.redis as Json).publishesReceived).toBeGreaterThan(0);
    expect((before.redis as Json).publishesSent).toBeGreaterThan(0);
    phase('one cluster, 10 writes read back');

    // Signaling 1 dies: a and c move to signaling 2, their next URL.
    await sig1.process.stop('SIGKILL');
    await until('a and c reconnected to signaling 2', async () => (await metrics(sig2.http)).connections === 4, 20_000, 100);
    phase('a and c reconnected to signaling 2');
    for (let i = 10; i < 20; i++) await kv.put(t(`k${i}`), t(`v${i}`));
    for (const i of [0, 10, 19]) expect(s((await kv.get(t(`k${i}`)))!)).toBe(`v${i}`);
    phase('10 writes with signaling 1 killed');

    // New links still form: a fresh client on signaling 2 finds all three stores there.
    const kv2 = await PeerKV.connect({ cluster, secret, signaling: [sig2.url], iceServers: [], connectTimeoutMs: 30_000 });
    cleanups.push(() => kv2.close());
    await until('the fresh client is connected to the three stores', () => ids.every((id) => kv2.admin.members().includes(id)), 40_000, 100);
    await kv2.put(t('fresh'), t('client'));
    expect(s((await kv.get(t('fresh')))!)).toBe('client');
    expect(s((await kv2.get(t('k19')))!)).toBe('v19');
    phase('a fresh client reached every store through signaling 2');

    await Promise.all([kv.close(), kv2.close()]);
    for (const p of [a, b, c]) p.kill('SIGTERM');
    expect(await Promise.all([a, b, c].map((p) => p.exited))).toEqual([0, 0, 0]);
    phase('all stopped by SIGTERM');
  });
});
