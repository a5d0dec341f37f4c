/**
 * `PeerKeyBook`: which identity key a store (or a client) accepts for which store id on its
 * links (issue 13, finding 6; `@peerkv/transport`'s `PeerKeyPolicy`), and the revocation of
 * live links that a key learned later contradicts. In order:
 *
 * 1. A temporary id (a client, or a store still joining) needs no key: it authenticates with
 *    the cluster secret alone and is served `data` requests only (`rpc/authorize.ts`).
 * 2. PD's record, read locally: when this store hosts a PD replica, the key in PD's store meta
 *    for the id is the one the remote must prove. PD recorded it when that store joined
 *    (admitted under the cluster secret, as joins are) and never replaces it
 *    (`StoreKeyMismatch`).
 * 3. A pinned key: one PD's record gave this book earlier (kept in the store's engine; a
 *    client's book keeps them in memory). A pin that disagrees with PD's record is replaced.
 * 4. Neither: the book asks PD (`pdGetStore`, whose answer carries the key) through stores
 *    other than the claimed one (`pdKeyLookup`), within `PEER_KEY_LOOKUP_MS`, and pins the
 *    answer. When PD has no key for the id (a store of an earlier version, or one PD has not
 *    recorded yet) or no other store answers (the claimed store is the only one reachable),
 *    the link is admitted provisionally and checked again (`sweep`) until PD answers.
 *
 * Nothing is pinned on first use any more: before, a store without a PD replica trusted the
 * first key it saw proven for an id, an impostor's included.
 *
 * `sweep` (every `PEER_KEY_SWEEP_MS` once `start`ed) revokes live links: every open link of a
 * store id whose key this book knows (from PD's record or a pin) and which did not prove that
 * key is dropped (`LinkTransport.revokeLink`, counted `identityRevoked` there and `revoked`
 * here), so a key learned after a link opened (PD's record reaching this replica, a lookup
 * answering late) still ends an impostor's link.
 *
 * What it cannot do: an answer relayed by another member is that member's word. A member
 * that holds the cluster secret and answers `pdGetStore` falsely can vouch for an impostor to
 * a store without a PD replica or a client that asks it; a store with a PD replica reads its
 * own.
 */
import { WriteBatch, type KvEngine } from '@peerkv/storage';
import type { PdStateMachine } from '@peerkv/pd';
import { STORE_PUBLIC_KEY_BYTES } from '@peerkv/proto';
import { publicKeysEqual, RpcError, type PeerKeyPolicy } from '@peerkv/transport';
import { META_CF, PEER_KEY_PIN_PREFIX_END, PEER_KEY_PIN_PREFIX_START, peerKeyPinKey } from '../keys.ts';
import { REAL_TIMERS, type Timers } from '../options.ts';
import { isTempStoreId } from '../temp-store-ids.ts';
import { PdCaller, type PdRequester } from './pd-caller.ts';

/** Most pinned keys kept (one per store id ever seen; ids are never reused). Past it, no new pins. */
export const PEER_KEY_PINS_MAX = 4096;
/** Most store ids admitted provisionally and waiting for PD's word at once; past it, links of new ones are refused. */
export const PEER_KEY_UNVERIFIED_MAX = 256;
/** Time one lookup of a store's key in PD may take (while a handshake waits for it), ms. */
export const PEER_KEY_LOOKUP_MS = 2000;
/** Time one store is given to answer a lookup, ms. */
export const PEER_KEY_LOOKUP_ATTEMPT_MS = 1000;
/** Period of `sweep` once started, ms. */
export const PEER_KEY_SWEEP_MS = 1000;
/** First wait before asking PD again about a provisionally admitted id, ms (doubles). */
export const PEER_KEY_RECHECK_MS_MIN = 1000;
/** Cap of that wait, ms. */
export const PEER_KEY_RECHECK_MS_MAX = 30_000;

/** What PD said of a store id's key. */
export type PeerKeyAnswer =
  /** PD's record holds this key. */
  | { kind: 'key'; key: Uint8Array }
  /** PD answered: no key recorded for the id (or no such store yet). */
  | { kind: 'none' }
  /** No store but the claimed one could be asked, or none answered in time. */
  | { kind: 'unavailable' };

