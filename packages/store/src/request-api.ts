/**
 * `StoreApi`: the positional convenience calls over a `StoreService`'s one `handle`, shared
 * by every service that has them (the `Store`, the client's `RemoteKvService`). Each is one
 * line that builds a request and calls `handle`; the work is the request's handler.
 */
import type { RegionEpoch } from '@peerkv/pd';
import type { KvPair } from '@peerkv/storage';
import type { KvOp } from './command.ts';
import type { Result } from './peer.ts';
import type { ReadConsistency, RequestOptions, WriteRequestOptions } from './request-options.ts';
import type { HandleOptions, PeerChange, ResponseOf, ScanRange, StoreRequest, StoreService } from './request-types.ts';

/** `handle` plus positional wrappers of the requests callers name often. */
export abstract class StoreApi implements StoreService {
  abstract handle<Q extends StoreRequest>(request: Q, o?: HandleOptions): Promise<ResponseOf<Q['type']>>;

  /**
   * Replicates and applies a write of `ops` for client (clientId, seq). Resolves once applied
   * on the (leader) replica, or with a region error. A timeout or abort does not retract the
   * proposal: it may still apply (retry with the same seq; it is deduplicated).
   */
  write(regionId: number, epoch: RegionEpoch, clientId: string, seq: number, ops: KvOp[], o: WriteRequestOptions = {}): Promise<Result<void>> {
    return this.handle({ type: 'write', regionId, epoch, clientId, seq, ackFloor: o.ackFloor, ops, timeoutMs: o.timeoutMs }, o);
  }

  /** Reads one key with the given consistency. */
  get(regionId: number, epoch: RegionEpoch, key: Uint8Array, consistency: ReadConsistency = 'linearizable', o: RequestOptions = {}): Promise<Result<Uint8Array | undefined>> {
    return this.handle({ type: 'get', regionId, epoch, key, consistency, timeoutMs: o.timeoutMs }, o);
  }

  /** Scans [start, end) ∩ region, up to `limit` pairs, with the given consistency. */
  scan(regionId: number, epoch: RegionEpoch, range: ScanRange, consistency: ReadConsistency = 'linearizable', o: RequestOptions = {}): Promise<Result<KvPair[]>> {
    return this.handle({ type: 'scan', regionId, epoch, range, consistency, timeoutMs: o.timeoutMs }, o);
  }

  /**
   * Changes membership through Raft, always by joint consensus (thesis §4.3; the joint config
   * is left automatically). A change proposed while the previous one is pending gets `ServerIsBusy`.
   */
  changePeers(regionId: number, changes: PeerChange[], o: RequestOptions = {}): Promise<Result<void>> {
    return this.handle({ type: 'changePeers', regionId, changes, timeoutMs: o.timeoutMs }, o);
  }

  /** Splits a region at `splitKey`; the right half gets `newRegionId` and `newPeerIds` (one per current peer, same order). */
  split(regionId: number, epoch: RegionEpoch, splitKey: Uint8Array, newRegionId: number, newPeerIds: number[], o: RequestOptions = {}): Promise<Result<void>> {
    return this.handle({ type: 'split', regionId, epoch, splitKey, newRegionId, newPeerIds, timeoutMs: o.timeoutMs }, o);
  }
}
