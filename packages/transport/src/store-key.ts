/**
 * Per-store identity keys (issue 13, finding 6): an ECDSA P-256 key pair each store makes once,
 * whose public key PD records for its store id, and with which the store signs its side of
 * every link handshake (`link-transport.ts`). The cluster secret proves membership; this key
 * proves which store a member is. ECDSA P-256 rather than Ed25519: both are in Node 20's
 * WebCrypto, but Chromium shipped Ed25519 only in version 137, and P-256 is in every browser.
 *
 * The transcript a store signs binds the cluster, both store ids, both nonces and the
 * direction (prover first), under its own label, so a signature from one link, one direction
 * or one cluster is worth nothing on another.
 */
import { STORE_PUBLIC_KEY_BYTES } from '@peerkv/proto';
import { tagsEqual } from './link-mac.ts';

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGN_PARAMS = { name: 'ECDSA', hash: 'SHA-256' } as const;
const TRANSCRIPT_LABEL = 'peerkv-link-identity-v1';
/** First byte of an uncompressed curve point (SEC 1), the only raw form WebCrypto exports. */
const UNCOMPRESSED_POINT = 0x04;

/** Bytes of a store's signature: raw r || s (WebCrypto's ECDSA form). */
export const STORE_SIGNATURE_BYTES = 64;
/** Largest exported private key (PKCS #8 of a P-256 key is 138 bytes in Node and Chromium). */
export const STORE_PRIVATE_KEY_BYTES_MAX = 256;

/** A store's key pair as a transport uses it. */
export interface StoreKeyPair {
  /** Signs handshake transcripts; not extractable once loaded. */
  privateKey: CryptoKey;
  /** The raw public key (`STORE_PUBLIC_KEY_BYTES`), what PD records and peers check. */
  publicKey: Uint8Array;
}

/** A key pair as bytes, for the store's engine. */
export interface ExportedStoreKeyPair {
  /** PKCS #8. */
  privateKey: Uint8Array;
  publicKey: Uint8Array;
}

/** A key pair's bytes are not a P-256 key pair. */
export class StoreKeyError extends Error {
  override readonly name = 'StoreKeyError';
}

/** Whether `key` has the shape of a store public key (length and point form; the curve check is at import). */
export function isStorePublicKey(key: Uint8Array): boolean {
  return key.length === STORE_PUBLIC_KEY_BYTES && key[0] === UNCOMPRESSED_POINT;
}

/** A fresh key pair, exported (a store writes it to its engine before it uses it). */
export async function generateStoreKeyPair(): Promise<ExportedStoreKeyPair> {
  const kp = await crypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
  const privateKey = new Uint8Array(await crypto.subtle.exportKey('pkcs8', kp.privateKey));
  const publicKey = new Uint8Array(await crypto.subtle.exportKey('raw', kp.publicKey));
  return { privateKey, publicKey };
}

/** Imports an exported key pair; the private key stays inside WebCrypto. Throws `StoreKeyError`. */
export async function importStoreKeyPair(e: ExportedStoreKeyPair): Promise<StoreKeyPair> {
  if (!isStorePublicKey(e.publicKey)) throw new StoreKeyError(`a store public key is ${STORE_PUBLIC_KEY_BYTES} bytes starting 0x04, not ${e.publicKey.length}`);
  if (e.privateKey.length > STORE_PRIVATE_KEY_BYTES_MAX) throw new StoreKeyError(`private key of ${e.privateKey.length} bytes`);
  let privateKey: CryptoKey;
  try {
    privateKey = await crypto.subtle.importKey('pkcs8', new Uint8Array(e.privateKey), ALGORITHM, false, ['sign']);
    await crypto.subtle.importKey('raw', new Uint8Array(e.publicKey), ALGORITHM, false, ['verify']);
  } catch (err) {
    throw new StoreKeyError(`not a P-256 key pair: ${String(err)}`);
  }
  // The pair must match: a signature by the private key verifies under the public one.
  const probe = new Uint8Array([0x70, 0x65, 0x65, 0x72, 0x6b, 0x76]);
  if (!(await verifyWithPublicKey(e.publicKey, await sign(privateKey, probe), probe))) throw new StoreKeyError('the private and public keys are not one pair');
  return { privateKey, publicKey: new Uint8Array(e.publicKey) };
}

/** What one side of a link signs: its id first (the prover), then the verifier's. */
export interface TranscriptParams {
  clusterId: string;
  proverStoreId: number;
  verifierStoreId: number;
  proverNonce: Uint8Array;
  verifierNonce: Uint8Array;
}

const utf8 = new TextEncoder();

function transcript(p: TranscriptParams): Uint8Array<ArrayBuffer> {
  const text = utf8.encode(`${TRANSCRIPT_LABEL}\u0000${p.clusterId}\u0000${p.proverStoreId}\u0000${p.verifierStoreId}\u0000`);
  const out = new Uint8Array(text.length + p.proverNonce.length + p.verifierNonce.length);
  out.set(text, 0);
  out.set(p.proverNonce, text.length);
  out.set(p.verifierNonce, text.length + p.proverNonce.length);
  return out;
}

async function sign(privateKey: CryptoKey, data: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.sign(SIGN_PARAMS, privateKey, data));
}

async function verifyWithPublicKey(publicKey: Uint8Array, signature: Uint8Array, data: Uint8Array<ArrayBuffer>): Promise<boolean> {
  if (!isStorePublicKey(publicKey) || signature.length !== STORE_SIGNATURE_BYTES) return false;
  try {
    const key = await crypto.subtle.importKey('raw', new Uint8Array(publicKey), ALGORITHM, false, ['verify']);
    return await crypto.subtle.verify(SIGN_PARAMS, key, new Uint8Array(signature), data);
  } catch {
    return false; // not a point on the curve
  }
}

/** This store's signature over its side of a link's handshake. */
export function signTranscript(key: StoreKeyPair, p: TranscriptParams): Promise<Uint8Array> {
  return sign(key.privateKey, transcript(p));
}

/** Whether `signature` is `publicKey`'s over the prover's side of the handshake `p`; false for any malformed input. */
export function verifyTranscript(publicKey: Uint8Array, signature: Uint8Array, p: TranscriptParams): Promise<boolean> {
  return verifyWithPublicKey(publicKey, signature, transcript(p));
}

/** Whether two public keys are the same bytes. */
export function publicKeysEqual(a: Uint8Array, b: Uint8Array): boolean {
  return tagsEqual(a, b);
}