/** Asks PD for `storeId`'s key, never through `storeId` itself. */
export type PeerKeyLookup = (storeId: number) => Promise<PeerKeyAnswer>;

/** The links a book watches: the transport it is the policy of. */
export interface KeyedLinks {
  /** Store ids with an open link. */
  peers(): number[];
  /** Drops the link to `storeId` unless it proved `publicKey`; true when one was dropped. */
  revokeLink?(storeId: number, publicKey: Uint8Array): boolean;
}

/** What the book did, for `status` lines and tests. */
export interface PeerKeyCounters {
  /** Links admitted with a key that PD's record or a pin matched. */
  matched: number;
  /** Keys pinned from PD's record read locally. */
  pinned: number;
  /** Keys pinned from a lookup answered by another store. */
  looked: number;
  /** Pins replaced by PD's record. */
  repinned: number;
  /** Links refused: another key, or none, where one is known. */
  refused: number;
  /** Links admitted before PD's word (no key recorded, or PD not reachable but through the claimed store). */
  provisional: number;
  /** Links of store ids with no known key admitted without one. */
  unkeyed: number;
  /** Live links dropped by `sweep`: they did not prove the key learned since. */
  revoked: number;
}

interface Unverified {
  nextCheckMs: number;
  waitMs: number;
  checking: boolean;
}

/** See the module comment. */
export class PeerKeyBook implements PeerKeyPolicy {
  private readonly pins = new Map<number, Uint8Array>();
  private readonly unverified = new Map<number, Unverified>();
  private pdView: () => PdStateMachine | undefined = () => undefined;
  private lookup: PeerKeyLookup | undefined;
  private links: KeyedLinks | undefined;
  private timers: Timers = REAL_TIMERS;
  private now: () => number = () => this.timers.now();
  readonly counters: PeerKeyCounters = { matched: 0, pinned: 0, looked: 0, repinned: 0, refused: 0, provisional: 0, unkeyed: 0, revoked: 0 };

  /** `engine` keeps the pins; none (a client) keeps them in memory. */
  private constructor(private readonly engine: KvEngine | undefined) {}

  /** The book with the pins recorded in `engine`. */
  static async load(engine: KvEngine): Promise<PeerKeyBook> {
    const book = new PeerKeyBook(engine);
    for await (const { key, value } of engine.scan(META_CF, { start: PEER_KEY_PIN_PREFIX_START, end: PEER_KEY_PIN_PREFIX_END })) {
      if (key.length !== 9 || value.length !== STORE_PUBLIC_KEY_BYTES) continue; // not a pin this version wrote
      book.pins.set(Number(new DataView(key.buffer, key.byteOffset).getBigUint64(1)), new Uint8Array(value));
    }
    return book;
  }

  /** A book whose pins live in memory only (a client's: it has no engine). */
  static inMemory(): PeerKeyBook {
    return new PeerKeyBook(undefined);
  }

  /** Consult this PD replica's store metas from now on (the store opens after its transport). */
  attachPd(view: () => PdStateMachine | undefined): void {
    this.pdView = view;
  }

  /**
   * Asks PD through `lookup` for ids with no known key, and sweeps `links` every
   * `PEER_KEY_SWEEP_MS`. Returns the stop function.
   */
  start(o: { links: KeyedLinks; lookup: PeerKeyLookup; timers?: Timers; now?: () => number; sweepMs?: number }): () => void {
    this.links = o.links;
    this.lookup = o.lookup;
    if (o.timers) this.timers = o.timers;
    if (o.now) this.now = o.now;
    let stopped = false;
    let timer: ReturnType<Timers['setTimeout']> | undefined;
    const tick = (): void => {
      if (stopped) return;
      void this.sweep().catch(() => {});
      timer = this.timers.setTimeout(tick, o.sweepMs ?? PEER_KEY_SWEEP_MS);
    };
    timer = this.timers.setTimeout(tick, o.sweepMs ?? PEER_KEY_SWEEP_MS);
    return () => {
      stopped = true;
      this.lookup = undefined;
      if (timer !== undefined) this.timers.clearTimeout(timer);
    };
  }

