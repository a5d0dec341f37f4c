/**
 * Issue 13, finding 6 on the link: a store proves its own key in the handshake, and a member
 * that holds the cluster secret but not store N's private key can no longer open a link as
 * store N to a store that knows N's key (refused, counted `identityRefused`). Clients (no key)
 * still authenticate with the secret alone. Also: the proof with a key stays within
 * `AUTH_PACKET_BYTES_MAX`, and what one signature and one verify per side cost.
 */
import { describe, expect, it } from 'vitest';
import { encodePackets } from '../src/chunking.ts';
import { AUTH_PROOF_IDENTITY_VERSION, encodeFrame, readFrame } from '../src/codec/frame.ts';
import { AUTH_PACKET_BYTES_MAX, type PeerKeyPolicy } from '../src/link-transport.ts';
import { generateStoreKeyPair, importStoreKeyPair, publicKeysEqual, type StoreKeyPair } from '../src/store-key.ts';
import { connect, seqMessage, TestTransport, testKeys, until } from './helpers.ts';

async function keyPair(): Promise<StoreKeyPair> {
  return importStoreKeyPair(await generateStoreKeyPair());
}

/** Accepts for each id only the key in `known`; ids not in it with any key or none. */
function knownKeys(known: Map<number, Uint8Array>): PeerKeyPolicy & { asked: Array<[number, Uint8Array | undefined]> } {
  const asked: Array<[number, Uint8Array | undefined]> = [];
  return {
    asked,
    admit: (id, key) => {
      asked.push([id, key]);
      const k = known.get(id);
      return k === undefined || (key !== undefined && publicKeysEqual(k, key));
    },
  };
}

