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
import { encodeStoreRequest } from '../rpc/request-codec.ts';
import { decodeStoreResponse } from '../rpc/response-codec.ts';
import { KEY_VOUCHERS_MIN, vouchedKey, type KeyStatement } from './key-vouch.ts';
import type { PdRequester } from './pd-caller.ts';

/** Most pinned keys kept (one per store id ever seen; ids are never reused). Past it, no new pins. */
export const PEER_KEY_PINS_MAX = 4096;
/** Most store ids admitted provisionally and waiting for PD's word at once; past it, links of new ones are refused. */
export const PEER_KEY_UNVERIFIED_MAX = 256;
/** Time one lookup of a store's key in PD may take (while a handshake waits for it), ms. */
export const PEER_KEY_LOOKUP_MS = 2000;
/** Time one store is given to answer one question of a lookup, ms (a lookup asks in two rounds). */
export const PEER_KEY_LOOKUP_ATTEMPT_MS = 1000;
/** Most stores one lookup asks (the answers of PD's replicas are what counts; PD has at most 7). */
export const PEER_KEY_LOOKUP_ASKED_MAX = 16;
/** Most anchored keys one book holds (an invite names PD's voters; PD has at most 7). */
export const PEER_KEY_ANCHORS_MAX = 7;
/** Period of `sweep` once started, ms. */
export const PEER_KEY_SWEEP_MS = 1000;
/** First wait before asking PD again about a provisionally admitted id, ms (doubles). */
export const PEER_KEY_RECHECK_MS_MIN = 1000;
/** Cap of that wait, ms. */
export const PEER_KEY_RECHECK_MS_MAX = 30_000;

/** A store id and the key an invite names for it (one of the inviting cluster's PD voters). */
export interface PeerKeyAnchor {
  storeId: number;
  /** Its public key, raw (`STORE_PUBLIC_KEY_BYTES`). */
  publicKey: Uint8Array;
}

/** Anchors a book refuses: too many, a temporary id, a key of the wrong size, or one id twice. */
export class PeerKeyAnchorError extends Error {
  override readonly name = 'PeerKeyAnchorError';
}

/**
 * The anchors kept in a store's engine differ from the ones it is opened with now (another
 * invite, or one of another cluster): nothing is replaced, the store does not start. Carries
 * both sets so the caller can say which store ids differ.
 */
export class PeerKeyAnchorConflictError extends Error {
  override readonly name = 'PeerKeyAnchorConflictError';
  constructor(
    readonly kept: readonly PeerKeyAnchor[],
    readonly given: readonly PeerKeyAnchor[],
  ) {
    super(`this store was opened with the anchored keys of stores ${kept.map((a) => a.storeId).join(', ')}; the ones given now (stores ${given.map((a) => a.storeId).join(', ')}) differ, and kept anchors are never replaced`);
  }
}

/** Bytes of one kept anchor: its store id (u64) and its key. */
const ANCHOR_RECORD_BYTES = 8 + STORE_PUBLIC_KEY_BYTES;

/** The engine record of `anchors` (ascending store id): a count byte, then `ANCHOR_RECORD_BYTES` each. */
export function encodePeerKeyAnchors(anchors: ReadonlyMap<number, Uint8Array>): Uint8Array {
  const ids = [...anchors.keys()].sort((a, b) => a - b);
  const out = new Uint8Array(1 + ids.length * ANCHOR_RECORD_BYTES);
  const view = new DataView(out.buffer);
  out[0] = ids.length;
  ids.forEach((id, i) => {
    view.setBigUint64(1 + i * ANCHOR_RECORD_BYTES, BigInt(id));
    out.set(anchors.get(id)!, 1 + i * ANCHOR_RECORD_BYTES + 8);
  });
  return out;
}

