/**
 * `NetHost` (the default browser runtime's Worker side) in Node: three hosts of one cluster
 * over Node's BroadcastChannel, on memory engines. Draining hands every leadership away
 * before the host leaves; option checks fail with typed errors; hooks are refused unless on.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { codec } from '../src/index.ts';
import { BrowserKvError, NetHost, type NetHostOptions } from '../src/browser/index.ts';
import { until } from './until.ts';
import { deps, hostOptions } from './net-host-fixture.ts';

const t = codec.text;
const hosts: NetHost[] = [];
afterEach(async () => {
  for (const h of hosts.splice(0)) await h.close();
});

function options(cluster: string, storeName: string, extra: Partial<NetHostOptions> = {}): NetHostOptions {
  return hostOptions('net-host-secret', cluster, storeName, extra);
}

describe('NetHost', () => {
  it('draining hands every leadership of the store to another voter before it returns', async () => {
    const cluster = `drain-${Math.random().toString(36).slice(2)}`;
    const all = await Promise.all(['a', 'b', 'c'].map(async (n) => NetHost.open(options(cluster, n, { testHooks: true }), deps)));
    hosts.push(...all);
    await until('every region on three voters', async () => {
      const st = await all[0].status();
      const local = st.stores.find((s) => s.local)!;
      return local.regions.length >= 2 && local.regions.every((r) => r.peers.filter((p) => p.role === 'voter').length === 3);
    });
    const r = await all[0].call({ kind: 'kv', request: { type: 'put', key: t('k'), value: t('v') } });
    expect(r.ok).toBe(true);
    // PD's view (stores with their addresses, regions with sizes) and the TSO, in status.
    await until('PD lists the three stores', async () => ((await all[0].status()).pd?.stores.length ?? 0) === 3);
    const st = await all[0].status();
    expect(st.pd!.stores.map((x) => x.address).sort()).toEqual(['node:a', 'node:b', 'node:c']);
    expect(st.pd!.regions.length).toBeGreaterThanOrEqual(1);
    // Each store's join progress from PD's records: three stores of 3 replicas each hold every data region, caught up.
    await until('every store joined', async () => (await all[0].status()).pd?.stores.every((x) => x.join?.joined) === true);
    const joins = (await all[0].status()).pd!.stores.map((x) => x.join!);
    expect(joins.every((j) => j.placed === j.target && j.caughtUp === j.target && j.target === st.pd!.regions.length)).toBe(true);
    // The two stores that joined received their replicas' snapshots; at least one is not this host's, its bytes came over the store RPC.
    expect(joins.filter((j) => (j.bytesReceived ?? 0) > 0).length).toBe(2);
    const st2 = await all[1].status();
    expect(BigInt(st2.tso!)).toBeGreaterThan(BigInt(st.tso!));
    // A split asked of every host (the region's leader is local to one, remote to the others).
    const regionsBefore = st.pd!.regions.length;
    for (const [i, h] of all.entries()) {
      const sp = await h.call({ kind: 'hook', request: { type: 'splitRegion', splitKey: t(`m${i}`) } });
      expect(sp, JSON.stringify(sp)).toMatchObject({ ok: true });
    }
    await until('PD sees the three new regions', async () => ((await all[0].status()).pd?.regions.length ?? 0) === regionsBefore + 3);
    const leads = async (h: NetHost) => (await h.status()).stores.find((s) => s.local)!.regions.filter((x) => x.role === 'leader').length;
    // PD's leader balancer may move leaderships meanwhile: drain a host that leads something
    // when asked (a host found leading nothing at drain time is passed over).
    let moved = 0;
    let leader = all[0];
    for (let i = 0; i < 5 && moved === 0; i++) {
      const counts = await Promise.all(all.map(leads));
      leader = all[counts.indexOf(Math.max(...counts))];
      moved = await leader.setDraining(true, 2000);
    }
    expect(moved).toBeGreaterThan(0);
    expect(await leads(leader)).toBe(0);
    // The data is still there, served by the other stores.
    const got = await all.find((h) => h !== leader)!.call({ kind: 'kv', request: { type: 'get', key: t('k') } });
    expect(got).toEqual({ ok: true, value: t('v') });
  }, 60_000);

  it('refuses a missing secret, bad signaling URLs and hooks that are off, with typed errors', async () => {
    const cluster = `opts-${Math.random().toString(36).slice(2)}`;
    await expect(NetHost.open({ ...options(cluster, 'x'), secret: '' }, deps)).rejects.toMatchObject({ kind: 'InvalidArgument' });
    await expect(NetHost.open({ ...options(cluster, 'x'), signaling: ['http://example.invalid'] }, deps)).rejects.toBeInstanceOf(BrowserKvError);
    const h = await NetHost.open(options(cluster, 'solo', { bootstrapProbeMs: 100 }), deps);
    hosts.push(h);
    expect((await h.status()).opened).toBe('bootstrapped');
    const r = await h.call({ kind: 'hook', request: { type: 'partition', storeIds: [99] } });
    expect(r).toMatchObject({ ok: false, error: { kind: 'HooksDisabled' } });
  }, 30_000);

  it('test hooks: stop and restart the own store, refuse another store\'s id and bad partitions', async () => {
    const cluster = `hooks-${Math.random().toString(36).slice(2)}`;
    const h = await NetHost.open(options(cluster, 'solo', { bootstrapProbeMs: 100, testHooks: true }), deps);
    hosts.push(h);
    await h.call({ kind: 'kv', request: { type: 'put', key: t('k'), value: t('1') } });
    const id = (await h.status()).localStoreId!;
    expect(await h.call({ kind: 'hook', request: { type: 'stopStore', storeId: id + 1 } })).toMatchObject({ ok: false, error: { kind: 'InvalidHook' } });
    expect(await h.call({ kind: 'hook', request: { type: 'partition', storeIds: [id] } })).toMatchObject({ ok: false, error: { kind: 'InvalidHook' } });
    expect(await h.call({ kind: 'hook', request: { type: 'stopStore', storeId: id } })).toEqual({ ok: true, value: undefined });
    expect(await h.call({ kind: 'kv', request: { type: 'get', key: t('k') } })).toMatchObject({ ok: false, error: { kind: 'Unavailable' } });
    expect((await h.status()).stores.find((s) => s.local)?.up).toBe(false);
    expect(await h.call({ kind: 'hook', request: { type: 'startStore', storeId: id } })).toEqual({ ok: true, value: undefined });
    expect(await h.call({ kind: 'kv', request: { type: 'get', key: t('k') } })).toEqual({ ok: true, value: t('1') });
    const st = await h.status();
    expect({ id: st.localStoreId, opened: st.opened }).toEqual({ id, opened: 'reopened' });
  }, 30_000);
});
