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
 * within an incarnation.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { aesGcmEntryCipher } from '@peerkv/node/cipher';
import { SEAL_NONCE_BYTES, type DataProofMac, type EntryCipher } from '@peerkv/store';

/** The data key of a simulated cluster (32 bytes). */
export function simDataKey(seed: number): Buffer {
  return createHash('sha256').update(`peerkv-sim-data-key/${seed}`).digest();
}

/** A cipher for one store incarnation; `noncePrefix` tells incarnations apart. */
export function simEntryCipher(key: Buffer, noncePrefix: number): EntryCipher {
  let counter = 0n;
  return aesGcmEntryCipher(key, () => {
    const n = new Uint8Array(SEAL_NONCE_BYTES);
    const view = new DataView(n.buffer);
    view.setUint32(0, noncePrefix >>> 0);
    view.setBigUint64(4, ++counter);
    return n;
  });
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
