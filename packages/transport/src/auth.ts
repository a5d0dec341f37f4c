/**
 * Cluster membership crypto (WebCrypto `crypto.subtle`, the same in Node 20 and browsers).
 *
 * One derivation from the cluster secret yields two independent keys. A generated secret
 * (`generateClusterSecret`: 256 random bits) goes through HKDF-SHA-256: it has all the
 * entropy a key needs, so guessing it offline is hopeless. A human-chosen passphrase goes
 * through PBKDF2-SHA-256 at `PBKDF2_ITERATIONS` (OWASP's figure for it), which makes each
 * offline guess against a recorded sealed payload cost about 0.1–0.3 s. The keys:
 * - an AES-GCM key that seals signaling payloads (SDPs, ICE candidates, announces), so the
 *   signaling server relays ciphertext only;
 * - an HMAC-SHA-256 key for the challenge-response on each link: both sides send a fresh
 *   nonce, each answers with HMAC(label, cluster, verifier's nonce, prover's nonce, prover,
 *   verifier). Binding both nonces and the direction defeats replay and reflection.
 * A third key, the data key, follows them in the same derivation (`credentials.ts`): a witness
 * gets the first two as a credential and never the third.
 */

/** PBKDF2 iterations for a human-chosen passphrase (OWASP 2023, PBKDF2-HMAC-SHA256; y-webrtc uses 100,000). */
export const PBKDF2_ITERATIONS = 600_000;
/** A generated secret: this prefix, then 256 random bits in base64url (43 characters). */
export const GENERATED_SECRET_PREFIX = 'pk1_';
/** Random bytes in a generated secret. */
export const GENERATED_SECRET_BYTES = 32;
const GENERATED_SECRET_RE = /^pk1_[A-Za-z0-9_-]{43}$/;
const HKDF_INFO = 'peerkv-cluster-keys-v1';
const AES_GCM_IV_BYTES = 12;
const PROOF_LABEL = 'peerkv-link-auth-v1';
const OPERATOR_INFO = 'peerkv-operator-key-v1';

/** The keys a member of a cluster holds. */
export interface ClusterKeys {
  clusterId: string;
  /** Seals signaling payloads. */
  sealKey: CryptoKey;
  /** Signs link challenges. */
  proofKey: CryptoKey;
}

const utf8 = new TextEncoder();

/** A new high-entropy cluster secret (`pk1_` + 256 random bits, base64url): share it through an invite. */
export function generateClusterSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(GENERATED_SECRET_BYTES));
  return GENERATED_SECRET_PREFIX + base64url(bytes);
}

/** Whether `secret` has the shape `generateClusterSecret` makes (derived with HKDF, not PBKDF2). */
export function isGeneratedSecret(secret: string): boolean {
  return GENERATED_SECRET_RE.test(secret);
}