describe('link identity (per-store keys)', () => {
  it('stores with keys link and see each other’s keys; the proof with a key fits the auth packet limit', async () => {
    const keys = await testKeys('c1', 's3cret');
    const [ka, kb] = [await keyPair(), await keyPair()];
    const pa = knownKeys(new Map([[2, kb.publicKey]]));
    const pb = knownKeys(new Map([[1, ka.publicKey]]));
    const a = new TestTransport({ localStoreId: 1, keys, identity: ka, peerKeys: pa });
    const b = new TestTransport({ localStoreId: 2, keys, identity: kb, peerKeys: pb });
    connect(a, b);
    a.send(2, [seqMessage(1)]);
    await until(() => b.messages().length === 1);
    expect(pa.asked).toEqual([[2, kb.publicKey]]);
    expect(pb.asked).toEqual([[1, ka.publicKey]]);
    const proof = encodeFrame({ type: 'authProof', proof: new Uint8Array(32), identity: { publicKey: ka.publicKey, signature: new Uint8Array(64) } });
    expect(proof[1]).toBe(AUTH_PROOF_IDENTITY_VERSION);
    const [packet] = encodePackets(readFrame(proof), 1 << 20);
    expect(packet.length).toBeLessThan(AUTH_PACKET_BYTES_MAX);
    a.close();
    b.close();
  });

  it('revokeLink drops an open link whose remote did not prove the key learned since (a keyed impostor, a keyless one), and keeps the real store’s', async () => {
    const keys = await testKeys('c1', 's3cret');
    const [ka, k2, kImpostor] = [await keyPair(), await keyPair(), await keyPair()];
    // Nothing known of store 2 when these links open (admitted provisionally).
    const a = new TestTransport({ localStoreId: 1, keys, identity: ka, peerKeys: knownKeys(new Map()) });
    for (const [n, impostorKey] of [[1, kImpostor], [2, undefined]] as const) {
      const impostor = new TestTransport({ localStoreId: 2, keys, ...(impostorKey ? { identity: impostorKey } : {}) });
      connect(a, impostor);
      await until(() => a.peers().includes(2) && impostor.peers().includes(1));
      // Store 2's key becomes known (PD's record): the impostor's link goes, and it hears so.
      expect(a.revokeLink(2, k2.publicKey)).toBe(true);
      expect(a.peers()).toEqual([]);
      expect(a.counters().drops.identityRevoked).toBe(n);
      await until(() => impostor.peers().length === 0);
      expect(a.revokeLink(2, k2.publicKey)).toBe(false); // no link left
      impostor.close();
    }
    const real = new TestTransport({ localStoreId: 2, keys, identity: k2 });
    connect(a, real);
    await until(() => a.peers().includes(2));
    expect(a.revokeLink(2, k2.publicKey)).toBe(false);
    a.send(2, [seqMessage(1)]);
    await until(() => real.messages().length === 1);
    expect(a.counters().drops.identityRevoked).toBe(2);
    a.close();
    real.close();
  });

  it('a member with the secret posing as store 2 is refused by a store that knows store 2’s key, and counted; the real store 2 still links', async () => {
    const keys = await testKeys('c1', 's3cret');
    const [ka, k2, kImpostor] = [await keyPair(), await keyPair(), await keyPair()];
    const a = new TestTransport({ localStoreId: 1, keys, identity: ka, peerKeys: knownKeys(new Map([[2, k2.publicKey]])) });
    // With its own key pair: the signature verifies, the key is not store 2's.
    const impostor = new TestTransport({ localStoreId: 2, keys, identity: kImpostor });
    connect(a, impostor);
    await until(() => a.counters().drops.identityRefused === 1);
    expect(a.peers()).toEqual([]);
    impostor.close();
    // Without any key (secret only), as a client would: refused too, an id with a known key needs it.
    const keyless = new TestTransport({ localStoreId: 2, keys });
    connect(a, keyless);
    await until(() => a.counters().drops.identityRefused === 2);
    expect(a.peers()).toEqual([]);
    keyless.close();
    // Replaying store 2's public key with a signature made for another handshake: the signature fails.
    const replayer = new TestTransport({ localStoreId: 2, keys, identity: { privateKey: kImpostor.privateKey, publicKey: k2.publicKey } });
    connect(a, replayer);
    await until(() => a.counters().drops.identityRefused === 3);
    expect(a.peers()).toEqual([]);
    replayer.close();
    // Nothing was delivered from any of them; the real store 2 links and delivers.
    expect(a.messages()).toEqual([]);
    const real = new TestTransport({ localStoreId: 2, keys, identity: k2 });
    connect(a, real);
    real.send(1, [seqMessage(7)]);
    await until(() => a.messages().length === 1);
    expect(a.peers()).toEqual([2]);
    expect(a.counters().drops.identityRefused).toBe(3);
    expect(a.counters().drops.authFailed).toBe(0);
    a.close();
    real.close();
  });

  it('a client without a key links to a store with keys, and a store without a policy accepts any valid signature', async () => {
    const keys = await testKeys('c1', 's3cret');
    const ka = await keyPair();
    const policy = knownKeys(new Map([[2, (await keyPair()).publicKey]]));
    const a = new TestTransport({ localStoreId: 1, keys, identity: ka, peerKeys: policy });
    const client = new TestTransport({ localStoreId: 2 ** 50 + 5, keys });
    connect(a, client);
    client.send(1, [seqMessage(1)]);
    await until(() => a.messages().length === 1);
    expect(policy.asked).toEqual([[2 ** 50 + 5, undefined]]);
    // The client checks no keys, but it checked store 1's signature before it opened.
    expect(client.peers()).toEqual([1]);
    a.close();
    client.close();
  });

  it('one signature and one verify per side: link setup time with and without keys', async () => {
    const keys = await testKeys('c1', 's3cret');
    const [ka, kb] = [await keyPair(), await keyPair()];
    const rounds = 40;
    const time = async (withKeys: boolean): Promise<number> => {
      const started = performance.now();
      for (let i = 0; i < rounds; i++) {
        const a = new TestTransport({ localStoreId: 1, keys, ...(withKeys ? { identity: ka, peerKeys: knownKeys(new Map([[2, kb.publicKey]])) } : {}) });
        const b = new TestTransport({ localStoreId: 2, keys, ...(withKeys ? { identity: kb, peerKeys: knownKeys(new Map([[1, ka.publicKey]])) } : {}) });
        connect(a, b);
        await until(() => a.peers().length === 1 && b.peers().length === 1);
        a.close();
        b.close();
      }
      return (performance.now() - started) / rounds;
    };
    await time(false); // warm up
    const without = await time(false);
    const withKeys = await time(true);
    console.log(`link handshake: ${without.toFixed(2)} ms without store keys, ${withKeys.toFixed(2)} ms with (mean of ${rounds}, both sides in one process)`);
    // A generous bound: a P-256 signature and verification cost well under a millisecond each.
    expect(withKeys).toBeLessThan(without + 10);
  });
});
