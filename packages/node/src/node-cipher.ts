/**
 * A Node store's entry cipher (`@peerkv/store`'s sealing.ts): the same AES-256-GCM under the
 * same data key as `webCryptoEntryCipher`, from `node:crypto`'s synchronous cipher. WebCrypto's
 * `subtle.encrypt` completes on libuv's thread pool, which LevelDB's writes share, so each
 * sealed proposal waited behind the engine and a round's group commit took fewer writes
 * (`BENCH_OPS=100 npm run bench:cluster`, 3 stores in one process: 1866-2078 puts/s sealed
 * against 3575 unsealed). This one resolves at once (a microtask). Same layout, nonce size,
 * associated data and tags, so Node and browser stores open each other's entries.
 *
 * `aesGcmEntryCipher` is that cipher for any key and nonce source; the simulator's
 * (`@peerkv/sim`'s sim-cipher.ts, seeded key and counter nonces) is built on it too, through
 * the `@peerkv/node/cipher` entry, which reaches nothing Node-only but `node:crypto`.
 */
import { KeyObject, createCipheriv, createDecipheriv, randomFillSync } from 'node:crypto';
import { SEAL_NONCE_BYTES, SEAL_TAG_BYTES, type EntryCipher } from '@peerkv/store';

/** The cipher for `dataKey` (a WebCrypto AES-GCM key, e.g. `deriveMemberKeys(...).dataKey`; it need not be extractable). */
export function nodeEntryCipher(dataKey: CryptoKey): EntryCipher {
  return aesGcmEntryCipher(KeyObject.from(dataKey), () => randomFillSync(new Uint8Array(SEAL_NONCE_BYTES)));
}

/**
 * AES-256-GCM from `node:crypto` under `key` (32 bytes, or a secret KeyObject), with `nextNonce`
 * giving each sealing its SEAL_NONCE_BYTES nonce (which must never repeat under one key). A
 * sealed body is the ciphertext followed by its SEAL_TAG_BYTES tag, as WebCrypto lays it out.
 * Both operations settle at once; a failure (a wrong tag, a short body) is a rejection.
 */
export function aesGcmEntryCipher(key: KeyObject | Uint8Array, nextNonce: EntryCipher['nonce']): EntryCipher {
  return {
    nonce: nextNonce,
    encrypt: (nonce, aad, plain) => {
      try {
        const c = createCipheriv('aes-256-gcm', key, nonce);
        c.setAAD(aad);
        const body = Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
        return Promise.resolve(new Uint8Array(body.buffer, body.byteOffset, body.length));
      } catch (e) {
        return Promise.reject(e instanceof Error ? e : new Error(String(e)));
      }
    },
    decrypt: (nonce, aad, sealed) => {
      try {
        if (sealed.length < SEAL_TAG_BYTES) throw new Error(`sealed payload of ${sealed.length} bytes is shorter than its ${SEAL_TAG_BYTES}-byte tag`);
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
