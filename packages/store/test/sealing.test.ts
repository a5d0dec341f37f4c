/**
 * Entry payload sealing (`sealing.ts`, issue 14): full stores 1 and 2 seal with the data key
 * derived from the cluster secret, store 3 is a witness without it. The witness's bytes (its
 * log, every column family) never hold a written value; a full replica's data does. Also: the
 * binding (region, term, version) of a sealed payload, the upgrade from plain entries, and a
 * full store that has no data key or another cluster's.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Region } from '@peerkv/pd';
import { MemoryEngine } from '@peerkv/storage';
import { deriveMemberKeys } from '@peerkv/transport';
import { LocalRouter, STORE_CFS, SealedEntryError, Store, StoreConfigError, isSealed, openPayload, sealPayload, webCryptoEntryCipher, type EntryCipher } from '../src/index.ts';
import { twoFullOneWitness, until } from './helpers.ts';

const enc = new TextEncoder();
const SECRET = 'pk1_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
const OTHER_SECRET = 'pk1_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB';
const REGION = 2;
const router = new LocalRouter();
const stores = new Map<number, Store>();
const engines = new Map<number, MemoryEngine>();

async function cipherOf(secret: string): Promise<EntryCipher> {
  return webCryptoEntryCipher((await deriveMemberKeys('sealing', secret, 1)).dataKey);
}

const region: Region = twoFullOneWitness(REGION);

/** Opens store `id` on its engine (a new one the first time); `cipher` undefined: no data key. */
async function openStore(id: number, cipher: EntryCipher | undefined): Promise<Store> {
  const engine = engines.get(id) ?? (await MemoryEngine.open({ columnFamilies: STORE_CFS }));
  engines.set(id, engine);
  const s = await Store.open({
    dataModel: 'raw',
    storeId: id,
    clusterId: 'sealing',
    engine,
    transport: router.transportFor(id),
    tickIntervalMs: 10,
    hibernateAfterTicks: 1_000_000,
    witness: id === 3,
    ...(cipher ? { entryCipher: cipher } : {}),
  });
  router.register(s);
  stores.set(id, s);
  return s;
}

async function startCluster(ciphers: Record<1 | 2, EntryCipher | undefined>): Promise<void> {
  for (const id of [1, 2, 3] as const) {
    const s = await openStore(id, id === 3 ? undefined : ciphers[id]);
    await s.createRegion(region);
  }
  stores.get(1)!.campaign(REGION);
  await until('store 1 leads', () => roleOn(1) === 'leader');
}

async function closeStore(id: number): Promise<void> {
  router.unregister(id);
  await stores.get(id)!.close();
  stores.delete(id);
}

const regionOn = (id: number) => stores.get(id)?.status().regions.find((r) => r.regionId === REGION);
const roleOn = (id: number): string | undefined => regionOn(id)?.role;
const appliedOn = (id: number): number => regionOn(id)?.applied ?? 0;

async function put(key: string, value: string, seq: number, via = 1): Promise<void> {
  const r = await stores.get(via)!.write(REGION, region.epoch, 'c', seq, [{ type: 'put', cf: 'default', key: enc.encode(key), value: enc.encode(value) }]);
  expect(r.ok, JSON.stringify(r)).toBe(true);
}

/** Whether `needle` occurs in any key or value of any column family of store `id`'s engine (its Raft log included). */
async function engineHolds(id: number, needle: string): Promise<boolean> {
  const n = enc.encode(needle);
  for (const cf of STORE_CFS) {
    for await (const p of engines.get(id)!.scan(cf, {})) if (contains(p.key, n) || contains(p.value, n)) return true;
  }
  return false;
}

function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

afterEach(async () => {
  router.heal();
  for (const id of [...stores.keys()]) await closeStore(id);
  engines.clear();
});