function base64url(bytes: Uint8Array): string {
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * Derives the cluster's keys from its secret; the salt binds them to the cluster id. A
 * generated secret uses HKDF; a passphrase PBKDF2 with `iterations`.
 */
export async function deriveClusterKeys(clusterId: string, secret: string, iterations = PBKDF2_ITERATIONS): Promise<ClusterKeys> {
  return importClusterKeys(clusterId, await deriveClusterKeyBits(clusterId, secret, CLUSTER_KEY_BYTES, iterations));
}

/** Bytes of the signaling key and of the membership key (`ClusterKeys.sealKey`, `.proofKey`), in that order, at the start of the derivation. */
export const CLUSTER_KEY_BYTES = 64;

/**
 * The first `byteCount` bytes of the cluster secret's derivation (`credentials.ts` takes 96:
 * the 64 of `ClusterKeys`, then the data key). HKDF-Expand and PBKDF2 both give a longer
 * output that starts with the shorter one, so the first 64 bytes are `ClusterKeys`' either way.
 */
export async function deriveClusterKeyBits(clusterId: string, secret: string, byteCount: number, iterations = PBKDF2_ITERATIONS): Promise<Uint8Array<ArrayBuffer>> {
  return (await deriveSecretBits(secret, `peerkv/cluster/${clusterId}`, HKDF_INFO, byteCount * 8, iterations)) as Uint8Array<ArrayBuffer>;
}

/** `ClusterKeys` from the first `CLUSTER_KEY_BYTES` of a derivation: the signaling key, then the membership key. */
export async function importClusterKeys(clusterId: string, bits: Uint8Array<ArrayBuffer>): Promise<ClusterKeys> {
  const sealKey = await crypto.subtle.importKey('raw', bits.slice(0, 32), 'AES-GCM', false, ['encrypt', 'decrypt']);
  const proofKey = await crypto.subtle.importKey('raw', bits.slice(32, 64), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
  return { clusterId, sealKey, proofKey };
}

/** `bitCount` bits from `secret`: HKDF for a generated secret, PBKDF2 at `iterations` for a passphrase. */
async function deriveSecretBits(secret: string, salt: string, info: string, bitCount: number, iterations: number): Promise<Uint8Array> {
  if (isGeneratedSecret(secret)) {
    const base = await crypto.subtle.importKey('raw', utf8.encode(secret), 'HKDF', false, ['deriveBits']);
    return new Uint8Array(await crypto.subtle.deriveBits({ name: 'HKDF', salt: utf8.encode(salt), info: utf8.encode(info), hash: 'SHA-256' }, base, bitCount));
  }
  const base = await crypto.subtle.importKey('raw', utf8.encode(secret), 'PBKDF2', false, ['deriveBits']);
  return new Uint8Array(await crypto.subtle.deriveBits({ name: 'PBKDF2', salt: utf8.encode(salt), iterations, hash: 'SHA-256' }, base, bitCount));
}

/**
 * The operator key of a cluster: an HMAC-SHA-256 key that signs admin requests (split,
 * membership and leader changes, drains; `@peerkv/store`'s `rpc/operator-auth.ts`), derived
 * from the operator secret as the cluster keys are from the cluster secret, under its own
 * salt (`peerkv/operator/<cluster id>`), so it is independent of them. Stores verify with it
 * and operators (`kv.admin`, the `peerkv` CLI) sign with it. Derived from the cluster secret
 * itself when no separate operator secret is set: then every member can derive it too.
 */
export async function deriveOperatorKey(clusterId: string, operatorSecret: string, iterations = PBKDF2_ITERATIONS): Promise<CryptoKey> {
  const bits = await deriveSecretBits(operatorSecret, `peerkv/operator/${clusterId}`, OPERATOR_INFO, 256, iterations);
  return crypto.subtle.importKey('raw', bits as Uint8Array<ArrayBuffer>, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
}

function proofInput(clusterId: string, verifierNonce: Uint8Array, proverNonce: Uint8Array, prover: number, verifier: number): Uint8Array<ArrayBuffer> {
  const text = utf8.encode(`${PROOF_LABEL}\u0000${clusterId}\u0000${prover}\u0000${verifier}\u0000`);
  const out = new Uint8Array(text.length + verifierNonce.length + proverNonce.length);
  out.set(text, 0);
  out.set(verifierNonce, text.length);
  out.set(proverNonce, text.length + verifierNonce.length);
  return out;
}

/** What a link's prover signs and its verifier checks. */
export interface ProofParams {
  verifierNonce: Uint8Array;
  proverNonce: Uint8Array;
  proverStoreId: number;
  verifierStoreId: number;
}

/** Computes this store's answer to the remote's challenge. */
export async function signProof(keys: ClusterKeys, p: ProofParams): Promise<Uint8Array> {
  const input = proofInput(keys.clusterId, p.verifierNonce, p.proverNonce, p.proverStoreId, p.verifierStoreId);
  return new Uint8Array(await crypto.subtle.sign('HMAC', keys.proofKey, input));
}

/** Checks the remote's answer to this store's challenge (constant-time inside WebCrypto). */
export async function verifyProof(keys: ClusterKeys, p: ProofParams, proof: Uint8Array): Promise<boolean> {
  const input = proofInput(keys.clusterId, p.verifierNonce, p.proverNonce, p.proverStoreId, p.verifierStoreId);
  return crypto.subtle.verify('HMAC', keys.proofKey, new Uint8Array(proof), input);
}

/** A sealed signaling payload as JSON-safe base64 strings. */
export interface SealedPayload {
  iv: string;
  ct: string;
}

function toBase64(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
}

function fromBase64(s: string): Uint8Array<ArrayBuffer> {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Encrypts a JSON value; `topic` is authenticated as associated data. */
export async function seal(keys: ClusterKeys, topic: string, value: unknown): Promise<SealedPayload> {
  const iv = crypto.getRandomValues(new Uint8Array(AES_GCM_IV_BYTES));
  const plain = utf8.encode(JSON.stringify(value));
  const ct = await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: utf8.encode(topic) }, keys.sealKey, plain);
  return { iv: toBase64(iv), ct: toBase64(new Uint8Array(ct)) };
}

/** Decrypts a sealed payload; `undefined` when it is malformed or not sealed with our key. */
export async function open(keys: ClusterKeys, topic: string, sealed: SealedPayload): Promise<unknown> {
  try {
    const iv = fromBase64(sealed.iv);
    const ct = fromBase64(sealed.ct);
    if (iv.length !== AES_GCM_IV_BYTES) return undefined;
    const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv, additionalData: utf8.encode(topic) }, keys.sealKey, ct);
    return JSON.parse(new TextDecoder().decode(plain)) as unknown;
  } catch {
    return undefined;
  }
}
