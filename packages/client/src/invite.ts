/**
 * Invites: everything a second device needs to join a cluster (its name, its secret, the
 * signaling servers) as one short code to paste or scan, or a link whose fragment carries
 * it (a fragment never reaches a web server). The code holds the secret: share it the way
 * you would share a password.
 *
 *   peerkv1.<base64url(JSON {c, s, g})>
 */
import { PeerKVError } from './errors.ts';

/** What an invite carries. */
export interface Invite {
  cluster: string;
  secret: string;
  /** Signaling server URLs (`ws:` or `wss:`). */
  signaling: string[];
}

const INVITE_PREFIX = 'peerkv1.';
/** Longest invite code accepted, characters. */
export const INVITE_CHARS_MAX = 4096;
/** Longest cluster name or secret in an invite, characters. */
export const INVITE_FIELD_CHARS_MAX = 256;
/** Most signaling URLs in an invite. */
export const INVITE_SIGNALING_MAX = 8;

const utf8 = new TextEncoder();

function b64url(text: string): string {
  let bin = '';
  for (const b of utf8.encode(text)) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function unb64url(code: string): string {
  const bin = atob(code.replace(/-/g, '+').replace(/_/g, '/'));
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
}

function bad(detail: string): PeerKVError {
  return new PeerKVError('InvalidArgument', `not a PeerKV invite: ${detail}`);
}

function checkInvite(v: unknown): Invite {
  const o = v as { c?: unknown; s?: unknown; g?: unknown } | null;
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
  return { cluster, secret, signaling };
}

/** The invite code for `invite` (checked like one being read). */
export function encodeInvite(invite: Invite): string {
  const checked = checkInvite({ c: invite.cluster, s: invite.secret, g: invite.signaling });
  return INVITE_PREFIX + b64url(JSON.stringify({ c: checked.cluster, s: checked.secret, g: checked.signaling }));
}

/** Reads an invite code (or a link whose `#invite=` fragment holds one); anything else is `InvalidArgument`. */
export function decodeInvite(codeOrLink: string): Invite {
  if (typeof codeOrLink !== 'string' || codeOrLink.length > INVITE_CHARS_MAX) throw bad(`longer than ${INVITE_CHARS_MAX} characters`);
  const hash = codeOrLink.indexOf('#invite=');
  const code = (hash >= 0 ? codeOrLink.slice(hash + '#invite='.length) : codeOrLink).trim();
  if (!code.startsWith(INVITE_PREFIX)) throw bad(`does not start with ${INVITE_PREFIX}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(unb64url(code.slice(INVITE_PREFIX.length)));
  } catch {
    throw bad('the code is damaged');
  }
  return checkInvite(parsed);
}
