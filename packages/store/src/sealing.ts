/**
 * Entry payload sealing (issue 14, "Witness replicas"): a data region's write and txn
 * commands enter the Raft log sealed with the cluster's data key (AES-256-GCM), so a replica
 * without the key (a witness: `@peerkv/transport`'s credentials.ts) stores and forwards
 * ciphertext and never the user's keys and values. Full replicas open each entry just before
 * they apply it (`OpenedPayloads`, `BatchRound`); the leader seals its proposal just before
 * it proposes it.
 *
 * Sealed entry layouts (the first varUint is the command tag, as in command.ts):
 *
 *     v1: 0x06 (SEALED_TAG) | 1 | nonce (12 bytes) | ciphertext ‖ tag (16 bytes)              (data key id 0)
 *     v2: 0x06 (SEALED_TAG) | 2 | key id (u32 BE) | nonce (12 bytes) | ciphertext ‖ tag (16 bytes)
 *
 * v2 names the data key it was sealed under (a rotation: `EntryKeyring`, `DataKeyring`); an
 * entry sealed under key id 0 is still written as v1, so a cluster that never rotated writes
 * what a build before v2 reads, and every build reads both.
 *
 * The associated data binds the payload to its region and to the term it was proposed in:
 * `"peerkv-entry" ‖ version ‖ region id ‖ term` (u64 big-endian each), and in v2 the key id
 * too (u32 big-endian). Opening it under the
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
import { dataKeyCommandId } from './command.ts';
import type { RegionPeer } from './peer.ts';

/** The command tag of a sealed payload (after command.ts's tags 1..5). */
export const SEALED_TAG = 6;
/** The newest sealed layout this build writes (for key ids above 0) and reads; it reads v1 too. */
export const SEAL_FORMAT_VERSION = 2;
/** The layout without a key id: key id 0, written for it and read. */
export const SEAL_FORMAT_V1 = 1;
/** Highest data key id a v2 header carries (a u32; `@peerkv/transport`'s `DATA_KEY_ID_MAX`). */
export const SEAL_KEY_ID_MAX = 0xffff_ffff;
/** Keys a `DataKeyring` keeps derived (it derives any further one again each time it is needed). */
export const DATA_KEYRING_KEYS_MAX = 64;
/** Bytes of an AES-GCM nonce. */
export const SEAL_NONCE_BYTES = 12;
/** Bytes of an AES-GCM tag. */
export const SEAL_TAG_BYTES = 16;
const HEADER_BYTES_V1 = 2 + SEAL_NONCE_BYTES;
const KEY_ID_BYTES = 4;
const HEADER_BYTES_V2 = 2 + KEY_ID_BYTES + SEAL_NONCE_BYTES;
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

/**
 * The data keys of a store by key id (a rotation): the one it seals new entries with, and every
 * one an entry it opens may name. The current key id travels with the log: once a replica has
 * opened an entry sealed under a higher key id (`observe`), it seals its own proposals with that
 * one, so a region's later leaders keep sealing with the rotated key.
 */
export interface EntryKeyring {
  /** The key id new entries are sealed with. */
  currentKeyId(): number;
  /** The cipher of `keyId`, or undefined when this store has no way to it. */
  cipher(keyId: number): Promise<EntryCipher | undefined>;
  /** An entry sealed under `keyId` opened: that id is current from now on if it is higher. */
  observe(keyId: number): void;
  /** Seals new entries with `keyId` from now on (`DataKeyring.rotate`); rejects with `RangeError` for an id below the current one or with no key. */
  rotate(keyId: number): Promise<void>;
  /** The lowest key id not retired (`DataKeyring.retireBelow`): the keyring opens nothing below it. */
  floorKeyId(): number;
  /** Drops every key id below `floor` (never the current one): entries naming one no longer open (`RetiredKeyId`). */
  retireBelow(floor: number): void;
}

/**
 * The keyring of a store (`EntryKeyring`): key ids it was given, and those `derive` gives
 * (`deriveDataKey` from the data root, so a member opens an entry under any key id without
 * being told it first). The current key id only grows: a rotation names a new key, and a key
 * once used stays readable (retiring one needs its entries and snapshots rewritten: not built,
 * SECURITY.md).
 */
export class DataKeyring implements EntryKeyring {
  private readonly keys = new Map<number, Promise<EntryCipher | undefined>>();
  private current: number;
  private floor = 0;

  constructor(
    given: ReadonlyMap<number, EntryCipher>,
    private readonly o: { currentKeyId?: number; derive?: (keyId: number) => Promise<EntryCipher> } = {},
  ) {
    for (const [id, c] of given) this.keys.set(checkKeyId(id), Promise.resolve(c));
    this.current = checkKeyId(o.currentKeyId ?? 0);
  }

  currentKeyId(): number {
    return this.current;
  }

