/**
 * Two `peerkv-store` processes and a witness over real WebRTC: `peerkv-signaling --witness
 * DIR` runs the signaling server and a witness store in one process, started before any full
 * store (it waits for the cluster). Store a bootstraps, b joins; PD places PD's group and the
 * data region as 2 full + 1 witness. A client writes; a's process is killed (SIGKILL), and b
 * keeps reading and writing with the witness's vote. Finally SIGTERM stops every process
 * with exit code 0 (the signaling process drains and closes its witness first).
 *
 * Run with `node tests/e2e/node/run.mjs tests/e2e/node/witness-webrtc.test.ts`.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BOOTSTRAP_IDS, PD_REGION_ID, randomTempStoreId } from '@peerkv/store';
import { PeerKV, RemotePdService, RemoteStoreResolver, codec } from 'peerkv';
import { nodeWebRtcTransport } from '@peerkv/node';
import { StoreProcess } from '../store-process.ts';
import { until } from '../until.ts';

const t = codec.text;
const s = codec.fromText;
const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const SIGNALING_BIN = join(import.meta.dirname, '../../../signaling/bin/peerkv-signaling.mjs');

describe('two stores and a witness beside the signaling server (Node, WebRTC)', () => {
  it('with one full store killed, the other keeps reading and writing', async () => {
    const root = mkdtempSync(join(tmpdir(), 'peerkv-witness-'));
    cleanups.push(() => rmSync(root, { recursive: true, force: true }));
    const cluster = `e2e-w-${randomTempStoreId()}`;
    const port = 20_000 + (randomTempStoreId() % 20_000);
    const url = `ws://127.0.0.1:${port}`;
    const lines: string[] = [];
    const sig = spawn(process.execPath, [SIGNALING_BIN, '--host', '127.0.0.1', '--port', String(port), '--witness', join(root, 'witness'), '--cluster', cluster, '--secret', 'e2e-secret'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const sigExited = new Promise<number | null>((r) => sig.on('exit', (code) => r(code)));
    cleanups.push(() => sig.kill('SIGKILL'));
    for (const stream of [sig.stdout, sig.stderr]) stream.on('data', (d: Buffer) => lines.push(...d.toString().split('\n').filter((l) => l.length > 0)));
    await until('signaling listening', () => lines.some((l) => l.startsWith('peerkv-signaling listening')), 20_000);

    const argsOf = (name: string, extra: string[] = []) => ['--data', join(root, name), '--cluster', cluster, '--secret', 'e2e-secret', '--signaling', url, '--label', `device=${name}`, '--tick-ms', '50', '--drain-wait-ms', '300', '--bootstrap-probe-ms', '1000', '--data-model', 'raw', ...extra];
    const a = new StoreProcess(argsOf('a', ['--bootstrap']));
    cleanups.push(() => a.kill('SIGKILL'));
    expect(await a.serving()).toEqual({ storeId: BOOTSTRAP_IDS.store, started: 'bootstrapped' });
    const b = new StoreProcess(argsOf('b'));
    cleanups.push(() => b.kill('SIGKILL'));
    const sb = await b.serving();
    await until('the witness joined', () => lines.some((l) => / started=joined witness$/.test(l)));
    const witnessId = Number(lines.find((l) => / started=joined witness$/.test(l))!.match(/store=(\d+)/)![1]);
    const ids = [BOOTSTRAP_IDS.store, sb.storeId, witnessId];

    const tr = await nodeWebRtcTransport({ localStoreId: randomTempStoreId(), clusterId: cluster, secret: 'e2e-secret', signalingUrl: url, iceServers: [] });
    cleanups.push(() => tr.close());
    await until('the client is connected to the three stores', () => ids.every((id) => tr.peers().includes(id)));
    const stores = new RemoteStoreResolver(tr, { requestTimeoutMs: 2000, reachable: () => tr.peers() });
    const placed = async (): Promise<boolean> => {
      for (const id of ids) {
        const st = await stores.remote(id).status({ timeoutMs: 1000 });
        if (!st.ok) return false;
        const ok = [PD_REGION_ID, BOOTSTRAP_IDS.dataRegion].every((r) =>
          st.value.regions.some((x) => x.regionId === r && x.peers.length === 3 && x.peers.every((p) => p.role === 'voter' && Boolean(p.witness) === (p.storeId === witnessId))),
        );
        if (!ok) return false;
      }
      return true;
    };
    await until('PD and data: 2 full + 1 witness on every store', placed, 90_000);

    const pd = new RemotePdService(tr, { candidates: () => tr.peers(), budgetMs: 15_000, attemptTimeoutMs: 2000 });
    const kv = new PeerKV({ pd, stores, requestTimeoutMs: 2000, dataModel: 'raw' });
    cleanups.push(() => kv.close());
    for (let i = 0; i < 10; i++) await kv.put(t(`k${i}`), t(`v${i}`));
    expect(s((await kv.get(t('k3')))!)).toBe('v3');

    a.kill('SIGKILL');
    await a.exited;
    try {
      for (let i = 10; i < 20; i++) await kv.put(t(`k${i}`), t(`v${i}`));
    } catch (e) {
      for (const id of [sb.storeId, witnessId]) {
        const st = await stores.remote(id).status({ timeoutMs: 2000 });
        console.log(`after the kill, store ${id}:`, JSON.stringify(st.ok ? st.value.regions.map((r) => ({ r: r.regionId, role: r.role, term: r.term, lead: r.lead, commit: r.commit, applied: r.applied })) : st));
      }
      console.log('signaling and store b output:', lines.slice(-20).join('\n'), b.lines.slice(-20).join('\n'));
      throw e;
    }
    for (const i of [0, 9, 19]) expect(s((await kv.get(t(`k${i}`)))!)).toBe(`v${i}`);
    const st = await stores.remote(witnessId).status({ timeoutMs: 2000 });
    expect(st.ok && st.value.regions.every((r) => r.role !== 'leader')).toBe(true);

    b.kill('SIGTERM');
    sig.kill('SIGTERM');
    expect(await Promise.all([b.exited, sigExited])).toEqual([0, 0]);
    expect(lines).toContain('peerkv-store: closed');
  });
});
