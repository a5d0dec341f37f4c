/**
 * `PeerKeyBook`: which identity key a store accepts for which store id on its links (issue 13,
 * finding 6; `@peerkv/transport`'s `PeerKeyPolicy`). In order:
 *
 * 1. A temporary id (a client, or a store still joining) needs no key: it authenticates with
 *    the cluster secret alone and is served `data` requests only (`rpc/authorize.ts`).
 * 2. PD's record: when this store hosts a PD replica, the key in PD's store meta for the id is
 *    the one the remote must prove. PD recorded it when that store joined (admitted under the
 *    cluster secret, as joins are) and never replaces it (`StoreKeyMismatch`).
 * 3. A pinned key (trust on first use): the first key this store saw proven for an id, kept in
 *    its engine. A pin that disagrees with PD's record is replaced by it (PD wins).
 * 4. Neither: a proven key is pinned and admitted; no key is admitted too (a store of an
 *    earlier version, or one PD has no key for yet), so a cluster upgrades store by store.
 *
 * So once this store knows a store's key (from PD or a pin), the cluster secret alone no
 * longer proves that store's id here. What it does not cover: a store without a PD replica
 * that meets an impostor before the real store pins the impostor's key until PD's record
 * reaches it (it learns PD's record only when it hosts a replica; it does not ask PD per link).
 */
import { WriteBatch, type KvEngine } from '@peerkv/storage';
import type { PdStateMachine } from '@peerkv/pd';
import { STORE_PUBLIC_KEY_BYTES } from '@peerkv/proto';
import { publicKeysEqual, type PeerKeyPolicy } from '@peerkv/transport';
import { META_CF, PEER_KEY_PIN_PREFIX_END, PEER_KEY_PIN_PREFIX_START, peerKeyPinKey } from '../keys.ts';
import { isTempStoreId } from '../temp-store-ids.ts';

/** Most pinned keys kept (one per store id ever seen; ids are never reused). Past it, no new pins. */
export const PEER_KEY_PINS_MAX = 4096;

/** What the book did, for `status` lines and tests. */
export interface PeerKeyCounters {
  /** Links admitted with a key that PD's record or a pin matched. */
  matched: number;
  /** Keys pinned on first use. */
  pinned: number;
  /** Pins replaced by PD's record. */
  repinned: number;
  /** Links refused: another key, or none, where one is known. */
  refused: number;
  /** Links of store ids with no known key admitted without one. */
  unkeyed: number;
}

/** See the module comment. */
export class PeerKeyBook implements PeerKeyPolicy {
  private readonly pins = new Map<number, Uint8Array>();
  private pdView: () => PdStateMachine | undefined = () => undefined;
  readonly counters: PeerKeyCounters = { matched: 0, pinned: 0, repinned: 0, refused: 0, unkeyed: 0 };

  private constructor(private readonly engine: KvEngine) {}

  /** The book with the pins recorded in `engine`. */
  static async load(engine: KvEngine): Promise<PeerKeyBook> {
    const book = new PeerKeyBook(engine);
    for await (const { key, value } of engine.scan(META_CF, { start: PEER_KEY_PIN_PREFIX_START, end: PEER_KEY_PIN_PREFIX_END })) {
      if (key.length !== 9 || value.length !== STORE_PUBLIC_KEY_BYTES) continue; // not a pin this version wrote
      book.pins.set(Number(new DataView(key.buffer, key.byteOffset).getBigUint64(1)), new Uint8Array(value));
    }
    return book;
  }

  /** Consult this PD replica's store metas from now on (the store opens after its transport). */
  attachPd(view: () => PdStateMachine | undefined): void {
    this.pdView = view;
  }

  /** The key this store would require of `storeId`, if it knows one. */
  knownKey(storeId: number): Uint8Array | undefined {
    return this.pdView()?.getStore(storeId)?.meta.publicKey ?? this.pins.get(storeId);
  }

  async admit(storeId: number, publicKey: Uint8Array | undefined): Promise<boolean> {
    if (isTempStoreId(storeId)) return true;
    const recorded = this.pdView()?.getStore(storeId)?.meta.publicKey;
    const pinned = this.pins.get(storeId);
    if (recorded !== undefined && (pinned === undefined || !publicKeysEqual(pinned, recorded))) {
      if (pinned !== undefined) this.counters.repinned++;
      await this.pin(storeId, recorded);
    }
    const known = recorded ?? pinned;
    if (known !== undefined) {
      const ok = publicKey !== undefined && publicKeysEqual(publicKey, known);
      if (ok) this.counters.matched++;
      else this.counters.refused++;
      return ok;
    }
    if (publicKey === undefined) {
      this.counters.unkeyed++;
      return true;
    }
    if (this.pins.size < PEER_KEY_PINS_MAX) {
      this.counters.pinned++;
      await this.pin(storeId, publicKey);
    }
    return true;
  }

  private async pin(storeId: number, key: Uint8Array): Promise<void> {
    this.pins.set(storeId, new Uint8Array(key));
    await this.engine.write(new WriteBatch().put(META_CF, peerKeyPinKey(storeId), key), { durability: 'strict' });
  }
}
