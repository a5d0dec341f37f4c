/**
 * Entry payload sealing (`sealing.ts`, issue 14): full stores 1 and 2 seal with the data key
 * derived from the cluster secret, store 3 is a witness without it. The witness's bytes (its
 * log, every column family) never hold a written value; a full replica's data does. Also: the
 * binding (region, term, version) of a sealed payload, the upgrade from plain entries, and a
 * full store that has no data key or another cluster's. And a data key rotation: format v2
 * names the key id, a keyring opens every key id, and the rotated key id travels with the log;
 * the rotation is a switch entry in the region's log (`data-key-switch.ts`) every replica applies
 * at one index and keeps across a restart, and an old key retires only once the log is past it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Region } from '@peerkv/pd';
import { MemoryEngine } from '@peerkv/storage';
import { deriveDataKey, deriveMemberKeys, type RegionMessage } from '@peerkv/transport';
import { DataKeyring, LocalRouter, SEAL_FORMAT_V1, SEAL_FORMAT_VERSION, STORE_CFS, SealedEntryError, Store, StoreConfigError, isSealed, keyringOf, openPayload, sealPayload, sealedKeyId, webCryptoEntryCipher, type EntryCipher, type EntryKeyring, type StoreOptions, StoreRequestError, authorizeRequest, needsDataKey } from '../src/index.ts';
import { DataKeyForwards, dataKeyForwardMessage, forwardRefusal } from '../src/data-key-forward.ts';
import type { RegionPeer } from '../src/peer.ts';
import { SNAPSHOT_FORMAT_CHUNKED, decodeSnapshotData, encodeSnapshotHeader } from '../src/snapshot.ts';
import { twoFullOneWitness, until } from './helpers.ts';

const enc = new TextEncoder();
const SECRET = 'pk1_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
const OTHER_SECRET = 'pk1_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB';
const REGION = 2;
/** Sends a test loses (`LocalRouter`'s `drop`): none unless a test sets it; `afterEach` clears it. */
let dropRule: ((from: number, to: number, messages: readonly RegionMessage[]) => boolean) | undefined;
const router = new LocalRouter({ drop: (from, to, messages) => dropRule?.(from, to, messages) ?? false });
const stores = new Map<number, Store>();
const engines = new Map<number, MemoryEngine>();

async function cipherOf(secret: string): Promise<EntryCipher> {
  return webCryptoEntryCipher((await deriveMemberKeys('sealing', secret, 1)).dataKey);
}

/** A member's keyring: key id 0 given, every later one derived from the data root (as `peerkv-store` builds it). */
async function keyringFor(secret: string, currentKeyId = 0): Promise<DataKeyring> {
  const m = await deriveMemberKeys('sealing', secret, 1);
  return new DataKeyring(new Map([[0, webCryptoEntryCipher(m.dataKey)]]), { currentKeyId, derive: async (id) => webCryptoEntryCipher(await deriveDataKey(m, id)) });
}

const region: Region = twoFullOneWitness(REGION);

/** Opens store `id` on its engine (a new one the first time); `cipher` undefined: no data key. */
async function openStore(id: number, cipher: EntryCipher | EntryKeyring | undefined, extra: Partial<StoreOptions> = {}): Promise<Store> {
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
    ...extra,
  });
  router.register(s);
  stores.set(id, s);
  return s;
}

