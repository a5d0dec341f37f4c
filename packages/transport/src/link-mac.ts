/**
 * Per-link packet authentication, after the handshake (`auth.ts`) succeeded.
 *
 * The handshake proves that the remote holds the cluster secret, but on a shared medium
 * (BroadcastChannel: every same-origin script sees `from`, `session` and `to`) that proof
 * says nothing about the packets that follow. So each link derives two keys from the
 * handshake, one per direction:
 *
 *   key(sender → receiver) = HMAC(clusterProofKey, label, cluster, sender, receiver,
 *                                 senderNonce, receiverNonce)
 *
 * (HMAC as a PRF, the HKDF-Expand step with the cluster key as PRK.) Both nonces are fresh
 * per link, so the keys are too; binding both ids and the direction stops reflection.
 * Deriving uses WebCrypto once per link; per-packet MACs are synchronous
 * (`hmac-sha256.ts`), so sealing and checking keep the link's order with no queue.
 *
 * Every packet after the handshake is sealed:
 *
 *   0x02 | u64le seq | inner packet (0x00 whole / 0x01 chunk) | HMAC-SHA-256(key, all before)
 *
 * `seq` counts up from 0 per direction. The receiver accepts a packet only if its MAC
 * verifies and its `seq` is above the last accepted one (links are ordered, so a replayed or
 * re-ordered packet is refused). A `bye` that closes the link carries a tag computed once
 * per link, `HMAC(key, byeLabel)`: it is the link's last word, so it needs no sequence, and
 * being precomputed it can be sent synchronously from `pagehide`.
 */
import type { ClusterKeys } from './auth.ts';
import { HmacSha256Key, SHA256_BYTES } from './hmac-sha256.ts';

/** Packet kind byte of a sealed packet (0x00 and 0x01 are the inner kinds, `chunking.ts`). */
export const PACKET_SEALED = 2;
/** Bytes of a sealed packet's sequence number. */
const SEQ_BYTES = 8;
/** Bytes of the HMAC-SHA-256 tag. */
export const LINK_MAC_TAG_BYTES = SHA256_BYTES;
/** Bytes a seal adds to an inner packet: kind, sequence, tag. */
export const LINK_MAC_OVERHEAD_BYTES = 1 + SEQ_BYTES + LINK_MAC_TAG_BYTES;

const KEY_LABEL = 'peerkv-link-key-v1';
const BYE_LABEL = 'peerkv-link-bye-v1';
const utf8 = new TextEncoder();

/** One link's MAC state: a key per direction and the precomputed bye tags. */
export interface LinkMac {
  /** Signs what this store sends. */
  readonly sendKey: HmacSha256Key;
  /** Checks what the remote sends. */
  readonly receiveKey: HmacSha256Key;
  /** The tag of this store's bye on this link. */
  readonly byeTagOut: Uint8Array;
  /** The tag the remote's bye must carry. */
  readonly byeTagIn: Uint8Array;
}

/** The handshake values a link's keys are bound to. */
export interface LinkMacParams {
  localStoreId: number;
  remoteStoreId: number;
  localNonce: Uint8Array;
  remoteNonce: Uint8Array;
}

async function directionKey(keys: ClusterKeys, sender: number, receiver: number, senderNonce: Uint8Array, receiverNonce: Uint8Array): Promise<HmacSha256Key> {
  const text = utf8.encode(`${KEY_LABEL}\u0000${keys.clusterId}\u0000${sender}\u0000${receiver}\u0000`);
  const input = new Uint8Array(text.length + senderNonce.length + receiverNonce.length);
  input.set(text, 0);
  input.set(senderNonce, text.length);
  input.set(receiverNonce, text.length + senderNonce.length);
  return new HmacSha256Key(new Uint8Array(await crypto.subtle.sign('HMAC', keys.proofKey, input)));
}

/** Derives a link's two direction keys and bye tags from the handshake. */
export async function deriveLinkMac(keys: ClusterKeys, p: LinkMacParams): Promise<LinkMac> {
  const [sendKey, receiveKey] = await Promise.all([
    directionKey(keys, p.localStoreId, p.remoteStoreId, p.localNonce, p.remoteNonce),
    directionKey(keys, p.remoteStoreId, p.localStoreId, p.remoteNonce, p.localNonce),
  ]);
  const bye = utf8.encode(BYE_LABEL);
  return { sendKey, receiveKey, byeTagOut: sendKey.mac(bye), byeTagIn: receiveKey.mac(bye) };
}

/** Seals one inner packet as number `seq` of its direction. */
export function sealPacket(key: HmacSha256Key, seq: number, inner: Uint8Array): Uint8Array {
  const signedBytes = 1 + SEQ_BYTES + inner.length;
  const out = new Uint8Array(signedBytes + LINK_MAC_TAG_BYTES);
  out[0] = PACKET_SEALED;
  new DataView(out.buffer).setBigUint64(1, BigInt(seq), true);
  out.set(inner, 1 + SEQ_BYTES);
  key.macInto([out.subarray(0, signedBytes)], out, signedBytes);
  return out;
}

/** A sealed packet split into its parts, its MAC not yet checked. */
export interface SealedParts {
  seq: number;
  signed: Uint8Array;
  tag: Uint8Array;
  inner: Uint8Array;
}

/** Splits a sealed packet; null when it is too short or its sequence is out of range. */
export function parseSealed(packet: Uint8Array): SealedParts | null {
  if (packet.length < LINK_MAC_OVERHEAD_BYTES + 1 || packet[0] !== PACKET_SEALED) return null;
  const seq = new DataView(packet.buffer, packet.byteOffset, packet.byteLength).getBigUint64(1, true);
  if (seq > BigInt(Number.MAX_SAFE_INTEGER)) return null;
  const signedBytes = packet.length - LINK_MAC_TAG_BYTES;
  return {
    seq: Number(seq),
    signed: packet.subarray(0, signedBytes),
    tag: packet.subarray(signedBytes),
    inner: packet.subarray(1 + SEQ_BYTES, signedBytes),
  };
}

/** True when the sealed parts' tag verifies under `key` (compared in constant time). */
export function verifySealed(key: HmacSha256Key, parts: SealedParts): boolean {
  return tagsEqual(key.mac(parts.signed), parts.tag);
}

/** Compares two tags in time independent of where they differ. */
export function tagsEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}
