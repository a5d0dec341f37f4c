/**
 * A witness holds sealed payloads only (issue 14; `@peerkv/store`'s sealing.ts), on real
 * processes: `peerkv witness-credential` derives the witness's credential from the secret;
 * stores a (bootstrap) and b run with the secret, the witness with the credential alone (its
 * command line and environment hold no secret, so no data key). A client writes a distinctive
 * value; once the witness has the entry, every file of the witness's LevelDB directory is
 * scanned for the value and its key: neither appears. They do appear in store a's files (the
 * scan would find them).
 *
 * Run with `node tests/e2e/node/run.mjs tests/e2e/node/witness-sealing.test.ts`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BOOTSTRAP_IDS, randomTempStoreId } from '@peerkv/store';
import { generateClusterSecret } from '@peerkv/transport';
import { PeerKV, RemotePdService, RemoteStoreResolver, codec } from 'peerkv';
import { nodeWebRtcTransport } from '@peerkv/node';
import { StoreProcess } from '../store-process.ts';
import { until } from '../until.ts';

const t = codec.text;
const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const SIGNALING_BIN = join(import.meta.dirname, '../../../signaling/bin/peerkv-signaling.mjs');
const PEERKV_BIN = join(import.meta.dirname, '../../../packages/node/bin/peerkv.mjs');

/** Whether any file under `dir` contains `needle`. */
function dirHolds(dir: string, needle: string): boolean {
  const n = Buffer.from(needle);
  for (const f of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (f.isFile() && readFileSync(join(f.parentPath, f.name)).includes(n)) return true;
  }
  return false;
}

describe('a witness on a credential (Node, WebRTC, LevelDB)', () => {
  it('stores the entries of a write without its key or value; a full store has them', async () => {
    const root = mkdtempSync(join(tmpdir(), 'peerkv-witness-sealing-'));
    cleanups.push(() => rmSync(root, { recursive: true, force: true }));
    const cluster = `e2e-ws-${randomTempStoreId()}`;
    const secret = generateClusterSecret();
    const port = 20_000 + (randomTempStoreId() % 20_000);
    const url = `ws://127.0.0.1:${port}`;
    const sigLines: string[] = [];
    const sig = spawn(process.execPath, [SIGNALING_BIN, '--host', '127.0.0.1', '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    cleanups.push(() => sig.kill('SIGKILL'));
    sig.stdout.on('data', (d: Buffer) => sigLines.push(d.toString()));
    await until('signaling listening', () => sigLines.join('').includes('peerkv-signaling listening'), 20_000);

    const cred = spawnSync(process.execPath, [PEERKV_BIN, 'witness-credential', '--cluster', cluster, '--secret', secret], { encoding: 'utf8', env: { PATH: process.env.PATH } });
    expect(cred.status, cred.stderr).toBe(0);
    const credential = cred.stdout.trim();
    expect(credential).toMatch(/^pkw1\./);

    const common = (name: string) => ['--data', join(root, name), '--cluster', cluster, '--signaling', url, '--label', `device=${name}`, '--tick-ms', '50', '--drain-wait-ms', '300', '--bootstrap-probe-ms', '1000', '--data-model', 'raw'];
    const a = new StoreProcess([...common('a'), '--secret', secret, '--bootstrap']);
    cleanups.push(() => a.kill('SIGKILL'));
    expect(await a.serving()).toEqual({ storeId: BOOTSTRAP_IDS.store, started: 'bootstrapped' });
    const b = new StoreProcess([...common('b'), '--secret', secret]);
    cleanups.push(() => b.kill('SIGKILL'));
    const sb = await b.serving();
    const w = new StoreProcess([...common('w'), '--witness', '--witness-credential', credential]);
    cleanups.push(() => w.kill('SIGKILL'));
    const sw = await w.serving(60_000);
    expect(w.args.join(' ')).not.toContain(secret);

    const tr = await nodeWebRtcTransport({ localStoreId: randomTempStoreId(), clusterId: cluster, secret, signalingUrl: url, iceServers: [] });
    cleanups.push(() => tr.close());
    const ids = [BOOTSTRAP_IDS.store, sb.storeId, sw.storeId];
    await until('the client is connected to the three stores', () => ids.every((id) => tr.peers().includes(id)), 30_000);
    const stores = new RemoteStoreResolver(tr, { requestTimeoutMs: 2000, reachable: () => tr.peers() });
    const dataRegionOn = async (id: number) => {
      const st = await stores.remote(id).status({ timeoutMs: 1000 });
      return st.ok ? st.value.regions.find((r) => r.regionId === BOOTSTRAP_IDS.dataRegion) : undefined;
    };
    await until('the witness holds a witness replica of the data region', async () => (await dataRegionOn(sw.storeId))?.peers.some((p) => p.storeId === sw.storeId && p.witness && p.role === 'voter') ?? false, 90_000);

    const pd = new RemotePdService(tr, { candidates: () => tr.peers(), budgetMs: 15_000, attemptTimeoutMs: 2000 });
    const kv = new PeerKV({ pd, stores, requestTimeoutMs: 2000, dataModel: 'raw' });
    cleanups.push(() => kv.close());
    const key = `sealed-key-${randomTempStoreId()}`;
    const value = `sealed-value-${randomTempStoreId()}-never-on-the-witness`;
    await kv.put(t(key), t(value));
    const leaderApplied = async () => Math.max(...(await Promise.all([BOOTSTRAP_IDS.store, sb.storeId].map(async (id) => (await dataRegionOn(id))?.applied ?? 0))));
    const target = await leaderApplied();
    await until('the witness has the write', async () => ((await dataRegionOn(sw.storeId))?.applied ?? 0) >= target, 30_000);

    // Stopped cleanly: LevelDB's log and tables are complete on disk.
    for (const p of [w, b, a]) p.kill('SIGTERM');
    expect(await Promise.all([w.exited, b.exited, a.exited])).toEqual([0, 0, 0]);
    expect(dirHolds(join(root, 'a'), value)).toBe(true);
    expect(dirHolds(join(root, 'a'), key)).toBe(true);
    expect(dirHolds(join(root, 'w'), value)).toBe(false);
    expect(dirHolds(join(root, 'w'), key)).toBe(false);
  });
});