  /** The key this book would require of `storeId`, if it knows one. */
  knownKey(storeId: number): Uint8Array | undefined {
    return this.pdView()?.getStore(storeId)?.meta.publicKey ?? this.pins.get(storeId);
  }

  /**
   * Whether the open link of `storeId` was admitted provisionally and its key is not
   * confirmed yet: such a store may only reach PD and the key lookup (`rpc/authorize.ts`
   * `PROVISIONAL_REQUESTS`, `rpc/bind-transport.ts`). False for temporary ids (served as
   * clients anyway) and for ids whose key was matched.
   */
  isProvisional(storeId: number): boolean {
    return this.unverified.has(storeId);
  }

  /** Store ids admitted provisionally, waiting for PD's word. */
  unverifiedIds(): number[] {
    return [...this.unverified.keys()].sort((a, b) => a - b);
  }

  async admit(storeId: number, publicKey: Uint8Array | undefined): Promise<boolean> {
    if (isTempStoreId(storeId)) return true;
    let known = await this.recordedOrPinned(storeId);
    if (known === undefined && this.lookup) {
      const answer = await this.lookup(storeId);
      if (answer.kind === 'key') {
        await this.learn(storeId, answer.key);
        known = answer.key;
      }
    }
    if (known !== undefined) {
      const ok = this.compare(publicKey, known);
      if (ok) this.unverified.delete(storeId);
      return ok;
    }
    // Nothing known: admitted until PD says otherwise (`sweep` asks again).
    if (!this.unverified.has(storeId) && this.unverified.size >= PEER_KEY_UNVERIFIED_MAX) {
      this.counters.refused++;
      return false;
    }
    if (!this.unverified.has(storeId)) this.unverified.set(storeId, { nextCheckMs: this.now() + PEER_KEY_RECHECK_MS_MIN, waitMs: PEER_KEY_RECHECK_MS_MIN, checking: false });
    if (publicKey === undefined) this.counters.unkeyed++;
    else this.counters.provisional++;
    return true;
  }

  /**
   * One round: every open link of an id whose key is known must have proved it (else it is
   * revoked); ids admitted provisionally are asked about again when due.
   */
  async sweep(): Promise<void> {
    const links = this.links;
    if (!links) return;
    const open = new Set(links.peers().filter((id) => !isTempStoreId(id)));
    for (const id of this.unverified.keys()) if (!open.has(id)) this.unverified.delete(id);
    const checks: Promise<void>[] = [];
    for (const id of open) {
      const known = await this.recordedOrPinned(id);
      if (known !== undefined) {
        this.unverified.delete(id);
        this.revokeUnless(id, known);
        continue;
      }
      const u = this.unverified.get(id);
      if (u && !u.checking && u.nextCheckMs <= this.now()) checks.push(this.recheck(id, u));
    }
    await Promise.all(checks);
  }

  private async recheck(storeId: number, u: Unverified): Promise<void> {
    const lookup = this.lookup;
    if (!lookup) return;
    u.checking = true;
    try {
      const answer = await lookup(storeId);
      if (answer.kind === 'key') {
        this.unverified.delete(storeId);
        await this.learn(storeId, answer.key);
        this.revokeUnless(storeId, answer.key);
        return;
      }
      u.waitMs = Math.min(u.waitMs * 2, PEER_KEY_RECHECK_MS_MAX);
      u.nextCheckMs = this.now() + u.waitMs;
    } finally {
      u.checking = false;
    }
  }

  private revokeUnless(storeId: number, key: Uint8Array): void {
    if (this.links?.revokeLink?.(storeId, key)) this.counters.revoked++;
  }

