/**
 * What a store tells about itself: its status (regions, roles, counters) and the digests of
 * its regions for the cross-replica consistency check.
 */
import type { StoreContext } from './context.ts';
import { storedKeyRange } from './data-model.ts';
import { META_CF, dedupPrefix, prefixEnd } from './keys.ts';

const encoder = new TextEncoder();
import { SNAPSHOT_PROGRESS_REGIONS_MAX, type RegionDigest, type SnapshotProgress, type SnapshotTransferStatus, type StoreStatus } from './options.ts';
import { cdcBuffersIfAny } from './txn/cdc-buffer.ts';

/**
 * Each initialized data region's applied index, epoch and a hash of its data and dedup
 * records, read between two rounds (when memory and disk agree). Replicas of one region at
 * the same applied index and epoch must report the same hash (TiKV's consistency check).
 */
export async function regionDigests(ctx: StoreContext): Promise<RegionDigest[]> {
  ctx.assertOpen();
  while (ctx.roundRunning) await ctx.sleep(1);
  ctx.roundRunning = true;
  try {
    const out: RegionDigest[] = [];
    for (const peer of [...ctx.peers.values()]) {
      // A replica applying a snapshot holds part of it: its applied index is the snapshot's, its data not yet.
      if (!peer.machine.holdsData || peer.destroyed || !peer.initialized || peer.applying) continue;
      const h = new Fnv64();
      let keys = 0;
      for (const cf of ctx.dataCfs) {
        h.bytes(encoder.encode(cf));
        for await (const kv of ctx.engine.scan(cf, storedKeyRange(ctx.dataModel, cf, peer.region.startKey, peer.region.endKey))) {
          h.bytes(kv.key);
          h.bytes(kv.value);
          keys++;
        }
      }
      const prefix = dedupPrefix(peer.regionId);
      for await (const kv of ctx.engine.scan(META_CF, { start: prefix, end: prefixEnd(prefix) })) {
        h.bytes(kv.key.subarray(prefix.length));
        h.bytes(kv.value);
      }
      out.push({ regionId: peer.regionId, peerId: peer.peerId, applied: peer.applied, epoch: { ...peer.region.epoch }, hash: h.hex(), keys, dataKeySwitch: { keyId: peer.dataKeyId, index: peer.dataKeySwitchIndex } });
    }
    return out;
  } finally {
    ctx.roundRunning = false;
    ctx.schedule();
  }
}

/** The store's regions, roles and counters, and why it stopped if it did. */
export function storeStatus(ctx: StoreContext): StoreStatus {
  return {
    storeId: ctx.storeId,
    counters: { ...ctx.counters },
    refused: { ...ctx.refused },
    ...(ctx.snapshotTransfer ? { snapshotTransfer: { ...ctx.snapshotTransfer, refused: { ...ctx.snapshotTransfer.refused }, applying: ctx.snapshotTransfer.applying.map((a) => ({ ...a })) } } : {}),
    ...cdcStatus(ctx),
    ...writeTraceStatus(ctx),
    ...(ctx.snapshotTransfer ? { snapshotProgress: snapshotProgressOf(ctx.snapshotTransfer) } : {}),
    ...(ctx.witness ? { witnessEntries: { ...ctx.witnessEntries } } : {}),
    ...(ctx.fatal ? { stoppedReason: String((ctx.fatal as Error).stack ?? ctx.fatal) } : {}),
    regions: [...ctx.peers.values()]
      .sort((a, b) => a.regionId - b.regionId)
      .map((p) => {
        const st = p.raw.status();
        return {
          regionId: p.regionId,
          peerId: p.peerId,
          startKey: p.region.startKey,
          endKey: p.region.endKey,
          epoch: { ...p.region.epoch },
          peers: p.region.peers.map((x) => ({ ...x })),
          role: st.role,
          term: st.term,
          lead: st.lead,
          commit: st.commit,
          applied: p.applied,
          hibernating: p.hibernating,
          ...(p.applying ? { applyingSnapshot: true as const } : {}),
          ...(p.witness ? { witness: true as const } : {}),
          ...(p.safeTs > 0n ? { safeTs: p.safeTs } : {}),
        };
      }),
  };
}

/** FNV-1a in two independent 32-bit lanes (64 bits): cheap, deterministic, good enough to tell replicas apart. */
class Fnv64 {
  private a = 0x811c9dc5;
  private b = 0x050c5d1f;
  bytes(x: Uint8Array): void {
    this.byte(x.length & 0xff);
    this.byte((x.length >>> 8) & 0xff);
    this.byte((x.length >>> 16) & 0xff);
    for (let i = 0; i < x.length; i++) this.byte(x[i]);
  }
  private byte(v: number): void {
    this.a = Math.imul(this.a ^ v, 0x01000193) >>> 0;
    this.b = Math.imul(this.b ^ v, 0x01000193) >>> 0;
    this.b = (this.b ^ (this.b >>> 13)) >>> 0;
  }
  hex(): string {
    return this.a.toString(16).padStart(8, '0') + this.b.toString(16).padStart(8, '0');
  }
}

function writeTraceStatus(ctx: StoreContext): Pick<StoreStatus, 'writeTrace'> {
  const w = ctx.writeTrace.summary();
  return w === undefined ? {} : { writeTrace: w };
}

function cdcStatus(ctx: StoreContext): Pick<StoreStatus, 'cdc'> {
  const b = cdcBuffersIfAny(ctx);
  return b === undefined ? {} : { cdc: { regions: b.regions, ...b.counters } };
}

function snapshotProgressOf(t: SnapshotTransferStatus): SnapshotProgress {
  return {
    sending: t.sending,
    receiving: t.receiving,
    bytesSent: t.bytesSent,
    bytesReceived: t.bytesReceived,
    applying: t.applying.slice(0, SNAPSHOT_PROGRESS_REGIONS_MAX).map((a) => ({ regionId: a.regionId, chunksApplied: a.chunksApplied, chunks: a.chunks, ...(a.failed !== undefined ? { failed: a.failed } : {}) })),
  };
}
