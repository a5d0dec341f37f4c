/**
 * The three keys of a cluster and the witness credential (issue 14, "Witness replicas").
 *
 * One derivation of the cluster secret (`auth.ts`: HKDF for a generated secret, PBKDF2 for a
 * passphrase) gives 96 bytes, cut into three independent AES/HMAC keys:
 *
 *     bytes  0..32  signaling key   seals SDPs, ICE candidates, announces (`ClusterKeys.sealKey`)
 *     bytes 32..64  membership key  proves membership on each link (`ClusterKeys.proofKey`)
 *     bytes 64..96  data key        seals each Raft entry's payload (`@peerkv/store`'s sealing.ts), key id 0
 *     bytes 96..128 data root       an HKDF key: the data keys of later key ids (`deriveDataKey`,
 *                                   a rotation) and the data-proof key (`dataProofKey`)
 *
 * The first 64 bytes are what `deriveClusterKeys` always derived (a longer HKDF or PBKDF2
 * output starts with the shorter one), so stores that derive all of them interoperate with
 * links set up by the older derivation. Knowing some of these keys tells nothing of the
 * others: in particular the data key of one key id says nothing of another's, which is what a
 * data key rotation would need (not built: SECURITY.md, "Data key rotation", says what is
 * missing; every store seals and opens with key id 0 only, and a leaked secret gives every key
 * id's key anyway). A passphrase's PBKDF2 costs one iteration count per 32 bytes
 * of output, so the 128 bytes cost four (HKDF, for a generated secret, costs nothing).
 *
 * The data-proof key (HMAC-SHA-256) lets a full member prove, to a store that serves data, that
 * it holds the data key (`@peerkv/store`'s rpc/data-key-proof.ts): the membership key alone,
 * which a witness holds, proves a link, not a right to read.
 *
 * A witness store gets a credential instead of the secret: the cluster id, the membership key
 * and the signaling key (its transport needs both: links are proven with the first, and a
 * WebRTC link is set up through sealed signaling), never the data key. With it a witness
 * joins, votes and stores the log, whose data payloads it cannot read.
 */
import { CLUSTER_KEY_BYTES, PBKDF2_ITERATIONS, deriveClusterKeyBits, importClusterKeys, type ClusterKeys } from './auth.ts';

/** Bytes of the data key (AES-256-GCM). */
export const DATA_KEY_BYTES = 32;
/** Bytes of the data root (HKDF input of the later key ids' data keys and of the data-proof key). */
export const DATA_ROOT_BYTES = 32;
/** Highest data key id (`deriveDataKey`): a u32, the width a sealed entry's header would carry it in (today's format v1 carries no key id). */
export const DATA_KEY_ID_MAX = 0xffff_ffff;
const DATA_KEY_INFO = 'peerkv-data-key-v1/';
const DATA_PROOF_INFO = 'peerkv-data-proof-v1';
/** What prefixes a witness credential (format version 1). */
export const WITNESS_CREDENTIAL_PREFIX = 'pkw1.';
/** Characters of a credential, at most (a cluster id of up to `CLUSTER_ID_BYTES_MAX` bytes, base64url, and 64 key bytes). */
export const WITNESS_CREDENTIAL_CHARS_MAX = 512;
/** Bytes of a cluster id a credential may name. */
export const CLUSTER_ID_BYTES_MAX = 256;

const WITNESS_CREDENTIAL_RE = /^pkw1\.([A-Za-z0-9_-]{1,400})\.([A-Za-z0-9_-]{86})$/;

/** A member's keys: the link and signaling keys, and the data keys a witness never gets. */
export interface MemberKeys {
  keys: ClusterKeys;
  /** AES-256-GCM, not extractable: seals and opens Raft entry payloads (data key id 0). */
  dataKey: CryptoKey;
  /** HKDF, not extractable: the data keys of key ids from 1 on (`deriveDataKey`). */
  dataRoot: CryptoKey;
  /** HMAC-SHA-256, not extractable: proves this member holds the data key (`@peerkv/store`'s `withDataKeyProof`). */
  dataProofKey: CryptoKey;
}

/** What a witness holds: no data key. */
export interface WitnessCredential {
  clusterId: string;
  /** The signaling key, then the membership key (`CLUSTER_KEY_BYTES`). */
  keyBytes: Uint8Array<ArrayBuffer>;
}

/** A credential that is not one (`parseWitnessCredential`). */
export class WitnessCredentialError extends Error {
  override readonly name = 'WitnessCredentialError';
}

