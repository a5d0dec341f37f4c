/**
 * The cluster's three keys and the witness credential (credentials.ts): the credential holds
 * the signaling and membership keys a full member derives, and nothing of the data key.
 */
import { describe, expect, it } from 'vitest';
import {
  WitnessCredentialError,
  deriveClusterKeyBits,
  deriveClusterKeys,
  deriveDataKey,
  deriveMemberKeys,
  deriveWitnessCredential,
  open,
  parseWitnessCredential,
  seal,
  signProof,
  witnessClusterKeys,
} from '../src/index.ts';

const SECRET = 'pk1_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
const proof = { verifierNonce: new Uint8Array(16).fill(3), proverNonce: new Uint8Array(16).fill(4), proverStoreId: 7, verifierStoreId: 9 };

function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

describe('member keys and the witness credential', () => {
  for (const [kind, secret, iterations] of [['generated secret (HKDF)', SECRET, 1], ['passphrase (PBKDF2)', 'correct horse battery staple', 1000]] as const) {
    it(`the three keys extend the older derivation (${kind})`, async () => {
      const older = await deriveClusterKeys('c', secret, iterations);
      const member = await deriveMemberKeys('c', secret, iterations);
      expect(await signProof(member.keys, proof)).toEqual(await signProof(older, proof));
      expect(await open(older, 't', await seal(member.keys, 't', { x: 1 }))).toEqual({ x: 1 });
      expect(member.dataKey.extractable).toBe(false);
      expect(member.dataKey.algorithm).toMatchObject({ name: 'AES-GCM', length: 256 });
    });
  }

  it('a credential holds the signaling and membership keys and not the data key', async () => {
    const text = await deriveWitnessCredential('c', SECRET, 1);
    const cred = parseWitnessCredential(text);
    expect(cred.clusterId).toBe('c');
    const all = await deriveClusterKeyBits('c', SECRET, 96, 1);
    expect(cred.keyBytes).toEqual(all.slice(0, 64));
    expect(contains(cred.keyBytes, all.slice(64, 96))).toBe(false);
    expect(contains(new TextEncoder().encode(text), new TextEncoder().encode(btoa(String.fromCharCode(...all.slice(64, 96)))))).toBe(false);
    const keys = await witnessClusterKeys(cred);
    expect(await signProof(keys, proof)).toEqual(await signProof(await deriveClusterKeys('c', SECRET, 1), proof));
  });

  it('the data root gives independent data keys per key id and the data-proof key, none in a credential', async () => {
    const member = await deriveMemberKeys('c', SECRET, 1);
    expect(await deriveDataKey(member, 0)).toBe(member.dataKey);
    const iv = new Uint8Array(12);
    const sealedUnder = async (k: CryptoKey) => new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, k, new Uint8Array(4)));
    const [k0, k1, k2, k1again] = await Promise.all([sealedUnder(member.dataKey), sealedUnder(await deriveDataKey(member, 1)), sealedUnder(await deriveDataKey(member, 2)), sealedUnder(await deriveDataKey(member, 1))]);
    expect(k1).toEqual(k1again);
    expect(k1).not.toEqual(k0);
    expect(k1).not.toEqual(k2);
    await expect(deriveDataKey(member, -1)).rejects.toBeInstanceOf(RangeError);
    expect(member.dataProofKey.algorithm).toMatchObject({ name: 'HMAC' });
    const all = await deriveClusterKeyBits('c', SECRET, 128, 1);
    expect(contains(parseWitnessCredential(await deriveWitnessCredential('c', SECRET, 1)).keyBytes, all.slice(96, 128))).toBe(false);
  });

  it('refuses what is not a credential, with a typed error', () => {
    for (const bad of ['', 'pk1_abc', 'pkw2.YQ.' + 'A'.repeat(86), 'pkw1.YQ.' + 'A'.repeat(85), 'pkw1..' + 'A'.repeat(86), 'pkw1.YQ.' + 'A'.repeat(600)]) {
      expect(() => parseWitnessCredential(bad), bad.slice(0, 12)).toThrow(WitnessCredentialError);
    }
    expect(() => parseWitnessCredential('pkw2.YQ.' + 'A'.repeat(86))).toThrow(/unknown witness credential version 'pkw2'/);
  });
});
