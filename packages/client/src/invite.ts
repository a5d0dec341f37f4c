/**
 * Invites: everything a second device needs to join a cluster (its name, its secret, the
 * signaling servers) as one short code to paste or scan, or a link whose fragment carries
 * it (a fragment never reaches a web server). The code holds the secret: share it the way
 * you would share a password.
 *
 *   peerkv1.<base64url(JSON {c, s, g})>
 *   peerkv2.<base64url(JSON {c, s, g, a: [[storeId, base64url(publicKey)], ...]})>
 *
 * Version 2 adds the **anchor** (issue 13, finding 6): the store ids and public keys of the
 * inviting cluster's PD voters (or at least the inviting store's own). A store or client opened
 * from it believes those keys without asking anyone (`PeerKeyBook` anchors): a link claiming
 * an anchored id with another key is refused, so a liar that is all of PD the new device
 * reaches cannot pose as those voters to vouch for itself. An invite without an anchor is
 * written as version 1, which earlier readers still read; an earlier reader refuses version 2
 * rather than drop the anchor unnoticed. Both versions are read.
 */
import { PEER_KEY_ANCHORS_MAX, PeerKeyAnchorError, checkPeerKeyAnchors, type PeerKeyAnchor } from '@peerkv/store';
import { PeerKVError } from './errors.ts';

/** What an invite carries. */
export interface Invite {
  cluster: string;
  secret: string;
  /** Signaling server URLs (`ws:` or `wss:`). */
  signaling: string[];
  /**
   * PD voters' store ids and keys, as the inviting device knew them (at most
   * `INVITE_ANCHORS_MAX`); absent in an invite without one (version 1).
   */
  anchors?: PeerKeyAnchor[];
}

const INVITE_PREFIX_V1 = 'peerkv1.';
const INVITE_PREFIX_V2 = 'peerkv2.';
/** Most anchored keys in an invite (PD's voters: at most 7). */
export const INVITE_ANCHORS_MAX = PEER_KEY_ANCHORS_MAX;
/** Longest invite code accepted, characters. */
export const INVITE_CHARS_MAX = 4096;
/** Longest cluster name or secret in an invite, characters. */
export const INVITE_FIELD_CHARS_MAX = 256;
/** Most signaling URLs in an invite. */
export const INVITE_SIGNALING_MAX = 8;

const utf8 = new TextEncoder();

function bytesToB64url(bytes: Uint8Array): string {
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function b64urlToBytes(code: string): Uint8Array {
  const bin = atob(code.replace(/-/g, '+').replace(/_/g, '/'));
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

function b64url(text: string): string {
  return bytesToB64url(utf8.encode(text));
}

function unb64url(code: string): string {
  return new TextDecoder('utf-8', { fatal: true }).decode(b64urlToBytes(code));
}

function bad(detail: string): PeerKVError {
  return new PeerKVError('InvalidArgument', `not a PeerKV invite: ${detail}`);
}

/** The anchors of a version 2 invite (`[[storeId, base64url key], ...]`), checked as a `PeerKeyBook` checks them. */
function checkAnchors(a: unknown): PeerKeyAnchor[] {
  if (!Array.isArray(a) || a.length === 0 || a.length > INVITE_ANCHORS_MAX) throw bad(`anchors must be a list of 1..${INVITE_ANCHORS_MAX} store keys`);
  const anchors = a.map((entry): PeerKeyAnchor => {
    if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== 'number' || typeof entry[1] !== 'string' || !/^[A-Za-z0-9_-]*$/.test(entry[1])) throw bad('an anchor must be [store id, base64url key]');
    let publicKey: Uint8Array;
    try {
      publicKey = b64urlToBytes(entry[1]);
    } catch {
      throw bad(`the key of anchored store ${entry[0]} is damaged`);
    }
    return { storeId: entry[0], publicKey };
  });
  try {
    checkPeerKeyAnchors(anchors);
  } catch (e) {
    if (e instanceof PeerKeyAnchorError) throw bad(e.message);
    throw e;
  }
  return anchors;
}

function checkInvite(v: unknown, version: 1 | 2): Invite {
  const o = v as { c?: unknown; s?: unknown; g?: unknown; a?: unknown } | null;
  if (typeof o !== 'object' || o === null) throw bad('not an object');
  const text = (name: string, x: unknown): string => {
    if (typeof x !== 'string' || x.length === 0 || x.length > INVITE_FIELD_CHARS_MAX) throw bad(`${name} must be 1..${INVITE_FIELD_CHARS_MAX} characters`);
    return x;
  };
  const cluster = text('cluster', o.c);
  const secret = text('secret', o.s);
  if (!Array.isArray(o.g) || o.g.length > INVITE_SIGNALING_MAX) throw bad(`signaling must be a list of at most ${INVITE_SIGNALING_MAX} URLs`);
  const signaling = o.g.map((u) => {
    const url = text('signaling URL', u);
    if (!/^wss?:\/\//.test(url)) throw bad(`signaling URL ${JSON.stringify(url.slice(0, 64))} is not ws: or wss:`);
    return url;
  });
  return version === 2 ? { cluster, secret, signaling, anchors: checkAnchors(o.a) } : { cluster, secret, signaling };
}

/** The invite code for `invite` (checked like one being read): version 2 with anchors, else version 1. */
export function encodeInvite(invite: Invite): string {
  const base = { c: invite.cluster, s: invite.secret, g: invite.signaling };
  if (invite.anchors === undefined || invite.anchors.length === 0) {
    const checked = checkInvite(base, 1);
    return fits(INVITE_PREFIX_V1 + b64url(JSON.stringify({ c: checked.cluster, s: checked.secret, g: checked.signaling })));
  }
  const a = invite.anchors.map((x) => [x.storeId, x.publicKey instanceof Uint8Array ? bytesToB64url(x.publicKey) : null]);
  const checked = checkInvite({ ...base, a }, 2);
  return fits(INVITE_PREFIX_V2 + b64url(JSON.stringify({ c: checked.cluster, s: checked.secret, g: checked.signaling, a })));
}

/** `code`, or `InvalidArgument` when it is longer than a reader accepts. */
function fits(code: string): string {
  if (code.length > INVITE_CHARS_MAX) throw bad(`the code would be ${code.length} characters, more than ${INVITE_CHARS_MAX}`);
  return code;
}

/** Reads an invite code (or a link whose `#invite=` fragment holds one); anything else is `InvalidArgument`. */
export function decodeInvite(codeOrLink: string): Invite {
  if (typeof codeOrLink !== 'string' || codeOrLink.length > INVITE_CHARS_MAX) throw bad(`longer than ${INVITE_CHARS_MAX} characters`);
  const hash = codeOrLink.indexOf('#invite=');
  const code = (hash >= 0 ? codeOrLink.slice(hash + '#invite='.length) : codeOrLink).trim();
  const version = code.startsWith(INVITE_PREFIX_V2) ? 2 : code.startsWith(INVITE_PREFIX_V1) ? 1 : undefined;
  if (version === undefined) throw bad(`does not start with ${INVITE_PREFIX_V1} or ${INVITE_PREFIX_V2}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(unb64url(code.slice(INVITE_PREFIX_V1.length)));
  } catch {
    throw bad('the code is damaged');
  }
  return checkInvite(parsed, version);
}
