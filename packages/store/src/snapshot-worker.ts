/**
 * Snapshots: generates a region's snapshot from the engine, installs one in the same write as
 * its Raft state, refuses one whose range overlaps another local replica, and deletes a
 * range's data without touching what other local replicas own. (TiKV's region snapshot
 * worker, scaled down: one message, generated and applied inside the round.)
 */
import type { Region } from '@peerkv/pd';
import { PdStateMachine, compareKeys } from '@peerkv/pd';
import type { Snapshot } from '@peerkv/raft';
import type { RaftWriteBatch } from '@peerkv/storage';
import type { StoreContext } from './context.ts';
import { DedupTable, stageDedupTable } from './dedup.ts';
import { DATA_CF, META_CF, dedupPrefix, prefixEnd, regionStateKey } from './keys.ts';
import { encodeRegionState, type RegionPeer } from './peer.ts';
import { PD_REGION_ID, PD_SNAPSHOT_PAIR_KEY } from './pd-host.ts';
import { rangeEnd, rangesOverlap, stagePdState } from './region-meta.ts';
import { decodeSnapshotPayload, encodeSnapshotPayload } from './snapshot.ts';

export class SnapshotWorker {
  constructor(private readonly ctx: StoreContext) {}

  /**
   * Whether a snapshot's region range overlaps another region hosted here: an initialized one,
   * or one whose own accepted snapshot waits to be installed (two snapshots accepted in one
   * round, or a split's right half created between a snapshot's acceptance and its install,
   * would make two replicas own the same keys).
   */
  snapshotOverlapsOthers(regionId: number, data: Uint8Array): boolean {
    let range: Region;
    try {
      range = decodeSnapshotPayload(data).region;
    } catch {
      return true; // undecodable: refuse
    }
    if (regionId === PD_REGION_ID) return false;
    for (const p of this.ctx.peers.values()) {
      if (p.regionId === regionId || p.pd || p.destroyed) continue;
      for (const held of this.rangesHeld(p)) if (rangesOverlap(held, range)) return true;
    }
    return this.ctx.splitsInFlight.some((r) => r.id !== regionId && rangesOverlap(r, range));
  }

  /** The ranges a replica holds or is about to hold: its region once initialized, and a snapshot it accepted. */
  rangesHeld(p: RegionPeer): Region[] {
    const out: Region[] = p.initialized ? [p.region] : [];
    const snap = p.raw.pendingSnapshot();
    if (snap) {
      try {
        out.push(decodeSnapshotPayload(snap.data).region);
      } catch {
        /* an undecodable snapshot was refused before it was stepped */
      }
    }
    return out;
  }

  /**
   * Deletes [start, end) of the data column family except what other initialized local
   * regions own: data is never removed from under another replica hosted here.
   */
  deleteDataExcept(kv: RaftWriteBatch['kv'], selfRegionId: number, start: Uint8Array, endKey: Uint8Array): void {
    const others = [...this.ctx.peers.values()]
      .filter((p) => p.regionId !== selfRegionId && !p.pd && p.initialized && !p.destroyed)
      .map((p) => p.region)
      .sort((a, b) => compareKeys(a.startKey, b.startKey));
    let cursor = start;
    const end = rangeEnd(endKey);
    for (const r of others) {
      if (!rangesOverlap(r, { startKey: cursor, endKey: endKey })) continue;
      if (compareKeys(r.startKey, cursor) > 0) kv.deleteRange(DATA_CF, cursor, r.startKey);
      if (r.endKey.length === 0) return;
      if (compareKeys(r.endKey, cursor) > 0) cursor = r.endKey;
      if (compareKeys(cursor, end) >= 0) return;
    }
    if (compareKeys(cursor, end) < 0) kv.deleteRange(DATA_CF, cursor, end);
  }

  /**
   * A snapshot of the region's applied state, generated now from the engine: the engine
   * holds exactly what was applied up to `peer.applied` (rounds are serialized).
   */
  async generateSnapshot(peer: RegionPeer): Promise<Snapshot> {
    const pairs: { key: Uint8Array; value: Uint8Array }[] = [];
    if (peer.pd) {
      const data = encodeSnapshotPayload({ region: peer.region, pairs: [{ key: PD_SNAPSHOT_PAIR_KEY, value: peer.pd.sm.snapshot() }], dedup: [] });
      this.ctx.counters.snapshotsGenerated++;
      return { data, metadata: { index: peer.applied, term: peer.log.term(peer.applied), confState: peer.raw.status().config } };
    }
    const range = peer.region.endKey.length ? { start: peer.region.startKey, end: peer.region.endKey } : { start: peer.region.startKey };
    for await (const kv of this.ctx.engine.scan(DATA_CF, range)) pairs.push(kv);
    const data = encodeSnapshotPayload({ region: peer.region, pairs, dedup: this.ctx.mutations.snapshotWithoutDedup ? [] : peer.dedup.entries() });
    this.ctx.counters.snapshotsGenerated++;
    return { data, metadata: { index: peer.applied, term: peer.log.term(peer.applied), confState: peer.raw.status().config } };
  }

  /** Installs a snapshot's data and metadata in the same write as its Raft state. */
  async stageSnapshotInstall(batch: RaftWriteBatch, peer: RegionPeer, snap: Snapshot): Promise<void> {
    const payload = decodeSnapshotPayload(snap.data);
    batch.stageSnapshot(peer.regionId, snap);
    const kv = batch.kv;
    if (peer.pd) {
      const pair = payload.pairs.find((p) => compareKeys(p.key, PD_SNAPSHOT_PAIR_KEY) === 0);
      // The initial snapshot of the PD group carries no state yet.
      if (pair) peer.pd.replace(PdStateMachine.restore(pair.value), snap.metadata.index);
      peer.region = payload.region;
      peer.applied = snap.metadata.index;
      for (const p of payload.region.peers) this.ctx.peerStores.set(p.id, p.storeId);
      kv.put(META_CF, regionStateKey(peer.regionId), encodeRegionState(peer.region, 'normal'));
      stagePdState(batch, peer);
      this.ctx.counters.snapshotsInstalled++;
      return;
    }
    if (peer.initialized) this.deleteDataExcept(kv, peer.regionId, peer.region.startKey, peer.region.endKey);
    this.deleteDataExcept(kv, peer.regionId, payload.region.startKey, payload.region.endKey);
    for (const p of payload.pairs) kv.put(DATA_CF, p.key, p.value);
    const prefix = dedupPrefix(peer.regionId);
    kv.deleteRange(META_CF, prefix, prefixEnd(prefix));
    peer.dedup = DedupTable.from(payload.dedup);
    stageDedupTable(kv, peer.regionId, peer.dedup);
    peer.region = payload.region;
    for (const p of payload.region.peers) this.ctx.peerStores.set(p.id, p.storeId);
    kv.put(META_CF, regionStateKey(peer.regionId), encodeRegionState(peer.region, 'normal'));
    peer.applied = snap.metadata.index;
    this.ctx.counters.snapshotsInstalled++;
  }
}
