/**
 * `PeerKeyBook`: which identity key a store (or a client) accepts for which store id on its
 * links (issue 13, finding 6; `@peerkv/transport`'s `PeerKeyPolicy`), and the revocation of
 * live links that a key learned later contradicts. In order:
 *
 * 1. A temporary id (a client, or a store still joining) needs no key: it authenticates with
 *    the cluster secret alone and is served `data` requests only (`rpc/authorize.ts`).
 * 1a. An anchored key: the book was opened from an invite, which names the inviting cluster's
 *    PD voters and their keys (`PeerKeyAnchor`). The invite is the trust root, given out of
 *    band with the secret: an anchored id must prove that key (`anchorRefused` otherwise,
 *    whatever PD's record, a pin or a lookup says), its key is believed without asking, and as
 *    an answerer of a lookup it is trusted when its link proved it. So a liar that is all of
 *    PD an asker reaches can no longer pose as the anchored voters to vouch for itself.
 *    A store keeps the anchors it was first opened with in its engine (`PEER_KEY_ANCHORS_KEY`),
 *    so a restart enforces them without the invite; another set given later is refused
 *    (`PeerKeyAnchorConflictError`), never a silent replacement. A client's book holds them
 *    in memory. A store's join, under a temporary id before it has links of its own, checks
 *    the anchors alone (`anchorPolicy`).
 * 2. PD's record, read locally: when this store hosts a PD replica, the key in PD's store meta
 *    for the id is the one the remote must prove. PD recorded it when that store joined
 *    (admitted under the cluster secret, as joins are) and never replaces it
 *    (`StoreKeyMismatch`).
 * 3. A pinned key: one PD's record gave this book earlier (kept in the store's engine; a
 *    client's book keeps them in memory). A pin that disagrees with PD's record is replaced.
 * 4. Neither: the book asks PD (`pdGetStore`, whose answer carries the key) of every linked
 *    store other than the claimed one (`pdKeyLookup`), within `PEER_KEY_LOOKUP_MS`, and pins
 *    the key only if the answers prove it (`key-vouch.ts`: every PD replica that answered
 *    named it, and at least two of them are stores whose own keys are trusted), so one lying
 *    member cannot vouch. When PD has no key for the id (a store of an earlier version, or one
 *    PD has not recorded yet), the answers disagree, or too few PD replicas answer (the
 *    claimed store is the only one reachable), the link is admitted provisionally (it may only
 *    reach PD and the key lookup: `rpc/authorize.ts`) and checked again (`sweep`).
 *
 * A lookup that believes nothing also says whether it speaks against the key the link proved
 * (`isDoubted`: disputed, or agreeing on another key or on none): a client routes no request to
 * such a store. A dispute is never outvoted: two answerers an attacker registered would then
 * outvote the only honest PD replica an asker reaches (a denial of service by a liar who
 * disputes is the lesser harm: SECURITY.md).
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
 * What it cannot do: where every PD replica the asker reaches is a liar's (its own store and
 * ids it poses as, none of them anchored), their agreeing answers are believed; a store with a
 * PD replica reads its own record. Anchors cover only the voters the invite named.
 */
import { WriteBatch, type KvEngine } from '@peerkv/storage';
import type { PdStateMachine } from '@peerkv/pd';
import { STORE_PUBLIC_KEY_BYTES } from '@peerkv/proto';
import { publicKeysEqual, type PeerKeyPolicy } from '@peerkv/transport';
import { META_CF, PEER_KEY_ANCHORS_KEY, PEER_KEY_PIN_PREFIX_END, PEER_KEY_PIN_PREFIX_START, peerKeyPinKey } from '../keys.ts';
import { REAL_TIMERS, type Timers } from '../options.ts';
import { isTempStoreId } from '../temp-store-ids.ts';
import type { KeyStatement } from './key-vouch.ts';
import { PeerKeyAnchorConflictError, checkPeerKeyAnchors, decodePeerKeyAnchors, encodePeerKeyAnchors, sameAnchors, type PeerKeyAnchor } from './peer-key-anchors.ts';

