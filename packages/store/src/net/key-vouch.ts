/**
 * When PD's answers about a store key, relayed by members, are believed (issue 13): the rule
 * `pdKeyLookup` applies to what PD replicas said, pure and without I/O.
 *
 * A store without a PD replica, and a client, cannot read PD's record; every answer reaches
 * it through a member, and a member holding the cluster secret may lie. So one answer is
 * never enough. A key for `subject` is believed when:
 *
 * 1. every store that answered about `subject` (a PD replica answers; a store without one
 *    redirects, which is no answer) gave that same key: one disagreeing answer, another key
 *    or "no key", and nothing is believed (`disputed`);
 * 2. at least `vouchersMin` (2) of them are **trusted**: the key its link proved is the key
 *    the asker already holds for it (PD's record, or a pin of an earlier believed answer), or
 *    every other answerer that was asked about it said that key and at least one did.
 *
 * An asker that hosts a replica of PD's group without reading PD's record (a witness) knows
 * PD's voters from its own Raft state; in a group of three it can have one voucher only, and
 * `pdKeyLookup` asks for one (`subjectVouches`): there, one lying PD voter can vouch.
 *
 * So a lying member can vouch for an impostor only where every PD replica the asker reaches is
 * its own: one honest PD replica among the answers disputes the lie, and a single member
 * (one answer) never reaches `vouchersMin`. The ids a liar poses as with keys of its own are
 * not trusted either: an honest answerer names their real key, or none.
 */
import { publicKeysEqual } from '@peerkv/transport';

/** What one answerer said of one store id: its key in PD's record, or that PD has none. */
export type KeyStatement = Uint8Array | 'none';

/** What a lookup gathered. */
export interface KeyStatements {
  /** Answerer -> subject -> what it said (absent: it was not asked, or did not answer). */
  said: ReadonlyMap<number, ReadonlyMap<number, KeyStatement>>;
  /** The key each answerer's link proved (undefined: none, or unknown). */
  proven: (answerer: number) => Uint8Array | undefined;
  /** The key the asker already holds for a store id (PD's record or a pin). */
  known: (storeId: number) => Uint8Array | undefined;
}

/** Default `vouchersMin`: trusted answers needed to believe a key. */
export const KEY_VOUCHERS_MIN = 2;

/** What the rule concludes about `subject`. */
export type VouchResult =
  | { kind: 'key'; key: Uint8Array; vouchers: number[] }
  /** Every answerer said PD has no key for it. */
  | { kind: 'none' }
  /** The answers disagree: a liar, or a PD replica behind the others. */
  | { kind: 'disputed' }
  /** Too few answers, or too few trusted answerers; `named`: what every answerer said, if any answered. */
  | { kind: 'unavailable'; named?: KeyStatement };

function sameStatement(a: KeyStatement, b: KeyStatement): boolean {
  return a === 'none' || b === 'none' ? a === b : publicKeysEqual(a, b);
}

/** How much is needed. */
export interface VouchOptions {
  /** Trusted answers needed (default `KEY_VOUCHERS_MIN`). */
  vouchersMin?: number;
  /**
   * Whether the claimed store's statements about an answerer count towards trusting it: only
   * where one voucher is all an asker can have (see `pdKeyLookup`). Default false.
   */
  subjectVouches?: boolean;
}

/** Whether `answerer`'s link key is the one the asker holds, or every other answer about it names that key. */
function trusted(answerer: number, subject: number, st: KeyStatements, subjectVouches: boolean): boolean {
  const proven = st.proven(answerer);
  if (proven === undefined) return false;
  const known = st.known(answerer);
  if (known !== undefined) return publicKeysEqual(known, proven);
  let vouched = 0;
  for (const [other, about] of st.said) {
    if (other === answerer || (other === subject && !subjectVouches)) continue;
    const s = about.get(answerer);
    if (s === undefined) continue;
    if (s === 'none' || !publicKeysEqual(s, proven)) return false;
    vouched++;
  }
  return vouched > 0;
}

/** The rule of the module comment for `subject`. */
export function vouchedKey(subject: number, st: KeyStatements, o: VouchOptions = {}): VouchResult {
  const vouchersMin = o.vouchersMin ?? KEY_VOUCHERS_MIN;
  let first: KeyStatement | undefined;
  const answerers: number[] = [];
  for (const [answerer, about] of st.said) {
    if (answerer === subject) continue; // never the claimed store's own word
    const s = about.get(subject);
    if (s === undefined) continue;
    if (first !== undefined && !sameStatement(first, s)) return { kind: 'disputed' };
    first ??= s;
    answerers.push(answerer);
  }
  if (first === undefined) return { kind: 'unavailable' };
  if (first === 'none') return { kind: 'none' };
  const vouchers = answerers.filter((a) => trusted(a, subject, st, o.subjectVouches ?? false));
  return vouchers.length >= vouchersMin ? { kind: 'key', key: first, vouchers } : { kind: 'unavailable', named: first };
}