async function startCluster(ciphers: Record<1 | 2, EntryCipher | EntryKeyring | undefined>, extra: Partial<StoreOptions> = {}): Promise<void> {
  for (const id of [1, 2, 3] as const) {
    const s = await openStore(id, id === 3 ? undefined : ciphers[id], extra);
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
  dropRule = undefined;
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
    future[1] = 3;
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

/** The sealed payloads of region `REGION`'s Raft log on store `id` (the raft cf's entries), by key id. */
async function sealedKeyIdsOn(id: number): Promise<number[]> {
  const ids: number[] = [];
  for (const cf of STORE_CFS) {
    for await (const p of engines.get(id)!.scan(cf, {})) {
      // An entry's payload sits inside its encoding: find the sealed header (tag, version) in it.
      for (let i = 0; i + 2 < p.value.length; i++) {
        if (p.value[i] !== 6 || (p.value[i + 1] !== SEAL_FORMAT_V1 && p.value[i + 1] !== SEAL_FORMAT_VERSION)) continue;
        const k = sealedKeyId(p.value.subarray(i));
        if (k !== undefined && p.value.length - i > 40) {
          ids.push(k);
          break;
        }
      }
    }
  }
  return ids;
}

async function read(id: number, key: string): Promise<string | undefined> {
  const r = await stores.get(id)!.get(REGION, region.epoch, enc.encode(key), 'stale');
  expect(r.ok, JSON.stringify(r)).toBe(true);
  return r.ok && r.value ? new TextDecoder().decode(r.value) : undefined;
}

describe('data key rotation', () => {
  it('a v1 store opens with a keyring; after a rotation new entries are v2 under the new key, and old and new read back after a restart', async () => {
    // Written before rotations existed: one cipher, format v1.
    const v1 = await cipherOf(SECRET);
    await startCluster({ 1: v1, 2: v1 });
    await put('old', 'sealed-under-key-0', 1);
    await until('store 2 applied it', () => appliedOn(2) >= appliedOn(1));
    for (const id of [1, 2, 3]) await closeStore(id);
    // The same stores open with keyrings, and the leader rotates to key id 1.
    for (const id of [1, 2, 3] as const) await openStore(id, id === 3 ? undefined : await keyringFor(SECRET));
    stores.get(1)!.campaign(REGION);
    await until('store 1 leads', () => roleOn(1) === 'leader');
    expect(stores.get(1)!.dataKeyId()).toBe(0);
    await stores.get(1)!.rotateDataKey(1);
    await put('new', 'sealed-under-key-1', 2);
    await until('store 2 applied it', () => appliedOn(2) >= appliedOn(1));
    // The key id travelled with the log: store 2 seals with key 1 too once it opened an entry under it.
    expect(stores.get(2)!.dataKeyId()).toBe(1);
    expect(new Set(await sealedKeyIdsOn(3))).toEqual(new Set([0, 1]));
    expect(await engineHolds(3, 'sealed-under-key-1')).toBe(false);
    await expect(stores.get(1)!.rotateDataKey(0)).rejects.toBeInstanceOf(RangeError);
    await expect(stores.get(3)!.rotateDataKey(2)).rejects.toBeInstanceOf(StoreConfigError);

    for (const id of [1, 2, 3]) await closeStore(id);
    for (const id of [1, 2, 3] as const) await openStore(id, id === 3 ? undefined : await keyringFor(SECRET, 1));
    stores.get(2)!.campaign(REGION);
    await until('store 2 leads', () => roleOn(2) === 'leader');
    await put('newer', 'after-restart', 3, 2);
    await until('store 1 applied it', () => appliedOn(1) >= appliedOn(2));
    for (const id of [1, 2]) {
      expect(await read(id, 'old')).toBe('sealed-under-key-0');
      expect(await read(id, 'new')).toBe('sealed-under-key-1');
      expect(await read(id, 'newer')).toBe('after-restart');
      expect(stores.get(id)!.status().stoppedReason).toBeUndefined();
    }
  });

  it('a replica that missed the rotation catches up by the log and seals with the new key', async () => {
    await startCluster({ 1: await keyringFor(SECRET), 2: await keyringFor(SECRET) });
    await put('a', 'before', 1);
    router.partition([2], [1, 3]);
    await stores.get(1)!.rotateDataKey(5);
    await put('b', 'after-rotation', 2);
    expect(stores.get(2)!.dataKeyId()).toBe(0);
    router.heal();
    await until('store 2 caught up', () => appliedOn(2) >= appliedOn(1));
    expect(stores.get(2)!.dataKeyId()).toBe(5);
    expect(await read(2, 'a')).toBe('before');
    expect(await read(2, 'b')).toBe('after-rotation');
  });
});

describe('sealed payload format v2 and the keyring', () => {
  it('names the key id, binds it, and opens v1 and v2 under one keyring', async () => {
    const ring = await keyringFor(SECRET);
    const plain = enc.encode('payload');
    const at = { regionId: 5, term: 7 };
    const v1 = await sealPayload(ring, plain, at);
    expect(v1[1]).toBe(SEAL_FORMAT_V1);
    expect(sealedKeyId(v1)).toBe(0);
    await ring.rotate(3);
    const v2 = await sealPayload(ring, plain, at);
    expect(v2[1]).toBe(SEAL_FORMAT_VERSION);
    expect(sealedKeyId(v2)).toBe(3);
    expect(await openPayload(ring, v1, at)).toEqual(plain);
    expect(await openPayload(ring, v2, at)).toEqual(plain);
    // Another key id in the header: that key does not open it.
    const moved = v2.slice();
    moved[5] = 4;
    await expect(openPayload(ring, moved, at)).rejects.toMatchObject({ kind: 'Unauthentic' });
    // One cipher is the keyring of key id 0: it opens v1, names a v2 entry's unknown key id, rotates nowhere.
    const one = keyringOf(await cipherOf(SECRET));
    expect(await openPayload(one, v1, at)).toEqual(plain);
    await expect(openPayload(one, v2, at)).rejects.toMatchObject({ kind: 'UnknownKeyId' });
    await expect(one.rotate(1)).rejects.toBeInstanceOf(RangeError);
    await expect(ring.rotate(2)).rejects.toBeInstanceOf(RangeError);
    expect(ring.currentKeyId()).toBe(3);
  });

  it('opening an entry under a higher key id makes it current (the rotation travels with the log)', async () => {
    const a = await keyringFor(SECRET, 9);
    const b = await keyringFor(SECRET);
    const sealed = await sealPayload(a, enc.encode('x'), { regionId: 1, term: 1 });
    expect(b.currentKeyId()).toBe(0);
    await openPayload(b, sealed, { regionId: 1, term: 1 });
    expect(b.currentKeyId()).toBe(9);
  });
});

describe('replicated data-key switch', () => {
  it('a rotation is a switch entry every replica applies at one index; restarted stores seal with the switched key unasked', async () => {
    await startCluster({ 1: await keyringFor(SECRET), 2: await keyringFor(SECRET) });
    await put('a', 'under-key-0', 1);
    await stores.get(1)!.rotateDataKey(2);
    await until('store 2 applied the switch', () => (stores.get(2)!.dataKeySwitchOf(REGION)?.keyId ?? 0) === 2);
    const sw = stores.get(1)!.dataKeySwitchOf(REGION)!;
    expect(sw.keyId).toBe(2);
    expect(stores.get(2)!.dataKeySwitchOf(REGION)).toEqual(sw);
    expect(stores.get(1)!.dataKeyStats().switchesProposed).toBe(1);
    // The witness keeps the switch entry in its log and applies nothing: it has no switch.
    expect(stores.get(3)!.dataKeySwitchOf(REGION)).toEqual({ keyId: 0, index: 0 });
    for (const id of [1, 2, 3]) await closeStore(id);
    // Reopened with keyrings that start at key id 0: the persisted switch moves them to 2.
    for (const id of [1, 2, 3] as const) await openStore(id, id === 3 ? undefined : await keyringFor(SECRET));
    expect(stores.get(1)!.dataKeyId()).toBe(2);
    expect(stores.get(2)!.dataKeySwitchOf(REGION)).toEqual(sw);
    stores.get(2)!.campaign(REGION);
    await until('store 2 leads', () => roleOn(2) === 'leader');
    await put('b', 'under-key-2', 2, 2);
    await until('store 1 applied it', () => appliedOn(1) >= appliedOn(2));
    expect(await read(1, 'a')).toBe('under-key-0');
    expect(await read(1, 'b')).toBe('under-key-2');
    expect(new Set(await sealedKeyIdsOn(3))).toEqual(new Set([0, 2]));
    for (const id of [1, 2]) expect(stores.get(id)!.dataKeyStats().staleKeyEntries).toBe(0);
  });

  for (const mutated of [false, true]) {
    it(`a store restarted with a switch in its log and not applied, then elected, ${mutated ? 'seals under the old key (mutation sealBeforeTermApplied)' : 'seals nothing before it applied it'}`, async () => {
      await startCluster({ 1: await keyringFor(SECRET), 2: await keyringFor(SECRET) }, mutated ? { unsafeTestMutations: { sealBeforeTermApplied: true } } : {});
      await put('a', 'under-key-0', 1);
      await until('store 2 applied it', () => appliedOn(2) >= appliedOn(1));
      const before = appliedOn(1);
      // Store 2 gets the switch entry but never hears that it committed.
      dropRule = (from, to, messages) => from === 1 && to === 2 && messages.some((m) => m.message.commit > before);
      await stores.get(1)!.rotateDataKey(1);
      await until('store 1 applied the switch', () => stores.get(1)!.dataKeySwitchOf(REGION)!.keyId === 1);
      await until('store 2 appended the switch', () => lastIndexOn(2) > before);
      expect(appliedOn(2)).toBe(before);
      // Store 1 goes; store 2 restarts with a keyring at key id 0 and the switch unapplied.
      await closeStore(1);
      await closeStore(2);
      await openStore(2, await keyringFor(SECRET), mutated ? { unsafeTestMutations: { sealBeforeTermApplied: true } } : {});
      expect(stores.get(2)!.dataKeyId()).toBe(0);
      // Elected with the witness's vote; its first entry cannot commit while its appends to the witness are lost.
      dropRule = (from, to, messages) => from === 2 && to === 3 && messages.some((m) => m.message.type === 'MsgApp');
      stores.get(2)!.campaign(REGION);
      await until('store 2 leads', () => roleOn(2) === 'leader');
      const written = stores.get(2)!.write(REGION, region.epoch, 'c', 2, [{ type: 'put', cf: 'default', key: enc.encode('b'), value: enc.encode('after-the-switch') }]);
      await new Promise((r) => setTimeout(r, 50));
      dropRule = undefined;
      const r = await written;
      expect(r.ok, JSON.stringify(r)).toBe(true);
      expect(await read(2, 'b')).toBe('after-the-switch');
      expect(stores.get(2)!.dataKeySwitchOf(REGION)!.keyId).toBe(1);
      expect(stores.get(2)!.dataKeyStats().staleKeyEntries).toBe(mutated ? 1 : 0);
    });
  }

  it('a leader that keeps sealing with the first key after the switch is counted on every replica (mutation sealWithFirstDataKey)', async () => {
    await startCluster({ 1: await keyringFor(SECRET), 2: await keyringFor(SECRET) }, { unsafeTestMutations: { sealWithFirstDataKey: true } });
    await stores.get(1)!.rotateDataKey(1);
    await until('store 2 applied the switch', () => (stores.get(2)!.dataKeySwitchOf(REGION)?.keyId ?? 0) === 1);
    await put('a', 'stale', 1);
    await until('store 2 applied it', () => appliedOn(2) >= appliedOn(1));
    for (const id of [1, 2]) expect(stores.get(id)!.dataKeyStats().staleKeyEntries).toBe(1);
  });

  it('the rotateDataKey request rotates like Store.rotateDataKey; it is admin, needs the data key, and a witness or an older id is bad input', async () => {
    await startCluster({ 1: await keyringFor(SECRET), 2: await keyringFor(SECRET) });
    expect(await stores.get(1)!.handle({ type: 'rotateDataKey', keyId: 4 })).toEqual({ ok: true, value: undefined });
    await until('store 2 applied the switch', () => (stores.get(2)!.dataKeySwitchOf(REGION)?.keyId ?? 0) === 4);
    await expect(stores.get(1)!.handle({ type: 'rotateDataKey', keyId: 3 })).rejects.toBeInstanceOf(StoreRequestError);
    await expect(stores.get(3)!.handle({ type: 'rotateDataKey', keyId: 5 })).rejects.toBeInstanceOf(StoreRequestError);
    const q = { type: 'rotateDataKey' as const, keyId: 5 };
    expect(needsDataKey('rotateDataKey')).toBe(true);
    expect(authorizeRequest(2, q, false)).toBe('forbiddenAdmin');
    expect(authorizeRequest(2, q, true, false, true)).toBe('forbiddenDataKeyUnproven');
    expect(authorizeRequest(2, q, true)).toBeUndefined();
  });

  it('an old key retires only once the log is compacted past the switch; then an entry under it is refused, also after a restart', async () => {
    const gc = { logGcThresholdEntries: 4, logGcKeepEntries: 0 };
    await startCluster({ 1: await keyringFor(SECRET), 2: await keyringFor(SECRET) }, gc);
    await put('a', 'under-key-0', 1);
    const old = await sealPayload(await keyringFor(SECRET), enc.encode('x'), { regionId: REGION, term: 1 });
    await stores.get(1)!.rotateDataKey(1);
    await until('store 1 applied the switch', () => stores.get(1)!.dataKeySwitchOf(REGION)!.keyId === 1);
    // The switch (and the entry under key 0 before it) are still in the log: nothing retires.
    expect(await stores.get(1)!.retireDataKeys()).toBe(0);
    for (let seq = 2; seq < 12; seq++) await put(`k${seq}`, 'under-key-1', seq);
    await until('store 1 compacted past the switch', () => stores.get(1)!.status().counters.logCompactions > 0 && firstIndexOn(1) > stores.get(1)!.dataKeySwitchOf(REGION)!.index);
    expect(await stores.get(1)!.retireDataKeys()).toBe(1);
    expect(await read(1, 'a')).toBe('under-key-0');
    const ring = await keyringFor(SECRET, 1);
    ring.retireBelow(1);
    await expect(openPayload(ring, old, { regionId: REGION, term: 1 })).rejects.toMatchObject({ kind: 'RetiredKeyId' });
    await closeStore(1);
    const reopened = await keyringFor(SECRET);
    await openStore(1, reopened, gc);
    expect(reopened.floorKeyId()).toBe(1);
    await expect(openPayload(reopened, old, { regionId: REGION, term: 1 })).rejects.toMatchObject({ kind: 'RetiredKeyId' });
  });

  for (const mutated of [false, true]) {
    it(`a follower behind an entry under the old key ${mutated ? 'that retires it anyway (mutation retireIgnoresLog) stops on it' : 'keeps the key and applies it'}`, async () => {
      await startCluster({ 1: await keyringFor(SECRET), 2: await keyringFor(SECRET) }, mutated ? { unsafeTestMutations: { retireIgnoresLog: true } } : {});
      // Store 2 misses the write under key 0, then is rotated (it forwards the switch) and retires what its rule allows.
      dropRule = (from, to, messages) => from === 1 && to === 2 && messages.some((m) => m.message.type === 'MsgApp');
      await put('a', 'under-key-0', 1);
      await stores.get(2)!.rotateDataKey(1);
      expect(await stores.get(2)!.retireDataKeys()).toBe(mutated ? 1 : 0);
      dropRule = undefined;
      if (mutated) {
        await until('store 2 stopped', () => stores.get(2)!.status().stoppedReason !== undefined);
        // The words the simulator's retired-key check looks for (data-key-rotation.ts).
        expect(stores.get(2)!.status().stoppedReason).toContain('which this store retired');
      } else {
        await until('store 2 applied the switch', () => stores.get(2)!.dataKeySwitchOf(REGION)!.keyId === 1);
        expect(await read(2, 'a')).toBe('under-key-0');
        expect(stores.get(2)!.status().stoppedReason).toBeUndefined();
      }
    });
  }
});

const lastIndexOn = (id: number): number => (stores.get(id) as unknown as { ctx: { peers: Map<number, { log: { lastIndex(): number } }> } }).ctx.peers.get(REGION)!.log.lastIndex();
const firstIndexOn = (id: number): number => (stores.get(id) as unknown as { ctx: { peers: Map<number, { log: { firstIndex(): number } }> } }).ctx.peers.get(REGION)!.log.firstIndex();

describe('the data-key switch across snapshots and restarts', () => {
  it('a snapshot header carries the switch; a header without one (a region that never switched, an older build) decodes without it', () => {
    const h = { id: { storeId: 1, boot: 2, seq: 3 }, region, cfs: ['default'], pairs: 4, dedupEntries: 0, bytes: 40, chunkBytes: 48, crc: 7 };
    const withSwitch = decodeSnapshotData(encodeSnapshotHeader({ ...h, dataKeySwitch: { keyId: 3, index: 41 } }));
    expect(withSwitch.format === SNAPSHOT_FORMAT_CHUNKED && withSwitch.header.dataKeySwitch).toEqual({ keyId: 3, index: 41 });
    const without = decodeSnapshotData(encodeSnapshotHeader(h));
    expect(without.format === SNAPSHOT_FORMAT_CHUNKED && without.header).toEqual(h);
    // Key id 0 is "never switched": nothing is written for it.
    expect(encodeSnapshotHeader({ ...h, dataKeySwitch: { keyId: 0, index: 0 } })).toEqual(encodeSnapshotHeader(h));
  });

  /** Store 2 misses a switch and the log past it (partitioned, the leader compacts): it catches up by a snapshot. */
  async function snapshotPastSwitch(extra: Partial<StoreOptions>): Promise<void> {
    const gc = { logGcThresholdEntries: 4, logGcKeepEntries: 0, logGcLagEntriesMax: 0, ...extra };
    await startCluster({ 1: await keyringFor(SECRET), 2: await keyringFor(SECRET) }, gc);
    await put('a', 'under-key-0', 1);
    await until('store 2 applied it', () => appliedOn(2) >= appliedOn(1));
    router.partition([2], [1, 3]);
    await stores.get(1)!.rotateDataKey(1);
    await until('store 1 applied the switch', () => stores.get(1)!.dataKeySwitchOf(REGION)!.keyId === 1);
    for (let seq = 2; seq < 12; seq++) await put(`k${seq}`, 'under-key-1', seq);
    await until('store 1 compacted past the switch', () => firstIndexOn(1) > stores.get(1)!.dataKeySwitchOf(REGION)!.index);
    router.heal();
    await until('store 2 installed a snapshot and caught up', () => stores.get(2)!.status().counters.snapshotsInstalled > 0 && appliedOn(2) >= appliedOn(1));
  }

  it('a replica built from a snapshot installs the switch it carries, seals with its key, and keeps it after a restart', async () => {
    await snapshotPastSwitch({});
    const sw = stores.get(1)!.dataKeySwitchOf(REGION)!;
    expect(stores.get(2)!.dataKeySwitchOf(REGION)).toEqual(sw);
    expect(stores.get(2)!.dataKeyId()).toBe(1);
    await closeStore(2);
    await openStore(2, await keyringFor(SECRET), { logGcThresholdEntries: 4, logGcKeepEntries: 0, logGcLagEntriesMax: 0 });
    expect(stores.get(2)!.dataKeySwitchOf(REGION)).toEqual(sw);
    expect(stores.get(2)!.dataKeyId()).toBe(1);
    expect(await read(2, 'k11')).toBe('under-key-1');
  });

  it('without it (mutation snapshotWithoutDataKeySwitch) the replica disagrees with the leader at the same applied index', async () => {
    await snapshotPastSwitch({ unsafeTestMutations: { snapshotWithoutDataKeySwitch: true } });
    expect(appliedOn(2)).toBe(appliedOn(1));
    expect(stores.get(1)!.dataKeySwitchOf(REGION)!.keyId).toBe(1);
    expect(stores.get(2)!.dataKeySwitchOf(REGION)).toEqual({ keyId: 0, index: 0 });
  });

  it('a rotation is durable before the keyring moves: a store that leads nothing resumes it when it reopens', async () => {
    await startCluster({ 1: await keyringFor(SECRET), 2: await keyringFor(SECRET) });
    // Store 2 follows: it proposes no switch, so nothing but the rotation record keeps key 3.
    await stores.get(2)!.rotateDataKey(3);
    expect(stores.get(2)!.dataKeySwitchOf(REGION)).toEqual({ keyId: 0, index: 0 });
    await closeStore(2);
    await openStore(2, await keyringFor(SECRET));
    expect(stores.get(2)!.dataKeyId()).toBe(3);
    // An id below it is refused, and refused before anything is saved.
    await expect(stores.get(2)!.rotateDataKey(2)).rejects.toBeInstanceOf(RangeError);
    await closeStore(2);
    await openStore(2, await keyringFor(SECRET));
    expect(stores.get(2)!.dataKeyId()).toBe(3);
  });

  it('a store that forgets its rotation record when it reopens (mutation rotationResumeOff) seals with the old key', async () => {
    await startCluster({ 1: await keyringFor(SECRET), 2: await keyringFor(SECRET) });
    await stores.get(2)!.rotateDataKey(3);
    await closeStore(2);
    await openStore(2, await keyringFor(SECRET), { unsafeTestMutations: { rotationResumeOff: true } });
    expect(stores.get(2)!.dataKeyId()).toBe(0);
  });
});

describe('a follower forwards an overdue switch to its leader (data-key-forward.ts)', () => {
  it('a rotation sent to a follower reaches the leader: the leader proposes the switch, every replica applies it', async () => {
    await startCluster({ 1: await keyringFor(SECRET), 2: await keyringFor(SECRET) });
    await put('a', 'under-key-0', 1);
    await stores.get(2)!.rotateDataKey(4);
    await until('store 1 switched the region it leads', () => stores.get(1)!.dataKeySwitchOf(REGION)!.keyId === 4);
    await until('store 2 applied the switch', () => stores.get(2)!.dataKeySwitchOf(REGION)!.keyId === 4);
    expect(stores.get(1)!.dataKeyId()).toBe(4);
    expect(stores.get(1)!.dataKeyStats().switchesProposed).toBe(1);
    await put('b', 'under-key-4', 2);
    expect(new Set(await sealedKeyIdsOn(3))).toEqual(new Set([0, 4]));
  });

  it('without forwarding (mutation dataKeyForwardOff) a leader that follows no switched region never switches', async () => {
    await startCluster({ 1: await keyringFor(SECRET), 2: await keyringFor(SECRET) }, { unsafeTestMutations: { dataKeyForwardOff: true } });
    await put('a', 'under-key-0', 1);
    await stores.get(2)!.rotateDataKey(4);
    // 10 switch walks of store 2 (DATA_KEY_SWITCH_CHECK_TICKS ticks of 10 ms each); forwarded, it switches within one.
    await new Promise((r) => setTimeout(r, 1_000));
    expect(stores.get(1)!.dataKeySwitchOf(REGION)!.keyId).toBe(0);
    expect(stores.get(1)!.dataKeyId()).toBe(0);
  });

  it('a forward is sent once per key id and leader term, however many walks pass', async () => {
    await startCluster({ 1: await keyringFor(SECRET), 2: await keyringFor(SECRET) });
    router.partition([1], [2, 3]); // the leader hears nothing: the follower's forward stays overdue
    const switcher = (stores.get(2) as unknown as { dataKeySwitcher: { forwards: DataKeyForwards } }).dataKeySwitcher;
    await stores.get(2)!.rotateDataKey(4);
    await until('store 2 forwarded', () => switcher.forwards.forwardsSent === 1);
    await new Promise((r) => setTimeout(r, 10 * 10 * 3)); // three more walks (10 ticks of 10 ms each)
    expect(switcher.forwards.forwardsSent).toBe(1);
  });

  it('a forward from the witness is refused and counted', async () => {
    await startCluster({ 1: await keyringFor(SECRET), 2: await keyringFor(SECRET) });
    stores.get(1)!.receive(3, [forwardFrom(13, 11, 5)]); // peer 13 is the witness, on store 3
    await until('store 1 refused it', () => (stores.get(1)!.status().refused?.['dataKeySwitchFromWitness'] ?? 0) === 1);
    expect(stores.get(1)!.dataKeyId()).toBe(0);
    expect(stores.get(1)!.dataKeySwitchOf(REGION)!.keyId).toBe(0);
  });
});

/** A forwarded switch to key `keyId` from peer `from` to peer `to` of the test region. */
function forwardFrom(from: number, to: number, keyId: number): ReturnType<typeof dataKeyForwardMessage> {
  return dataKeyForwardMessage({ regionId: REGION, peerId: from, region } as unknown as RegionPeer, to, keyId);
}

describe('what a leader accepts of a forwarded switch (forwardRefusal)', () => {
  const leaderOf = (r: Region, holdsData = true) => ({ region: r, machine: { holdsData } }) as unknown as RegionPeer;
  const withLearner: Region = { ...region, peers: [...region.peers, { id: 14, storeId: 4, role: 'learner' }] };

  it('accepts a full voter of the region, to a key it holds and has not retired', async () => {
    expect(await forwardRefusal(leaderOf(region), await keyringFor(SECRET), { regionId: REGION, fromPeerId: 12, keyId: 3 })).toBeUndefined();
  });

  it('refuses a witness, a learner and a peer outside the region', async () => {
    const ring = await keyringFor(SECRET);
    expect(await forwardRefusal(leaderOf(region), ring, { regionId: REGION, fromPeerId: 13, keyId: 3 })).toBe('dataKeySwitchFromWitness');
    expect(await forwardRefusal(leaderOf(withLearner), ring, { regionId: REGION, fromPeerId: 14, keyId: 3 })).toBe('dataKeySwitchFromNonMember');
    expect(await forwardRefusal(leaderOf(region), ring, { regionId: REGION, fromPeerId: 99, keyId: 3 })).toBe('dataKeySwitchFromNonMember');
  });

  it('refuses a region that holds no data (PD group)', async () => {
    expect(await forwardRefusal(leaderOf(region, false), await keyringFor(SECRET), { regionId: REGION, fromPeerId: 12, keyId: 3 })).toBe('dataKeySwitchNotData');
  });

  it('refuses a retired key id and one the store has no key for', async () => {
    const ring = await keyringFor(SECRET, 5);
    ring.retireBelow(4);
    expect(await forwardRefusal(leaderOf(region), ring, { regionId: REGION, fromPeerId: 12, keyId: 3 })).toBe('dataKeySwitchRetiredKey');
    const noDerive = new DataKeyring(new Map([[0, await cipherOf(SECRET)]]));
    expect(await forwardRefusal(leaderOf(region), noDerive, { regionId: REGION, fromPeerId: 12, keyId: 3 })).toBe('dataKeySwitchNoKey');
  });
});
