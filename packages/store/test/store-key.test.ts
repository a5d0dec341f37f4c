/**
 * The store's identity key pair in its engine (issue 13, finding 6): made once, kept, read
 * back the same; a damaged record is a typed error.
 */
import { describe, expect, it } from 'vitest';
import { MemoryEngine, WriteBatch } from '@peerkv/storage';
import { signTranscript, verifyTranscript } from '@peerkv/transport';
import { META_CF, STORE_CFS, STORE_KEY_PAIR_KEY, StoreConfigError, loadOrCreateStoreKeyPair, readStoreKeyPair } from '../src/index.ts';

const params = { clusterId: 'c', proverStoreId: 2, verifierStoreId: 3, proverNonce: new Uint8Array(32).fill(1), verifierNonce: new Uint8Array(32).fill(2) };

describe('store key pair', () => {
  it('is made once per engine and read back as the same pair', async () => {
    const engine = await MemoryEngine.open({ columnFamilies: STORE_CFS });
    expect(await readStoreKeyPair(engine)).toBeUndefined();
    const made = await loadOrCreateStoreKeyPair(engine);
    expect(made.publicKey).toHaveLength(65);
    expect(made.privateKey.extractable).toBe(false);
    const again = await loadOrCreateStoreKeyPair(engine);
    expect(again.publicKey).toEqual(made.publicKey);
    // The reloaded private key signs what the recorded public key verifies.
    const sig = await signTranscript(again, params);
    expect(await verifyTranscript(made.publicKey, sig, params)).toBe(true);
    expect(await verifyTranscript(made.publicKey, sig, { ...params, proverStoreId: 4 })).toBe(false);
    // Another engine, another key.
    const other = await loadOrCreateStoreKeyPair(await MemoryEngine.open({ columnFamilies: STORE_CFS }));
    expect(other.publicKey).not.toEqual(made.publicKey);
    expect(await verifyTranscript(other.publicKey, sig, params)).toBe(false);
  });

  it('a damaged record is a StoreConfigError, not a silently new key', async () => {
    const engine = await MemoryEngine.open({ columnFamilies: STORE_CFS });
    await engine.write(new WriteBatch().put(META_CF, STORE_KEY_PAIR_KEY, new Uint8Array([1, 3, 9, 9, 9])), { durability: 'strict' });
    await expect(loadOrCreateStoreKeyPair(engine)).rejects.toBeInstanceOf(StoreConfigError);
  });
});