/** Most pinned keys kept (one per store id ever seen; ids are never reused). Past it, no new pins. */
export const PEER_KEY_PINS_MAX = 4096;
/** Most store ids admitted provisionally and waiting for PD's word at once; past it, links of new ones are refused. */
export const PEER_KEY_UNVERIFIED_MAX = 256;
/** Time one lookup of a store's key in PD may take (while a handshake waits for it), ms. */
export const PEER_KEY_LOOKUP_MS = 2000;
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
  /** PD replicas answered differently (a lying member, or a replica behind the others). */
  | { kind: 'disputed' }
  /** Too few PD replicas other than the claimed store answered, or too few of them are trusted; `named`: what all that answered said. */
  | { kind: 'unavailable'; named?: KeyStatement };

/** What the asker knows when it looks a key up. */
export interface PeerKeyLookupContext {
  /** The key the asker already holds for a store id (to trust the answerers). */
  known: (storeId: number) => Uint8Array | undefined;
  /** The anchored key of a store id (`PeerKeyAnchor`): an answerer that proved another key is not heard. */
  anchored?: (storeId: number) => Uint8Array | undefined;
  /**
   * The other stores with a voter of PD's group, when the asker hosts a replica of it (its own
   * Raft state says so, whatever members answer) but cannot read PD's record (a witness, or a
   * replica that has not applied the key yet); undefined otherwise.
   */
  pdVoters?: readonly number[];
}

/** Asks PD for `storeId`'s key, never believing `storeId` alone. */
export type PeerKeyLookup = (storeId: number, context: PeerKeyLookupContext) => Promise<PeerKeyAnswer>;

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
  /** Lookups whose answers disagreed (nothing believed). */
  disputed: number;
  /** Links refused because they claimed an anchored id without its anchored key (also in `refused`), the join's included (`anchorPolicy`). */
  anchorRefused: number;
}

interface Unverified {
  nextCheckMs: number;
  waitMs: number;
  checking: boolean;
  /** The key the link proved (undefined: none, a store of an earlier version). */
  proven: Uint8Array | undefined;
  /** The last lookup spoke against `proven` (`isDoubted`). */
  doubted: boolean;
}

/** Whether an answer that confirmed no key still speaks against the key a link proved (or its lack of one). */
function speaksAgainst(answer: Exclude<PeerKeyAnswer, { kind: 'key' }>, proven: Uint8Array | undefined): boolean {
  switch (answer.kind) {
    case 'disputed':
      return true;
    case 'none':
      return proven !== undefined;
    case 'unavailable':
      if (answer.named === undefined) return false;
      return answer.named === 'none' ? proven !== undefined : proven === undefined || !publicKeysEqual(answer.named, proven);
  }
}

/** See the module comment. */
export class PeerKeyBook implements PeerKeyPolicy {
  private readonly pins = new Map<number, Uint8Array>();
  private readonly unverified = new Map<number, Unverified>();
  /** Store ids linked at the last `sweep`. */
  private lastOpen = new Set<number>();
  private pdView: () => PdStateMachine | undefined = () => undefined;
  private pdVoters: () => readonly number[] | undefined = () => undefined;
  private lookup: PeerKeyLookup | undefined;
  private links: KeyedLinks | undefined;
  private timers: Timers = REAL_TIMERS;
  private now: () => number = () => this.timers.now();
  readonly counters: PeerKeyCounters = { matched: 0, pinned: 0, looked: 0, repinned: 0, refused: 0, provisional: 0, unkeyed: 0, revoked: 0, disputed: 0, anchorRefused: 0 };

  /** Keys an invite names (`PeerKeyAnchor`), never replaced. */
  private readonly anchors: ReadonlyMap<number, Uint8Array>;

  /** `engine` keeps the pins; none (a client) keeps them in memory. */
  private constructor(
    private readonly engine: KvEngine | undefined,
    anchors: readonly PeerKeyAnchor[],
  ) {
    this.anchors = checkPeerKeyAnchors(anchors);
  }