  cipher(keyId: number): Promise<EntryCipher | undefined> {
    if (!isKeyId(keyId) || keyId < this.floor) return Promise.resolve(undefined);
    const known = this.keys.get(keyId);
    if (known) return known;
    const derive = this.o.derive;
    if (!derive) return Promise.resolve(undefined);
    const p = derive(keyId).then(
      (c) => c,
      () => undefined,
    );
    if (this.keys.size < DATA_KEYRING_KEYS_MAX) this.keys.set(keyId, p);
    return p;
  }

  observe(keyId: number): void {
    if (keyId > this.current) this.current = keyId;
  }

  async rotate(keyId: number): Promise<void> {
    checkKeyId(keyId);
    if (keyId < this.current) throw new RangeError(`data key id ${keyId} is below the current one, ${this.current}: a rotation only moves forward`);
    if (!(await this.cipher(keyId))) throw new RangeError(`no data key for key id ${keyId} on this store (give it, or the data root to derive it)`);
    this.observe(keyId);
  }

  floorKeyId(): number {
    return this.floor;
  }

  retireBelow(floor: number): void {
    const f = Math.min(checkKeyId(floor), this.current);
    if (f <= this.floor) return;
    this.floor = f;
    for (const id of [...this.keys.keys()]) if (id < f) this.keys.delete(id);
  }
}

/** `keyId` can name a data key: an integer in [0, `SEAL_KEY_ID_MAX`]. */
function isKeyId(keyId: number): boolean {
  return Number.isInteger(keyId) && keyId >= 0 && keyId <= SEAL_KEY_ID_MAX;
}

function checkKeyId(keyId: number): number {
  if (!isKeyId(keyId)) throw new RangeError(`a data key id is an integer in [0, ${SEAL_KEY_ID_MAX}], got ${keyId}`);
  return keyId;
}

/** `c` as a keyring: a keyring as it is, one cipher as the keyring of key id 0 alone. */
export function keyringOf(c: EntryCipher | EntryKeyring): EntryKeyring {
  return 'currentKeyId' in c ? c : new DataKeyring(new Map([[0, c]]));
}

/**
 * The key id each of `entries` is sealed under (undefined for a plain one), or undefined when
 * none is sealed: what apply checks against its region's data-key switch (`ApplyContext.sealedKeyId`).
 */
export function sealedKeyIdsOf(entries: readonly Entry[]): (number | undefined)[] | undefined {
  if (!entries.some((e) => e.type === 'normal' && isSealed(e.data))) return undefined;
  return entries.map((e) => (e.type === 'normal' ? sealedKeyId(e.data) : undefined));
}

/**
 * The region error a leader answers instead of proposing `sealed` when its keyring moved past
 * the payload's key id while it was sealed (a data-key switch came in between): an entry after
 * the switch must not carry the older key. Checked right before `propose`, in the same
 * synchronous step; the client retries, and the retry seals with the new key.
 */
export function staleSealError(keys: EntryKeyring, peer: RegionPeer, sealed: Uint8Array): RegionError | undefined {
  const id = sealedKeyId(sealed);
  if (id === undefined || id >= keys.currentKeyId() || peer.mutations.sealWithFirstDataKey) return undefined;
  return { kind: 'ServerIsBusy', reason: `the data key moved to id ${keys.currentKeyId()} while this proposal was sealed under ${id}: retry`, backoffMs: 1 };
}

/** Why a replica cannot apply a sealed entry. */
export type SealedEntryErrorKind = 'NoDataKey' | 'UnknownKeyId' | 'RetiredKeyId' | 'UnknownVersion' | 'Unauthentic' | 'Malformed';

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

function associatedData(version: number, at: SealBinding, keyId: number): Uint8Array<ArrayBuffer> {
  const keyIdBytes = version === SEAL_FORMAT_V1 ? 0 : KEY_ID_BYTES;
  const out = new Uint8Array(AAD_LABEL.length + 1 + 16 + keyIdBytes);
  out.set(AAD_LABEL, 0);
  const view = new DataView(out.buffer);
  view.setUint8(AAD_LABEL.length, version);
  view.setBigUint64(AAD_LABEL.length + 1, BigInt(at.regionId));
  view.setBigUint64(AAD_LABEL.length + 9, BigInt(at.term));
  if (keyIdBytes > 0) view.setUint32(AAD_LABEL.length + 17, keyId);
  return out;
}

/**
 * Seals a command's bytes for an entry of `at.regionId` proposed in `at.term`, under the
 * keyring's current key id (v1 for key id 0, else v2). Throws `SealedEntryError`
 * (`UnknownKeyId`) when the keyring has no key for it.
 */
export async function sealPayload(keys: EntryCipher | EntryKeyring, plain: Uint8Array, at: SealBinding): Promise<Uint8Array> {
  const ring = keyringOf(keys);
  const keyId = ring.currentKeyId();
  const cipher = await ring.cipher(keyId);
  if (!cipher) throw new SealedEntryError('UnknownKeyId', `region ${at.regionId}: no data key for the current key id ${keyId}`);
  const version = keyId === 0 ? SEAL_FORMAT_V1 : SEAL_FORMAT_VERSION;
  const header = version === SEAL_FORMAT_V1 ? HEADER_BYTES_V1 : HEADER_BYTES_V2;
  const nonce = cipher.nonce();
  const ct = await cipher.encrypt(nonce, associatedData(version, at, keyId), plain);
  const out = new Uint8Array(header + ct.length);
  out[0] = SEALED_TAG;
  out[1] = version;
  if (version !== SEAL_FORMAT_V1) new DataView(out.buffer).setUint32(2, keyId);
  out.set(nonce, header - SEAL_NONCE_BYTES);
  out.set(ct, header);
  return out;
}

