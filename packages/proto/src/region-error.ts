/**
 * The region errors a request comes back with (TiKV's `errorpb`), as a closed union of
 * values, and their codec. Broken invariants are assertions, not members of this union.
 * Each kind has a wire number (append only); free text is clipped to `REASON_BYTES_MAX`.
 */
import { writeClipped, type ByteReader, type ByteWriter } from './bytes.ts';
import { DecodeError } from './errors.ts';
import { KEY_BYTES_MAX, REASON_BYTES_MAX, REGIONS_MAX } from './limits.ts';
import type { Peer, Region, RegionId, StoreId } from './meta.ts';
import { readPeer, readRegion, writePeer, writeRegion } from './meta-codec.ts';

/** Expected failures of a region request, as values (the client retries them). */
export type RegionError =
  | { kind: 'NotLeader'; regionId: RegionId; leaderHint?: Peer }
  | { kind: 'EpochNotMatch'; currentRegions: Region[] }
  | { kind: 'RegionNotFound'; regionId: RegionId }
  | { kind: 'KeyNotInRegion'; key: Uint8Array; regionId: RegionId; startKey: Uint8Array; endKey: Uint8Array }
  | { kind: 'ServerIsBusy'; reason: string; backoffMs: number }
  | { kind: 'StoreNotMatch'; requestStoreId: StoreId; actualStoreId: StoreId }
  | { kind: 'Timeout'; what: string }
  /**
   * Leadership changed while the proposal waited: it may still commit under the new leader
   * (or may be lost). Retry with the same (clientId, seq): at-most-once makes that safe.
   */
  | { kind: 'MaybeCommitted'; regionId: RegionId; leaderHint?: Peer }
  /**
   * The store can no longer tell whether this write was applied before (its seq is below the
   * client's acknowledged floor, or the client's lease ended): it is refused, not applied.
   * An earlier attempt's outcome is unknown.
   */
  | { kind: 'StaleWrite'; reason: string }
  /**
   * A ReadIndex (a read's, or a transactional command's before it proposed anything) was not
   * confirmed by a quorum in time: no leader, or one without a quorum; or a replica read's
   * replica did not apply up to the leader's read index in time (it is behind, not gone: read
   * elsewhere, `handlers/replica-read.ts`). Nothing was proposed, so the request had no effect,
   * whatever it was: retry it after a backoff (or on another replica). Unlike `Timeout`
   * (sent, no answer: a write's outcome is unknown), it never makes a write undetermined.
   * TiKV's `ReadIndexNotReady`, which client-go backs off and retries.
   */
  | { kind: 'ReadIndexNotReady'; regionId: RegionId; reason: string };

/** Wire numbers of the region error kinds (append only). */
const REGION_ERROR_TAGS = { NotLeader: 1, EpochNotMatch: 2, RegionNotFound: 3, KeyNotInRegion: 4, ServerIsBusy: 5, StoreNotMatch: 6, Timeout: 7, MaybeCommitted: 8, StaleWrite: 9, ReadIndexNotReady: 10 } as const;

/** Fewest bytes a region takes (id, two empty keys, epoch, no peers). */
const REGION_BYTES_MIN = 6;

function writeLeaderHint(w: ByteWriter, leaderHint: Peer | undefined): void {
  w.bool(Boolean(leaderHint));
  if (leaderHint) writePeer(w, leaderHint);
}

/** Writes a region error: its wire number, then its fields (paired with `readRegionError`). */
export function writeRegionError(w: ByteWriter, e: RegionError): void {
  w.varUint(REGION_ERROR_TAGS[e.kind]);
  switch (e.kind) {
    case 'NotLeader':
    case 'MaybeCommitted':
      w.varUint(e.regionId);
      return writeLeaderHint(w, e.leaderHint);
    case 'EpochNotMatch':
      w.varUint(e.currentRegions.length);
      for (const region of e.currentRegions) writeRegion(w, region);
      return;
    case 'RegionNotFound':
      return w.varUint(e.regionId);
    case 'KeyNotInRegion':
      w.bytes(e.key);
      w.varUint(e.regionId);
      w.bytes(e.startKey);
      return w.bytes(e.endKey);
    case 'ServerIsBusy':
      writeClipped(w, e.reason, REASON_BYTES_MAX);
      return w.varUint(e.backoffMs);
    case 'StoreNotMatch':
      w.varUint(e.requestStoreId);
      return w.varUint(e.actualStoreId);
    case 'Timeout':
      return writeClipped(w, e.what, REASON_BYTES_MAX);
    case 'StaleWrite':
      return writeClipped(w, e.reason, REASON_BYTES_MAX);
    case 'ReadIndexNotReady':
      w.varUint(e.regionId);
      return writeClipped(w, e.reason, REASON_BYTES_MAX);
  }
}

/** Reads a region error written by `writeRegionError`; an unknown wire number is `UnknownTag`. */
export function readRegionError(r: ByteReader): RegionError {
  const tag = r.varUint();
  switch (tag) {
    case REGION_ERROR_TAGS.NotLeader: {
      const regionId = r.varUint();
      return r.bool() ? { kind: 'NotLeader', regionId, leaderHint: readPeer(r) } : { kind: 'NotLeader', regionId };
    }
    case REGION_ERROR_TAGS.EpochNotMatch: {
      const n = r.count(REGIONS_MAX, REGION_BYTES_MIN, 'regions');
      return { kind: 'EpochNotMatch', currentRegions: Array.from({ length: n }, () => readRegion(r)) };
    }
    case REGION_ERROR_TAGS.RegionNotFound:
      return { kind: 'RegionNotFound', regionId: r.varUint() };
    case REGION_ERROR_TAGS.KeyNotInRegion: {
      const key = r.bytes(KEY_BYTES_MAX, 'key');
      const regionId = r.varUint();
      const startKey = r.bytes(KEY_BYTES_MAX, 'start key');
      return { kind: 'KeyNotInRegion', key, regionId, startKey, endKey: r.bytes(KEY_BYTES_MAX, 'end key') };
    }
    case REGION_ERROR_TAGS.ServerIsBusy: {
      const reason = r.string(REASON_BYTES_MAX, 'reason');
      return { kind: 'ServerIsBusy', reason, backoffMs: r.varUint() };
    }
    case REGION_ERROR_TAGS.StoreNotMatch: {
      const requestStoreId = r.varUint();
      return { kind: 'StoreNotMatch', requestStoreId, actualStoreId: r.varUint() };
    }
    case REGION_ERROR_TAGS.Timeout:
      return { kind: 'Timeout', what: r.string(REASON_BYTES_MAX, 'what') };
    case REGION_ERROR_TAGS.MaybeCommitted: {
      const regionId = r.varUint();
      return r.bool() ? { kind: 'MaybeCommitted', regionId, leaderHint: readPeer(r) } : { kind: 'MaybeCommitted', regionId };
    }
    case REGION_ERROR_TAGS.StaleWrite:
      return { kind: 'StaleWrite', reason: r.string(REASON_BYTES_MAX, 'reason') };
    case REGION_ERROR_TAGS.ReadIndexNotReady: {
      const regionId = r.varUint();
      return { kind: 'ReadIndexNotReady', regionId, reason: r.string(REASON_BYTES_MAX, 'reason') };
    }
    default:
      throw new DecodeError('UnknownTag', `region error kind ${tag}`);
  }
}
