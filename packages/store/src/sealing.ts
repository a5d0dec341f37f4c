/**
 * Entry payload sealing (issue 14, "Witness replicas"): a data region's write and txn
 * commands enter the Raft log sealed with the cluster's data key (AES-256-GCM), so a replica
 * without the key (a witness: `@peerkv/transport`'s credentials.ts) stores and forwards
 * ciphertext and never the user's keys and values. Full replicas open each entry just before
 * they apply it (`OpenedPayloads`, `BatchRound`); the leader seals its proposal just before
 * it proposes it.
 *
 * Sealed entry layout (the first varUint is the command tag, as in command.ts):
 *
 *     0x06 (SEALED_TAG) | version (SEAL_FORMAT_VERSION) | nonce (12 bytes) | ciphertext ‖ tag (16 bytes)
 *
 * The associated data binds the payload to its region and to the term it was proposed in:
 * `"peerkv-entry" ‖ version ‖ region id ‖ term` (u64 big-endian each). Opening it under the
 * entry's own term means no leader of a later term (nor any replica) can move a recorded
 * payload into another region or another term's entries: only the one leader of that term
 * proposes in it. The nonce is random (96 bits; NIST SP 800-38D's limit of 2^32 random-nonce
 * messages per key is far from a cluster's write count in practice: see SECURITY.md).
 *
 * Not sealed: splits (their key is region metadata a witness must apply), resolved ts
 * (a timestamp), conf changes, and PD's region (store metadata). Entries written before
 * sealing existed (or by a store without a data key) start with their plain command tag and
 * are applied as they are: the tag is the per-entry sealed flag. An entry of a future format
 * version, or a sealed entry on a store without the data key, stops the replica with a
 * `SealedEntryError` naming what to do (it cannot be applied, and skipping it would diverge).
 *
 * The cipher is an interface: WebCrypto's (`webCryptoEntryCipher`) in the browser; a Node store
 * (`peerkv-store`, the benchmarks) uses `@peerkv/node`'s `nodeEntryCipher`, the same AES-GCM from
 * `node:crypto`'s synchronous cipher (WebCrypto's completes on the thread pool LevelDB shares);
 * the simulator passes a synchronous AES-GCM with seeded nonces so a seed replays the same.
 */
import type { RegionError } from '@peerkv/pd';
import type { Entry } from '@peerkv/raft';
import type { RegionPeer } from './peer.ts';

/** The command tag of a sealed payload (after command.ts's tags 1..5). */
export const SEALED_TAG = 6;
/** The sealed layout this build writes and reads. */
export const SEAL_FORMAT_VERSION = 1;
/** Bytes of an AES-GCM nonce. */
export const SEAL_NONCE_BYTES = 12;
/** Bytes of an AES-GCM tag. */
export const SEAL_TAG_BYTES = 16;
const HEADER_BYTES = 2 + SEAL_NONCE_BYTES;
const AAD_LABEL = new TextEncoder().encode('peerkv-entry');

/** AES-GCM under the data key, with the nonces it needs. */
export interface EntryCipher {
  /** A fresh nonce of `SEAL_NONCE_BYTES`. */
  nonce(): Uint8Array<ArrayBuffer>;
  /** Ciphertext ‖ tag. */
  encrypt(nonce: Uint8Array<ArrayBuffer>, aad: Uint8Array<ArrayBuffer>, plain: Uint8Array): Promise<Uint8Array>;
  /** The plaintext; rejects when the tag does not verify. */
  decrypt(nonce: Uint8Array<ArrayBuffer>, aad: Uint8Array<ArrayBuffer>, sealed: Uint8Array<ArrayBuffer>): Promise<Uint8Array>;
}

/** Why a replica cannot apply a sealed entry. */
export type SealedEntryErrorKind = 'NoDataKey' | 'UnknownVersion' | 'Unauthentic' | 'Malformed';

/** A sealed entry this replica cannot open: its apply stops (applying around it would diverge). */
export class SealedEntryError extends Error {
  override readonly name = 'SealedEntryError';
  constructor(
    readonly kind: SealedEntryErrorKind,
    message: string,
  ) {
    super(message);
  }
}

/** The entry's payload is sealed (its first byte is `SEALED_TAG`). */
export function isSealed(data: Uint8Array): boolean {
  return data.length > 0 && data[0] === SEALED_TAG;
}

/** Where a payload is sealed for: its region and the term of the entry that carries it. */
export interface SealBinding {
  regionId: number;
  term: number;
}

function associatedData(version: number, at: SealBinding): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(AAD_LABEL.length + 1 + 16);
  out.set(AAD_LABEL, 0);
  const view = new DataView(out.buffer);
  view.setUint8(AAD_LABEL.length, version);
  view.setBigUint64(AAD_LABEL.length + 1, BigInt(at.regionId));
  view.setBigUint64(AAD_LABEL.length + 9, BigInt(at.term));
  return out;
}

/** Seals a command's bytes for an entry of `at.regionId` proposed in `at.term`. */
export async function sealPayload(cipher: EntryCipher, plain: Uint8Array, at: SealBinding): Promise<Uint8Array> {
  const nonce = cipher.nonce();
  const ct = await cipher.encrypt(nonce, associatedData(SEAL_FORMAT_VERSION, at), plain);
  const out = new Uint8Array(HEADER_BYTES + ct.length);
  out[0] = SEALED_TAG;
  out[1] = SEAL_FORMAT_VERSION;
  out.set(nonce, 2);
  out.set(ct, HEADER_BYTES);
  return out;
}

/**
 * Opens what `sealPayload` sealed, under the region and term of the entry carrying it.
 * `cipher` undefined: this store has no data key. Throws `SealedEntryError`.
 */
