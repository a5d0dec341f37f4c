/**
 * Pure helpers over a region's on-disk records and key ranges, shared by the store's loop,
 * round and snapshot worker: tombstones, range overlap, a region's initial Raft state, and
 * PD's persisted state.
 */
import type { Region } from '@peerkv/pd';
import { compareKeys } from '@peerkv/pd';
import { emptyConfState, type ConfState } from '@peerkv/raft';
import type { RaftWriteBatch } from '@peerkv/storage';
import type { RegionMessage } from '@peerkv/transport';
import { META_CF, regionStateKey } from './keys.ts';
import { RAFT_INIT_INDEX, RAFT_INIT_TERM } from './options.ts';
import { encodeRegionState, type RegionPeer } from './peer.ts';
import { PD_STATE_KEY, encodePdState } from './pd-host.ts';
import { encodeSnapshotPayload } from './snapshot.ts';

/** A destroyed replica's record: state 2, then its peer id. */
export function encodeTombstone(peerId: number): Uint8Array {
  const b = new Uint8Array(9);
  b[0] = 2;
  new DataView(b.buffer).setFloat64(1, peerId);
  return b;
}

export function decodeTombstonePeer(value: Uint8Array): number {
  return new DataView(value.buffer, value.byteOffset).getFloat64(1);
}

/** Messages only a leader sends: they may create or replace a replica. */
export function isLeaderMessage(rm: RegionMessage): boolean {
  const t = rm.message.type;
  return t === 'MsgApp' || t === 'MsgHeartbeat' || t === 'MsgSnap';
}

/**
 * Messages that create a replica of a region this store does not host: a leader's (it added
 * us), or a candidate's vote request (TiKV's `is_initial_msg`). Without the latter, a replica
 * lost in a crash before its first snapshot came back only through a leader's message, and a
 * region that needs its vote to elect a leader stayed leaderless for good (FINDINGS.md S2). An
 * uninitialized replica has an empty log, so it grants any candidate not behind in term: that
 * is safe, as it never acknowledged an entry, so no commit counted on it.
 */
export function createsReplica(rm: RegionMessage): boolean {
  return isLeaderMessage(rm) || rm.message.type === 'MsgVote' || rm.message.type === 'MsgPreVote';
}

/** Whether two key ranges (empty end = unbounded) overlap. */
export function rangesOverlap(a: Pick<Region, 'startKey' | 'endKey'>, b: Pick<Region, 'startKey' | 'endKey'>): boolean {
  const aBeforeB = a.endKey.length > 0 && compareKeys(a.endKey, b.startKey) <= 0;
  const bBeforeA = b.endKey.length > 0 && compareKeys(b.endKey, a.startKey) <= 0;
  return !aBeforeB && !bBeforeA;
}

/** The exclusive end for a region end key (empty = end of key space). */
export function rangeEnd(endKey: Uint8Array): Uint8Array {
  return endKey.length ? endKey : new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
}

export function confStateOf(region: Region): ConfState {
  const cs = emptyConfState();
  for (const p of region.peers) {
    if (p.role === 'learner') cs.learners.push(p.id);
    else cs.voters.push(p.id);
  }
  return cs;
}

/** Stages a region's initial Raft state: a snapshot at RAFT_INIT_INDEX holding its metadata. */
export function stageInitialRegion(batch: RaftWriteBatch, region: Region, hs: { term: number; vote: number }): void {
  const data = encodeSnapshotPayload({ region, pairs: [], dedup: [] });
  batch.stageSnapshot(region.id, { data, metadata: { index: RAFT_INIT_INDEX, term: RAFT_INIT_TERM, confState: confStateOf(region) } });
  batch.stageHardState(region.id, { term: hs.term, vote: hs.vote, commit: RAFT_INIT_INDEX });
  batch.stageApplyState(region.id, { appliedIndex: RAFT_INIT_INDEX });
  batch.kv.put(META_CF, regionStateKey(region.id), encodeRegionState(region, 'normal'));
}


/** Stages PD's state machine as of the replica's applied index (it replays its log from there after a restart). */
export function stagePdState(batch: RaftWriteBatch, peer: RegionPeer): void {
  const pd = peer.pd!;
  batch.kv.put(META_CF, PD_STATE_KEY, encodePdState(peer.applied, pd.sm.snapshot()));
  pd.persistedIndex = peer.applied;
}