/** The anchors of an engine record, checked as given ones are; `PeerKeyAnchorError` for a damaged one. */
export function decodePeerKeyAnchors(record: Uint8Array): PeerKeyAnchor[] {
  const count = record[0] ?? 0;
  if (record.length !== 1 + count * ANCHOR_RECORD_BYTES) throw new PeerKeyAnchorError(`the kept anchor record is ${record.length} bytes, not 1 + ${count} x ${ANCHOR_RECORD_BYTES}`);
  const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
  const anchors: PeerKeyAnchor[] = [];
  for (let i = 0; i < count; i++) {
    const at = 1 + i * ANCHOR_RECORD_BYTES;
    const id = view.getBigUint64(at);
    if (id > BigInt(Number.MAX_SAFE_INTEGER)) throw new PeerKeyAnchorError(`the kept anchor record names store id ${id}`);
    anchors.push({ storeId: Number(id), publicKey: record.slice(at + 8, at + ANCHOR_RECORD_BYTES) });
  }
  checkPeerKeyAnchors(anchors);
  return anchors;
}

/** Whether two checked anchor sets name the same ids with the same keys. */
function sameAnchors(a: ReadonlyMap<number, Uint8Array>, b: ReadonlyMap<number, Uint8Array>): boolean {
  if (a.size !== b.size) return false;
  for (const [id, key] of a) {
    const other = b.get(id);
    if (other === undefined || !publicKeysEqual(key, other)) return false;
  }
  return true;
}

/** `anchors` as a map, or `PeerKeyAnchorError` (checked before a store starts, so a bad invite stops nothing half-way). */
export function checkPeerKeyAnchors(anchors: readonly PeerKeyAnchor[]): Map<number, Uint8Array> {
  if (anchors.length > PEER_KEY_ANCHORS_MAX) throw new PeerKeyAnchorError(`at most ${PEER_KEY_ANCHORS_MAX} anchored keys, not ${anchors.length}`);
  const map = new Map<number, Uint8Array>();
  for (const a of anchors) {
    if (typeof a !== 'object' || a === null) throw new PeerKeyAnchorError('an anchor is { storeId, publicKey }');
    if (!Number.isSafeInteger(a.storeId) || a.storeId <= 0 || isTempStoreId(a.storeId)) throw new PeerKeyAnchorError(`anchored store id ${a.storeId} is not a store id`);
    if (!(a.publicKey instanceof Uint8Array) || a.publicKey.length !== STORE_PUBLIC_KEY_BYTES) throw new PeerKeyAnchorError(`anchored key of store ${a.storeId} is not ${STORE_PUBLIC_KEY_BYTES} bytes`);
    if (map.has(a.storeId)) throw new PeerKeyAnchorError(`store ${a.storeId} anchored twice`);
    map.set(a.storeId, new Uint8Array(a.publicKey));
  }
  return map;
}

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

/** Settings of `pdKeyLookup`. */
export interface PdKeyLookupOptions {
  /** Store ids that may be asked (the claimed one and temporary ids are skipped). */
  members: () => readonly number[];
  /**
   * The key the open link to a store proved (`Transport.linkKey`; default: the requester's own
   * `linkKey`, if it has one). Without it no answerer is trusted, and nothing is believed.
   */
  linkKey?: (storeId: number) => Uint8Array | undefined;
  /** Total time of one lookup, ms (default `PEER_KEY_LOOKUP_MS`). */
  budgetMs?: number;
  /** Trusted answers needed (default `KEY_VOUCHERS_MIN`, 2). */
  vouchersMin?: number;
}

/** A requester that can say which key each of its links proved (a `Transport`). */
type KeyedRequester = PdRequester & { linkKey?(storeId: number): Uint8Array | undefined };

