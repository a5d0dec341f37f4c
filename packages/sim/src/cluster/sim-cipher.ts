/**
 * The simulator's entry cipher (`@peerkv/store`'s sealing.ts): real AES-256-GCM, from
 * `node:crypto`'s synchronous cipher instead of WebCrypto's. WebCrypto completes on a thread
 * pool, outside the virtual scheduler's settle turns, so a seed would not replay; this one
 * resolves at once (a microtask). It is `@peerkv/node`'s AES-GCM cipher (`aesGcmEntryCipher`,
 * the one `peerkv-store` seals with) under a seeded key and nonces: same layout, same
 * associated data, same tags, so the stores run their sealing and opening paths exactly as
 * deployed, only the primitive differs from a browser's.
 *
 * The key comes from the seed; a nonce is a 4-byte prefix per store incarnation (seeded)
 * followed by a 64-bit counter, so a seed replays the same bytes and nonces never repeat
 * within an incarnation. A store's keyring (`simDataKeyring`) derives key id n > 0 from the seed
 * and n (the nemesis rotates: data-key-rotation.ts); its keys share one counter, so a key
 * derived again after the keyring dropped it never reuses a nonce.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { aesGcmEntryCipher } from '@peerkv/node/cipher';
import { DataKeyring, SEAL_NONCE_BYTES, type DataProofMac, type EntryCipher } from '@peerkv/store';

/** The data key of a simulated cluster (32 bytes). */
export function simDataKey(seed: number): Buffer {
  return createHash('sha256').update(`peerkv-sim-data-key/${seed}`).digest();
}

/** The data key of key id `keyId` of a simulated cluster (id 0 is `simDataKey`). */
export function simDataKeyOf(seed: number, keyId: number): Buffer {
  return keyId === 0 ? simDataKey(seed) : createHash('sha256').update(`peerkv-sim-data-key/${seed}/${keyId}`).digest();
}

/** Seeded nonces of one store incarnation: `noncePrefix` tells incarnations apart. */
function nonces(noncePrefix: number): () => Uint8Array<ArrayBuffer> {
  let counter = 0n;
  return () => {
    const n = new Uint8Array(SEAL_NONCE_BYTES);
    const view = new DataView(n.buffer);
    view.setUint32(0, noncePrefix >>> 0);
    view.setBigUint64(4, ++counter);
    return n;
  };
}

/** A cipher for one store incarnation; `noncePrefix` tells incarnations apart. */
export function simEntryCipher(key: Buffer, noncePrefix: number): EntryCipher {
  return aesGcmEntryCipher(key, nonces(noncePrefix));
}

/** The keyring of one store incarnation: key id 0 given, every later id derived from the seed. */
export function simDataKeyring(seed: number, noncePrefix: number): DataKeyring {
  const nonce = nonces(noncePrefix);
  return new DataKeyring(new Map([[0, aesGcmEntryCipher(simDataKey(seed), nonce)]]), { derive: (keyId) => Promise.resolve(aesGcmEntryCipher(simDataKeyOf(seed, keyId), nonce)) });
}

/**
 * The data-proof MAC of a simulated cluster (`StoreOptions.dataProofKey`, `withDataKeyProof`):
 * HMAC-SHA-256 under a seeded key, from `node:crypto`'s synchronous HMAC for the same reason as
 * the cipher (a seed replays). Every full store and every client gets it; a witness does not.
 */
export function simDataProofMac(seed: number): DataProofMac {
  const key = createHash('sha256').update(`peerkv-sim-data-proof-key/${seed}`).digest();
  const mac = (data: Uint8Array): Uint8Array => new Uint8Array(createHmac('sha256', key).update(data).digest());
  return {
    sign: (data) => Promise.resolve(mac(data)),
    verify: (tag, data) => {
      const want = mac(data);
      return Promise.resolve(tag.length === want.length && timingSafeEqual(tag, want));
    },
  };
}