  /**
   * The book with the pins recorded in `engine`, and its anchors: the ones kept in `engine`
   * (`PEER_KEY_ANCHORS_KEY`), or, on the first open with any, `anchors` (an invite's), which
   * are then kept (strict durability) so a restart enforces them without the invite. Giving
   * the kept set again (in any order) is fine; giving another is `PeerKeyAnchorConflictError`
   * and replaces nothing. `PeerKeyAnchorError` for anchors it refuses (given, or a damaged
   * record).
   */
  static async load(engine: KvEngine, anchors: readonly PeerKeyAnchor[] = []): Promise<PeerKeyBook> {
    const given = checkPeerKeyAnchors(anchors);
    const record = await engine.get(META_CF, PEER_KEY_ANCHORS_KEY);
    const kept = record === undefined ? [] : decodePeerKeyAnchors(record);
    if (kept.length > 0 && given.size > 0 && !sameAnchors(checkPeerKeyAnchors(kept), given)) throw new PeerKeyAnchorConflictError(kept, anchors);
    if (kept.length === 0 && given.size > 0) await engine.write(new WriteBatch().put(META_CF, PEER_KEY_ANCHORS_KEY, encodePeerKeyAnchors(given)), { durability: 'strict' });
    const book = new PeerKeyBook(engine, kept.length > 0 ? kept : anchors);
    for await (const { key, value } of engine.scan(META_CF, { start: PEER_KEY_PIN_PREFIX_START, end: PEER_KEY_PIN_PREFIX_END })) {
      if (key.length !== 9 || value.length !== STORE_PUBLIC_KEY_BYTES) continue; // not a pin this version wrote
      book.pins.set(Number(new DataView(key.buffer, key.byteOffset).getBigUint64(1)), new Uint8Array(value));
    }
    return book;
  }

  /** A book whose pins live in memory only (a client's: it has no engine). */
  static inMemory(anchors: readonly PeerKeyAnchor[] = []): PeerKeyBook {
    return new PeerKeyBook(undefined, anchors);
  }

  /** Every anchored id and key (ascending id): what this book was opened with or kept. */
  anchorList(): PeerKeyAnchor[] {
    return [...this.anchors.entries()].sort((a, b) => a[0] - b[0]).map(([storeId, key]) => ({ storeId, publicKey: new Uint8Array(key) }));
  }

  /** The anchored key of `storeId`, if an invite named it. */
  anchoredKey(storeId: number): Uint8Array | undefined {
    return this.anchors.get(storeId);
  }

