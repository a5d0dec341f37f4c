/**
 * Anchored keys (`PeerKeyBook`, peer-keys.ts, item 1a): the PD voters and keys an invite names,
 * checked before a store starts, and their record in a store's engine.
 */
import { STORE_PUBLIC_KEY_BYTES } from '@peerkv/proto';
import { publicKeysEqual } from '@peerkv/transport';
import { isTempStoreId } from '../temp-store-ids.ts';

/** Most anchored keys one book holds (an invite names PD's voters; PD has at most 7). */
export const PEER_KEY_ANCHORS_MAX = 7;

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
export function sameAnchors(a: ReadonlyMap<number, Uint8Array>, b: ReadonlyMap<number, Uint8Array>): boolean {
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