/**
 * A `PeerKeyLookup` over store RPC (`key-vouch.ts` says what is believed): asks
 * `pdGetStore(storeId)` of every member but `storeId` at once (PD replicas answer from their
 * record, others redirect: no answer), then asks the answerers about each other whose key the
 * asker does not hold yet, so that their own keys can be trusted; each round within
 * `PEER_KEY_LOOKUP_ATTEMPT_MS` and half the budget. `unavailable` when no member can be asked.
 *
 * Anchored ids (`context.anchored`) are asked only when their link proved the anchored key;
 * `known` gives their anchored key, so they are then trusted answerers.
 *
 * An asker that hosts a replica of PD's group (`context.pdVoters`) asks only PD's voters, and
 * needs as many trusted answers as there are other voters, up to `vouchersMin`: in a group of
 * three where it is one voter and `storeId` another, the third voter's word (its key vouched
 * by `storeId`, which is then asked too) is all there is.
 */
export function pdKeyLookup(requester: KeyedRequester, o: PdKeyLookupOptions): PeerKeyLookup {
  const linkKey = o.linkKey ?? ((id: number) => requester.linkKey?.(id));
  return async (storeId, { known, anchored, pdVoters }) => {
    const voters = pdVoters ? new Set(pdVoters) : undefined;
    // An id posing as an anchored one with another key is never heard (its link is refused anyway).
    const posing = (id: number): boolean => {
      const anchor = anchored?.(id);
      if (anchor === undefined) return false;
      const proven = linkKey(id);
      return proven === undefined || !publicKeysEqual(proven, anchor);
    };
    const asked = o.members().filter((id) => id !== storeId && !isTempStoreId(id) && (!voters || voters.has(id)) && !posing(id)).slice(0, PEER_KEY_LOOKUP_ASKED_MAX);
    if (asked.length === 0) return { kind: 'unavailable' };
    let vouchersMin = o.vouchersMin ?? KEY_VOUCHERS_MIN;
    if (voters) vouchersMin = Math.max(1, Math.min(vouchersMin, [...voters].filter((id) => id !== storeId).length));
    // With one voucher needed, the claimed store may vouch for the answerer's key (nobody else can).
    const subjectVouches = vouchersMin < 2 && o.members().includes(storeId);
    const attemptMs = Math.max(1, Math.min(PEER_KEY_LOOKUP_ATTEMPT_MS, (o.budgetMs ?? PEER_KEY_LOOKUP_MS) / 2));
    const said = new Map<number, Map<number, KeyStatement>>();
    const note = (answerer: number, subject: number, s: KeyStatement | undefined): void => {
      if (s === undefined) return;
      if (!said.has(answerer)) said.set(answerer, new Map());
      said.get(answerer)!.set(subject, s);
    };
    const first = await Promise.all(asked.map((a) => askPdStore(requester, a, storeId, attemptMs)));
    asked.forEach((a, i) => note(a, storeId, first[i]));
    // The answerers about each other, for those whose key the asker does not hold.
    const answerers = [...said.keys()];
    const questions: [number, number][] = [];
    for (const subject of answerers) {
      if (known(subject) !== undefined) continue;
      for (const a of answerers) if (a !== subject) questions.push([a, subject]);
      if (subjectVouches) questions.push([storeId, subject]);
    }
    const second = await Promise.all(questions.map(([a, subject]) => askPdStore(requester, a, subject, attemptMs)));
    questions.forEach(([a, subject], i) => note(a, subject, second[i]));
    const r = vouchedKey(storeId, { said, proven: linkKey, known }, { vouchersMin, subjectVouches });
    return r.kind === 'key' ? { kind: 'key', key: r.key } : r;
  };
}

/** `pdGetStore(subject)` asked of `target` alone: what its PD replica records, or undefined (no replica there, no answer). */
async function askPdStore(requester: PdRequester, target: number, subject: number, timeoutMs: number): Promise<KeyStatement | undefined> {
  try {
    const response = decodeStoreResponse(await requester.request(target, encodeStoreRequest({ type: 'pdGetStore', storeId: subject }), { timeoutMs }));
    if (response.type !== 'pdStore' || !response.result.ok) return undefined; // a redirect: no PD replica there
    return response.result.value?.publicKey ?? 'none';
  } catch {
    return undefined; // unreachable, timed out, or an answer that does not decode
  }
}