/** Derives all three keys of a full member from the cluster secret (one derivation). */
export async function deriveMemberKeys(clusterId: string, secret: string, iterations = PBKDF2_ITERATIONS): Promise<MemberKeys> {
  const bits = await deriveClusterKeyBits(clusterId, secret, CLUSTER_KEY_BYTES + DATA_KEY_BYTES + DATA_ROOT_BYTES, iterations);
  const dataEnd = CLUSTER_KEY_BYTES + DATA_KEY_BYTES;
  const keys = await importClusterKeys(clusterId, bits.slice(0, CLUSTER_KEY_BYTES));
  const dataKey = await crypto.subtle.importKey('raw', bits.slice(CLUSTER_KEY_BYTES, dataEnd), 'AES-GCM', false, ['encrypt', 'decrypt']);
  const dataRoot = await crypto.subtle.importKey('raw', bits.slice(dataEnd), 'HKDF', false, ['deriveKey']);
  bits.fill(0);
  const dataProofKey = await crypto.subtle.deriveKey(hkdf(clusterId, DATA_PROOF_INFO), dataRoot, { name: 'HMAC', hash: 'SHA-256', length: 256 }, false, ['sign', 'verify']);
  return { keys, dataKey, dataRoot, dataProofKey };
}

/**
 * The data key of `keyId` (AES-256-GCM, not extractable): key id 0 is `MemberKeys.dataKey`,
 * later ones come from the data root, each independent of the others. Throws `RangeError` for
 * an id outside [0, `DATA_KEY_ID_MAX`].
 */
export async function deriveDataKey(m: Pick<MemberKeys, 'keys' | 'dataKey' | 'dataRoot'>, keyId: number): Promise<CryptoKey> {
  if (!Number.isInteger(keyId) || keyId < 0 || keyId > DATA_KEY_ID_MAX) throw new RangeError(`a data key id is an integer in [0, ${DATA_KEY_ID_MAX}], got ${keyId}`);
  if (keyId === 0) return m.dataKey;
  return crypto.subtle.deriveKey(hkdf(m.keys.clusterId, `${DATA_KEY_INFO}${keyId}`), m.dataRoot, { name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
}

function hkdf(clusterId: string, info: string): HkdfParams {
  const utf8 = new TextEncoder();
  return { name: 'HKDF', hash: 'SHA-256', salt: utf8.encode(`peerkv/data/${clusterId}`), info: utf8.encode(info) };
}

/** The witness credential of a cluster, derived from its secret (what `peerkv witness-credential` prints). */
export async function deriveWitnessCredential(clusterId: string, secret: string, iterations = PBKDF2_ITERATIONS): Promise<string> {
  checkClusterId(clusterId);
  const bits = await deriveClusterKeyBits(clusterId, secret, CLUSTER_KEY_BYTES, iterations);
  return formatWitnessCredential({ clusterId, keyBytes: bits });
}

/** `pkw1.<cluster id, base64url>.<signaling key ‖ membership key, base64url>`. */
export function formatWitnessCredential(c: WitnessCredential): string {
  checkClusterId(c.clusterId);
  if (c.keyBytes.length !== CLUSTER_KEY_BYTES) throw new WitnessCredentialError(`a witness credential holds ${CLUSTER_KEY_BYTES} key bytes, got ${c.keyBytes.length}`);
  return `${WITNESS_CREDENTIAL_PREFIX}${toBase64Url(new TextEncoder().encode(c.clusterId))}.${toBase64Url(c.keyBytes)}`;
}

/** Reads what `formatWitnessCredential` wrote; throws `WitnessCredentialError` on anything else. */
export function parseWitnessCredential(text: string): WitnessCredential {
  const t = text.trim();
  if (t.length > WITNESS_CREDENTIAL_CHARS_MAX) throw new WitnessCredentialError(`a witness credential has at most ${WITNESS_CREDENTIAL_CHARS_MAX} characters, got ${t.length}`);
  if (!t.startsWith(WITNESS_CREDENTIAL_PREFIX)) {
    throw new WitnessCredentialError(t.startsWith('pkw') ? `unknown witness credential version '${t.split('.')[0]}' (this build reads ${WITNESS_CREDENTIAL_PREFIX})` : `not a witness credential (it starts with ${WITNESS_CREDENTIAL_PREFIX}; make one with 'peerkv witness-credential')`);
  }
  const m = WITNESS_CREDENTIAL_RE.exec(t);
  if (!m) throw new WitnessCredentialError('malformed witness credential');
  let clusterId: string;
  try {
    clusterId = new TextDecoder('utf-8', { fatal: true }).decode(fromBase64Url(m[1]));
  } catch {
    throw new WitnessCredentialError('malformed witness credential: its cluster id is not UTF-8');
  }
  checkClusterId(clusterId);
  const keyBytes = fromBase64Url(m[2]);
  if (keyBytes.length !== CLUSTER_KEY_BYTES) throw new WitnessCredentialError('malformed witness credential: wrong key length');
  return { clusterId, keyBytes };
}

/** The link and signaling keys a credential holds (the same as `deriveClusterKeys` gives a full member). */
export function witnessClusterKeys(c: WitnessCredential): Promise<ClusterKeys> {
  return importClusterKeys(c.clusterId, c.keyBytes);
}

function checkClusterId(clusterId: string): void {
  const n = new TextEncoder().encode(clusterId).length;
  if (n === 0 || n > CLUSTER_ID_BYTES_MAX) throw new WitnessCredentialError(`a cluster id has 1 to ${CLUSTER_ID_BYTES_MAX} bytes, got ${n}`);
}

function toBase64Url(bytes: Uint8Array): string {
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64Url(s: string): Uint8Array<ArrayBuffer> {
  const bin = atob(s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
