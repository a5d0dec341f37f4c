/**
 * NAT traversal (issue 15): relay-only ICE through a real TURN server, Debian's coturn, on
 * loopback. Three `peerkv-store` processes given `--ice turn:127.0.0.1:P?transport=udp
 * --ice-username U --ice-credential C --ice-relay-only` and a `PeerKV.connect` client with
 * the same server and `iceTransportPolicy: 'relay'` form one cluster, write and read, and so
 * does `peerkv get --ice-relay-only` (TURN settings from `PEERKV_ICE*`). With
 * relay-only ICE a link has no other path than the TURN server, and coturn's log shows the
 * allocations and channel bindings for the user. Every store stops on SIGTERM with exit 0.
 *
 * Needs Debian's `coturn` (fails, does not skip, without it). Run with
 * `node tests/e2e/node/run.mjs turn-relay`.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { SignalingServer } from '@peerkv/signaling';
import { BOOTSTRAP_IDS, randomTempStoreId } from '@peerkv/store';
import { PeerKV } from '@peerkv/node';
import { codec } from 'peerkv';
import { StoreProcess } from '../store-process.ts';
import { TurnServer } from '../turn-server.ts';
import { untilThreeVoters } from './cluster-wait.ts';

const execFileAsync = promisify(execFile);
const CLI = join(import.meta.dirname, '../../../packages/node/bin/peerkv.mjs');
const t = codec.text;
const s = codec.fromText;
const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('stores and a client over relay-only ICE through coturn on loopback (Node, WebRTC)', () => {
  it('form a cluster with every link relayed by the TURN server', async () => {
    const t0 = performance.now();
    const phase = (what: string) => console.log(`e2e turn-relay: ${what} at ${Math.round(performance.now() - t0)} ms`);
    const turn = await TurnServer.start();
    cleanups.push(() => turn.stop());
    const signaling = new SignalingServer();
    const { port } = await signaling.listen(0, '127.0.0.1');
    cleanups.push(() => signaling.close());
    const url = `ws://127.0.0.1:${port}`;
    phase('coturn and signaling up');

    const root = mkdtempSync(join(tmpdir(), 'peerkv-e2e-turn-'));
    cleanups.push(() => rmSync(root, { recursive: true, force: true }));
    const cluster = `e2e-t-${randomTempStoreId()}`;
    const secret = 'e2e-secret';
    const ice = ['--ice', turn.url, '--ice-username', turn.username, '--ice-credential', turn.credential, '--ice-relay-only'];
    const argsOf = (name: string, extra: string[] = []) => ['--data', join(root, name), '--cluster', cluster, '--secret', secret, '--signaling', url, '--label', `device=${name}`, '--tick-ms', '50', '--drain-wait-ms', '300', '--bootstrap-probe-ms', '1000', ...ice, ...extra];
    const start = (args: string[]) => {
      const p = new StoreProcess(args);
      cleanups.push(() => p.kill('SIGKILL'));
      return p;
    };
    const a = start(argsOf('a', ['--bootstrap']));
    expect(await a.serving()).toEqual({ storeId: BOOTSTRAP_IDS.store, started: 'bootstrapped' });
    const b = start(argsOf('b'));
    const c = start(argsOf('c'));
    const [sb, sc] = [await b.serving(), await c.serving()];
    expect([sb.started, sc.started]).toEqual(['joined', 'joined']);
    const ids = [BOOTSTRAP_IDS.store, sb.storeId, sc.storeId].sort((x, y) => x - y);
    phase('3 stores serving over relayed links');

    const kv = await PeerKV.connect({ cluster, secret, signaling: url, iceServers: [{ urls: turn.url, username: turn.username, credential: turn.credential }], iceTransportPolicy: 'relay', connectTimeoutMs: 30_000 });
    cleanups.push(() => kv.close());
    await untilThreeVoters(kv, ids, 'relay-only');
    for (let i = 0; i < 10; i++) await kv.put(t(`k${i}`), t(`v${i}`));
    expect(s((await kv.get(t('k7')))!)).toBe('v7');
    phase('one cluster, 10 writes read back');

    // Each link's two ends allocate a relay (3 store links and 3 client links: 12 at least,
    // redials add more) and bind channels to the peer's relay.
    expect(turn.successes('ALLOCATE')).toBeGreaterThanOrEqual(2 * 6);
    expect(turn.successes('CHANNEL_BIND')).toBeGreaterThanOrEqual(6);
    phase(`coturn: ${turn.successes('ALLOCATE')} allocations, ${turn.successes('CHANNEL_BIND')} channel bindings`);

    // The peerkv CLI, relay-only too, from its environment.
    const env = { ...process.env, PEERKV_CLUSTER: cluster, PEERKV_SECRET: secret, PEERKV_SIGNALING: url, PEERKV_ICE: turn.url, PEERKV_ICE_USERNAME: turn.username, PEERKV_ICE_CREDENTIAL: turn.credential };
    const allocations = turn.successes('ALLOCATE');
    const got = await execFileAsync(process.execPath, [CLI, 'get', 'k3', '--ice-relay-only'], { env, timeout: 30_000 });
    expect(got.stdout.trim()).toBe('v3');
    expect(turn.successes('ALLOCATE')).toBeGreaterThan(allocations);
    phase('peerkv get over relay-only ICE');

    await kv.close();
    for (const p of [a, b, c]) p.kill('SIGTERM');
    expect(await Promise.all([a, b, c].map((p) => p.exited))).toEqual([0, 0, 0]);
    phase('all stopped by SIGTERM');
  });
});
