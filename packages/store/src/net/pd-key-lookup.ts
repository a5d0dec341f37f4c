/**
 * `pdKeyLookup`: the `PeerKeyLookup` a `PeerKeyBook` (peer-keys.ts, item 4) asks when it knows
 * no key for a store id: PD's replicas among the linked stores, over store RPC.
 */
import { publicKeysEqual } from '@peerkv/transport';
import { isTempStoreId } from '../temp-store-ids.ts';
import { encodeStoreRequest } from '../rpc/request-codec.ts';
import { decodeStoreResponse } from '../rpc/response-codec.ts';
import { KEY_VOUCHERS_MIN, vouchedKey, type KeyStatement } from './key-vouch.ts';
import type { PdRequester } from './pd-caller.ts';
import { PEER_KEY_LOOKUP_MS, type PeerKeyLookup } from './peer-keys.ts';

/** Time one store is given to answer one question of a lookup, ms (a lookup asks in two rounds). */
export const PEER_KEY_LOOKUP_ATTEMPT_MS = 1000;
/** Most stores one lookup asks (the answers of PD's replicas are what counts; PD has at most 7). */
export const PEER_KEY_LOOKUP_ASKED_MAX = 16;

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