  /** PD's record read locally (repinning a pin it contradicts), else the pin. */
  private async recordedOrPinned(storeId: number): Promise<Uint8Array | undefined> {
    const recorded = this.pdView()?.getStore(storeId)?.meta.publicKey;
    const pinned = this.pins.get(storeId);
    if (recorded !== undefined && (pinned === undefined || !publicKeysEqual(pinned, recorded))) {
      if (pinned !== undefined) this.counters.repinned++;
      else this.counters.pinned++;
      await this.pin(storeId, recorded);
    }
    return recorded ?? pinned;
  }

  /** A key PD's record gave through another store: pinned (a pin it contradicts is replaced). */
  private async learn(storeId: number, key: Uint8Array): Promise<void> {
    const pinned = this.pins.get(storeId);
    if (pinned !== undefined && publicKeysEqual(pinned, key)) return;
    if (pinned !== undefined) this.counters.repinned++;
    else this.counters.looked++;
    await this.pin(storeId, key);
  }

  private compare(publicKey: Uint8Array | undefined, known: Uint8Array): boolean {
    const ok = publicKey !== undefined && publicKeysEqual(publicKey, known);
    if (ok) this.counters.matched++;
    else this.counters.refused++;
    return ok;
  }

  private async pin(storeId: number, key: Uint8Array): Promise<void> {
    if (!this.pins.has(storeId) && this.pins.size >= PEER_KEY_PINS_MAX) return;
    this.pins.set(storeId, new Uint8Array(key));
    if (this.engine) await this.engine.write(new WriteBatch().put(META_CF, peerKeyPinKey(storeId), key), { durability: 'strict' });
  }
}

/** Settings of `pdKeyLookup`. */
export interface PdKeyLookupOptions {
  /** Store ids that may be asked (the claimed one and temporary ids are skipped). */
  members: () => readonly number[];
  /** Total time of one lookup, ms (default `PEER_KEY_LOOKUP_MS`). */
  budgetMs?: number;
  /** Rounds over the members one lookup makes (default `PEER_KEY_LOOKUP_ROUNDS_MAX`). */
  roundsMax?: number;
  timers?: Timers;
  now?: () => number;
}

/**
 * Rounds over the other members one lookup makes: after one where none could answer (no PD
 * replica among them, or only the claimed store's, which is not asked), the link is admitted
 * provisionally and `sweep` asks again; more rounds would only hold its handshake.
 */
export const PEER_KEY_LOOKUP_ROUNDS_MAX = 1;

/**
 * A `PeerKeyLookup` over store RPC: `pdGetStore(storeId)` to members other than `storeId`
 * (PD replicas answer, others redirect); `unavailable` when there is no such member or none
 * answered within the budget and `roundsMax` rounds. A redirect naming `storeId` (its store
 * hosting the PD leader) is not followed: the claimed store does not vouch for its own key,
 * and its link waits on this very lookup, so the request would only wait out its timeout.
 */
export function pdKeyLookup(requester: PdRequester, o: PdKeyLookupOptions): PeerKeyLookup {
  return async (storeId) => {
    const others = (): number[] => o.members().filter((id) => id !== storeId && !isTempStoreId(id));
    if (others().length === 0) return { kind: 'unavailable' };
    const budgetMs = o.budgetMs ?? PEER_KEY_LOOKUP_MS;
    const notTheClaimed: PdRequester = {
      request: (target, payload, ro) => (target === storeId ? Promise.reject(new RpcError('Unreachable', `store ${storeId} is not asked for its own key`)) : requester.request(target, payload, ro)),
    };
    const caller = new PdCaller(notTheClaimed, {
      candidates: others,
      budgetMs,
      attemptTimeoutMs: Math.min(PEER_KEY_LOOKUP_ATTEMPT_MS, budgetMs),
      transportSlackMs: 200,
      roundsMax: o.roundsMax ?? PEER_KEY_LOOKUP_ROUNDS_MAX,
      ...(o.timers ? { timers: o.timers } : {}),
      ...(o.now ? { now: o.now } : {}),
    });
    const r = await caller.call({ type: 'pdGetStore', storeId }, 'pdStore');
    if (!r.ok) return { kind: 'unavailable' };
    const key = r.value?.publicKey;
    return key !== undefined ? { kind: 'key', key } : { kind: 'none' };
  };
}
