/**
 * The browser host takes an invite's anchors (issue 13): a host opened from a version 2 invite
 * written from another host's status (`ClusterStatus.inviteAnchors`: PD's voters and keys)
 * refuses a member posing as an anchored voter with another key (`anchorRefused` in its
 * status), still refuses it after a reload without the invite (the store keeps the anchors),
 * and refuses to reopen with another invite's anchors (`InvalidArgument`; found by a background
 * open instead: `opened: 'refused'`, `AnchorConflict`, no retry). Hosts in Node over
 * BroadcastChannel, on memory disks that outlive them (`net-host-fixture.ts`).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { BroadcastChannelTransport, deriveMemberKeys, generateStoreKeyPair, importStoreKeyPair } from '@peerkv/transport';
import { BrowserKvError, NET_OPEN_RETRY_MS_MIN, NetHost, checkOpenOptions, decodeInvite, encodeInvite, type NetHostOptions } from '../src/browser/index.ts';
import { until } from './until.ts';
import { deps, hostOptions } from './net-host-fixture.ts';

const SECRET = 'anchored-host-secret';
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function openHost(cluster: string, storeName: string, extra: Partial<NetHostOptions> = {}): Promise<NetHost> {
  const h = await NetHost.open(hostOptions(SECRET, cluster, storeName, extra), deps);
  cleanups.push(() => h.close());
  return h;
}

async function anchorRefused(h: NetHost): Promise<number> {
  return (await h.status()).peerKeys?.anchorRefused ?? 0;
}

describe('a browser host opened from a version 2 invite', () => {
  it('refuses a member posing as an anchored voter, again after a reload without the invite, and refuses another invite’s anchors', async () => {
    const cluster = `anchor-host-${Math.random().toString(36).slice(2)}`;
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((n) => openHost(cluster, n)));
    await until('the status names three PD voters and their keys', async () => ((await a.status()).inviteAnchors?.length ?? 0) === 3, 30_000);
    const st = await a.status();
    // The invite the demo writes from a host's status, read back as a joining page reads it.
    const invite = decodeInvite(encodeInvite({ cluster, secret: SECRET, signaling: [], anchors: st.inviteAnchors }));
    expect(invite.anchors).toEqual(st.inviteAnchors);
    const ids = await Promise.all([a, b, c].map(async (h) => (await h.status()).localStoreId!));
    expect(invite.anchors!.map((x) => x.storeId).sort((x, y) => x - y)).toEqual([...ids].sort((x, y) => x - y));
    // Voter a goes away; a member with the secret poses as it under a key of its own.
    const posedId = ids[0];
    await a.close();
    const d = await openHost(cluster, 'd', { anchors: invite.anchors });
    await until('d joined', async () => (await d.status()).opened === 'joined', 30_000);
    const { keys } = await deriveMemberKeys(cluster, SECRET);
    const poserKeys = await importStoreKeyPair(await generateStoreKeyPair());
    const poser = new BroadcastChannelTransport({ localStoreId: posedId, keys, heartbeatIntervalMs: 50, departureTimeoutMs: 400, identity: poserKeys });
    cleanups.push(() => poser.close());
    await until('d refused the posing voter by its anchor', async () => (await anchorRefused(d)) >= 1, 30_000);
    expect((await d.status()).members).not.toContain(posedId);

    // A reload without the invite: the store kept the anchors.
    await d.close();
    const reloaded = await openHost(cluster, 'd');
    expect((await reloaded.status()).opened).toBe('reopened');
    await until('the reloaded host refused the posing voter by its anchor', async () => (await anchorRefused(reloaded)) >= 1, 30_000);
    expect((await reloaded.status()).members).not.toContain(posedId);

    // Another invite's anchors (the poser's key for the voter): refused, nothing replaced.
    await reloaded.close();
    await expect(openHost(cluster, 'd', { anchors: [{ storeId: posedId, publicKey: poserKeys.publicKey }] })).rejects.toMatchObject({ kind: 'InvalidArgument' });
    const again = await openHost(cluster, 'd', { anchors: invite.anchors });
    await until('reopened with the same invite, still refusing the poser', async () => (await anchorRefused(again)) >= 1, 30_000);
    // Bad anchors are refused before anything opens.
    await expect(openHost(cluster, 'e', { anchors: [{ storeId: posedId, publicKey: new Uint8Array(3) }] })).rejects.toMatchObject({ kind: 'InvalidArgument' });
  }, 120_000);

  it('ends the background opens at an anchor conflict: opened refused, counted, requests fail AnchorConflict, no further attempt', async () => {
    const cluster = `anchor-refused-${Math.random().toString(36).slice(2)}`;
    const first = await openHost(cluster, 'a');
    await until('the status names its own store as the voter', async () => ((await first.status()).inviteAnchors?.length ?? 0) === 1, 30_000);
    const [kept] = (await first.status()).inviteAnchors!;
    await first.close();
    // Reopened from an invite naming it: the store keeps that anchor from now on.
    const anchored = await openHost(cluster, 'a', { anchors: [kept] });
    expect((await anchored.status()).opened).toBe('reopened');
    await anchored.close();
    // Reopened from the same database with another invite's key for its own store id, while
    // the first attempt fails before the anchors are read (IndexedDB blocked, say).
    let engineOpens = 0;
    const flaky = {
      ...deps,
      openEngine: (name: string, cfs: readonly string[]) => (++engineOpens === 1 ? Promise.reject(new Error('the database is blocked')) : deps.openEngine(name, cfs)),
    };
    const other = await importStoreKeyPair(await generateStoreKeyPair());
    const h = await NetHost.open(hostOptions(SECRET, cluster, 'a', { anchors: [{ storeId: kept.storeId, publicKey: other.publicKey }] }), flaky);
    cleanups.push(() => h.close());
    expect((await h.status()).opened).toBe('opening');
    await until('the background open met the conflict', async () => (await h.status()).opened === 'refused', 10_000);
    const st = await h.status();
    expect(st.openRefused).toBe(1);
    expect(st.openRetry).toBeUndefined();
    const got = await h.call({ kind: 'kv', request: { type: 'get', key: new TextEncoder().encode('k') } });
    expect(got).toMatchObject({ ok: false, error: { kind: 'AnchorConflict', message: expect.stringContaining(`stores ${kept.storeId}`) } });
    // A retry would come after twice the first wait; none does.
    const opensAtRefusal = engineOpens;
    await new Promise((r) => setTimeout(r, 3 * NET_OPEN_RETRY_MS_MIN));
    expect(engineOpens).toBe(opensAtRefusal);
    expect((await h.status()).openRefused).toBe(1);
    // The kept anchors were not replaced: the same database opens with the invite it kept.
    await h.close();
    const again = await openHost(cluster, 'a', { anchors: [kept] });
    expect((await again.status()).opened).toBe('reopened');
  }, 60_000);

  it('openBrowser refuses bad anchors in the page before anything opens (InvalidArgument)', () => {
    const key = new Uint8Array(65).fill(4);
    expect(() => checkOpenOptions({ anchors: [{ storeId: 1, publicKey: key }] })).not.toThrow();
    for (const anchors of [{} as never, [null] as never, [{ storeId: 1, publicKey: key.slice(1) }], [{ storeId: 1, publicKey: key }, { storeId: 1, publicKey: key }], Array.from({ length: 8 }, (_, i) => ({ storeId: i + 1, publicKey: key }))]) {
      let caught: unknown;
      try {
        checkOpenOptions({ anchors });
      } catch (e) {
        caught = e;
      }
      expect(caught, JSON.stringify(anchors)).toBeInstanceOf(BrowserKvError);
      expect((caught as BrowserKvError).kind).toBe('InvalidArgument');
    }
  });
});