  /** Consult this PD replica's store metas from now on (the store opens after its transport). */
  attachPd(view: () => PdStateMachine | undefined, voters?: () => readonly number[] | undefined): void {
    this.pdView = view;
    if (voters) this.pdVoters = voters;
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
    return this.anchors.get(storeId) ?? this.pdView()?.getStore(storeId)?.meta.publicKey ?? this.pins.get(storeId);
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

  /**
   * Whether `storeId`'s link is provisional and the last lookup spoke against the key it proved:
   * the answers disagree, or agree on another key (or on none where the link proved one). A
   * client routes nothing to such a store (`storeClient`, `PeerKV.connect`). A provisional link
   * no answer contradicts (no PD replica but the claimed store reachable, or too few trusted
   * ones agreeing with it) is not doubted: whoever the client then reaches is all it hears.
   */
  isDoubted(storeId: number): boolean {
    return this.unverified.get(storeId)?.doubted ?? false;
  }

  /** Store ids admitted provisionally, waiting for PD's word. */
  unverifiedIds(): number[] {
    return [...this.unverified.keys()].sort((a, b) => a - b);
  }

  /**
   * The policy of a transport this store opens under a temporary id (probing, and the join that
   * asks PD for its id: `network-store.ts`), before it has an id, links of its own or a way to
   * ask PD about keys: an anchored id must prove its anchored key (refused otherwise, counted
   * `anchorRefused` and `refused` here), other ids are admitted as a transport without a
   * policy admits them (nothing else can be checked yet). So a member posing as an anchored
   * voter cannot answer a join, say with a store id of its choosing. Without anchors it admits
   * every link.
   */
  anchorPolicy(): PeerKeyPolicy {
    return {
      admit: (storeId, publicKey) => {
        const anchored = isTempStoreId(storeId) ? undefined : this.anchors.get(storeId);
        return anchored === undefined || this.admitAnchored(publicKey, anchored);
      },
    };
  }

  async admit(storeId: number, publicKey: Uint8Array | undefined): Promise<boolean> {
    if (isTempStoreId(storeId)) return true;
    const anchored = this.anchors.get(storeId);
    if (anchored !== undefined) return this.admitAnchored(publicKey, anchored);
    let known = await this.recordedOrPinned(storeId);
    let answer: PeerKeyAnswer | undefined;
    if (known === undefined && this.lookup) {
      answer = await this.ask(this.lookup, storeId);
      if (answer.kind === 'key') {
        await this.learn(storeId, answer.key);
        known = answer.key;
      }
    }
    if (known === undefined && answer !== undefined && answer.kind !== 'key') {
      const u = this.unverified.get(storeId);
      if (u) {
        u.proven = publicKey;
        this.weigh(u, answer);
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
    if (!this.unverified.has(storeId)) {
      const u: Unverified = { nextCheckMs: this.now() + PEER_KEY_RECHECK_MS_MIN, waitMs: PEER_KEY_RECHECK_MS_MIN, checking: false, proven: publicKey, doubted: false };
      if (answer !== undefined && answer.kind !== 'key') this.weigh(u, answer);
      this.unverified.set(storeId, u);
    }
    if (publicKey === undefined) this.counters.unkeyed++;
    else this.counters.provisional++;
    return true;
  }

  /** Notes whether a lookup that believed no key speaks against `u`'s link (`doubted`). */
  private weigh(u: Unverified, answer: Exclude<PeerKeyAnswer, { kind: 'key' }>): void {
    u.doubted = speaksAgainst(answer, u.proven);
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
    // A store linked since the last round may be a PD replica whose answer was missing: ask again now.
    const grown = [...open].some((id) => !this.lastOpen.has(id));
    this.lastOpen = open;
    if (grown) for (const u of this.unverified.values()) u.nextCheckMs = Math.min(u.nextCheckMs, this.now());
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
      const answer = await this.ask(lookup, storeId);
      if (answer.kind === 'key') {
        this.unverified.delete(storeId);
        await this.learn(storeId, answer.key);
        this.revokeUnless(storeId, answer.key);
        return;
      }
      this.weigh(u, answer);
      u.waitMs = Math.min(u.waitMs * 2, PEER_KEY_RECHECK_MS_MAX);
      u.nextCheckMs = this.now() + u.waitMs;
    } finally {
      u.checking = false;
    }
  }

  private async ask(lookup: PeerKeyLookup, storeId: number): Promise<PeerKeyAnswer> {
    const pdVoters = this.pdVoters();
    const anchored = (id: number): Uint8Array | undefined => this.anchors.get(id);
    const answer = await lookup(storeId, { known: (id) => this.knownKey(id), anchored, ...(pdVoters ? { pdVoters } : {}) });
    if (answer.kind === 'disputed') this.counters.disputed++;
    return answer;
  }

  private revokeUnless(storeId: number, key: Uint8Array): void {
    if (this.links?.revokeLink?.(storeId, key)) this.counters.revoked++;
  }

  /** The anchored key, else PD's record read locally (repinning a pin it contradicts), else the pin. */
  private async recordedOrPinned(storeId: number): Promise<Uint8Array | undefined> {
    const anchored = this.anchors.get(storeId);
    if (anchored !== undefined) return anchored;
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

  /** Whether a link proved `anchored`, the anchored key of the id it claims (`anchorRefused` when not). */
  private admitAnchored(publicKey: Uint8Array | undefined, anchored: Uint8Array): boolean {
    const ok = this.compare(publicKey, anchored);
    if (!ok) this.counters.anchorRefused++;
    return ok;
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