export async function openPayload(cipher: EntryCipher | undefined, data: Uint8Array, at: SealBinding): Promise<Uint8Array> {
  if (data.length < HEADER_BYTES + SEAL_TAG_BYTES || data[0] !== SEALED_TAG) throw new SealedEntryError('Malformed', `region ${at.regionId}: a sealed entry of ${data.length} bytes is shorter than its header and tag`);
  const version = data[1];
  if (version !== SEAL_FORMAT_VERSION) {
    throw new SealedEntryError('UnknownVersion', `region ${at.regionId}: an entry is sealed in format v${version}, this store reads v${SEAL_FORMAT_VERSION}: upgrade this store`);
  }
  if (!cipher) {
    throw new SealedEntryError('NoDataKey', `region ${at.regionId}: an entry is sealed (format v${version}) and this store has no data key: start it with the cluster secret (a witness credential holds no data key, so only a witness store may run with one)`);
  }
  const nonce = data.slice(2, HEADER_BYTES);
  try {
    return await cipher.decrypt(nonce, associatedData(version, at), data.slice(HEADER_BYTES));
  } catch {
    throw new SealedEntryError('Unauthentic', `region ${at.regionId}: a sealed entry of term ${at.term} does not open with this store's data key (another cluster's secret, or the entry was altered or moved)`);
  }
}

/**
 * The opened payloads of a full store's sealed entries, so its round applies them without
 * waiting inside a Ready (nothing else may run between a replica's `ready()` and `advance()`
 * on its account): the leader remembers the plaintext of what it seals; a follower starts
 * opening each sealed entry as it arrives (and, for one it missed, as it appends it), normally
 * long before the entry commits; a
 * replica whose next Ready commits an entry not opened yet is left out of the round until it
 * is (`BatchRound`). Keyed weakly by the sealed bytes the Raft log holds: nothing to bound or
 * to drop (an entry reloaded from disk is another object and is simply opened again).
 */
export class OpenedPayloads {
  private readonly opened = new WeakMap<Uint8Array, Uint8Array | SealedEntryError>();
  private readonly opening = new WeakMap<Uint8Array, Promise<void>>();

  /** `cipher` undefined: this store has no data key (each sealed entry fails `NoDataKey`). */
  constructor(private readonly cipher: EntryCipher | undefined) {}

  /** The plaintext of a payload this store sealed (`sealProposal`). */
  remember(sealed: Uint8Array, plain: Uint8Array): void {
    this.opened.set(sealed, plain);
  }

  /**
   * Starts opening the sealed payloads of `entries` that are neither opened nor being opened.
   * Answers undefined when every one is opened (or failed) already, else a promise that settles
   * (never rejects) once they are.
   */
  prefetch(regionId: number, entries: readonly Entry[]): Promise<void> | undefined {
    let waits: Promise<void>[] | undefined;
    for (const e of entries) {
      if (e.type !== 'normal' || !isSealed(e.data) || this.opened.has(e.data)) continue;
      let p = this.opening.get(e.data);
      if (!p) {
        const data = e.data;
        p = openPayload(this.cipher, data, { regionId, term: e.term }).then(
          (plain) => void this.opened.set(data, plain),
          (err: unknown) => void this.opened.set(data, err instanceof SealedEntryError ? err : new SealedEntryError('Malformed', String(err))),
        );
        this.opening.set(data, p);
      }
      (waits ??= []).push(p);
    }
    return waits && Promise.all(waits).then(() => undefined);
  }

  /**
   * `entries` with every sealed payload opened (new entry objects: the log keeps its sealed
   * bytes). Throws the entry's `SealedEntryError` if it failed; every one must be opened
   * (`prefetch` settled) before.
   */
  open(entries: readonly Entry[]): readonly Entry[] {
    if (!entries.some((e) => e.type === 'normal' && isSealed(e.data))) return entries;
    return entries.map((e) => {
      if (e.type !== 'normal' || !isSealed(e.data)) return e;
      const plain = this.opened.get(e.data);
      if (plain === undefined) throw new Error(`entry ${e.index} of term ${e.term} was committed before its payload was opened`);
      if (plain instanceof SealedEntryError) throw plain;
      return { ...e, data: plain };
    });
  }
}

/**
 * Seals a command `peer` (the leader) is about to propose, bound to its current term, and
 * remembers its plaintext for the apply. The answer is the region error to return instead
 * when the peer is no longer the leader of that term once the payload is sealed (the entry
 * would carry another term, and a txn command's reads were made under this one).
 */
export async function sealProposal(cipher: EntryCipher, payloads: OpenedPayloads, peer: RegionPeer, plain: Uint8Array): Promise<Uint8Array | RegionError> {
  const term = peer.raw.status().term;
  const sealed = await sealPayload(cipher, plain, { regionId: peer.regionId, term });
  const st = peer.raw.status();
  if (peer.destroyed || st.term !== term || st.role !== 'leader') return peer.notLeader();
  payloads.remember(sealed, plain);
  return sealed;
}

/** The cipher of a store in a browser or Node: WebCrypto AES-GCM under `dataKey` (`deriveMemberKeys`). */
export function webCryptoEntryCipher(dataKey: CryptoKey): EntryCipher {
  return {
    nonce: () => crypto.getRandomValues(new Uint8Array(SEAL_NONCE_BYTES)),
    encrypt: async (iv, additionalData, plain) => new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData }, dataKey, plain as Uint8Array<ArrayBuffer>)),
    decrypt: async (iv, additionalData, sealed) => new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-GCM', iv, additionalData }, dataKey, sealed)),
  };
}