describe('entry payload sealing', () => {
  it('a witness stores ciphertext only: the written value is in the full replicas, never in the witness', async () => {
    const c = await cipherOf(SECRET);
    await startCluster({ 1: c, 2: c });
    const secret = 'value-7f3a9c-only-full-replicas-may-read';
    await put('user/secret-key-41', secret, 1);
    await until('the witness has the entry', () => appliedOn(3) >= appliedOn(1));
    await until('store 2 applied it', () => appliedOn(2) >= appliedOn(1));
    expect(await engineHolds(1, secret)).toBe(true);
    expect(await engineHolds(2, secret)).toBe(true);
    expect(await engineHolds(3, secret)).toBe(false);
    expect(await engineHolds(3, 'secret-key-41')).toBe(false);
    expect(stores.get(3)!.status().witnessEntries).toEqual({ sealed: 1, plain: 0 });
    const r = await stores.get(2)!.get(REGION, region.epoch, enc.encode('user/secret-key-41'), 'stale');
    expect(r.ok && new TextDecoder().decode(r.value!)).toBe(secret);
  });

  it('without sealing (the mutation this test guards against), the witness log holds the value', async () => {
    await startCluster({ 1: undefined, 2: undefined });
    const plain = 'value-plain-5d1e-in-every-log';
    await put('k', plain, 1);
    await until('the witness has the entry', () => appliedOn(3) >= appliedOn(1));
    expect(await engineHolds(3, plain)).toBe(true);
    expect(stores.get(3)!.status().witnessEntries).toEqual({ sealed: 0, plain: 1 });
  });

  it('upgrade: plain entries written before sealing are applied after it (the tag is the per-entry flag)', async () => {
    await startCluster({ 1: undefined, 2: undefined });
    await put('a', 'before-sealing-1', 1);
    // Store 2 misses the plain entry, then every store restarts with the data key.
    router.partition([2], [1, 3]);
    await put('b', 'before-sealing-2', 2);
    for (const id of [1, 2, 3]) await closeStore(id);
    const c = await cipherOf(SECRET);
    for (const id of [1, 2, 3] as const) await openStore(id, id === 3 ? undefined : c);
    stores.get(1)!.campaign(REGION);
    await until('store 1 leads', () => roleOn(1) === 'leader');
    await put('c', 'after-sealing-3', 3);
    router.heal();
    await until('store 2 caught up', () => appliedOn(2) >= appliedOn(1));
    for (const [k, v] of [['a', 'before-sealing-1'], ['b', 'before-sealing-2'], ['c', 'after-sealing-3']]) {
      const r = await stores.get(2)!.get(REGION, region.epoch, enc.encode(k), 'stale');
      expect(r.ok && new TextDecoder().decode(r.value!)).toBe(v);
    }
    expect(await engineHolds(3, 'after-sealing-3')).toBe(false);
  });

  it('a full store without the data key stops at the first sealed entry, saying why', async () => {
    const c = await cipherOf(SECRET);
    await startCluster({ 1: c, 2: undefined });
    await put('k', 'v', 1);
    await until('store 2 stopped', () => stores.get(2)!.status().stoppedReason !== undefined);
    expect(stores.get(2)!.status().stoppedReason).toMatch(/sealed \(format v1\) and this store has no data key/);
  });

  it("a full store with another cluster's data key stops (the tag does not verify)", async () => {
    await startCluster({ 1: await cipherOf(SECRET), 2: await cipherOf(OTHER_SECRET) });
    await put('k', 'v', 1);
    await until('store 2 stopped', () => stores.get(2)!.status().stoppedReason !== undefined);
    expect(stores.get(2)!.status().stoppedReason).toMatch(/does not open with this store's data key/);
  });

  it('a witness store refuses the data key', async () => {
    const engine = await MemoryEngine.open({ columnFamilies: STORE_CFS });
    const opening = Store.open({ dataModel: 'raw', storeId: 9, clusterId: 'sealing', engine, transport: router.transportFor(9), witness: true, entryCipher: await cipherOf(SECRET) });
    await expect(opening).rejects.toBeInstanceOf(StoreConfigError);
  });
});

describe('sealed payload format', () => {
  it('opens only under the region and term it was sealed for, and names an unknown version', async () => {
    const c = await cipherOf(SECRET);
    const plain = enc.encode('payload');
    const sealed = await sealPayload(c, plain, { regionId: 5, term: 7 });
    expect(isSealed(sealed)).toBe(true);
    expect(contains(sealed, plain)).toBe(false);
    expect(await openPayload(c, sealed, { regionId: 5, term: 7 })).toEqual(plain);
    await expect(openPayload(c, sealed, { regionId: 6, term: 7 })).rejects.toMatchObject({ kind: 'Unauthentic' });
    await expect(openPayload(c, sealed, { regionId: 5, term: 8 })).rejects.toMatchObject({ kind: 'Unauthentic' });
    const flipped = sealed.slice();
    flipped[flipped.length - 1] ^= 1;
    await expect(openPayload(c, flipped, { regionId: 5, term: 7 })).rejects.toMatchObject({ kind: 'Unauthentic' });
    const future = sealed.slice();
    future[1] = 2;
    await expect(openPayload(c, future, { regionId: 5, term: 7 })).rejects.toMatchObject({ kind: 'UnknownVersion' });
    await expect(openPayload(undefined, sealed, { regionId: 5, term: 7 })).rejects.toMatchObject({ kind: 'NoDataKey' });
    await expect(openPayload(c, sealed.slice(0, 10), { regionId: 5, term: 7 })).rejects.toBeInstanceOf(SealedEntryError);
  });

  it('two seals of the same payload differ (a fresh nonce each)', async () => {
    const c = await cipherOf(SECRET);
    const a = await sealPayload(c, enc.encode('x'), { regionId: 1, term: 1 });
    const b = await sealPayload(c, enc.encode('x'), { regionId: 1, term: 1 });
    expect(a).not.toEqual(b);
  });
});
