/**
 * The simulator's entry cipher (`@peerkv/store`'s sealing.ts): real AES-256-GCM, from
 * `node:crypto`'s synchronous cipher instead of WebCrypto's. WebCrypto completes on a thread
 * pool, outside the virtual scheduler's settle turns, so a seed would not replay; this one
 * resolves at once (a microtask). Same layout, same associated data, same tags: the stores
 * run their sealing and opening paths exactly as deployed, only the primitive differs.
 *
 * The key comes from the seed; a nonce is a 4-byte prefix per store incarnation (seeded)
 * followed by a 64-bit counter, so a seed replays the same bytes and nonces never repeat
 * within an incarnation.
 */
import { createCipheriv, createDecipheriv, createHash } from 'node:crypto';
import { SEAL_NONCE_BYTES, SEAL_TAG_BYTES, type EntryCipher } from '@peerkv/store';

/** The data key of a simulated cluster (32 bytes). */
export function simDataKey(seed: number): Buffer {
  return createHash('sha256').update(`peerkv-sim-data-key/${seed}`).digest();
}

/** A cipher for one store incarnation; `noncePrefix` tells incarnations apart. */
export function simEntryCipher(key: Buffer, noncePrefix: number): EntryCipher {
  let counter = 0n;
  return {
    nonce: () => {
      const n = new Uint8Array(SEAL_NONCE_BYTES);
      const view = new DataView(n.buffer);
      view.setUint32(0, noncePrefix >>> 0);
      view.setBigUint64(4, ++counter);
      return n;
    },
    encrypt: (nonce, aad, plain) => {
      const c = createCipheriv('aes-256-gcm', key, nonce);
      c.setAAD(aad);
      const body = Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
      return Promise.resolve(new Uint8Array(body.buffer, body.byteOffset, body.length));
    },
    decrypt: (nonce, aad, sealed) => {
      try {
        const d = createDecipheriv('aes-256-gcm', key, nonce);
        d.setAAD(aad);
        d.setAuthTag(sealed.subarray(sealed.length - SEAL_TAG_BYTES));
        const body = Buffer.concat([d.update(sealed.subarray(0, sealed.length - SEAL_TAG_BYTES)), d.final()]);
        return Promise.resolve(new Uint8Array(body.buffer, body.byteOffset, body.length));
      } catch (e) {
        return Promise.reject(e instanceof Error ? e : new Error(String(e)));
      }
    },
  };
}