/** The key id a sealed payload names (0 for v1), or undefined for a payload that is not a sealed v1 or v2 one. */
export function sealedKeyId(data: Uint8Array): number | undefined {
  if (data.length < 2 || data[0] !== SEALED_TAG) return undefined;
  if (data[1] === SEAL_FORMAT_V1) return 0;
  if (data[1] !== SEAL_FORMAT_VERSION || data.length < HEADER_BYTES_V2) return undefined;
  return new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(2);
}

/**
 * Opens what `sealPayload` sealed, under the region and term of the entry carrying it and the
 * key id its header names, which then becomes the keyring's current one if higher
 * (`EntryKeyring.observe`). `keys` undefined: this store has no data key. Throws `SealedEntryError`.
 */
export async function openPayload(keys: EntryCipher | EntryKeyring | undefined, data: Uint8Array, at: SealBinding): Promise<Uint8Array> {
  if (data.length < 2 || data[0] !== SEALED_TAG) throw new SealedEntryError('Malformed', `region ${at.regionId}: a sealed entry of ${data.length} bytes has no sealed header`);
  const version = data[1];
  if (version !== SEAL_FORMAT_V1 && version !== SEAL_FORMAT_VERSION) {
    throw new SealedEntryError('UnknownVersion', `region ${at.regionId}: an entry is sealed in format v${version}, this store reads v${SEAL_FORMAT_V1} and v${SEAL_FORMAT_VERSION}: upgrade this store`);
  }
  const header = version === SEAL_FORMAT_V1 ? HEADER_BYTES_V1 : HEADER_BYTES_V2;
  if (data.length < header + SEAL_TAG_BYTES) throw new SealedEntryError('Malformed', `region ${at.regionId}: a sealed entry of ${data.length} bytes is shorter than its header and tag`);
  if (!keys) {
    throw new SealedEntryError('NoDataKey', `region ${at.regionId}: an entry is sealed (format v${version}) and this store has no data key: start it with the cluster secret (a witness credential holds no data key, so only a witness store may run with one)`);
  }
  const ring = keyringOf(keys);
  const keyId = sealedKeyId(data)!;
  if (keyId < ring.floorKeyId()) {
    throw new SealedEntryError('RetiredKeyId', `region ${at.regionId}: an entry is sealed under data key id ${keyId}, which this store retired (it keeps ids from ${ring.floorKeyId()}): the replica must be rebuilt from a snapshot of a replica that can read it`);
  }
  const cipher = await ring.cipher(keyId);
  if (!cipher) throw new SealedEntryError('UnknownKeyId', `region ${at.regionId}: an entry is sealed under data key id ${keyId}, which this store has no key for: start it with the cluster secret (it derives every key id)`);
  const nonce = data.slice(header - SEAL_NONCE_BYTES, header);
  let plain: Uint8Array;
  try {
    plain = await cipher.decrypt(nonce, associatedData(version, at, keyId), data.slice(header));
  } catch {
    throw new SealedEntryError('Unauthentic', `region ${at.regionId}: a sealed entry of term ${at.term} does not open with this store's data key ${keyId} (another cluster's secret, or the entry was altered or moved)`);
  }
  ring.observe(keyId);
  return plain;
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

  /** `keys` undefined: this store has no data key (each sealed entry fails `NoDataKey`). */
  constructor(private readonly keys: EntryKeyring | undefined) {}

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
      if (e.type !== 'normal') continue;
      // A data-key switch moves this store's keyring on as it is appended, before it commits:
      // a replica that becomes leader has every committed switch in its log (Raft's leader
      // completeness), so it never seals after one with the older key.
      const switched = dataKeyCommandId(e.data);
      if (switched !== undefined) this.keys?.observe(switched);
      if (!isSealed(e.data) || this.opened.has(e.data)) continue;
      let p = this.opening.get(e.data);
      if (!p) {
        const data = e.data;
        p = openPayload(this.keys, data, { regionId, term: e.term }).then(
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
export async function sealProposal(keys: EntryKeyring, payloads: OpenedPayloads, peer: RegionPeer, plain: Uint8Array): Promise<Uint8Array | RegionError> {
  const term = peer.raw.status().term;
  // The simulator's mutation: a leader that keeps sealing with the data key it started with.
  const ring: EntryKeyring = peer.mutations.sealWithFirstDataKey ? Object.assign(Object.create(keys) as EntryKeyring, { currentKeyId: () => 0 }) : keys;
  const sealed = await sealPayload(ring, plain, { regionId: peer.regionId, term });
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
